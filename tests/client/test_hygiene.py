"""No 'unclosed session', 'task destroyed' or other warnings, ever (python -X dev)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lifecycles_leave_no_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", "tests.client.hygiene_script"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("clean exit")
    for needle in ("Unclosed", "unclosed", "destroyed", "never retrieved", "Warning", "Error"):
        assert needle not in result.stderr, result.stderr
