"""``python -m benchmarks.ndjson_writer`` keeps working (a seconds-long run; no figure is
checked, only that both paths wrote the same bytes)."""

from __future__ import annotations

from benchmarks.ndjson_writer import run


def test_both_paths_write_the_same_bytes() -> None:
    rows = run(users=2_000, rounds=1)
    assert [case for case, _, _ in rows] == ["undated", "dated"]
    assert all(dicts > 0 and texts > 0 for _, dicts, texts in rows)
