"""The parent side: plan once, start N shard processes, merge their batches.

The parent owns what must be one: the plan (discovery happens once, before any shard
starts), the checkpoint and the caller's sink. Each shard process sweeps its accounts
with its share of the per-token budget and sends batches as NDJSON bytes with the unit
progress that covers them; the parent hands the batches on and stores that progress with
the sink's position in one checkpoint transaction (``commits="manual"``), exactly as an
in-process :class:`~truto_stream.sweep.Sweep` does. Memory is bounded per shard: its own
record buffer, one pipe, and ``processes`` frames waiting in the parent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import pickle
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import orjson
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from truto_stream.accounts import Accounts
from truto_stream.checkpoint import Checkpoint, UnitProgress
from truto_stream.client import DEFAULT_BASE_URL, Client, RateLimits
from truto_stream.errors import ConfigurationError, StorageError, TrutoError
from truto_stream.page import Mode
from truto_stream.plan.dates import Dates
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT
from truto_stream.plan.model import Plan
from truto_stream.processes._child import ChildSpec
from truto_stream.processes._wire import PREFIX, decode_progress
from truto_stream.shard import share_rate_limits, token_spent
from truto_stream.sweep import (
    DEFAULT_CONCURRENCY,
    AccountReport,
    Commits,
    SweepReport,
    sweep_key,
)
from truto_stream.unit import Unit

__all__ = ["ProcessSweep", "RawBatch", "ShardProcessError"]

_TOKEN_ENV = "TRUTO_API_TOKEN"
_TRUTO_LIMITS = RateLimits()
_STATES = {"in_progress": "running", "done": "done", "failed": "failed", "skipped": "skipped"}


class ShardProcessError(TrutoError):
    """A shard process failed as a whole (it died, or its sweep raised)."""


@dataclass(frozen=True)
class RawBatch:
    """One page part's records, as NDJSON lines ready for an output.

    Each line is a record with ``integrated_account_id`` first (and ``date`` in a sweep
    over dates); ``records`` counts the lines. ``orjson.loads`` each line for dicts.
    """

    account_id: str
    unit: Unit
    """The unit the records belong to (its key, date and integration)."""
    records: int
    ndjson: bytes


@dataclass(frozen=True)
class _Frame:
    shard: int
    header: dict[str, Any]
    payload: bytes


class ProcessSweep:
    """A sweep run by ``processes`` shard processes on this machine, merged into one stream.

    Use ``async with ProcessSweep(...) as sweep: async for batch in sweep.batches(): ...``.
    Arguments are :meth:`Client.sweep`'s, plus the client's (``token``, ``base_url``,
    ``rate_limits``, ``allow_insecure``; ``client_options``: any other :class:`Client`
    argument, picklable). ``concurrency`` is the total (default: the mode's, as for
    :meth:`Client.sweep`), divided among the shards. The
    per-token budget is split evenly among them; the per-account budget stays whole (an
    account lives in one shard). The token reaches the shards through the environment
    variable ``token_env``, never through argv or a pipe.
    """

    def __init__(
        self,
        model: str,
        resource: str,
        *,
        processes: int,
        accounts: Accounts | None = None,
        plan: Plan | None = None,
        params: Mapping[str, Any] | None = None,
        dates: Dates | None = None,
        today: str | dt.date | None = None,
        assume_records: int = DEFAULT_RECORDS_PER_UNIT,
        mode: Mode = "paged",
        concurrency: int | None = None,
        buffer_records: int = 10_000,
        checkpoint: str | Checkpoint | None = None,
        commits: Commits = "auto",
        token: str | None = None,
        token_env: str = _TOKEN_ENV,
        base_url: str = DEFAULT_BASE_URL,
        rate_limits: RateLimits | None = _TRUTO_LIMITS,
        allow_insecure: bool = False,
        client_options: Mapping[str, Any] | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        if processes < 1:
            raise ConfigurationError("processes must be at least 1")
        if concurrency is None:
            concurrency = DEFAULT_CONCURRENCY.get(mode, DEFAULT_CONCURRENCY["paged"])
        if concurrency < 1 or buffer_records < 1:
            raise ConfigurationError("concurrency and buffer_records must be at least 1")
        if commits not in ("auto", "manual"):
            raise ConfigurationError("commits must be 'auto' or 'manual'")
        if plan is None and accounts is None:
            raise ConfigurationError("sweep needs accounts= (or a plan=)")
        token = token if token is not None else os.environ.get(token_env)
        if not token:
            raise ConfigurationError(f"no API token: pass token=... or set ${token_env}")
        self._token = token
        self._token_env = token_env
        self._model, self._resource, self._mode = model, resource, mode
        self._processes = processes
        self._planning: dict[str, Any] = {
            "accounts": accounts,
            "params": params,
            "dates": dates,
            "today": today,
            "assume_records": assume_records,
        }
        self._plan = plan
        self._params = dict(plan.params if plan is not None else params or {})
        self._concurrency = concurrency
        self._buffer_records = buffer_records
        self._checkpoint_arg = checkpoint
        self._checkpoint: Checkpoint | None = None
        self._commits: Commits = commits
        self._base_url = base_url
        self._rate_limits = rate_limits
        self._allow_insecure = allow_insecure
        self._client_options = dict(client_options or {})
        self._stop_timeout = stop_timeout
        self._report = SweepReport()
        self._handed: dict[str, UnitProgress] = {}
        self._planned = anyio.Event()
        self._children: list[anyio.abc.Process] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._iterating = False
        self._shards = 0
        self._opened = False
        self._flush_error: StorageError | None = None
        self._token_spent: tuple[int, float] = (0, 0.0)

    def __repr__(self) -> str:  # the token stays out of any repr
        return f"ProcessSweep({self._model}/{self._resource}, processes={self._processes})"

    # -- what the CLI's progress and finish read (as from a Sweep) ------------------------

    @property
    def report(self) -> SweepReport:
        """Per-unit outcome so far (live counts from the batches; each shard's own report
        replaces its units' entries when the shard ends)."""
        return self._report

    @property
    def plan(self) -> Plan | None:
        return self._plan

    async def wait_plan(self) -> Plan:
        await self._planned.wait()
        assert self._plan is not None
        return self._plan

    @property
    def dated(self) -> bool:
        return self._plan is not None and self._plan.dates is not None

    @property
    def budget_waiting(self) -> tuple[int, int]:
        return (0, 0)  # the budgets live in the shard processes

    @property
    def sweep_key(self) -> str:
        return sweep_key(self._base_url, self._model, self._resource, self._params, self._mode)

    @property
    def processes(self) -> int:
        """How many shard processes run (at most one per account)."""
        return self._shards

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._opened:
            raise ConfigurationError("a sweep runs once; create a new one to run again")
        self._opened = True
        await self._open_checkpoint()
        try:
            # The shards start (and import) while the plan is made.
            children = [await self._spawn() for _ in range(self._shard_count())]
            plan = self._plan if self._plan is not None else await self._make_plan()
            self._set_plan(plan)
            specs = self._specs(plan)
            self._shards = len(specs)
            self._task_group = anyio.create_task_group()
            await self._task_group.__aenter__()
            self._send, self._receive = anyio.create_memory_object_stream[_Frame | Exception](
                max(1, len(specs))
            )
            async with self._send:
                if self._checkpoint is not None:
                    self._task_group.start_soon(self._flush, self._checkpoint)
                for child, spec in zip(children, specs, strict=False):
                    await self._hand_spec(child, spec)
                    self._task_group.start_soon(self._read, spec.index, child, self._send.clone())
            for spare in children[len(specs) :]:  # fewer accounts than processes
                await self._hand_spec(spare, None)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every shard process and flush the checkpoint (closing one it opened)."""
        try:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                # The task group is exited in the task and scope that entered it.
                task_group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._stop_children()
                await task_group.__aexit__(None, None, None)
            else:
                with anyio.CancelScope(shield=True):
                    await self._stop_children()
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_checkpoint()

    async def _close_checkpoint(self) -> None:
        if self._report.finished_at is None:
            self._report.finished_at = time.time()
        checkpoint = self._checkpoint
        if checkpoint is None:
            return
        if checkpoint is self._checkpoint_arg:
            await checkpoint.flush()  # the caller's: left open (it may commit once more)
        else:
            self._checkpoint = None
            await checkpoint.aclose()

    async def _open_checkpoint(self) -> None:
        given = self._checkpoint_arg
        if isinstance(given, Checkpoint):
            if given.sweep_key != self.sweep_key:
                raise ConfigurationError(
                    f"checkpoint {given.path} was opened for another sweep (resource,"
                    " parameters and mode must match)"
                )
            self._checkpoint = given
        elif given is not None:
            self._checkpoint = await Checkpoint.open(given, self.sweep_key)

    async def _make_plan(self) -> Plan:
        """Plan once, in this process with the whole budget, before any shard starts.

        What planning sent on the token is counted by every shard until it leaves the
        window, so planning and shards together stay within the token's limit.
        """
        async with self._client() as client:
            plan = await client.plan(self._model, self._resource, mode=self._mode, **self._planning)
            self._token_spent = token_spent(client)
        return plan

    def _client(self) -> Client:
        return Client(
            self._token,
            base_url=self._base_url,
            rate_limits=self._rate_limits,
            allow_insecure=self._allow_insecure,
            **self._client_options,
        )

    def _set_plan(self, plan: Plan) -> None:
        self._plan = plan
        self._report.plan = plan.to_dict()
        self._report.warnings = list(plan.warnings)
        self._planned.set()

    def _specs(self, plan: Plan) -> list[ChildSpec]:
        """Deal the plan's accounts round-robin into at most ``processes`` shards."""
        count = min(self._processes, max(1, len(plan.accounts)))
        share = (
            share_rate_limits(self._rate_limits, count) if self._rate_limits is not None else None
        )
        stored = self._checkpoint.all() if self._checkpoint is not None else []
        # Each shard runs a fixed share of the walks (the default too: no ramp across
        # processes, whose shares are small already).
        walks = math.ceil(self._concurrency / count)  # each shard's
        self._report.walks = count * walks
        specs = []
        for index in range(count):
            accounts = plan.accounts[index::count]
            ids = {a.account_id for a in accounts}
            # The plan's skipped accounts are reported (and checkpointed) by shard 0.
            part = replace(plan, accounts=accounts, skipped=plan.skipped if index == 0 else ())
            specs.append(
                ChildSpec(
                    index=index,
                    model=self._model,
                    resource=self._resource,
                    mode=self._mode,
                    plan=part,
                    base_url=self._base_url,
                    rate_limits=share,
                    token_env=self._token_env,
                    concurrency=walks,
                    buffer_records=self._buffer_records,
                    allow_insecure=self._allow_insecure,
                    client_options=self._client_options,
                    progress=tuple(p for p in stored if p.account_id in ids),
                    parent_pid=os.getpid(),
                    token_spent=self._token_spent,
                )
            )
        return specs

    def _shard_count(self) -> int:
        given = len(self._plan.accounts) if self._plan is not None else self._processes
        return min(self._processes, max(1, given))

    async def _spawn(self) -> anyio.abc.Process:
        env = {**os.environ, self._token_env: self._token}
        child = await anyio.open_process(
            [sys.executable, "-m", "truto_stream.processes"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
        )
        self._children.append(child)
        return child

    @staticmethod
    async def _hand_spec(child: anyio.abc.Process, spec: ChildSpec | None) -> None:
        """Send the shard its spec (``None``: nothing to do, it ends at once)."""
        assert child.stdin is not None
        async with child.stdin:
            if spec is not None:
                await child.stdin.send(pickle.dumps(spec))

    async def _stop_children(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``: nothing outlives the sweep."""
        for child in self._children:
            if child.returncode is None:
                child.terminate()
        for child in self._children:
            with anyio.move_on_after(self._stop_timeout):
                await child.wait()
            if child.returncode is None:
                child.kill()
                await child.wait()
            await child.aclose()

    async def _flush(self, checkpoint: Checkpoint) -> None:
        """Commits reach the file within its flush interval, as in an in-process sweep; a
        failed write is raised to the caller with the next batch."""
        try:
            await checkpoint.run_flusher()
        except StorageError as exc:
            self._flush_error = exc

    # -- reading the shards --------------------------------------------------------------

    async def _read(
        self, shard: int, child: anyio.abc.Process, send: MemoryObjectSendStream[_Frame | Exception]
    ) -> None:
        async with send:
            try:
                await self._frames(shard, child, send)
            except anyio.BrokenResourceError:
                pass  # the caller stopped reading: the sweep is being closed
            except Exception as exc:
                if not isinstance(exc, ShardProcessError):  # a pipe error, a bad frame
                    exc = ShardProcessError(
                        f"shard process {shard + 1} of {self._shards}: {type(exc).__name__}"
                    )
                with contextlib.suppress(anyio.BrokenResourceError):
                    await send.send(exc)

    async def _frames(
        self, shard: int, child: anyio.abc.Process, send: MemoryObjectSendStream[_Frame | Exception]
    ) -> None:
        assert child.stdout is not None
        stream = BufferedByteReceiveStream(child.stdout)
        while True:
            try:
                head_size, payload_size = PREFIX.unpack(await stream.receive_exactly(PREFIX.size))
                header = orjson.loads(await stream.receive_exactly(head_size))
                payload = await stream.receive_exactly(payload_size) if payload_size else b""
            except (anyio.EndOfStream, anyio.IncompleteRead):
                raise await self._died(shard, child) from None
            kind = header.get("kind")
            if kind == "end":
                return
            if kind == "error":
                raise ShardProcessError(
                    f"shard process {shard + 1} of {self._shards} failed:"
                    f" {header.get('type')}: {header.get('message')}"
                )
            await send.send(_Frame(shard, header, payload))

    async def _died(self, shard: int, child: anyio.abc.Process) -> ShardProcessError:
        with anyio.move_on_after(self._stop_timeout):
            await child.wait()
        return ShardProcessError(
            f"shard process {shard + 1} of {self._shards} (pid {child.pid}) ended"
            f" before finishing its accounts (exit status {child.returncode})"
        )

    # -- the caller's side ---------------------------------------------------------------

    async def batches(self) -> AsyncGenerator[RawBatch, None]:
        """Yield every shard's batches as they arrive; raise if a shard process failed."""
        if self._task_group is None:
            raise ConfigurationError("open the sweep first: `async with ProcessSweep(...)`")
        if self._iterating:
            raise ConfigurationError("a sweep can be iterated once")
        self._iterating = True
        async with self._receive:
            async for frame in self._receive:
                if isinstance(frame, Exception):
                    raise frame
                if self._flush_error is not None:
                    raise self._flush_error
                batch = self._take(frame)
                if batch is None:
                    continue
                yield batch
                if self._commits == "auto":  # the caller has pulled past it
                    self._store(decode_progress(frame.header["progress"]))
        if self._flush_error is not None:
            raise self._flush_error

    def _take(self, frame: _Frame) -> RawBatch | None:
        """Note what a frame says; the batch it carries (if any)."""
        header = frame.header
        kind = header["kind"]
        if kind == "report":
            self._merge_report(header)
            return None
        rows = decode_progress(header["progress"])
        self._note_states(rows)
        if self._commits == "manual" or kind != "batch":
            self._hand(rows)
        if kind != "batch":
            return None
        account_id = header["account_id"]
        unit = Unit(
            header["unit"], account_id, header.get("date"), integration=header.get("integration")
        )
        self._unit_report(unit.key, account_id).records += header["records"]
        return RawBatch(account_id, unit, header["records"], frame.payload)

    def _hand(self, rows: list[UnitProgress]) -> None:
        if self._commits == "manual":
            for row in rows:
                self._handed[row.unit_key] = row
        else:
            self._store(rows)

    def _store(self, rows: list[UnitProgress]) -> None:
        if self._checkpoint is not None:
            for row in rows:
                self._checkpoint.put(row)

    def commit(self, position: Any = None) -> None:
        """Every batch handed out so far is durable in the sink at ``position``.

        As :meth:`Sweep.commit`: only with ``commits="manual"``; the progress and the
        position land in one checkpoint transaction.
        """
        if self._commits != "manual":
            raise ConfigurationError("commit() needs a sweep opened with commits='manual'")
        checkpoint = self._checkpoint
        if checkpoint is None:
            return
        for row in self._handed.values():
            checkpoint.put(row)
        self._handed.clear()
        checkpoint.put_sink(position)

    def _unit_report(self, unit_key: str, account_id: str) -> AccountReport:
        report = self._report.accounts.get(unit_key)
        if report is None:
            report = self._report.accounts[unit_key] = AccountReport(account_id, unit_key=unit_key)
        return report

    def _note_states(self, rows: Sequence[UnitProgress]) -> None:
        for row in rows:
            report = self._unit_report(row.unit_key, row.account_id)
            report.state = _STATES.get(row.state, report.state)  # type: ignore[assignment]
            report.date = row.date

    def _merge_report(self, header: dict[str, Any]) -> None:
        for row in header["accounts"]:
            report = AccountReport(**row)
            self._report.accounts[report.unit_key or report.account_id] = report
        for key, value in header["discovery"].items():
            if isinstance(value, int) and not isinstance(value, bool):
                current = getattr(self._report.discovery, key, None)
                if isinstance(current, int):
                    setattr(self._report.discovery, key, current + value)
