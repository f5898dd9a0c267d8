"""SQLite-backed checkpoint of a sweep: what each integrated account delivered, where to resume.

One file holds one sweep (identified by ``sweep_key``: resource + params + mode, computed by
the caller) and one row per integrated account::

    in_progress  cursor = where to resume (the next_cursor after the last committed page)
    done         finished; a rerun skips it
    failed       stopped with ``error``; keeps its cursor so a rerun can retry from there
    skipped      not pulled, with ``error`` saying why; a rerun skips it

Semantics, at-least-once across crashes: the caller calls :meth:`Checkpoint.commit_page`
only after it has pulled past the page's last record. Updates are kept in memory (updates
to one account coalesce into its latest state, record counts accumulate) and written by
:meth:`Checkpoint.flush` -- all buffered accounts in one transaction, one ``executemany``,
in a worker thread, so the event loop never waits on the disk. Inside ``async with``, a
background task flushes every ``flush_interval`` seconds, or sooner once ``max_pending``
updates are buffered. A crash (even ``kill -9``) loses at most the updates not yet flushed:
the account then resumes from an older cursor and re-delivers some records, never skips any.

Calls made without an ``await`` in between always land in the same transaction (the flush
takes its snapshot on the event-loop thread), so ``commit_page(a, None, n); mark_done(a)``
can never be seen half-done after a crash.

Durability: WAL journal with ``synchronous=NORMAL``. A committed transaction is in the WAL
file (the OS page cache) when ``flush`` returns, so it survives the process being killed;
only an OS crash or power loss can drop the last few transactions, and never corrupts the
file.

Sharing: a flush writes only the accounts it has updates for (absolute state, upserted), so
several Checkpoints -- threads, event loops or processes, e.g. the shards of one sweep -- may
share one file as long as each updates its own accounts; SQLite serialises their short
write transactions. Each one's in-memory view is what it loaded at open plus its own
updates. Two writers updating the *same* account (one sweep started twice) is not detected:
the last flush wins. Readers (e.g. watching progress) never block the writers (WAL).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, get_args

import anyio
import anyio.abc
import anyio.to_thread

from truto_stream.errors import ConfigurationError

__all__ = ["AccountProgress", "Checkpoint", "ProgressState"]

#: What a checkpoint stores about an account (a sweep's report has its own, richer
#: ``AccountState``: pending and running accounts are ``in_progress`` here).
ProgressState = Literal["in_progress", "done", "failed", "skipped"]
_STATES: frozenset[str] = frozenset(get_args(ProgressState))

SCHEMA_VERSION = 1

# The whole schema is created in one transaction, so a crash while creating it leaves
# either nothing or a complete, keyed checkpoint.
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE sweep (sweep_key TEXT NOT NULL, created_at REAL NOT NULL)",
    """
    CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY NOT NULL,
        state      TEXT NOT NULL
                   CHECK (state IN ('in_progress', 'done', 'failed', 'skipped')),
        cursor     TEXT,
        records    INTEGER NOT NULL CHECK (records >= 0),
        pages      INTEGER NOT NULL CHECK (pages >= 0),
        error      TEXT,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
)

_UPSERT = """
    INSERT INTO accounts (account_id, state, cursor, records, pages, error, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (account_id) DO UPDATE SET
        state = excluded.state,
        cursor = excluded.cursor,
        records = excluded.records,
        pages = excluded.pages,
        error = excluded.error,
        updated_at = excluded.updated_at
"""

_Row = tuple[str, str, str | None, int, int, str | None, float]


@dataclass(frozen=True, slots=True)
class AccountProgress:
    """The progress of one integrated account in a sweep.

    ``cursor`` is where to resume: the ``next_cursor`` of the last committed page (``None``
    means from the start). ``records`` and ``pages`` count what was committed so far;
    ``error`` says why the account failed or was skipped; ``updated_at`` is unix time.
    """

    account_id: str
    state: ProgressState
    cursor: str | None
    records: int
    pages: int
    error: str | None
    updated_at: float

    def _row(self) -> _Row:
        return (
            self.account_id,
            self.state,
            self.cursor,
            self.records,
            self.pages,
            self.error,
            self.updated_at,
        )


