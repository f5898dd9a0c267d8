"""Units of sweep work that can run elsewhere: picklable shards and a synchronous runner.

An engine (Ray, Spark, Dask, Celery, Temporal...) distributes :class:`Shard` objects and
calls :func:`run_shard` in its workers; each worker runs its own event loop and yields
record batches. A shard carries its share of the per-token rate budget, so N shards
running at once stay within Truto's limits together. It never carries the API token:
the worker reads it from its environment (``token_env``) or is handed it directly.

Planning happens once: ``plan_shards(plan, n)`` splits a :class:`~truto_stream.plan.Plan`
(``client.plan(...)``: discovery, lookups, page sizes) by account, so each shard runs
its units as planned, every unit of an account in the same shard (the per-account budget
stays whole). The requests the planning itself sent are counted against every shard's
share (``token_spent``), so planning and shards together stay within the token's limit.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from truto_stream._retry import RetryPolicy
from truto_stream._syncgen import Put, iterate_on_loop
from truto_stream.client import DEFAULT_BASE_URL, Client, RateLimits
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.plan.model import Plan
from truto_stream.sweep import Sweep, SweepReport

__all__ = ["Shard", "plan_shards", "run_shard", "share_rate_limits", "token_spent"]


@dataclass(frozen=True)
class Shard:
    """A set of integrated accounts to sweep, with the query and its rate-budget share.

    ``plan`` (from :func:`plan_shards` given a plan) holds the shard's units as planned,
    so the shard sends no planning request; without it the shard plans ``account_ids``
    itself. ``token_spent`` requests were sent on the token in the window before
    ``token_spent_at`` (unix time) by whoever planned the shards: the shard counts them
    against its share.
    """

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
    plan: Plan | None = None
    retry: RetryPolicy | None = None
    """How the shard's client retries (``None``: the default policy)."""
    token_spent: int = 0
    token_spent_at: float = 0.0


def plan_shards(
    accounts: Sequence[str] | Plan,
    shards: int,
    *,
    rate_limits: RateLimits | None = None,
    token_spent: tuple[int, float] = (0, 0.0),
    **options: Any,
) -> list[Shard]:
    """Split accounts (ids, or a :class:`Plan`'s) into ``shards`` shards sharing the budget.

    Accounts are dealt round-robin (neighbouring accounts, often one tenant's, spread
    out). The per-token limit is divided evenly; the per-account one is not, since each
    account lives in one shard. Given a plan, each shard gets the plan's units for its
    accounts (the plan's skipped accounts go to the first shard, so the shards' reports
    together cover them) and the plan's model, resource and mode. ``token_spent`` is
    ``(requests, unix time)``: what planning sent on the token (see :func:`token_spent`).
    """
    if shards < 1:
        raise ConfigurationError("shards must be at least 1")
    plan: Plan | None = None
    if isinstance(accounts, Plan):
        plan = accounts
        ids = [a.account_id for a in plan.accounts]
        options = {
            **options,
            "model": plan.model,
            "resource": plan.resource,
            "mode": plan.mode,
            "params": dict(plan.params),
            "dates": plan.dates,
        }
    elif isinstance(accounts, str):
        ids = [accounts]  # one id, never its letters
    else:
        ids = list(accounts)
    count = min(shards, max(1, len(ids)))
    share = share_rate_limits(rate_limits or RateLimits(), count)
    spent, spent_at = token_spent
    return [
        Shard(
            account_ids=tuple(ids[i::count]),
            rate_limits=share,
            plan=_part(plan, i, count) if plan is not None else None,
            token_spent=spent,
            token_spent_at=spent_at,
            **options,
        )
        for i in range(count)
    ]


def share_rate_limits(rate_limits: RateLimits, count: int) -> RateLimits:
    """One of ``count`` equal shares of the per-token budget, for shards running at once.

    The per-account budget stays whole: each account lives in exactly one shard.
    """
    return replace(rate_limits, token_limit=max(1, math.floor(rate_limits.token_limit / count)))


