"""A tiny wall-clock + CPU-time stopwatch used inside measured sides."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

__all__ = ["Stopwatch"]


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.wall`` and ``sw.cpu`` (seconds).

    CPU time is this process's (``time.process_time``: user + system, all threads).
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._t0 = 0.0
        self._c0 = 0.0

    def __enter__(self) -> Stopwatch:
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

    def result(self, users: int, **extra: Any) -> dict[str, Any]:
        """The standard side result: wall/CPU seconds, users, users/s, CPU µs per user."""
        out: dict[str, Any] = {
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "users": users,
            "users_per_s": users / self.wall if self.wall else 0.0,
            "cpu_us_per_user": self.cpu / users * 1e6 if users else 0.0,
        }
        out.update(extra)
        return out