class Checkpoint:
    """SQLite-backed per-account progress of one sweep.

    Create it with :meth:`open`. Use it as ``async with await Checkpoint.open(...) as cp:``
    to get a background flusher and a guaranteed final flush; without the context manager,
    call :meth:`flush` yourself and :meth:`aclose` at the end.

    The update methods (:meth:`commit_page`, :meth:`mark_done` ...) and the readers
    (:meth:`get`, :meth:`all`) are synchronous, never touch the disk, and must be called from
    the event-loop thread. The readers see the latest state, flushed or not.
    """

    # Threading: anyio's worker threads have no affinity (each to_thread call may land on a
    # different thread), so the connection is opened with check_same_thread=False and every
    # use of it holds ``_db_lock``. Python's sqlite3 module is built threadsafe, so using one
    # connection from several threads one at a time is supported. On top of that, a
    # per-checkpoint CapacityLimiter(1) keeps this checkpoint to one worker thread at a time
    # (and off anyio's shared default limiter), and ``_flush_lock`` orders flushes so an
    # older snapshot can never overwrite a newer one.

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        sweep_key: str,
        rows: dict[str, AccountProgress],
        *,
        flush_interval: float,
        max_pending: int,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        # Private: use Checkpoint.open().
        self._conn = conn
        self._path = path
        self._sweep_key = sweep_key
        self._rows = rows
        # Accounts changed since the last snapshot, with their latest state. A dict (not a
        # set of ids) so that taking a snapshot is an O(1) swap on the loop thread.
        self._dirty: dict[str, AccountProgress] = {}
        self._pending = 0  # updates since the last snapshot, coalesced or not
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._db_lock = threading.Lock()
        self._limiter = limiter
        self._flush_lock = anyio.Lock()
        self._wake = anyio.Event()
        self._closed = False
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- opening -----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        sweep_key: str,
        *,
        flush_interval: float = 0.25,
        max_pending: int = 1000,
    ) -> Checkpoint:
        """Open (or create) the checkpoint at ``path`` for the sweep ``sweep_key``.

        Creates the file and its schema when needed and loads every account's row into
        memory. Raises :class:`~truto_stream.errors.ConfigurationError` when the file
        belongs to another sweep (a different ``sweep_key``), was written by a newer schema,
        is not a truto-stream checkpoint, or cannot be opened.
        """
        if not isinstance(sweep_key, str) or not sweep_key:
            raise ConfigurationError("checkpoint sweep_key must be a non-empty string")
        if not (math.isfinite(flush_interval) and flush_interval > 0):
            raise ConfigurationError("checkpoint flush_interval must be a positive number")
        if max_pending < 1:
            raise ConfigurationError("checkpoint max_pending must be at least 1")
        p = Path(path)
        limiter = anyio.CapacityLimiter(1)
        conn, rows = await anyio.to_thread.run_sync(_open_sync, p, sweep_key, limiter=limiter)
        # No await from here on: a cancellation cannot strand the open connection.
        return cls(
            conn,
            p,
            sweep_key,
            rows,
            flush_interval=flush_interval,
            max_pending=max_pending,
            limiter=limiter,
        )

    # -- reading -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self._path

    @property
    def sweep_key(self) -> str:
        """The key of the sweep this checkpoint belongs to."""
        return self._sweep_key

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    @property
    def pending(self) -> int:
        """How many accounts have updates not yet written to the file."""
        return len(self._dirty)

    def get(self, account_id: str) -> AccountProgress | None:
        """The latest progress of ``account_id`` (flushed or not), or ``None`` if unknown."""
        return self._rows.get(account_id)

    def all(self) -> list[AccountProgress]:
        """The latest progress of every known account (flushed or not)."""
        return list(self._rows.values())

    # -- updating (in memory, non-blocking) ----------------------------------------------

    def commit_page(self, account_id: str, cursor: str | None, records: int) -> None:
        """Record that the caller has pulled past the last record of a page.

        ``cursor`` is that page's ``next_cursor`` (where to resume); ``records`` is how many
        records the page added. The account becomes (or stays) ``in_progress``; a failed or
        skipped account is thereby retried. Committing a page for a ``done`` account is a
        programming error and raises :class:`RuntimeError` (use :meth:`reset_account` to
        start it over).
        """
        self._check_open()
        _check_text("account_id", account_id)
        if cursor is not None:
            _check_text("cursor", cursor)
        if isinstance(records, bool) or not isinstance(records, int) or records < 0:
            raise ValueError(f"records must be a non-negative int, got {records!r}")
        old = self._rows.get(account_id)
        if old is not None and old.state == "done":
            raise RuntimeError(
                f"commit_page for account {account_id} which is already done;"
                " call reset_account() first to pull it again"
            )
        total, pages = (old.records, old.pages) if old is not None else (0, 0)
        self._put(
            AccountProgress(
                account_id, "in_progress", cursor, total + records, pages + 1, None, time.time()
            )
        )

    def mark_done(self, account_id: str) -> None:
        """Record that ``account_id`` has been pulled completely."""
        self._set_state(account_id, "done", None)

    def mark_failed(self, account_id: str, reason: str) -> None:
        """Record that ``account_id`` failed with ``reason``; its cursor is kept for a retry.

        ``reason`` is stored as given: the caller makes sure it holds no secret.
        """
        self._set_state(account_id, "failed", reason)

    def mark_skipped(self, account_id: str, reason: str) -> None:
        """Record that ``account_id`` was skipped, and why (stored as given)."""
        self._set_state(account_id, "skipped", reason)

    def reset_account(self, account_id: str) -> None:
        """Start ``account_id`` over: ``in_progress`` from the beginning, counts at zero."""
        self._check_open()
        _check_text("account_id", account_id)
        self._put(AccountProgress(account_id, "in_progress", None, 0, 0, None, time.time()))

    def _set_state(self, account_id: str, state: ProgressState, error: str | None) -> None:
        self._check_open()
        _check_text("account_id", account_id)
        if error is not None:
            _check_text("reason", error)
        old = self._rows.get(account_id)
        if old is None:
            new = AccountProgress(account_id, state, None, 0, 0, error, time.time())
        else:
            new = AccountProgress(
                account_id, state, old.cursor, old.records, old.pages, error, time.time()
            )
        self._put(new)

    def _put(self, progress: AccountProgress) -> None:
        self._rows[progress.account_id] = progress
        self._dirty[progress.account_id] = progress
        self._pending += 1
        if self._pending >= self._max_pending:
            self._wake.set()  # the background flusher (if any) writes now

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"checkpoint {self._path} is closed")

    # -- writing -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Write every buffered update now: one transaction, in a worker thread.

        When it returns, everything updated before the call is durable against the process
        dying. If the write fails, the updates stay buffered (a later flush retries them)
        and the error propagates.
        """
        async with self._flush_lock:
            if self._closed:
                return
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if not self._dirty:
            return
        # Snapshot on the loop thread by swapping the dict: the thread then owns it alone.
        # AccountProgress is immutable and replaced (never mutated) on update.
        snapshot = self._dirty
        self._dirty = {}
        self._pending = 0
        try:
            await anyio.to_thread.run_sync(self._write_sync, snapshot, limiter=self._limiter)
        except BaseException:
            # Not written (or not known to be): keep them buffered. Upserting absolute state
            # is idempotent; accounts updated since keep their newer state.
            for account_id, progress in snapshot.items():
                self._dirty.setdefault(account_id, progress)
            raise

    def _write_sync(self, snapshot: dict[str, AccountProgress]) -> None:
        with self._db_lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT, (p._row() for p in snapshot.values()))
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O error); a failed
                # COMMIT leaves the transaction open. Either way, end it cleanly.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def aclose(self) -> None:
        """Flush what is buffered and close the file. Idempotent; runs to the end even when
        the caller is cancelled.

        The connection is closed even when the final flush fails (the error propagates).
        """
        # Shielded, like closing a file: a cancelled caller must not leave updates unwritten
        # or the connection open. The write it waits for is a short transaction.
        with anyio.CancelScope(shield=True):
            async with self._flush_lock:
                if self._closed:
                    return
                try:
                    await self._flush_locked()
                finally:
                    self._closed = True
                    self._wake.set()
                    await anyio.to_thread.run_sync(self._close_sync, limiter=self._limiter)

    def _close_sync(self) -> None:
        with self._db_lock:
            self._conn.close()

    # -- context manager: background flusher ---------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the background flusher (owned by this context)."""
        self._check_open()
        if self._task_group is not None:
            raise RuntimeError("checkpoint context is already entered")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        tg.start_soon(self.run_flusher, name=f"checkpoint flusher {self._path.name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Stop the flusher, then flush and close (shielded, so it happens on cancel too)."""
        tg = self._task_group
        assert tg is not None
        self._task_group = None
        tg.cancel_scope.cancel()
        try:
            # Waits for the flusher (a write in progress finishes first: worker threads are
            # not abandoned) and raises its error, if it had one, in an ExceptionGroup.
            suppress = await tg.__aexit__(exc_type, exc, tb)
        except BaseException as group:
            # The flusher's error is the one to report; the final flush (aclose still closes
            # the file) most likely fails the same way and is only noted.
            try:
                await self.aclose()
            except Exception as close_exc:
                group.add_note(f"the final checkpoint flush failed too: {close_exc!r}")
            raise
        await self.aclose()
        return suppress

    async def run_flusher(self) -> None:
        """Flush every ``flush_interval`` seconds, or sooner at ``max_pending`` updates.

        Runs until the checkpoint is closed or the task is cancelled; a failed write ends
        it with the error. ``async with`` runs it for you; a caller that keeps the
        checkpoint open longer than its writers (the sweep) runs it in a task of its own.
        """
        while not self._closed:
            with anyio.move_on_after(self._flush_interval):
                await self._wake.wait()
            # anyio events cannot be cleared; no await between wait() and here, so no
            # wake-up is lost.
            self._wake = anyio.Event()
            if self._dirty:
                await self.flush()


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


_OPEN_TIMEOUT = 10.0  # seconds to wait for other writers of the same file


def _open_sync(path: Path, sweep_key: str) -> tuple[sqlite3.Connection, dict[str, AccountProgress]]:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. See Checkpoint for why
        # check_same_thread=False is safe here. ``timeout`` is SQLite's busy wait.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=_OPEN_TIMEOUT
        )
    except sqlite3.Error as exc:
        raise ConfigurationError(f"cannot open checkpoint {path}: {exc}") from None
    try:
        deadline = time.monotonic() + _OPEN_TIMEOUT
        delay = 0.001
        while True:
            try:
                return conn, _prepare(conn, path, sweep_key)
            except sqlite3.OperationalError as exc:
                # Several openers of one new file (shards) race to switch it to WAL and to
                # create the schema; SQLite answers some of those races with "locked" at
                # once, without its busy wait. Retry them (this is a worker thread).
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"cannot open checkpoint {path}: {exc} (is it a truto-stream checkpoint?)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            except sqlite3.Error as exc:
                raise ConfigurationError(
                    f"cannot open checkpoint {path}: {exc} (is it a truto-stream checkpoint?)"
                ) from None
    except BaseException:
        conn.close()
        raise


