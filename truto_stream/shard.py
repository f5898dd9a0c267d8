"""Units of sweep work that can run elsewhere: picklable shards and a synchronous runner.

An engine (Ray, Spark, Dask, Celery, Temporal...) distributes :class:`Shard` objects and
calls :func:`run_shard` in its workers; each worker runs its own event loop and yields
record batches. A shard carries its share of the per-token rate budget, so N shards
running at once stay within Truto's limits together. It never carries the API token:
the worker reads it from its environment (``token_env``) or is handed it directly.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from truto_stream.client import DEFAULT_BASE_URL, Client, RateLimits
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.sweep import SweepReport

__all__ = ["Shard", "plan_shards", "run_shard", "share_rate_limits"]


@dataclass(frozen=True)
class Shard:
    """A set of integrated accounts to sweep, with the query and its rate-budget share."""

    account_ids: tuple[str, ...]
    model: str = "usage-metering"
    resource: str = "users"
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "paged"
    base_url: str = DEFAULT_BASE_URL
    rate_limits: RateLimits = field(default_factory=RateLimits)
    concurrency: int = 16
    checkpoint: str | None = None
    dates: tuple[str, ...] | None = None
    """Days to sweep (``YYYY-MM-DD``): each record then carries its ``date``."""
    token_env: str = "TRUTO_API_TOKEN"
    allow_insecure: bool = False


def plan_shards(
    account_ids: Sequence[str],
    shards: int,
    *,
    rate_limits: RateLimits | None = None,
    **options: Any,
) -> list[Shard]:
    """Split accounts into ``shards`` shards that share the per-token budget evenly.

    Accounts are dealt round-robin (neighbouring accounts, often one tenant's, spread
    out). The per-account budget is not divided: each account lives in one shard.
    """
    if shards < 1:
        raise ConfigurationError("shards must be at least 1")
    if isinstance(account_ids, str):
        account_ids = [account_ids]  # one id, never its letters
    count = min(shards, max(1, len(account_ids)))
    share = share_rate_limits(rate_limits or RateLimits(), count)
    return [
        Shard(account_ids=tuple(account_ids[i::count]), rate_limits=share, **options)
        for i in range(count)
    ]


def share_rate_limits(rate_limits: RateLimits, count: int) -> RateLimits:
    """One of ``count`` equal shares of the per-token budget, for shards running at once.

    The per-account budget stays whole: each account lives in exactly one shard.
    """
    return replace(rate_limits, token_limit=max(1, math.floor(rate_limits.token_limit / count)))


_DONE = object()


def run_shard(
    shard: Shard, *, token: str | None = None, queue_batches: int = 8
) -> Generator[list[dict[str, Any]], None, SweepReport | None]:
    """Run ``shard`` on a private event loop in a thread; yield its record batches.

    Synchronous, for engines whose workers are plain functions. Each record gets
    ``integrated_account_id`` added (and ``date``, the day it describes, when the shard
    has ``dates``; ``None`` for an integration swept once). Backpressure holds: at most
    ``queue_batches`` batches wait for the caller. The final :class:`SweepReport` is the
    generator's return value. Closing the generator early stops the sweep.
    """
    token = token if token is not None else os.environ.get(shard.token_env)
    if not token:
        raise ConfigurationError(f"no API token for the shard: set ${shard.token_env}")
    batches: queue.Queue[Any] = queue.Queue(maxsize=queue_batches)
    stop = threading.Event()
    report_box: list[SweepReport] = []

    async def sweep() -> None:
        async with Client(
            token,
            base_url=shard.base_url,
            rate_limits=shard.rate_limits,
            allow_insecure=shard.allow_insecure,
        ) as client:
            async with client.sweep(
                shard.model,
                shard.resource,
                accounts=shard.account_ids,
                params=shard.params,
                mode=shard.mode,
                concurrency=shard.concurrency,
                checkpoint=shard.checkpoint,
                dates=shard.dates,
            ) as running:
                async for batch in running.batches():
                    account_id, records = batch
                    for record in records:
                        record["integrated_account_id"] = account_id
                    if shard.dates is not None:
                        for record in records:
                            record["date"] = batch.date
                    # Blocks a worker thread while the caller is behind; the caller's
                    # cleanup drains the queue, so this never blocks forever.
                    await anyio.to_thread.run_sync(batches.put, records)
                    if stop.is_set():
                        break
            report_box.append(running.report)

    def target() -> None:
        try:
            anyio.run(sweep, backend="asyncio")
        except BaseException as exc:  # handed to the caller's thread
            batches.put(exc)
        finally:
            batches.put(_DONE)

    thread = threading.Thread(target=target, name="truto-stream shard", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.05)
        thread.join()
    return report_box[0] if report_box else None
