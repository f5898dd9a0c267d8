"""``truto-stream accounts``: the integrated accounts, as a table or as ndjson.

The table (the default) is for people: one aligned line per account. ``--format ndjson``
writes each account exactly as ``GET /integrated-account`` returned it, one per line,
streamed as pages arrive.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import orjson

from truto_stream.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliParser,
    UsageError,
    add_connection_args,
    eprint,
    resolve_token,
    usage_exit,
)
from truto_stream.cli.runner import Interrupted, run_command
from truto_stream.client import Client
from truto_stream.errors import ConfigurationError, TrutoError

__all__ = ["TABLE_COLUMNS", "build_parser", "format_table", "main"]

#: (heading, how to get the value) for the table format.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ID", "id"),
    ("TENANT", "tenant_id"),
    ("INTEGRATION", "integration.name"),
    ("STATUS", "status"),
    ("BLOCKED", "is_blocked"),
    ("CREATED", "created_at"),
)


def build_parser() -> CliParser:
    """The ``accounts`` argument parser."""
    parser = CliParser(
        prog="truto-stream accounts",
        description="List the integrated accounts (GET /integrated-account).",
    )
    parser.add_argument("--tenant-id", metavar="T", help="only this tenant's accounts")
    parser.add_argument("--integration", metavar="NAME", help="only this integration's")
    parser.add_argument("--status", metavar="S", help="only accounts with this status")
    parser.add_argument(
        "--format", choices=("table", "ndjson"), default="table", help="default table"
    )
    add_connection_args(parser)
    return parser


def _field(account: dict[str, Any], path: str) -> str:
    value: Any = account
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_table(accounts: list[dict[str, Any]]) -> str:
    """Accounts as an aligned text table with a heading line."""
    rows = [[heading for heading, _ in TABLE_COLUMNS]]
    rows += [[_field(a, path) for _, path in TABLE_COLUMNS] for a in accounts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    """``truto-stream accounts``."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
        token = resolve_token(args.token)
    except UsageError as exc:
        return usage_exit(parser, exc)

    async def body(interrupted: Interrupted) -> int:
        accounts: list[dict[str, Any]] = []
        out = sys.stdout.buffer
        try:
            async with Client(token, base_url=args.base_url) as client:
                async for account in client.integrated_accounts(
                    tenant_id=args.tenant_id, integration=args.integration, status=args.status
                ):
                    if args.format == "ndjson":
                        out.write(orjson.dumps(account) + b"\n")
                    else:
                        accounts.append(dict(account))
        except ConfigurationError as exc:
            eprint(f"truto-stream accounts: error: {exc}")
            return EXIT_USAGE
        except TrutoError as exc:
            eprint(f"truto-stream accounts: error: {type(exc).__name__}: {exc}")
            return EXIT_FAILED
        finally:
            out.flush()
        if args.format == "table":
            out.write(format_table(accounts).encode())
            out.flush()
            eprint(f"{len(accounts)} integrated account(s)")
        return EXIT_OK

    return run_command(body)
