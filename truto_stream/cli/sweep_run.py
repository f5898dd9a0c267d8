"""Running ``truto-stream sweep``: prepare, drain into the output, finish (see cli/sweep.py).

Every exit goes through :func:`_finish`, which decides what becomes of the output (put in
place when every unit reached its end; left partial, with its durable part committed,
otherwise), closes the checkpoint, writes the report and prints the summary.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from truto_stream._runtime import single_error
from truto_stream.checkpoint import Checkpoint
from truto_stream.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, eprint
from truto_stream.cli.dataset import check_output_dir, open_dataset
from truto_stream.cli.lock import RunLock
from truto_stream.cli.output import Output, Resume, open_output
from truto_stream.cli.preflight import check_destination
from truto_stream.cli.progress import Progress, RichProgress, SweepView, make_progress
from truto_stream.cli.report import write_report
from truto_stream.cli.runner import Interrupted
from truto_stream.cli.schema import known_model
from truto_stream.cli.summary import print_failures, print_summary
from truto_stream.cli.writers import with_date
from truto_stream.client import Client
from truto_stream.errors import ConfigurationError, StorageError, TrutoError
from truto_stream.processes import ProcessSweep
from truto_stream.sweep import Sweep, SweepReport, sweep_key

if TYPE_CHECKING:
    from truto_stream.cli.sweep import SweepOptions

__all__ = ["EXIT_BROKEN_PIPE", "run_sweep"]

EXIT_BROKEN_PIPE = 141


@dataclass
class _Prepared:
    """What a run holds from preparation to its end: released by :meth:`close`."""

    client: Client
    output: Output
    checkpoint: Checkpoint | None = None
    locks: list[RunLock] = field(default_factory=list)

    async def store(self, position: Any) -> None:
        """Persist an output position now (a step of putting the output in place)."""
        if self.checkpoint is not None:
            self.checkpoint.put_sink(position)
            await self.checkpoint.flush()

    async def close(self) -> None:
        try:
            if self.checkpoint is not None:
                await self.checkpoint.aclose()
        finally:
            for lock in reversed(self.locks):
                lock.release()


@dataclass
class _Outcome:
    """How the run went, filled in as it goes."""

    status: int | None = None
    error: str | None = None
    drained: bool = False
    """Every unit reached its end (done, failed or skipped)."""
    healthy: bool = True
    """No storage failure: what the output holds may still be committed."""
    unwritten: bool = False
    """A batch was handed out but its write did not complete (cancelled before it ran):
    the sweep's last hand-out is then not all in the output, so it is not committed."""
    sweep: Sweep | ProcessSweep | None = None
    report: SweepReport = field(default_factory=SweepReport)
    placed: str | None = None
    """Where the output was put in place (``None``: it was not)."""
    left: Path | None = None
    """What an interrupted run left on disk for a rerun."""

    def fail(self, status: int, error: str) -> None:
        if self.status is None or self.status == EXIT_OK:
            self.status = status
        self.error = self.error or error


async def run_sweep(
    options: SweepOptions,
    interrupted: Interrupted,
    *,
    client_options: dict[str, Any] | None = None,
    title: str | None = None,
    on_report: Callable[[SweepReport], None] | None = None,
) -> int:
    """Run a sweep to its output; return the exit status (see cli/sweep.py).

    ``client_options`` are extra :class:`Client` arguments (the demo tunes the rate
    budgets); ``on_report`` receives the final report.
    """
    title = title or f"{options.model}/{options.resource}"
    try:
        prepared = await _prepare(options, client_options or {})
    except (UsageError, ConfigurationError, StorageError) as exc:
        # Nothing was requested and nothing written: the error alone says it all.
        eprint(f"truto-stream sweep: error: {exc}")
        return EXIT_USAGE
    if prepared.output.resumed and not options.quiet:
        eprint(f"resuming from {options.checkpoint}: continuing {prepared.output.describe}")
    progress = make_progress(options.progress, quiet=options.quiet, title=title)
    outcome = _Outcome()
    start = time.monotonic()
    try:
        await _execute(options, prepared, progress, outcome)
    finally:
        # Runs on success, on failure and when a signal cancelled the run alike.
        with anyio.CancelScope(shield=True):
            final = await _finish(options, prepared, outcome, interrupted)
        _tell(options, outcome, time.monotonic() - start, title, progress, final, interrupted)
        if on_report is not None:
            on_report(outcome.report)
    return final


