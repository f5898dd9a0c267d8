"""The collector tuning a sweep opts into: applied while held, undone exactly."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from truto_stream._collector import TUNED_THRESHOLDS, CollectorTuning, tuned_collector


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    """Whatever a test does, the process's collector is left as it was."""
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if frozen == 0:
        gc.unfreeze()


def test_tuned_while_held_and_restored_after() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    with tuned_collector():
        assert gc.get_threshold() == TUNED_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_disabled_is_a_no_op() -> None:
    gc.set_threshold(123, 4, 5)
    with tuned_collector(enabled=False):
        assert gc.get_threshold() == (123, 4, 5)
    assert gc.get_threshold() == (123, 4, 5)


def test_holders_share_one_tuning_undone_by_the_last() -> None:
    gc.set_threshold(700, 10, 10)
    first, second = CollectorTuning(), CollectorTuning()
    first.start()
    second.start()
    first.stop()
    assert gc.get_threshold() == TUNED_THRESHOLDS  # the second still runs
    first.stop()  # a second stop of the same holder changes nothing
    assert gc.get_threshold() == TUNED_THRESHOLDS
    second.stop()
    assert gc.get_threshold() == (700, 10, 10)
    assert not first.held and not second.held


def test_a_callers_own_freeze_is_kept() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with tuned_collector():
        pass
    assert gc.get_freeze_count() == frozen


def test_a_disabled_collector_stays_disabled() -> None:
    gc.set_threshold(0, 10, 10)
    with tuned_collector():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_thresholds_the_caller_set_meanwhile_are_kept() -> None:
    gc.set_threshold(700, 10, 10)
    with tuned_collector():
        gc.set_threshold(5_000, 20, 20)
    assert gc.get_threshold() == (5_000, 20, 20)


def test_restored_when_the_block_raises() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), tuned_collector():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)
