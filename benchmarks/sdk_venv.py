"""The real ``truto-python-sdk`` from PyPI, in its own venv (it requires Python >= 3.12).

Created on demand under ``benchmarks/.venv-sdk`` (gitignored). When no Python >= 3.12 is
found or the install fails, the side is skipped and ``last_error`` says why.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from benchmarks.harness import Context

__all__ = ["SCRIPT", "VENV", "ensure", "find_python"]

HERE: Final = Path(__file__).resolve().parent
VENV: Final = HERE / ".venv-sdk"
SCRIPT: Final = HERE / "sdk_side.py"
PACKAGE: Final = "truto-python-sdk"

last_error: str | None = None


def _is_312(python: str) -> bool:
    try:
        probe = subprocess.run(
            [python, "-c", "import sys, venv; assert sys.version_info >= (3, 12)"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def find_python() -> str | None:
    """A working Python >= 3.12: ``$BENCH_PYTHON312``, on PATH, or under pyenv.

    Each candidate is run once (a pyenv shim on PATH may exist yet not work).
    """
    candidates = [os.environ.get("BENCH_PYTHON312", "")]
    candidates += [shutil.which(name) or "" for name in ("python3.12", "python3.13")]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python3"))
    for candidate in candidates:
        if candidate and _is_312(candidate):
            return candidate
    return None


def _works(python: Path) -> bool:
    probe = subprocess.run(
        [str(python), "-c", "import truto_python_sdk, aiohttp"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return probe.returncode == 0


def ensure(ctx: Context | None = None) -> Path | None:
    """The venv's python with the SDK installed, creating it if needed; else None."""
    global last_error
    python = VENV / "bin" / "python"
    if python.exists() and _works(python):
        return python
    base = find_python()
    if base is None:
        last_error = "no Python >= 3.12 found (set BENCH_PYTHON312)."
        return None
    if ctx is not None:
        ctx.log(f"creating {VENV.name} with {base} and installing {PACKAGE} from PyPI")
    try:
        subprocess.run([base, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PACKAGE],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        last_error = f"could not install {PACKAGE}: {exc}"
        return None
    if not _works(python):
        last_error = f"{PACKAGE} installed but does not import."
        return None
    return python
