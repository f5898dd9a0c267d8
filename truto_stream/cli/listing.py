"""``truto-stream list MODEL/RESOURCE --account ID [--all]``: explore one account.

Writes the first page (or, with ``--all``, every page) of one integrated account, in any
output format, each record with ``integrated_account_id`` added like ``sweep`` does. Without
``--all`` the next page's cursor is printed on stderr, to pass back with ``--cursor``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

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
from truto_stream.cli.output import FORMATS, open_output
from truto_stream.cli.runner import Interrupted, run_command
from truto_stream.client import Client
from truto_stream.errors import ConfigurationError, TrutoError

__all__ = ["build_parser", "main"]


def build_parser() -> CliParser:
    """The ``list`` argument parser."""
    parser = CliParser(
        prog="truto-stream list",
        description="List one integrated account's records: one page, or --all of them.",
    )
    parser.add_argument("resource", metavar="MODEL/RESOURCE", help="e.g. usage-metering/users")
    parser.add_argument("--account", required=True, metavar="ID", help="integrated account id")
    parser.add_argument("--all", action="store_true", help="follow next_cursor to the end")
    parser.add_argument("--cursor", metavar="CURSOR", help="start from this next_cursor")
    add_param_args(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="ndjson", help="output format (default ndjson)"
    )
    parser.add_argument("--output", metavar="FILE", help="output file (default stdout, '-')")
    add_connection_args(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    """``truto-stream list``."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
        model, resource = parse_resource(args.resource)
        params = parse_param_args(args.param)
        token = resolve_token(args.token)
        output = open_output(args.output, args.format, model=model, resource=resource)
    except UsageError as exc:
        return usage_exit(parser, exc)

    async def body(interrupted: Interrupted) -> int:
        next_cursor: str | None = None
        ok = False
        try:
            async with Client(token, base_url=args.base_url) as client:
                pages = client.pages(
                    model,
                    resource,
                    account=args.account,
                    params=params,
                    mode=args.mode,
                    cursor=args.cursor,
                )
                async with contextlib.aclosing(pages) as stream:
                    async for page in stream:
                        records = page.records
                        await output.write(args.account, records)
                        if page.final and not args.all:
                            next_cursor = page.next_cursor
                            break
            ok = True
        except ConfigurationError as exc:
            eprint(f"truto-stream list: error: {exc}")
            return EXIT_USAGE
        except TrutoError as exc:
            eprint(f"truto-stream list: error: {type(exc).__name__}: {exc}")
            return EXIT_FAILED
        finally:
            if ok:
                await output.commit()
            else:
                left = output.abandon(checkpointed=False)
                if left is not None:
                    eprint(f"output incomplete: left as {left}")
        if next_cursor:
            eprint(f"next_cursor: {next_cursor}  (pass --cursor to continue, or use --all)")
        return EXIT_OK

    return run_command(body)