def _prepare(conn: sqlite3.Connection, path: Path, sweep_key: str) -> dict[str, AccountProgress]:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigurationError(f"checkpoint {path}: cannot use WAL journal (got {mode})")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        _ensure_schema(conn, path, sweep_key)
        rows = _load(conn.execute("SELECT * FROM accounts"))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return rows


def _ensure_schema(conn: sqlite3.Connection, path: Path, sweep_key: str) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        for stmt in _SCHEMA:
            conn.execute(stmt)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute(
            "INSERT INTO sweep (sweep_key, created_at) VALUES (?, ?)", (sweep_key, time.time())
        )
        return
    if not {"schema_version", "sweep", "accounts"} <= tables:
        raise ConfigurationError(f"{path} is an SQLite file but not a truto-stream checkpoint")
    version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise ConfigurationError(
            f"checkpoint {path} has schema version {version}; this truto-stream reads"
            f" version {SCHEMA_VERSION}"
        )
    stored = conn.execute("SELECT sweep_key FROM sweep").fetchone()
    if stored is None or stored[0] != sweep_key:
        theirs = "none" if stored is None else _short(stored[0])
        raise ConfigurationError(
            f"checkpoint {path} belongs to a different sweep (its key: {theirs};"
            f" this sweep: {_short(sweep_key)}). Resource, parameters and mode must match to"
            " resume; use another checkpoint file for a different sweep."
        )


def _load(cursor: Iterable[tuple[object, ...]]) -> dict[str, AccountProgress]:
    rows: dict[str, AccountProgress] = {}
    for account_id, state, cur, records, pages, error, updated_at in cursor:
        if state not in _STATES:  # the CHECK constraint makes this unreachable
            raise ConfigurationError(f"checkpoint row for {account_id} has state {state!r}")
        rows[str(account_id)] = AccountProgress(
            str(account_id),
            state,  # type: ignore[arg-type]
            None if cur is None else str(cur),
            int(records),  # type: ignore[call-overload]
            int(pages),  # type: ignore[call-overload]
            None if error is None else str(error),
            float(updated_at),  # type: ignore[arg-type]
        )
    return rows


def _short(text: str, limit: int = 200) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