# -- 1. prepare ----------------------------------------------------------------------------


async def _prepare(options: SweepOptions, client_options: dict[str, Any]) -> _Prepared:
    """Check, lock and open everything the run writes, before any request."""
    client = _client(options, client_options)
    for value, option in ((options.report, "--report"), (options.checkpoint, "--checkpoint")):
        if value is not None:
            check_destination(value, option)
    to_file = options.output not in (None, "-")
    if to_file:
        assert options.output is not None
        check_destination(options.output, "--output")
    if options.output_dir is not None:
        check_output_dir(options.output_dir)
    target = options.output_dir or options.output
    locks: list[RunLock] = []
    try:
        for value, what in ((options.checkpoint, "checkpoint"), (target, "output")):
            if value is not None and (what == "checkpoint" or to_file or options.output_dir):
                lock = RunLock(Path(value), what)
                lock.acquire()
                locks.append(lock)
        return await _open(options, client, locks)
    except BaseException:
        for lock in reversed(locks):
            lock.release()
        raise


def _client(options: SweepOptions, client_options: dict[str, Any]) -> Client:
    try:
        return Client(
            options.token,
            base_url=options.base_url,
            allow_insecure=options.allow_insecure,
            **client_options,
        )
    except ConfigurationError as exc:
        # The library's advice, in the command line's words.
        raise UsageError(str(exc).replace("allow_insecure=True", "--allow-insecure")) from None


async def _open(options: SweepOptions, client: Client, locks: list[RunLock]) -> _Prepared:
    checkpoint = None
    if options.checkpoint is not None:
        key = sweep_key(
            client.base_url, options.model, options.resource, options.params, _mode(options)
        )
        checkpoint = await Checkpoint.open(options.checkpoint, key)
    try:
        resume = (
            Resume(checkpoint.sink_position, bool(checkpoint.all()))
            if checkpoint is not None
            else None
        )
        output = _open_output(options, resume)
    except BaseException:
        if checkpoint is not None:
            await checkpoint.aclose()
        raise
    return _Prepared(client, output, checkpoint, locks)


def _open_output(options: SweepOptions, resume: Resume | None) -> Output:
    if options.output_dir is not None:
        return open_dataset(
            Path(options.output_dir),
            options.format,
            options.partition_by,
            model=options.model,
            resource=options.resource,
            resume=resume,
            row_group_rows=options.row_group_rows,
            dated=options.dates is not None,
            fields=options.fields,
        )
    return open_output(
        options.output,
        options.format,
        model=options.model,
        resource=options.resource,
        resume=resume,
        row_group_rows=options.row_group_rows,
        dated=options.dates is not None,
        fields=options.fields,
    )


def _mode(options: SweepOptions) -> Any:
    return "stream" if options.mode == "stream" else "paged"


# -- 2. run --------------------------------------------------------------------------------


async def _execute(
    options: SweepOptions, prepared: _Prepared, progress: Progress, outcome: _Outcome
) -> None:
    try:
        if options.processes > 1:
            await _run_processes(options, prepared, progress, outcome)
        else:
            await _run_in_process(options, prepared, progress, outcome)
        outcome.status = EXIT_OK if outcome.report.ok else EXIT_FAILED
    except StorageError as exc:
        outcome.healthy = False
        outcome.fail(EXIT_FAILED, f"{type(exc).__name__}: {exc}")
    except ConfigurationError as exc:
        outcome.fail(EXIT_USAGE, str(exc))
    except TrutoError as exc:
        outcome.fail(EXIT_FAILED, f"{type(exc).__name__}: {exc}")
    except BrokenPipeError:
        outcome.healthy = False
        outcome.status = EXIT_BROKEN_PIPE
        _silence_stdout()


