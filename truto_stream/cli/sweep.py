"""``truto-stream sweep MODEL/RESOURCE``: one resource across many accounts, into one output.

The command is a thin shell around :meth:`Client.sweep`, in three steps:

1. Prepare, before any request: check every destination can be written, lock the
   checkpoint and the output for this run, open the checkpoint, and open the output at
   the position the checkpoint stored (cutting off what an earlier run wrote past it).
2. Run: each batch is written and flushed to the OS (from a worker thread for a pipe, so a
   slow reader never stalls the HTTP side); once the output holds it durably, the sweep
   commits it (``commits="manual"``) with the output's new position, in one checkpoint
   transaction. So after any exit, a rerun holds every record exactly once.
3. Finish: when every unit reached its end (done, failed or skipped) the output is put in
   place; after an interruption or a fatal error it stays partial for a rerun. The report
   is written, the summary printed.

Exit status: 0 when every unit completed, 1 when any failed (listed on stderr) or the
sweep itself failed, 2 for a usage error (nothing was requested), 130 after Ctrl-C (143
after SIGTERM) once the checkpoint is committed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from truto_stream.cli.common import (
    DEFAULT_BASE_URL,
    CliParser,
    UsageError,
    add_connection_args,
    add_param_args,
    parse_param_args,
    parse_resource,
    resolve_token,
    usage_exit,
)
from truto_stream.cli.dryrun import run_dry_run
from truto_stream.cli.output import FORMATS
from truto_stream.cli.params import ParamError, add_plan_args, parse_date_args
from truto_stream.cli.partitions import DATASET_FORMATS, parse_partition_by
from truto_stream.cli.progress import PROGRESS_MODES
from truto_stream.cli.runner import run_command
from truto_stream.cli.sweep_run import run_sweep
from truto_stream.errors import ConfigurationError
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT
from truto_stream.schema import DATE_COLUMN, Projection, as_projection, known_model
from truto_stream.sweep import AccountQuery

__all__ = ["SweepOptions", "build_parser", "main", "run_sweep"]


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
    concurrency: int | None = None
    checkpoint: str | None = None
    format: str = "ndjson"
    output: str | None = None
    report: str | None = None
    base_url: str = DEFAULT_BASE_URL
    allow_insecure: bool = False
    progress: str = "auto"
    quiet: bool = False
    row_group_rows: int | None = None
    dates: tuple[str, ...] | None = None
    today: str | None = None
    assume_records: int = DEFAULT_RECORDS_PER_UNIT
    dry_run: bool = False
    fields: Projection | None = None
    output_dir: str | None = None
    partition_by: tuple[str, ...] = ()
    processes: int = 1

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
        "--fields",
        metavar="A,B,C",
        help="keep only these fields of each record (id always); the server is asked to "
        "leave the others out (truto_exclude_fields[])",
    )
    add_plan_args(parser)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="accounts at once (default 64 paged; stream: 2, up to 8 on demand)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="shard processes on this machine, each with 1/N of the per-token budget and"
        " of --concurrency (default 1: in this process)",
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="SQLite checkpoint; resume from it if it exists"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="ndjson", help="output format (default ndjson)"
    )
    parser.add_argument("--output", metavar="FILE", help="output file (default stdout, also '-')")
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="a dataset of part files (parquet or ndjson) instead of one file",
    )
    parser.add_argument(
        "--partition-by",
        metavar="KEYS",
        help="with --output-dir: Hive partitions by integration, date, integrated_account_id",
    )
    parser.add_argument(
        "--row-group-rows",
        type=int,
        metavar="N",
        help="parquet: records per row group (and per part file on disk; default 10000);"
        " --output-dir: records buffered before they become parts",
    )
    parser.add_argument("--report", metavar="FILE", help="write the sweep report as JSON")
    add_connection_args(parser)
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow a plain http --base-url to a host that is not loopback",
    )
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
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.processes < 1:
        raise UsageError("--processes must be at least 1")
    if args.row_group_rows is not None and args.row_group_rows < 1:
        raise UsageError("--row-group-rows must be at least 1")
    if args.assume_records < 0:
        raise UsageError("--assume-size must be at least 0")
    try:
        dates = parse_date_args(args.date, today=args.today)
        typed = known_model(model, resource)
        fields = as_projection(args.fields, typed)
    except (ParamError, ConfigurationError) as exc:
        raise UsageError(f"--fields: {exc}" if args.fields else str(exc)) from None
    params = parse_param_args(args.param)
    output_dir, partition_by = _dataset_args(args, dated=dates is not None)
    return SweepOptions(
        model=model,
        resource=resource,
        token=resolve_token(args.token),
        accounts=list(args.account) or None,
        query=AccountQuery(args.tenant_id, args.integration, args.status),
        # The checkpoint's key must see what is asked of the server: a projection too.
        params=fields.query(params, typed) if fields is not None else params,
        mode=args.mode,
        concurrency=args.concurrency,
        checkpoint=args.checkpoint,
        format=args.format,
        output=args.output,
        report=args.report,
        base_url=args.base_url,
        allow_insecure=args.allow_insecure,
        progress=args.progress,
        quiet=args.quiet,
        row_group_rows=args.row_group_rows,
        dates=dates,
        today=args.today,
        assume_records=args.assume_records,
        dry_run=args.dry_run,
        fields=fields,
        output_dir=output_dir,
        partition_by=partition_by,
        processes=args.processes,
    )


def _dataset_args(args: argparse.Namespace, *, dated: bool) -> tuple[str | None, tuple[str, ...]]:
    """``--output-dir`` and ``--partition-by``, checked (raises :class:`UsageError`)."""
    try:
        keys = parse_partition_by(args.partition_by)
    except ValueError as exc:
        raise UsageError(f"--partition-by: {exc}") from None
    if args.output_dir is None:
        if args.partition_by is not None:
            raise UsageError("--partition-by needs --output-dir")
        return None, ()
    if args.output is not None:
        raise UsageError("use either --output or --output-dir")
    if args.format not in DATASET_FORMATS:
        raise UsageError(
            f"--output-dir takes --format {' or '.join(DATASET_FORMATS)}, not {args.format}"
        )
    if DATE_COLUMN in keys and not dated:
        raise UsageError("--partition-by date needs --date (records have no date otherwise)")
    return args.output_dir, keys


def main(argv: Sequence[str]) -> int:
    """``truto-stream sweep``."""
    parser = build_parser()
    try:
        options = options_from_args(parser.parse_args(list(argv)))
    except UsageError as exc:
        return usage_exit(parser, exc)
    if options.dry_run:
        return run_command(lambda _: run_dry_run(options))
    return run_command(lambda interrupted: run_sweep(options, interrupted))
