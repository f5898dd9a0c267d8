"""Processes: run one measured side in its own child, read another process's CPU time.

Every side (ours, a baseline, a ceiling) runs in a fresh ``python -m benchmarks.child``
process so that its peak RSS is its own, and nothing it allocated (or imported) leaks
into the next measurement. The child prints one ``BENCH_RESULT {json}`` line.

A side may run with another interpreter (another commit's library in its own venv): it
then starts in a directory holding only a link to this ``benchmarks`` package, so that it
imports these benchmarks but its own venv's ``truto_stream``, not the one next to them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

__all__ = [
    "RESULT_PREFIX",
    "SideError",
    "SideResult",
    "proc_cpu_seconds",
    "read_vm_kb",
    "run_side",
    "shim_dir",
]

RESULT_PREFIX: Final = "BENCH_RESULT "
_ROOT: Final = Path(__file__).resolve().parent.parent
_TICKS: Final = os.sysconf("SC_CLK_TCK")

SideResult = dict[str, Any]


class SideError(RuntimeError):
    """A side's child process failed or printed no result."""


def read_vm_kb(field: str, pid: int | str = "self") -> int:
    """A ``Vm*`` field of ``/proc/PID/status`` in KiB (``VmHWM`` is the peak RSS)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (and its reaped children), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        stat = fh.read()
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / _TICKS


def shim_dir() -> Path:
    """A directory whose only entry is a link to this ``benchmarks`` package.

    The working directory comes first on a ``python -m`` child's ``sys.path``: started
    here, another interpreter finds these benchmarks, and ``truto_stream`` in its own
    site-packages (the repository root would hand it this checkout's library instead).
    """
    digest = hashlib.sha256(str(_ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"truto-bench-shim-{os.getuid()}-{digest}"
    path.mkdir(exist_ok=True)
    link = path / "benchmarks"
    if not link.is_symlink():
        link.symlink_to(_ROOT / "benchmarks", target_is_directory=True)
    return path


def run_side(
    side: str,
    args: dict[str, Any],
    *,
    python: str | None = None,
    script: Path | None = None,
    timeout: float = 900.0,
) -> SideResult:
    """Run ``side`` ("module:function" under benchmarks) in a child; return its result.

    With ``script``, run that file with ``python`` instead (the real SDK's venv), passing
    ``args`` as JSON; it must print the same ``BENCH_RESULT`` line. With ``python`` alone,
    run the side with that interpreter and its own ``truto_stream`` (:func:`shim_dir`).
    """
    cwd = _ROOT
    payload: str | None = None
    if script is not None:
        cmd = [python or sys.executable, str(script), json.dumps(args)]
    else:
        # The arguments go through stdin: 20,000 account ids exceed one argv string's limit.
        cmd = [python or sys.executable, "-m", "benchmarks.child", side, "-"]
        payload = json.dumps(args)
        if python is not None:
            cwd = shim_dir()
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONMALLOC", None)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        input=payload,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: SideResult = json.loads(line[len(RESULT_PREFIX) :])
            if proc.returncode != 0:
                result.setdefault("error", f"exit status {proc.returncode}")
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    raise SideError(f"{side or script}: exit {proc.returncode}: " + " | ".join(tail))
