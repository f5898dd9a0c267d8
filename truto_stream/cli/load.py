"""``truto-stream load MODEL/RESOURCE --destination duckdb``: a sweep landed by dlt.

The sweep runs inside :func:`truto_stream.dlt.truto_resources` (our rate budget and
concurrency drive it); dlt normalises and loads the Arrow tables into the destination and
keeps the sweep's per-unit progress in its pipeline state, committed with the data. The
command loads in rounds of ``--records-per-load`` records: each round is one dlt load, so
a run killed part-way and started again continues after the last loaded round, with
every record merged once on ``(integrated_account_id, id, date)``.

Exit status: 0 every unit done, 1 a unit failed (listed on stderr), 2 usage error,
130/143 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from truto_stream.cli.common import (
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
from truto_stream.cli.params import ParamError, parse_date_args
from truto_stream.cli.summary import print_failures, print_summary
from truto_stream.errors import ConfigurationError, TrutoError
from truto_stream.sweep import AccountQuery

__all__ = ["main"]

DEFAULT_RECORDS_PER_LOAD = 1_000_000


def build_parser() -> CliParser:
    """The ``load`` argument parser."""
    parser = CliParser(
        prog="truto-stream load",
        description="Sweep a unified list resource into any dlt destination (default DuckDB).",
    )
    parser.add_argument("resource", metavar="MODEL/RESOURCE", help="e.g. usage-metering/users")
    parser.add_argument("--account", action="append", default=[], metavar="ID")
    parser.add_argument("--tenant-id", metavar="T")
    parser.add_argument("--integration", metavar="NAME")
    parser.add_argument("--status", metavar="S", default=None)
    add_param_args(parser)
    parser.add_argument("--date", action="append", default=[], metavar="SPEC")
    parser.add_argument("--today", metavar="YYYY-MM-DD")
    parser.add_argument("--fields", metavar="A,B,C", help="only these fields (id always)")
    parser.add_argument("--concurrency", type=int, default=64, metavar="N")
    parser.add_argument(
        "--destination",
        default="duckdb",
        metavar="NAME",
        help="a dlt destination name (default duckdb; others need their dlt extra)",
    )
    parser.add_argument(
        "--duckdb-file", default="truto.duckdb", metavar="PATH", help="default truto.duckdb"
    )
    parser.add_argument("--dataset", default="unified", metavar="NAME", help="default unified")
    parser.add_argument("--pipeline", default="truto", metavar="NAME", help="default truto")
    parser.add_argument("--pipelines-dir", metavar="DIR", help="dlt's working directory")
    parser.add_argument(
        "--write-disposition", choices=("merge", "append", "replace"), default="merge"
    )
    parser.add_argument(
        "--records-per-load",
        type=int,
        default=DEFAULT_RECORDS_PER_LOAD,
        metavar="N",
        help=f"records per dlt load (default {DEFAULT_RECORDS_PER_LOAD:,}); 0: one load",
    )
    parser.add_argument("--report", metavar="FILE", help="write the last round's report")
    parser.add_argument("--quiet", action="store_true", help="no progress and no summary")
    add_connection_args(parser)
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    model, resource = parse_resource(args.resource)
    if args.account and (args.tenant_id or args.integration or args.status):
        raise UsageError("use either --account or --tenant-id/--integration/--status")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.records_per_load < 0:
        raise UsageError("--records-per-load must be at least 0")
    try:
        dates = parse_date_args(args.date, today=args.today)
    except ParamError as exc:
        raise UsageError(str(exc)) from None
    accounts: Any = list(args.account) or AccountQuery(
        args.tenant_id, args.integration, args.status or "active"
    )
    return {
        "resources": [f"{model}/{resource}"],
        "base_url": args.base_url,
        "token": resolve_token(args.token),
        "accounts": accounts,
        "params": parse_param_args(args.param),
        "dates": dates,
        "mode": args.mode,
        "concurrency": args.concurrency,
        "fields": args.fields,
        "write_disposition": args.write_disposition,
        "max_records": args.records_per_load or None,
    }


def _destination(args: argparse.Namespace) -> Any:
    import dlt

    if args.destination == "duckdb":
        return dlt.destinations.duckdb(str(Path(args.duckdb_file).resolve()))
    return args.destination


def main(argv: Sequence[str]) -> int:
    """``truto-stream load``."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
        options = _options(args)
        from truto_stream import dlt as truto_dlt
    except UsageError as exc:
        return usage_exit(parser, exc)
    except ImportError:
        eprint("truto-stream load: needs dlt: pip install 'truto-stream[dlt]'")
        return EXIT_USAGE
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=args.pipeline,
        destination=_destination(args),
        dataset_name=args.dataset,
        pipelines_dir=args.pipelines_dir,
    )
    try:
        return _rounds(pipeline, options, args, truto_dlt)
    except (ConfigurationError, UsageError) as exc:
        eprint(f"truto-stream load: error: {exc}")
        return EXIT_USAGE
    except TrutoError as exc:
        eprint(f"truto-stream load: error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        eprint("\ninterrupted: the rounds loaded so far are kept; run again to continue")
        return 130


def _rounds(pipeline: Any, options: dict[str, Any], args: argparse.Namespace, mod: Any) -> int:
    """Load round after round until the sweep has ended; the exit status."""
    started = time.monotonic()
    total = 0
    outcome: Any = None
    for round_number in range(1, sys.maxsize):
        outcomes: list[Any] = []
        resources = mod.truto_resources(**options, on_outcome=outcomes.append)
        try:
            pipeline.run(resources)
        except Exception as exc:
            cause = _cause(exc)
            if isinstance(cause, ConfigurationError | TrutoError):
                raise cause from None
            raise
        outcome = outcomes[0]
        total += outcome.records
        if not args.quiet:
            done = sum(1 for p in outcome.progress if p.state in ("done", "skipped"))
            eprint(
                f"load {round_number}: {outcome.records:,} records loaded ({total:,} in all), "
                f"{done}/{len(outcome.progress)} units done"
            )
        if not outcome.stopped:
            break
    _finish(outcome, args, time.monotonic() - started, total)
    return EXIT_OK if outcome.report.ok else EXIT_FAILED


def _cause(exc: BaseException) -> BaseException:
    """The exception a dlt step failed with (dlt wraps it)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _finish(outcome: Any, args: argparse.Namespace, elapsed: float, total: int) -> None:
    report = outcome.report
    if args.report:
        data = report.to_dict()
        data["records_loaded"] = total
        Path(args.report).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    where = (
        str(Path(args.duckdb_file)) if args.destination == "duckdb" else args.destination
    ) + f" (dataset {args.dataset})"
    if args.quiet:
        print_failures(report)
        return
    use_rich = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    print_summary(report, elapsed=elapsed, title=args.resource, use_rich=use_rich, output=where)
