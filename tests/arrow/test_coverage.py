"""Coverage (sans-IO): a part is delivered only once all its records were emitted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._coverage import Coverage


def test_a_part_split_across_batches_is_covered_by_the_second() -> None:
    coverage: Coverage[int] = Coverage()
    coverage.added(3, "a", 1)
    coverage.added(5, "b", 1)
    coverage.added(2, "a", 2)
    assert coverage.emitted(4) == {"a": 1}  # b's part is half out
    assert coverage.emitted(4) == {"b": 1}
    assert coverage.pending == 1
    assert coverage.emitted(2) == {"a": 2}
    with pytest.raises(ValueError, match="more rows"):
        coverage.emitted(1)


def test_empty_parts_are_covered_as_soon_as_what_precedes_them() -> None:
    coverage: Coverage[str] = Coverage()
    coverage.added(0, "a", "done")  # a final part with no records: the unit ends
    assert coverage.emitted(0) == {"a": "done"}
    coverage.added(2, "b", "p1")
    coverage.added(0, "b", "done")
    assert coverage.emitted(1) == {}
    assert coverage.emitted(1) == {"b": "done"}


@given(
    st.lists(st.tuples(st.integers(0, 9), st.sampled_from("abc")), max_size=30),
    st.integers(1, 12),
)
def test_every_part_is_covered_once_and_never_before_its_last_row(
    parts: list[tuple[int, str]], batch: int
) -> None:
    coverage: Coverage[int] = Coverage()
    ends = []
    total = 0
    for index, (rows, key) in enumerate(parts):
        coverage.added(rows, key, index)
        total += rows
        ends.append(total)
    emitted = 0
    seen: dict[str, int] = {}
    while emitted < total or coverage.pending:
        step = min(batch, total - emitted)
        emitted += step
        for key, index in coverage.emitted(step).items():
            assert ends[index] <= emitted  # never before the part's last row is out
            assert index > seen.get(key, -1)  # progress only moves forward
            seen[key] = index
    # In the end each unit's last part is covered.
    assert seen == {key: max(i for i, (_, k) in enumerate(parts) if k == key) for _, key in parts}
