"""What the emulator served, so tests can check a client's behaviour from the server side."""

from __future__ import annotations

import hashlib
import time
from collections import Counter, deque
from typing import Any

__all__ = ["Stats", "token_fingerprint"]


def token_fingerprint(token: str) -> str:
    """A short sha256 fingerprint: stats never hold a raw token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class Stats:
    """Counters; ``enabled=False`` keeps only the connection/response gauges."""

    def __init__(self, enabled: bool = True, max_timestamps: int = 1000) -> None:
        self.enabled = enabled
        self.max_timestamps = max_timestamps
        self.in_progress = 0
        self.most_in_progress = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter (the in-progress gauge is live state and is kept)."""
        self.started = time.monotonic()
        self.most_in_progress = self.in_progress
        self.requests_total = 0
        self.by_account: Counter[str] = Counter()
        self.by_token: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.by_format: Counter[str] = Counter()
        self.by_integration: Counter[str] = Counter()
        # (account id, integration, date, limit) of users-list requests that passed
        # validation: what a sweep plan promises to send.
        self.by_query: Counter[tuple[str, str, str | None, int | None]] = Counter()
        self.status: Counter[int] = Counter()
        self.rate_limited_truto = 0
        self.rate_limited_remote = 0
        self.faults: Counter[str] = Counter()
        self.bytes_sent = 0
        self.completed = 0
        self.aborted = 0
        self.closed_by_fault = 0
        self.timestamps: dict[str, deque[float]] = {}

    def request(self, route: str, token: str | None) -> None:
        """Count one request as it arrives."""
        self.requests_total += 1
        if not self.enabled:
            return
        self.by_route[route] += 1
        if token is not None:
            self.by_token[token_fingerprint(token)] += 1

    def account_hit(self, account_id: str) -> None:
        """Count a request for an integrated account and keep its time."""
        if not self.enabled:
            return
        self.by_account[account_id] += 1
        stamps = self.timestamps.get(account_id)
        if stamps is None:
            stamps = self.timestamps[account_id] = deque(maxlen=self.max_timestamps)
        stamps.append(time.monotonic())

    def list_query(
        self, account_id: str, integration: str, date: str | None, limit: int | None
    ) -> None:
        """Count a users-list request that passed validation, by what it asked for."""
        if self.enabled:
            self.by_query[(account_id, integration, date, limit)] += 1
            self.by_integration[integration] += 1

    def _queries(self) -> list[dict[str, Any]]:
        return [
            {"integrated_account_id": acc, "integration": integration, "date": date,
             "limit": limit, "requests": n}
            for (acc, integration, date, limit), n in sorted(
                self.by_query.items(), key=lambda kv: (kv[0][0], kv[0][2] or "", kv[0][3] or 0)
            )
        ]  # fmt: skip

    def snapshot(self, connections: int | None) -> dict[str, Any]:
        """A JSON-ready view (what ``GET /_emulator/stats`` returns).

        ``request_times`` are ``time.monotonic()`` seconds (the last ``max_timestamps``
        per account); ``connections.open`` is ``None`` when the server is not known.
        ``requests.by_query`` lists users-list requests that passed validation per
        (account, date, limit), with the effective values (defaults applied; ``null`` where
        the integration takes no such parameter); ``requests.by_integration`` counts the
        same requests per integration.
        """
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests": {
                "total": self.requests_total,
                "by_account": dict(self.by_account),
                "by_token": dict(self.by_token),
                "by_route": dict(self.by_route),
                "by_format": dict(self.by_format),
                "by_integration": dict(self.by_integration),
                "by_query": self._queries(),
            },
            "status_counts": {str(k): v for k, v in sorted(self.status.items())},
            "rate_limited": {
                "truto": self.rate_limited_truto,
                "remote": self.rate_limited_remote,
            },
            "faults_injected": dict(self.faults),
            "bytes_sent": self.bytes_sent,
            "request_times": {k: list(v) for k, v in self.timestamps.items()},
            "connections": {"open": connections},
            "responses": {
                "in_progress": self.in_progress,
                "most_in_progress": self.most_in_progress,
                "completed": self.completed,
                "aborted": self.aborted,
                "closed_by_fault": self.closed_by_fault,
            },
        }
