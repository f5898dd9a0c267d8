"""``python -m benchmarks.arrow_batches`` keeps working: a seconds-long run of every side.

Not a timed test: no figure is checked, only that each side (emulator process, children)
ran to the end and read every record.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")

from benchmarks.arrow_batches import run


@pytest.mark.timeout(120)
def test_every_side_reads_every_record() -> None:
    rows = dict(run(users=3_000, floor_users=500))
    assert rows["dicts"]["records"] == rows["arrow"]["records"] == 3_000
    assert rows["arrow from dicts"]["records"] == 3_000
    assert rows["arrow"]["batches"] == rows["arrow from dicts"]["batches"] == 1  # 10,000 rows
    assert rows["arrow, 300 users"]["records"] == 300
    assert rows["pyarrow.json floor"]["records"] == rows["orjson floor"]["records"] == 500
    for result in rows.values():
        assert "error" not in result and result["peak_rss_mb"] > 0
