"""``--report FILE``: the sweep report as JSON, naming only files that exist.

Written to a temporary name and renamed, on every exit once the sweep was prepared (0, 1,
130, 143, a storage failure); a report that cannot be written is said on stderr and makes
the exit status non-zero.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from truto_stream.cli.common import eprint
from truto_stream.sweep import SweepReport

__all__ = ["write_report"]


def write_report(
    path: str,
    *,
    resource: str,
    status: int,
    output: str | None,
    partial: Path | None,
    checkpoint: str | None,
    error: str | None,
    report: SweepReport,
) -> bool:
    """Write the report to ``path``; False (after saying why on stderr) if it failed."""
    document: dict[str, Any] = {
        "resource": resource,
        "exit_status": status,
        "output": output,
        "partial_output": str(partial) if partial is not None and partial.exists() else None,
        "checkpoint": checkpoint if checkpoint is not None and Path(checkpoint).exists() else None,
        "error": error,
        **report.to_dict(),
    }
    target = Path(path)
    temp = target.with_name(target.name + ".partial")
    try:
        temp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        eprint(f"truto-stream sweep: cannot write the report {path!r}: {exc.strerror or exc}")
        return False
    return True
