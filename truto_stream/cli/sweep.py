"""``truto-stream sweep MODEL/RESOURCE``: one resource across many accounts, into one output.

The command is a thin shell around :meth:`Client.sweep`: batches are written (in a worker
thread, so a slow pipe never stalls the HTTP side) and flushed before the next one is
pulled, which is what lets the sweep commit that page to the checkpoint. Exit status: 0
when every account completed, 1 when any failed (listed on stderr), 2 for a usage error,
130 after Ctrl-C (143 after SIGTERM) once the checkpoint is committed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from truto_stream._runtime import single_error
from truto_stream.cli.common import (
    DEFAULT_BASE_URL,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliParser,
    UsageError,
    add_connection_args,
    add_param_args,
    eprint,
    parse_param_args,
    parse_resource,
    resolve_token,
    usage_exit,
)
from truto_stream.cli.output import FORMATS, Output, open_output
from truto_stream.cli.progress import PROGRESS_MODES, Progress, RichProgress, make_progress
from truto_stream.cli.runner import Interrupted, run_command
from truto_stream.cli.summary import print_failures, print_summary
from truto_stream.client import Client
from truto_stream.errors import ConfigurationError, TrutoError
from truto_stream.sweep import AccountQuery, SweepReport

__all__ = ["SweepOptions", "build_parser", "main", "run_sweep"]

EXIT_BROKEN_PIPE = 141


@dataclass(frozen=True)
class SweepOptions:
    """A validated ``sweep`` command line."""

    model: str
    resource: str
    token: str
    accounts: list[str] | None = None
    query: AccountQuery = field(default_factory=AccountQuery)
    params: dict[str, Any] = field(default_factory=dict)
    mode: str = "paged"
    concurrency: int = 64
    checkpoint: str | None = None
    format: str = "ndjson"
    output: str | None = None
    report: str | None = None
    base_url: str = DEFAULT_BASE_URL
    progress: str = "auto"
    quiet: bool = False

    def __repr__(self) -> str:  # the token stays out of any repr
        return f"SweepOptions({self.model}/{self.resource}, base_url={self.base_url!r})"


def build_parser() -> CliParser:
    """The ``sweep`` argument parser."""
    parser = CliParser(
        prog="truto-stream sweep",
        description="Sweep one unified list resource across many integrated accounts.",
    )
    parser.add_argument("resource", metavar="MODEL/RESOURCE", help="e.g. usage-metering/users")
    accounts = parser.add_argument_group("accounts (--account, or discovery filters)")
    accounts.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="integrated account id, repeatable (default: discover accounts)",
    )
    accounts.add_argument("--tenant-id", metavar="T", help="discover accounts of this tenant")
    accounts.add_argument("--integration", metavar="NAME", help="discover accounts of this one")
    accounts.add_argument(
        "--status",
        metavar="S",
        help="discover accounts with this status (default: all; not active ones are skipped)",
    )
    add_param_args(parser)
    parser.add_argument(
        "--concurrency", type=int, default=64, metavar="N", help="accounts at once (default 64)"
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="SQLite checkpoint; resume from it if it exists"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="ndjson", help="output format (default ndjson)"
    )
    parser.add_argument("--output", metavar="FILE", help="output file (default stdout, also '-')")
    parser.add_argument("--report", metavar="FILE", help="write the sweep report as JSON")
    add_connection_args(parser)
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress on stderr: auto (on a terminal), always, never (default auto)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress, no summary (failures still listed)"
    )
    return parser


def options_from_args(args: argparse.Namespace) -> SweepOptions:
    """Validate parsed arguments (raises :class:`UsageError`)."""
    model, resource = parse_resource(args.resource)
    if args.account and (args.tenant_id or args.integration or args.status):
        raise UsageError("use either --account or --tenant-id/--integration/--status")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    return SweepOptions(
        model=model,
        resource=resource,
        token=resolve_token(args.token),
        accounts=list(args.account) or None,
        query=AccountQuery(args.tenant_id, args.integration, args.status),
        params=parse_param_args(args.param),
        mode=args.mode,
        concurrency=args.concurrency,
        checkpoint=args.checkpoint,
        format=args.format,
        output=args.output,
        report=args.report,
        base_url=args.base_url,
        progress=args.progress,
        quiet=args.quiet,
    )


def main(argv: Sequence[str]) -> int:
    """``truto-stream sweep``."""
    parser = build_parser()
    try:
        options = options_from_args(parser.parse_args(list(argv)))
    except UsageError as exc:
        return usage_exit(parser, exc)
    return run_command(lambda interrupted: run_sweep(options, interrupted))


async def run_sweep(
    options: SweepOptions,
    interrupted: Interrupted,
    *,
    client_options: dict[str, Any] | None = None,
    title: str | None = None,
    commit_on_failed_accounts: bool = False,
    on_report: Callable[[SweepReport], None] | None = None,
) -> int:
    """Run a sweep to its output; return the exit status (see the module docstring).

    ``client_options`` are extra :class:`Client` arguments (the demo tunes the rate
    budgets); ``commit_on_failed_accounts`` renames the output into place even when some
    accounts failed (the demo, where failures are part of the show); ``on_report``
    receives the final report.
    """
    title = title or f"{options.model}/{options.resource}"
    try:
        output = open_output(
            options.output,
            options.format,
            model=options.model,
            resource=options.resource,
            resume_from=options.checkpoint,
        )
    except UsageError as exc:
        eprint(f"truto-stream sweep: error: {exc}")
        return EXIT_USAGE
    if output.resumed and not options.quiet:
        eprint(f"resuming from {options.checkpoint}: the output continues {output.describe}")
    progress = make_progress(options.progress, quiet=options.quiet, title=title)
    start = time.monotonic()
    report = SweepReport()
    status: int | None = None
    error: str | None = None
    try:
        client = Client(options.token, base_url=options.base_url, **(client_options or {}))
        async with client:
            sweep = client.sweep(
                options.model,
                options.resource,
                accounts=options.accounts if options.accounts else options.query,
                params=options.params,
                mode="stream" if options.mode == "stream" else "paged",
                concurrency=options.concurrency,
                checkpoint=options.checkpoint,
            )
            report = sweep.report
            async with sweep:
                await _drain_with_progress(sweep.batches(), output, progress, report)
        status = EXIT_OK if report.ok else EXIT_FAILED
    except (ConfigurationError, UsageError) as exc:
        status, error = EXIT_USAGE, str(exc)
    except TrutoError as exc:
        status, error = EXIT_FAILED, f"{type(exc).__name__}: {exc}"
    except BrokenPipeError:
        status = EXIT_BROKEN_PIPE
        _silence_stdout()
    finally:
        # Runs on success, on failure and when a signal cancelled the run alike: all sync.
        if status is not None:
            final = status
        elif interrupted.signum is not None:
            final = interrupted.exit_status
        else:  # an unexpected exception (a bug): it propagates after this cleanup
            final = EXIT_FAILED
        commit = status == EXIT_OK or (
            status == EXIT_FAILED and error is None and commit_on_failed_accounts
        )
        left = _close_output(output, commit=commit)
        elapsed = time.monotonic() - start
        if error is not None:
            eprint(f"truto-stream sweep: error: {error}")
        _finish(options, report, elapsed, title, progress, output, left, final, interrupted)
        if on_report is not None:
            on_report(report)
    return final


async def _drain_with_progress(
    batches: Any, output: Output, progress: Progress, report: SweepReport
) -> None:
    """Drain the sweep into the output while the progress display runs beside it."""
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress.run, report)
            await _drain(batches, output)
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # One failure (the drain's) is what callers handle: not a group of one.
        raise single_error(group) from None


async def _drain(batches: Any, output: Output) -> None:
    """Write every batch; the next one is pulled only once this one is flushed."""
    async with contextlib.aclosing(batches) as stream:
        async for account_id, records in stream:
            await output.write(account_id, records)


def _close_output(output: Output, *, commit: bool) -> Path | None:
    try:
        if commit:
            output.commit()
            return None
    except BrokenPipeError:
        _silence_stdout()
        return None
    return output.abandon()


def _finish(
    options: SweepOptions,
    report: SweepReport,
    elapsed: float,
    title: str,
    progress: object,
    output: Output,
    left: Path | None,
    status: int,
    interrupted: Interrupted,
) -> None:
    if options.report is not None:
        _write_report(options, report, status, output, left)
    if options.quiet:
        print_failures(report)
    else:
        print_summary(
            report,
            elapsed=elapsed,
            title=title,
            use_rich=isinstance(progress, RichProgress),
            output=output.describe if output.committed else None,
        )
    if left is not None:
        hint = " (rerun with the same --checkpoint to complete it)" if options.checkpoint else ""
        eprint(f"output incomplete: left as {left}{hint}")
    if interrupted.signum is not None:
        saved = f"; checkpoint committed to {options.checkpoint}" if options.checkpoint else ""
        eprint(f"interrupted{saved}")


def _write_report(
    options: SweepOptions, report: SweepReport, status: int, output: Output, left: Path | None
) -> None:
    """The sweep report as JSON, written to a temporary name and renamed."""
    assert options.report is not None
    document = {
        "resource": f"{options.model}/{options.resource}",
        "exit_status": status,
        "output": output.describe if left is None else None,
        "partial_output": str(left) if left is not None else None,
        "checkpoint": options.checkpoint,
        **report.to_dict(),
    }
    path = Path(options.report)
    temp = path.with_name(path.name + ".partial")
    try:
        temp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
        os.replace(temp, path)
    except OSError as exc:
        eprint(f"truto-stream sweep: cannot write the report {options.report!r}: {exc}")


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so exit-time flushes stay quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
