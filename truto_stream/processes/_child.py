"""A shard process: ``python -m truto_stream.processes``, started by its parent.

It reads its :class:`ChildSpec` (pickled) from stdin, the API token from the environment
variable the spec names (never argv, never the pipe), sweeps its share of the plan and
writes frames to stdout (see :mod:`._wire`): each batch as NDJSON lines with the unit
progress that covers it, then the final report. It keeps no state of its own: its
checkpoint is a scratch file seeded with the parent's rows, used only to resume where
the parent's checkpoint says and to collect the progress each batch covers. Writes wait
for the parent (asyncio flow control), so a slow parent holds the sweep back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import pickle
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from truto_stream.checkpoint import Checkpoint, UnitProgress
from truto_stream.client import Client, RateLimits
from truto_stream.errors import TrutoError
from truto_stream.page import Mode
from truto_stream.plan.model import Plan
from truto_stream.processes._wire import encode_frame, encode_progress, ndjson_lines
from truto_stream.shard import count_spent
from truto_stream.sweep import Sweep, sweep_key

__all__ = ["ChildSpec"]

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ChildSpec:
    """What one shard process sweeps, and how (no token: ``token_env`` names it)."""

    index: int
    model: str
    resource: str
    mode: Mode
    plan: Plan
    base_url: str
    rate_limits: RateLimits | None
    token_env: str
    concurrency: int
    buffer_records: int
    allow_insecure: bool = False
    client_options: dict[str, Any] = field(default_factory=dict)
    progress: tuple[UnitProgress, ...] = ()
    """The parent checkpoint's rows for this shard's units (where to resume)."""
    parent_pid: int = 0
    token_spent: tuple[int, float] = (0, 0.0)
    """Requests the parent's planning sent on the token, and when (unix time)."""

    def __repr__(self) -> str:
        return f"ChildSpec({self.index}, {self.model}/{self.resource}, {self.base_url!r})"


class _Collecting(Checkpoint):
    """A scratch checkpoint that also keeps what each commit stored, for the parent."""

    collected: list[UnitProgress]

    def put(self, progress: UnitProgress) -> None:
        super().put(progress)
        self.collected.append(progress)

    def take(self) -> list[UnitProgress]:
        rows, self.collected = self.collected, []
        return rows


class _ParentGone(Exception):
    """The parent closed its end of the pipe: it died, or stops this shard."""


class _Pipe:
    """Frames to the parent over stdout, with asyncio's flow control (backpressure)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    @classmethod
    async def open(cls, fd: int) -> _Pipe:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(fd, "wb", buffering=0)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
        # drain() then returns only once the kernel has every byte: no frame waits in this
        # process (one frame at a time is the backpressure), none is lost when it exits.
        transport.set_write_buffer_limits(high=0)
        return cls(asyncio.StreamWriter(transport, protocol, None, loop))

    async def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        try:
            self._writer.write(encode_frame(header, payload))
            await self._writer.drain()
        except ConnectionError as exc:
            raise _ParentGone from exc


async def _sweep(spec: ChildSpec, pipe: _Pipe, scratch: Path) -> None:
    token = os.environ.get(spec.token_env, "")
    plan = spec.plan
    key = sweep_key(spec.base_url, spec.model, spec.resource, plan.params, spec.mode)
    checkpoint = await _Collecting.open(scratch / "shard.db", key)
    assert isinstance(checkpoint, _Collecting)  # open() builds the class it is called on
    checkpoint.collected = []
    for row in spec.progress:
        checkpoint.put(row)
    checkpoint.take()
    async with Client(
        token,
        base_url=spec.base_url,
        rate_limits=spec.rate_limits,
        allow_insecure=spec.allow_insecure,
        **spec.client_options,
    ) as client:
        count_spent(client, *spec.token_spent)
        sweep = client.sweep(
            spec.model,
            spec.resource,
            plan=plan,
            mode=spec.mode,
            concurrency=spec.concurrency,
            buffer_records=spec.buffer_records,
            checkpoint=checkpoint,
            commits="manual",
            tune_gc=True,  # a process of our own: the collector stays out of the hot path
            as_text=True,  # records pass to the lines as their own text: no dict each
        )
        async with sweep:
            await _drain(sweep, checkpoint, pipe, dated=plan.dates is not None)
    await checkpoint.aclose()
    report = sweep.report
    await pipe.send(
        {
            "kind": "report",
            "accounts": [dataclasses.asdict(r) for r in report.accounts.values()],
            "discovery": dataclasses.asdict(report.discovery),
        }
    )


async def _drain(sweep: Sweep, checkpoint: _Collecting, pipe: _Pipe, *, dated: bool) -> None:
    async for batch in sweep.batches():
        sweep.commit()  # what this batch (and any unit that ended before it) leaves behind
        lines = ndjson_lines(batch.account_id, batch.records, date=batch.date, dated=dated)
        header = {
            "kind": "batch",
            "account_id": batch.account_id,
            "unit": batch.unit.key,
            "date": batch.unit.date,
            "integration": batch.unit.integration,
            "records": len(batch.records),
            "progress": encode_progress(checkpoint.take()),
        }
        await pipe.send(header, lines)
    sweep.commit()
    await pipe.send({"kind": "progress", "progress": encode_progress(checkpoint.take())})


async def _main(spec: ChildSpec, fd: int) -> None:
    pipe = await _Pipe.open(fd)
    try:
        with tempfile.TemporaryDirectory(prefix="truto-stream-shard-") as scratch:
            await _sweep(spec, pipe, Path(scratch))
    except _ParentGone:
        raise  # nobody to tell
    except Exception as exc:
        # Our errors never carry the token (see errors.py); the type says the rest.
        await pipe.send({"kind": "error", "type": type(exc).__name__, "message": str(exc)})
        raise
    await pipe.send({"kind": "end"})


def _end_with_parent(parent_pid: int) -> None:
    """On Linux, die with the parent (a parent killed by SIGKILL cannot stop its shards);
    elsewhere a shard ends at its next write, into a pipe nobody reads."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent_pid and os.getppid() != parent_pid:
        sys.exit(1)  # the parent died before the line above took effect


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and stops its shards.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        spec: ChildSpec = pickle.load(sys.stdin.buffer)
    except EOFError:
        return  # a spare: the plan had fewer accounts than processes
    _end_with_parent(spec.parent_pid)
    # The frames own stdout: anything printed by accident goes to stderr instead.
    fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        anyio.run(_main, spec, fd, backend="asyncio")
    except TrutoError:
        sys.exit(1)  # the parent reports it, from the error frame
    except _ParentGone:
        # A parent killed by SIGKILL closes the pipe before the kernel sends this shard
        # its own SIGKILL (PR_SET_PDEATHSIG): a traceback here would be cut short in
        # the middle of the parent's log, about nothing that went wrong in the shard.
        sys.exit(1)
    except Exception:
        traceback.print_exc()  # a bug (or the parent gone): its traceback helps
        sys.exit(1)
