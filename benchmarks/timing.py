"""A wall-clock + CPU-time stopwatch used inside measured sides (with GC time)."""

from __future__ import annotations

import gc
import time
from types import TracebackType
from typing import Any

__all__ = ["GcTimer", "Stopwatch"]


class GcTimer:
    """Sums the CPU time spent in the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # CPU time of this thread (the collector runs in the thread that allocates), so
        # that time the process spends preempted on a busy machine is not counted.
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._t0
            self.collections += 1

    def start(self) -> None:
        """Start timing collections."""
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        """Stop timing collections."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.wall``, ``sw.cpu`` and ``sw.gc`` (seconds).

    CPU time is this process's (``time.process_time``: user + system, all threads);
    ``gc`` is the CPU time the cyclic garbage collector used inside the block.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.gc = 0.0
        self._gc = GcTimer()
        self._t0 = 0.0
        self._c0 = 0.0

    def __enter__(self) -> Stopwatch:
        self._gc.start()
        self._t0 = time.perf_counter()
        self._c0 = time.process_time()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._c0
        self._gc.stop()
        self.gc = self._gc.seconds

    def result(self, users: int, **extra: Any) -> dict[str, Any]:
        """The standard side result: wall/CPU/GC seconds, users, users/s, CPU µs per user."""
        out: dict[str, Any] = {
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "gc_s": self.gc,
            "gc_share_of_cpu": self.gc / self.cpu if self.cpu else 0.0,
            "users": users,
            "users_per_s": users / self.wall if self.wall else 0.0,
            "cpu_us_per_user": self.cpu / users * 1e6 if users else 0.0,
        }
        out.update(extra)
        return out