async def _run_in_process(
    options: SweepOptions, prepared: _Prepared, progress: Progress, outcome: _Outcome
) -> None:
    async with prepared.client as client:
        sweep = client.sweep(
            options.model,
            options.resource,
            **_sweep_options(options, prepared),
            as_text=_as_text(options),
        )
        await _drain_all(sweep, _drain, prepared, progress, outcome)


def _as_text(options: SweepOptions) -> bool:
    """Records as their JSON text (no dict per record) for the outputs that take them:
    ndjson and json splice the added members in, Parquet of a known resource builds its
    columns from the texts. Not for csv nor a partitioned output (they read fields)."""
    if options.output_dir is not None:
        return False
    if options.format == "parquet":
        return known_model(options.model, options.resource) is not None
    return options.format in ("ndjson", "json")


async def _run_processes(
    options: SweepOptions, prepared: _Prepared, progress: Progress, outcome: _Outcome
) -> None:
    """``--processes N``: shard processes fetch and encode; this one writes and commits."""
    sweep = ProcessSweep(
        options.model,
        options.resource,
        processes=options.processes,
        token=options.token,
        base_url=prepared.client.base_url,
        allow_insecure=options.allow_insecure,
        **_sweep_options(options, prepared),
    )
    await _drain_all(sweep, _drain_lines, prepared, progress, outcome)


def _sweep_options(options: SweepOptions, prepared: _Prepared) -> dict[str, Any]:
    """What a sweep takes from the command line, in one process or in N."""
    return {
        "accounts": options.accounts if options.accounts else options.query,
        "params": options.params,
        "dates": options.dates,
        "today": options.today,
        "assume_records": options.assume_records,
        "mode": _mode(options),
        "concurrency": options.concurrency,
        "checkpoint": prepared.checkpoint,
        "commits": "manual" if prepared.checkpoint is not None else "auto",
    }


async def _drain_all(
    sweep: Sweep | ProcessSweep,
    drain: Callable[..., Awaitable[None]],
    prepared: _Prepared,
    progress: Progress,
    outcome: _Outcome,
) -> None:
    """Open ``sweep`` and drain it into the output with ``drain``; it commits what is durable.

    The outcome knows the sweep before it opens, so a sweep that fails to open is reported.
    """
    outcome.sweep, outcome.report = sweep, sweep.report
    prepared.output.report = sweep.report
    async with sweep:
        commit = sweep.commit if prepared.checkpoint is not None else None
        drain_all = functools.partial(drain, sweep, prepared.output, commit, outcome)
        await _drain_with_progress(sweep, drain_all, progress)
        outcome.drained = True


async def _drain_with_progress(
    sweep: SweepView, drain: Callable[[], Awaitable[None]], progress: Progress
) -> None:
    """Drain the sweep into the output while the progress display runs beside it."""
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress.run, sweep)
            await drain()
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # One failure (the drain's) is what callers handle: not a group of one.
        raise single_error(group) from None


async def _drain(
    sweep: Sweep, output: Output, commit: Callable[[Any], None] | None, outcome: _Outcome
) -> None:
    """Write every batch; once the output holds it durably, the sweep commits it.

    In a sweep over dates each record gets the day it describes (``date``: its unit's;
    null for an integration without dates, swept once).
    """
    dated = sweep.dated
    async with contextlib.aclosing(sweep.batches()) as stream:
        async for batch in stream:
            account_id, records = batch
            if dated:
                records = with_date(records, batch.unit.date)
            outcome.unwritten = True
            await output.write(account_id, records, batch.unit)  # a cancellation may stop it
            outcome.unwritten = False
            if commit is not None and output.durable:
                commit(output.position)