def _part(plan: Plan, i: int, count: int) -> Plan:
    """The ``i``-th of ``count`` round-robin parts of ``plan`` (by account)."""
    accounts = plan.accounts[i::count]
    held = Counter(a.integration for a in accounts)
    return dataclasses.replace(
        plan,
        accounts=accounts,
        integrations={
            name: dataclasses.replace(p, accounts=held[name])
            for name, p in plan.integrations.items()
        },
        skipped=plan.skipped if i == 0 else (),
        finished=plan.finished if i == 0 else (),
        planning_requests=plan.planning_requests if i == 0 else 0,
    )


def token_spent(client: Client) -> tuple[int, float]:
    """``(requests, unix time)``: how many requests ``client`` has on its token's window now.

    Hand it to :func:`plan_shards` after planning with ``client``: every shard then
    counts those requests against its share until they leave the window.
    """
    limiter = client._runtime.fetcher.limiter  # the client's own budget (private by design)
    if limiter is None:
        return (0, time.time())
    return (limiter.budget.token.used(time.monotonic()), time.time())


def count_spent(client: Client, requests: int, at: float) -> None:
    """Count ``requests`` sent at unix time ``at`` (elsewhere) against ``client``'s token.

    A conservative stamp: all of them at ``at``, the end of the planning that sent them.
    """
    limiter = client._runtime.fetcher.limiter
    if limiter is None or requests <= 0:
        return
    window = limiter.budget.token
    when = time.monotonic() - max(0.0, time.time() - at)
    for _ in range(min(requests, window.limit)):
        window.record(when)


def shard_client(shard: Shard, token: str) -> Client:
    """The client a shard runs on: its share of the budget, the planner's requests counted."""
    return Client(
        token,
        base_url=shard.base_url,
        rate_limits=shard.rate_limits,
        allow_insecure=shard.allow_insecure,
        retry=shard.retry,
    )


def shard_sweep(client: Client, shard: Shard, **options: Any) -> Sweep:
    """The sweep of ``shard`` on ``client`` (its plan as given, or planned from its ids)."""
    count_spent(client, shard.token_spent, shard.token_spent_at)
    common: dict[str, Any] = {
        "mode": shard.mode,
        "concurrency": shard.concurrency,
        "checkpoint": shard.checkpoint,
        **options,
    }
    if shard.plan is not None:
        return client.sweep(shard.model, shard.resource, plan=shard.plan, **common)
    return client.sweep(
        shard.model,
        shard.resource,
        accounts=shard.account_ids,
        params=shard.params,
        dates=shard.dates,
        **common,
    )


def shard_token(shard: Shard, token: str | None) -> str:
    """The token a shard runs with: given, or read from ``$token_env``."""
    token = token if token is not None else os.environ.get(shard.token_env)
    if not token:
        raise ConfigurationError(f"no API token for the shard: set ${shard.token_env}")
    return token


def run_shard(
    shard: Shard,
    *,
    token: str | None = None,
    queue_batches: int | None = None,
    tune_gc: bool = False,
) -> Generator[list[dict[str, Any]], None, SweepReport | None]:
    """Run ``shard`` on a private event loop in this thread; yield its record batches.

    Synchronous, for engines whose workers are plain functions. Each record gets
    ``integrated_account_id`` added (and ``date``, the day it describes, when the shard
    has ``dates``; ``None`` for an integration swept once). Backpressure holds: the loop
    runs only while the caller waits for a batch, and at most ``queue_batches`` batches
    wait for the caller (default: one per walk, ``shard.concurrency``: what the walks can
    hand on in one turn of the loop; with fewer, the sweep's buffer fills though the caller
    keeps up, and its walks take turns waiting for room). The final :class:`SweepReport`
    is the generator's return value. Closing the generator early stops the sweep.
    ``tune_gc`` is the sweep's opt-in (:meth:`Client.sweep`): the collector tuned while
    the shard runs, restored after.
    """
    token = shard_token(shard, token)
    dated = shard.dates is not None

    async def sweep(put: Put[list[dict[str, Any]]]) -> SweepReport:
        async with shard_client(shard, token) as client:
            async with shard_sweep(client, shard, tune_gc=tune_gc) as running:
                async for batch in running.batches():
                    account_id, records = batch
                    for record in records:
                        record["integrated_account_id"] = account_id
                    if dated:
                        day = batch.date
                        for record in records:
                            record["date"] = day
                    await put(records)
            return running.report

    ahead = shard.concurrency if queue_batches is None else queue_batches
    return (yield from iterate_on_loop(sweep, ahead=ahead))
