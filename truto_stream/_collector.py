"""The garbage collector tuned for the length of a sweep, when the caller opts in.

A sweep allocates millions of records that live a few milliseconds to a few seconds (the
buffer between the workers and the caller). With CPython's default thresholds
(700, 10, 10) the cyclic collector traverses them again and again as they age: a third to
two thirds of a sweep's CPU (issue #15). Records are trees (no cycles), so the collector
frees nothing reference counting would not; running it less often costs only the cyclic
garbage that waits longer to be freed.

:func:`tuned_collector` is opt-in (``client.sweep(..., tune_gc=True)``): the collector's
settings are the process's, never changed behind the caller's back. While at least one
tuned sweep runs, the first threshold is raised and whatever existed when the first of
them started is frozen out of the collector's way (``gc.freeze``); when the last one
ends, the thresholds are put back as they were and what was frozen is unfrozen (only when
nothing was frozen before, so a caller's own ``gc.freeze()`` stays as it is).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Final

__all__ = ["TUNED_THRESHOLDS", "CollectorTuning", "tuned_collector"]

#: The collector's thresholds while a tuned sweep runs: a young collection every
#: 100,000 net container allocations (a few MB of young objects) instead of every 700.
TUNED_THRESHOLDS: Final = (100_000, 50, 100)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None
_froze = False


def _enter() -> None:
    global _users, _saved, _froze
    with _lock:
        _users += 1
        if _users > 1:
            return
        threshold = gc.get_threshold()
        _saved = (threshold[0], threshold[1], threshold[2])
        _froze = gc.get_freeze_count() == 0
        if _froze:
            gc.freeze()
        # A threshold of 0 means the caller disabled automatic collection: keep it so.
        if _saved[0] != 0:
            gc.set_threshold(*TUNED_THRESHOLDS)


def _exit() -> None:
    global _users, _saved, _froze
    with _lock:
        _users -= 1
        if _users > 0 or _saved is None:
            return
        if gc.get_threshold() == TUNED_THRESHOLDS:  # unless the caller set their own since
            gc.set_threshold(*_saved)
        if _froze:
            gc.unfreeze()
        _saved = None
        _froze = False


class CollectorTuning:
    """One user's hold on the tuning: :meth:`start` once, :meth:`stop` as often as wanted.

    Concurrent holders share one tuning; it is undone when the last one stops.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def start(self) -> None:
        if not self._held:
            _enter()
            self._held = True

    def stop(self) -> None:
        if self._held:
            self._held = False
            _exit()


@contextlib.contextmanager
def tuned_collector(enabled: bool = True) -> Iterator[None]:
    """Tune the collector while the block runs (nothing at all when ``enabled`` is false)."""
    tuning = CollectorTuning()
    if enabled:
        tuning.start()
    try:
        yield
    finally:
        tuning.stop()
