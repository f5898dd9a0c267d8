"""Mutable server state shared by the handlers: data, limits, fault attempts, stats."""

from __future__ import annotations

import random
from collections import Counter

from aiohttp import web

from truto_stream.emulator.config import EmulatorConfig
from truto_stream.emulator.cursors import CursorCodec
from truto_stream.emulator.data import Dataset
from truto_stream.emulator.limits import SlidingWindow
from truto_stream.emulator.render import Renderer
from truto_stream.emulator.stats import Stats

__all__ = ["STATE", "EmulatorState"]


class EmulatorState:
    """Everything one running emulator knows; built once from an :class:`EmulatorConfig`."""

    def __init__(self, config: EmulatorConfig, dataset: Dataset | None = None) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else Dataset(config)
        self.renderer = Renderer(self.dataset, config.page_cache_mb << 20)
        self.codec = CursorCodec(f"seed:{config.seed}".encode())
        self.tokens = frozenset(config.tokens)
        self.token_window = SlidingWindow(config.token_limit, config.rate_window_s)
        self.account_window = SlidingWindow(config.account_limit, config.rate_window_s)
        self.stats = Stats(config.stats, config.stats_timestamps)
        # (account id, mode, page index, offset) -> requests seen: the fault "attempt".
        self.attempts: Counter[tuple[str, str, int, int]] = Counter()
        self.rng = random.Random(config.seed)
        self.server: web.Server | None = None

    def connections(self) -> int | None:
        """Open HTTP connections (``web.Server.connections``), if the server is known."""
        return None if self.server is None else len(self.server.connections)

    def next_attempt(self, account_id: str, mode: str, page: int, offset: int) -> int:
        """The attempt number of this request at this page (0 for the first)."""
        key = (account_id, mode, page, offset)
        attempt = self.attempts[key]
        self.attempts[key] = attempt + 1
        return attempt

    def latency_s(self) -> float:
        """One page's simulated upstream latency (fixed + uniform jitter), in seconds."""
        ms = self.config.latency_ms
        if self.config.latency_jitter_ms > 0:
            ms += self.rng.uniform(0.0, self.config.latency_jitter_ms)
        return ms / 1000.0

    def reset(self, *, rate_limits: bool = False, faults: bool = False) -> None:
        """Clear stats; optionally the rate-limit windows and fault attempt counters."""
        self.stats.reset()
        if rate_limits:
            self.token_window.clear()
            self.account_window.clear()
        if faults:
            self.attempts.clear()


#: Where an application keeps its :class:`EmulatorState`.
STATE = web.AppKey("truto_emulator_state", EmulatorState)
