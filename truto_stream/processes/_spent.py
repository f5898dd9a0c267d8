"""What the parent's planning sent on the token, counted again by every shard.

The budgets are per process: a shard starting right after planning would otherwise have
its whole share while the planning's requests are still in Truto's window. Each shard
counts all of them (conservative: stamped at the end of planning) until they leave it.
"""

from __future__ import annotations

import time

from truto_stream.client import Client

__all__ = ["count_spent", "token_spent"]


def token_spent(client: Client) -> tuple[int, float]:
    """``(requests, unix time)``: the requests ``client`` has in its token's window now."""
    limiter = client._runtime.fetcher.limiter  # the client's own budget (private by design)
    if limiter is None:
        return (0, time.time())
    return (limiter.budget.token.used(time.monotonic()), time.time())


def count_spent(client: Client, requests: int, at: float) -> None:
    """Count ``requests`` sent at unix time ``at`` (in another process) against the token."""
    limiter = client._runtime.fetcher.limiter
    if limiter is None or requests <= 0:
        return
    window = limiter.budget.token
    when = time.monotonic() - max(0.0, time.time() - at)
    for _ in range(min(requests, window.limit)):
        window.record(when)
