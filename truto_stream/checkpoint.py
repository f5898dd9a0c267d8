"""SQLite-backed checkpoint of a sweep: what each unit delivered, where to resume.

One file holds one sweep (identified by ``sweep_key``: resource + params + mode, computed by
the caller), one row per unit of work (:class:`~truto_stream.unit.Unit`: today one per
integrated account) and the position of the sink the records went to::

    in_progress  cursor = the page in progress (``None``: the first page); ``skip`` of its
                 records were delivered, the last of them with id ``last_id``
    done         finished; a rerun skips it
    failed       stopped with ``error``; keeps its position so a rerun can retry from there
    skipped      not pulled, with ``error`` saying why; a rerun skips it

Resuming a unit re-requests its page in progress and skips the first ``skip`` records,
after checking that the last of them still has the id ``last_id`` (see
:mod:`truto_stream._resume`): delivery is tracked per page *part*, so a crash in the middle
of a large page or of a stream costs nothing delivered.

Updates are kept in memory (updates to one unit coalesce into its latest state, record
counts accumulate) and written by :meth:`Checkpoint.flush` -- every buffered unit and the
sink position in one transaction, in a worker thread, so the event loop never waits on the
disk. Inside ``async with``, a background task flushes every ``flush_interval`` seconds, or
sooner once ``max_pending`` updates are buffered. A crash (even ``kill -9``) loses at most
the updates not yet flushed.

Calls made without an ``await`` in between always land in the same transaction (the flush
takes its snapshot on the event-loop thread), so a sink that stores its position together
with the progress it covers (:meth:`put_sink`) never sees them disagree after a crash.

Durability: WAL journal with ``synchronous=NORMAL``. A committed transaction is in the WAL
file (the OS page cache) when ``flush`` returns, so it survives the process being killed;
only an OS crash or power loss can drop the last few transactions, and never corrupts the
file. A write that fails (disk full, read-only file) raises
:class:`~truto_stream.errors.StorageError` and keeps the updates buffered.

Sharing: a flush writes only the units it has updates for (absolute state, upserted), so
several Checkpoints -- threads, event loops or processes, e.g. the shards of one sweep -- may
share one file as long as each updates its own units; SQLite serialises their short write
transactions. The command line takes an exclusive lock for its run (one sweep per file).

Versions: schema 2 (this one) keys progress by unit. A schema 1 file (one row per account,
resumable at page boundaries only) is migrated in place when opened; a file written by a
newer schema is refused.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

import anyio
import anyio.abc
import anyio.to_thread
import orjson

from truto_stream.errors import ConfigurationError, StorageError
from truto_stream.unit import Unit

__all__ = ["Checkpoint", "ProgressState", "UnitProgress"]

#: What a checkpoint stores about a unit (a sweep's report has its own, richer
#: ``AccountState``: pending and running units are ``in_progress`` here).
ProgressState = Literal["in_progress", "done", "failed", "skipped"]
_STATES: frozenset[str] = frozenset(get_args(ProgressState))

SCHEMA_VERSION = 2

_UNITS_TABLE = """
    CREATE TABLE units (
        unit_key   TEXT PRIMARY KEY NOT NULL,
        account_id TEXT NOT NULL,
        date       TEXT,
        state      TEXT NOT NULL
                   CHECK (state IN ('in_progress', 'done', 'failed', 'skipped')),
        cursor     TEXT,
        skip       INTEGER NOT NULL CHECK (skip >= 0),
        last_id    TEXT,
        records    INTEGER NOT NULL CHECK (records >= 0),
        pages      INTEGER NOT NULL CHECK (pages >= 0),
        error      TEXT,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
"""
_SINK_TABLE = """
    CREATE TABLE sink (
        name       TEXT PRIMARY KEY NOT NULL,
        position   TEXT NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
"""

# The whole schema is created in one transaction, so a crash while creating it leaves
# either nothing or a complete, keyed checkpoint.
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE sweep (sweep_key TEXT NOT NULL, created_at REAL NOT NULL)",
    _UNITS_TABLE,
    _SINK_TABLE,
)

# Schema 1 -> 2: one unit per account, keyed by the account id, at a page boundary.
_MIGRATE_1_TO_2 = (
    _UNITS_TABLE,
    _SINK_TABLE,
    """
    INSERT INTO units (unit_key, account_id, date, state, cursor, skip, last_id, records,
                       pages, error, updated_at)
    SELECT account_id, account_id, NULL, state, cursor, 0, NULL, records, pages, error,
           updated_at
    FROM accounts
    """,
    "DROP TABLE accounts",
    "UPDATE schema_version SET version = 2",
)

_COLUMNS = "unit_key, account_id, date, state, cursor, skip, last_id, records, pages, error"
_UPSERT = f"""
    INSERT INTO units ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (unit_key) DO UPDATE SET
        account_id = excluded.account_id,
        date = excluded.date,
        state = excluded.state,
        cursor = excluded.cursor,
        skip = excluded.skip,
        last_id = excluded.last_id,
        records = excluded.records,
        pages = excluded.pages,
        error = excluded.error,
        updated_at = excluded.updated_at
"""
_PUT_SINK = """
    INSERT INTO sink (name, position, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET
        position = excluded.position, updated_at = excluded.updated_at
"""
_SINK = "output"

_Row = tuple[str, str, str | None, str, str | None, int, str | None, int, int, str | None, float]


@dataclass(frozen=True, slots=True)
class UnitProgress:
    """The progress of one unit of a sweep.

    ``cursor`` is the page in progress (``None``: the first page): resuming re-requests it
    and skips its first ``skip`` records, which were delivered already, the last of them
    with the id ``last_id``. ``records`` and ``pages`` count what was delivered so far;
    ``error`` says why the unit failed or was skipped; ``updated_at`` is unix time.
    """

    unit_key: str
    account_id: str
    date: str | None
    state: ProgressState
    cursor: str | None
    skip: int
    last_id: str | None
    records: int
    pages: int
    error: str | None
    updated_at: float

    @classmethod
    def start(cls, unit: Unit) -> UnitProgress:
        """A unit not started yet: in progress from its first page."""
        return cls(
            unit.key, unit.account_id, unit.date, "in_progress", None, 0, None, 0, 0, None, 0.0
        )

    def after_page(self, cursor: str | None, records: int) -> UnitProgress:
        """A page ended, ``records`` delivered since the last update; ``cursor`` is next."""
        return replace(
            self,
            state="in_progress",
            cursor=cursor,
            skip=0,
            last_id=None,
            records=self.records + records,
            pages=self.pages + 1,
            error=None,
        )

    def after_part(self, cursor: str | None, skip: int, last_id: str, records: int) -> UnitProgress:
        """The first ``skip`` records of the page at ``cursor`` are delivered."""
        return replace(
            self,
            state="in_progress",
            cursor=cursor,
            skip=skip,
            last_id=last_id,
            records=self.records + records,
            error=None,
        )

    def ended(self, state: ProgressState, error: str | None = None) -> UnitProgress:
        """The unit is ``state`` now (its position is kept: a failed unit resumes there)."""
        return replace(self, state=state, error=error)

    def _row(self) -> _Row:
        return (
            self.unit_key,
            self.account_id,
            self.date,
            self.state,
            self.cursor,
            self.skip,
            self.last_id,
            self.records,
            self.pages,
            self.error,
            self.updated_at,
        )


def _identify(unit: Unit | str) -> Unit:
    """A unit, or a bare key standing for the unit of that account (a unit per account)."""
    if isinstance(unit, Unit):
        return unit
    _check_text("unit", unit)
    return Unit(unit, unit)


class Checkpoint:
    """SQLite-backed per-unit progress of one sweep, and the position of its sink.

    Create it with :meth:`open`. Use it as ``async with await Checkpoint.open(...) as cp:``
    to get a background flusher and a guaranteed final flush; without the context manager,
    call :meth:`flush` yourself and :meth:`aclose` at the end.

    The update methods (:meth:`commit_page`, :meth:`commit_part`, :meth:`mark_done` ...)
    and the readers (:meth:`get`, :meth:`all`) are synchronous, never touch the disk, and
    must be called from the event-loop thread. The readers see the latest state, flushed or
    not. Each update method takes a :class:`~truto_stream.unit.Unit`, or a string that
    stands for the unit of the account of that id.
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
        loaded: tuple[dict[str, UnitProgress], Any],
        *,
        flush_interval: float,
        max_pending: int,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        # Private: use Checkpoint.open().
        self._conn = conn
        self._path = path
        self._sweep_key = sweep_key
        self._rows, self._sink = loaded
        # Units changed since the last snapshot, with their latest state. A dict (not a
        # set of keys) so that taking a snapshot is an O(1) swap on the loop thread.
        self._dirty: dict[str, UnitProgress] = {}
        self._sink_dirty: bytes | None = None
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

        Creates the file and its schema when needed (migrating a schema 1 file), loads
        every unit's row into memory, and makes sure the file can be written. Raises
        :class:`~truto_stream.errors.ConfigurationError` when the file belongs to another
        sweep (a different ``sweep_key``), was written by a newer schema or is not a
        truto-stream checkpoint, and :class:`~truto_stream.errors.StorageError` when it
        cannot be opened or written (a read-only file or directory, a full disk).
        """
        if not isinstance(sweep_key, str) or not sweep_key:
            raise ConfigurationError("checkpoint sweep_key must be a non-empty string")
        if not (math.isfinite(flush_interval) and flush_interval > 0):
            raise ConfigurationError("checkpoint flush_interval must be a positive number")
        if max_pending < 1:
            raise ConfigurationError("checkpoint max_pending must be at least 1")
        p = Path(path)
        limiter = anyio.CapacityLimiter(1)
        conn, loaded = await anyio.to_thread.run_sync(_open_sync, p, sweep_key, limiter=limiter)
        # No await from here on: a cancellation cannot strand the open connection.
        return cls(
            conn,
            p,
            sweep_key,
            loaded,
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
        """How many units (and sink positions) have updates not yet written to the file."""
        return len(self._dirty) + (self._sink_dirty is not None)

    @property
    def sink_position(self) -> Any:
        """The sink position last stored with :meth:`put_sink` (``None`` if none ever was)."""
        return self._sink

    def get(self, unit_key: str) -> UnitProgress | None:
        """The latest progress of ``unit_key`` (flushed or not), or ``None`` if unknown."""
        return self._rows.get(unit_key)

    def all(self) -> list[UnitProgress]:
        """The latest progress of every known unit (flushed or not)."""
        return list(self._rows.values())

    # -- updating (in memory, non-blocking) ----------------------------------------------

    def commit_page(self, unit: Unit | str, cursor: str | None, records: int) -> None:
        """Record that the last record of a page was delivered.

        ``cursor`` is that page's ``next_cursor`` (the page now in progress); ``records``
        is how many records were delivered since the previous commit of this unit. The unit
        becomes (or stays) ``in_progress``; a failed or skipped unit is thereby retried.
        Committing for a ``done`` unit is a programming error and raises
        :class:`RuntimeError` (use :meth:`reset` to start it over).
        """
        if cursor is not None:
            _check_text("cursor", cursor)
        self.put(self._advancing(unit, records).after_page(cursor, records))

    def commit_part(
        self, unit: Unit | str, cursor: str | None, skip: int, last_id: str, records: int
    ) -> None:
        """Record that the first ``skip`` records of the page at ``cursor`` were delivered.

        ``last_id`` identifies the last of them (checked on resume); ``records`` is how many
        records were delivered since the previous commit of this unit. Like
        :meth:`commit_page`, it makes the unit ``in_progress``.
        """
        if cursor is not None:
            _check_text("cursor", cursor)
        _check_text("last_id", last_id)
        _check_count("skip", skip)
        self.put(self._advancing(unit, records).after_part(cursor, skip, last_id, records))

    def mark_done(self, unit: Unit | str) -> None:
        """Record that the unit has been pulled completely."""
        self._set_state(unit, "done", None)

    def mark_failed(self, unit: Unit | str, reason: str) -> None:
        """Record that the unit failed with ``reason``; its position is kept for a retry.

        ``reason`` is stored as given: the caller makes sure it holds no secret.
        """
        self._set_state(unit, "failed", reason)

    def mark_skipped(self, unit: Unit | str, reason: str) -> None:
        """Record that the unit was skipped, and why (stored as given)."""
        self._set_state(unit, "skipped", reason)

    def reset(self, unit: Unit | str) -> None:
        """Start the unit over: ``in_progress`` from the beginning, counts at zero."""
        self.put(UnitProgress.start(_identify(unit)))

    def put_sink(self, position: Any) -> None:
        """Store the sink's position (anything JSON can encode) with the next flush.

        Call it in the same synchronous step as the unit updates it covers: they are then
        written in one transaction, so the file never holds one without the other.
        """
        self._check_open()
        try:
            encoded = orjson.dumps(position)
        except TypeError as exc:
            raise TypeError(f"a sink position must be JSON data: {exc}") from None
        self._sink = orjson.loads(encoded)  # a copy: the caller's object may change
        self._sink_dirty = encoded
        self._count_update()

    def _advancing(self, unit: Unit | str, records: int) -> UnitProgress:
        self._check_open()
        _check_count("records", records)
        ident = _identify(unit)
        old = self._rows.get(ident.key)
        if old is not None and old.state == "done":
            raise RuntimeError(
                f"a commit for unit {ident.key} which is already done;"
                " call reset() first to pull it again"
            )
        return old if old is not None else UnitProgress.start(ident)

    def _set_state(self, unit: Unit | str, state: ProgressState, error: str | None) -> None:
        ident = _identify(unit)
        if error is not None:
            _check_text("reason", error)
        old = self._rows.get(ident.key) or UnitProgress.start(ident)
        self.put(old.ended(state, error))

    def put(self, progress: UnitProgress) -> None:
        """Store ``progress`` as its unit's state (absolute: it replaces what was there)."""
        self._check_open()
        if progress.state not in _STATES:
            raise ValueError(f"unknown state {progress.state!r}")
        progress = replace(progress, updated_at=time.time())
        self._rows[progress.unit_key] = progress
        self._dirty[progress.unit_key] = progress
        self._count_update()

    def _count_update(self) -> None:
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
        and :class:`~truto_stream.errors.StorageError` is raised.
        """
        async with self._flush_lock:
            if self._closed:
                return
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if not self._dirty and self._sink_dirty is None:
            return
        # Snapshot on the loop thread by swapping: the thread then owns it alone.
        # UnitProgress is immutable and replaced (never mutated) on update.
        snapshot, sink = self._dirty, self._sink_dirty
        self._dirty, self._sink_dirty = {}, None
        self._pending = 0
        try:
            await anyio.to_thread.run_sync(self._write_sync, snapshot, sink, limiter=self._limiter)
        except BaseException as exc:
            # Not written (or not known to be): keep them buffered. Upserting absolute state
            # is idempotent; units updated since keep their newer state.
            for key, progress in snapshot.items():
                self._dirty.setdefault(key, progress)
            if self._sink_dirty is None:
                self._sink_dirty = sink
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot write the checkpoint {self._path}: {exc}") from exc
            raise

    def _write_sync(self, snapshot: dict[str, UnitProgress], sink: bytes | None) -> None:
        with self._db_lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT, (p._row() for p in snapshot.values()))
                if sink is not None:
                    conn.execute(_PUT_SINK, (_SINK, sink.decode(), time.time()))
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
            if self._dirty or self._sink_dirty is not None:
                await self.flush()


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


_OPEN_TIMEOUT = 10.0  # seconds to wait for other writers of the same file

_Loaded = tuple[dict[str, UnitProgress], Any]


def _open_sync(path: Path, sweep_key: str) -> tuple[sqlite3.Connection, _Loaded]:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. See Checkpoint for why
        # check_same_thread=False is safe here. ``timeout`` is SQLite's busy wait.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=_OPEN_TIMEOUT
        )
    except sqlite3.Error as exc:
        raise _open_error(path, exc) from None
    try:
        return conn, _prepare_retrying(conn, path, sweep_key)
    except BaseException:
        conn.close()
        raise


def _prepare_retrying(conn: sqlite3.Connection, path: Path, sweep_key: str) -> _Loaded:
    deadline = time.monotonic() + _OPEN_TIMEOUT
    delay = 0.001
    while True:
        try:
            return _prepare(conn, path, sweep_key)
        except sqlite3.OperationalError as exc:
            # Several openers of one new file (shards) race to switch it to WAL and to
            # create the schema; SQLite answers some of those races with "locked" at
            # once, without its busy wait. Retry them (this is a worker thread).
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise _open_error(path, exc) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        except sqlite3.Error as exc:
            raise _open_error(path, exc) from None


def _open_error(path: Path, exc: sqlite3.Error) -> Exception:
    text = str(exc)
    if any(s in text for s in ("readonly", "disk is full", "disk I/O error")):
        return StorageError(f"cannot write the checkpoint {path}: {text}")
    return ConfigurationError(
        f"cannot open checkpoint {path}: {text} (is it a truto-stream checkpoint?)"
    )


def _prepare(conn: sqlite3.Connection, path: Path, sweep_key: str) -> _Loaded:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"checkpoint {path}: cannot use WAL journal (got {mode})")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        _ensure_schema(conn, path, sweep_key)
        # A write in this transaction proves now, not at the first flush, that the file
        # can be written (SQLite opens a read-only file without complaint).
        conn.execute("UPDATE schema_version SET version = version")
        rows = _load(conn.execute(f"SELECT {_COLUMNS}, updated_at FROM units"))
        sink = conn.execute("SELECT position FROM sink WHERE name = ?", (_SINK,)).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return rows, (orjson.loads(sink[0]) if sink is not None else None)


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
    if not {"schema_version", "sweep"} <= tables or not tables & {"units", "accounts"}:
        raise ConfigurationError(f"{path} is an SQLite file but not a truto-stream checkpoint")
    version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if version == 1 and "accounts" in tables:
        for stmt in _MIGRATE_1_TO_2:
            conn.execute(stmt)
    elif version != SCHEMA_VERSION:
        raise ConfigurationError(
            f"checkpoint {path} has schema version {version}; this truto-stream reads"
            f" versions 1 (migrated on open) and {SCHEMA_VERSION}: a newer truto-stream"
            " wrote it"
        )
    stored = conn.execute("SELECT sweep_key FROM sweep").fetchone()
    if stored is None or stored[0] != sweep_key:
        theirs = "none" if stored is None else _short(stored[0])
        raise ConfigurationError(
            f"checkpoint {path} belongs to a different sweep (its key: {theirs};"
            f" this sweep: {_short(sweep_key)}). Resource, parameters and mode must match to"
            " resume; use another checkpoint file for a different sweep."
        )


def _load(cursor: Iterable[tuple[Any, ...]]) -> dict[str, UnitProgress]:
    rows: dict[str, UnitProgress] = {}
    for key, account, date, state, cur, skip, last, records, pages, error, at in cursor:
        if state not in _STATES:  # the CHECK constraint makes this unreachable
            raise ConfigurationError(f"checkpoint row for {key} has state {state!r}")
        rows[str(key)] = UnitProgress(
            str(key),
            str(account),
            _text(date),
            state,
            _text(cur),
            int(skip),
            _text(last),
            int(records),
            int(pages),
            _text(error),
            float(at),
        )
    return rows


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _short(text: str, limit: int = 200) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
