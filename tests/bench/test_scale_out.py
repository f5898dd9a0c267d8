"""``python -m benchmarks.scale_out --smoke`` runs end to end (no figure is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_scale_out_smoke(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale_out", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| --processes 2 |" in proc.stdout
    summary = json.loads(out.read_text())
    rows = {row["name"]: row for row in summary["rows"]}
    ray = {"Ray, 2 CPUs"} if not summary["notes"] else set()  # measured when installed
    assert set(rows) == {"1 process", "--processes 2", *ray}
    assert all(row["records"] == 4 * 500 and row["rate_limited"] == 0 for row in rows.values())
    assert len(rows["--processes 2"]["rss_mb"]) == 3  # the parent and two shards
