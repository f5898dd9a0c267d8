"""``truto-stream sweep ... --dry-run``: the plan, printed, without any unified list request.

The plan goes to stdout (it is what the command produces); its warnings also go to
stderr, with the rest of the diagnostics. ``--report FILE`` gets the plan as JSON. Exit
status: 0, 2 for a usage error (a malformed or future date, a bad ``limit``), 1 when
planning itself failed (discovery refused, say).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from truto_stream.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, eprint
from truto_stream.client import Client
from truto_stream.errors import ConfigurationError, TrutoError
from truto_stream.plan import render_plan

if TYPE_CHECKING:
    from truto_stream.cli.sweep import SweepOptions

__all__ = ["run_dry_run"]


async def run_dry_run(options: SweepOptions) -> int:
    """Plan the sweep ``options`` describe, print the plan; return the exit status."""
    try:
        async with Client(options.token, base_url=options.base_url) as client:
            plan = await client.plan(
                options.model,
                options.resource,
                accounts=options.accounts if options.accounts else options.query,
                params=options.params,
                dates=options.dates,
                today=options.today,
                mode="stream" if options.mode == "stream" else "paged",
                assume_records=options.assume_records,
            )
    except (ConfigurationError, UsageError) as exc:
        eprint(f"truto-stream sweep: error: {exc}")
        return EXIT_USAGE
    except TrutoError as exc:
        eprint(f"truto-stream sweep: error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    print(render_plan(plan), flush=True)
    for warning in plan.warnings:
        eprint(f"warning: {warning}")
    if options.report is not None:
        document = {
            "resource": f"{options.model}/{options.resource}",
            "dry_run": True,
            "exit_status": EXIT_OK,
            "plan": plan.to_dict(),
        }
        _write_json(Path(options.report), document)
    return EXIT_OK


def _write_json(path: Path, document: dict[str, Any]) -> None:
    temp = path.with_name(path.name + ".partial")
    try:
        temp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
        os.replace(temp, path)
    except OSError as exc:
        eprint(f"truto-stream sweep: cannot write the report {str(path)!r}: {exc}")
