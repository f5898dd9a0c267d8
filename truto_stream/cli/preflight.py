"""Checks made before the first request: every file a run will write can be written.

A sweep that runs for an hour and then cannot write its report, or its first checkpoint
flush, has wasted the hour. Each destination's directory is probed by creating (and
removing) a file in it, which catches a missing or read-only directory, a read-only file
system and permissions, whoever runs the command (``os.access`` answers yes to root).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from truto_stream.cli.common import UsageError

__all__ = ["check_destination"]


def check_destination(value: str, option: str) -> Path:
    """``value`` (given as ``option``) as a path a file can be written to, or a usage error."""
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{option} {value!r} is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"{option} {value!r}: directory {str(directory)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".truto-stream-probe-")
    except OSError as exc:
        raise UsageError(
            f"{option} {value!r}: cannot write in {str(directory)!r} ({exc.strerror})"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path