async def _drain_lines(
    sweep: ProcessSweep,
    output: Output,
    commit: Callable[[Any], None] | None,
    outcome: _Outcome,
) -> None:
    """As :func:`_drain`, for batches that arrive as NDJSON lines (dated by the shard)."""
    async with contextlib.aclosing(sweep.batches()) as stream:
        async for batch in stream:
            outcome.unwritten = True
            await output.write_lines(batch.account_id, batch.ndjson, batch.records, batch.unit)
            outcome.unwritten = False
            if commit is not None and output.durable:
                commit(output.position)


# -- 3. finish -----------------------------------------------------------------------------


async def _finish(
    options: SweepOptions, prepared: _Prepared, outcome: _Outcome, interrupted: Interrupted
) -> int:
    """Settle the output and the checkpoint; write the report; return the exit status."""
    left = outcome.left = await _settle_output(prepared, outcome)
    if prepared.output.committed:
        outcome.placed = prepared.output.describe
    try:
        await prepared.close()
    except StorageError as exc:
        outcome.fail(EXIT_FAILED, f"{type(exc).__name__}: {exc}")
    if outcome.status is not None:
        final = outcome.status
    elif interrupted.signum is not None:
        final = interrupted.exit_status
    else:  # an unexpected exception (a bug): it propagates after this cleanup
        final = EXIT_FAILED
    if options.report is not None:
        written = write_report(
            options.report,
            resource=f"{options.model}/{options.resource}",
            status=final,
            output=outcome.placed,
            partial=left,
            checkpoint=options.checkpoint,
            error=outcome.error,
            report=outcome.report,
        )
        if not written and final == EXIT_OK:
            final = EXIT_FAILED
    return final


async def _settle_output(prepared: _Prepared, outcome: _Outcome) -> Path | None:
    """Put the output in place when every unit ended; otherwise leave it for a rerun."""
    output, checkpoint = prepared.output, prepared.checkpoint
    try:
        if outcome.healthy and not outcome.unwritten:
            output.seal()  # parquet: the buffered rows become a part
            if outcome.sweep is not None and checkpoint is not None:
                outcome.sweep.commit(output.position)
                await checkpoint.flush()  # before the output changes its name
        if outcome.drained and outcome.healthy and outcome.error is None:
            await output.commit(prepared.store)
            return None
    except BrokenPipeError:
        _silence_stdout()
        return None
    except StorageError as exc:
        outcome.healthy = False
        outcome.fail(EXIT_FAILED, f"StorageError: {exc}")
    except OSError as exc:
        outcome.healthy = False
        outcome.fail(EXIT_FAILED, f"StorageError: cannot finish the output: {_why(exc)}")
    return output.abandon(checkpointed=checkpoint is not None)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)


def _tell(
    options: SweepOptions,
    outcome: _Outcome,
    elapsed: float,
    title: str,
    progress: object,
    status: int,
    interrupted: Interrupted,
) -> None:
    """The error, the summary and what became of the output, on stderr."""
    if outcome.error is not None:
        eprint(f"truto-stream sweep: error: {outcome.error}")
    report, left = outcome.report, outcome.left
    if options.quiet:
        print_failures(report)
    else:
        print_summary(
            report,
            elapsed=elapsed,
            title=title,
            use_rich=isinstance(progress, RichProgress),
            output=outcome.placed,
        )
    if left is not None:
        hint = " (rerun with the same --checkpoint to complete it)" if options.checkpoint else ""
        eprint(f"output incomplete: left as {left}{hint}")
    elif report.failures() and options.checkpoint:
        eprint("rerun with the same --checkpoint to retry the failed units")
    if interrupted.signum is not None and status == interrupted.exit_status:
        saved = f"; checkpoint committed to {options.checkpoint}" if options.checkpoint else ""
        eprint(f"interrupted{saved}")


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so exit-time flushes stay quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
