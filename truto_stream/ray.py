"""A Ray Data source: a sweep's records as a ``ray.data.Dataset`` of Arrow tables.

Needs the optional ``ray`` extra (``pip install 'truto-stream[ray]'``). The driver plans
once (:func:`truto_source`: discovery, lookups, page sizes, the days swept) and splits the
plan by account into shards (:func:`~truto_stream.shard.plan_shards`); each shard is one
Ray read task that runs its units on a private event loop in the worker and yields
``pyarrow.Table`` blocks of at most ``batch_rows`` rows with the one fixed schema of
:mod:`truto_stream.arrow`. Memory per task is bounded by its blocks, not by an account.

The per-token budget is split statically across at most ``max_concurrent_shards`` tasks,
and that is the read's Ray concurrency cap, so the cluster never sends more than the
token's limit; each account lives in one task, so its own budget stays whole. The token
travels as the name of an environment variable (``token_env``), set on every worker (a
Ray runtime env, or the environment the cluster was started in): never in a task.

Failed accounts do not fail the dataset (``on_error="continue"``): each task reports its
sweep to a small actor, read with :meth:`TrutoDatasource.report` once the dataset ran.
A task's output is a function of the plan and the server's data (units one after another
in plan order, blocks cut every ``batch_rows`` rows), so when Ray re-executes a task it
replays the same blocks and keeps each once; see docs/scale-out.md for the exact terms.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from truto_stream._retry import RetryPolicy
from truto_stream._syncgen import Put, iterate_on_loop
from truto_stream.accounts import AccountQuery
from truto_stream.client import DEFAULT_BASE_URL, Client, RateLimits
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.plan.dates import Dates
from truto_stream.plan.model import Plan
from truto_stream.shard import (
    Shard,
    plan_shards,
    shard_client,
    shard_sweep,
    shard_token,
    share_rate_limits,
    token_spent,
)
from truto_stream.sweep import OnError, SweepReport

try:
    import pyarrow as pa
    import ray
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask
except ImportError:  # pragma: no cover - exercised in a process without ray
    raise ImportError("truto_stream.ray needs ray: pip install 'truto-stream[ray]'") from None

from truto_stream.arrow import BATCH_ROWS, RecordBatcher, model_schema

__all__ = [
    "DEFAULT_MAX_CONCURRENT_SHARDS",
    "TrutoDatasource",
    "read_truto",
    "truto_source",
]

#: Read tasks running at once (and the ways the per-token budget is split) by default.
DEFAULT_MAX_CONCURRENT_SHARDS = 8


@dataclass(frozen=True)
class _TaskSpec:
    """What one read task runs: its shard (no token inside) and how to hand its data on."""

    shard: Shard
    index: int
    batch_rows: int
    on_error: OnError
    hold_window: bool
    reports: Any = dataclasses.field(default=None, compare=False, repr=False)


class TrutoDatasource(Datasource):
    """Ray Data source over a made :class:`~truto_stream.plan.Plan` (see :func:`truto_source`).

    The constructor only splits the plan (no request); :meth:`get_read_tasks` is pure
    and returns one task per shard whatever ``parallelism`` Ray asks for (the budget
    split depends on how many run at once, not on Ray's guess).
    """

    def __init__(
        self,
        plan: Plan,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token_env: str = "TRUTO_API_TOKEN",
        rate_limits: RateLimits | None = None,
        shards: int | None = None,
        max_concurrent_shards: int = DEFAULT_MAX_CONCURRENT_SHARDS,
        token_spent: tuple[int, float] = (0, 0.0),
        task_concurrency: int = 1,
        on_error: OnError = "continue",
        batch_rows: int = BATCH_ROWS,
        allow_insecure: bool = False,
        retry: RetryPolicy | None = None,
        reports: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if max_concurrent_shards < 1:
            raise ConfigurationError("max_concurrent_shards must be at least 1")
        if batch_rows < 1:
            raise ConfigurationError("batch_rows must be at least 1")
        self.plan = plan
        self.max_concurrent_shards = max_concurrent_shards
        limits = rate_limits or RateLimits()
        split = plan_shards(
            plan,
            shards or max_concurrent_shards,
            token_spent=token_spent,
            base_url=base_url,
            token_env=token_env,
            concurrency=task_concurrency,
            allow_insecure=allow_insecure,
            retry=retry,
        )
        self.max_concurrent_shards = min(max_concurrent_shards, len(split))
        share = share_rate_limits(limits, self.max_concurrent_shards)
        self.shards = [dataclasses.replace(s, rate_limits=share) for s in split]
        self.schema = model_schema(plan.model, plan.resource, dated=plan.dates is not None)
        self._reports = _Reports.remote() if reports else None  # type: ignore[attr-defined]
        # More tasks than slots: a task's requests stay in the token's window after it
        # ends, so it waits them out before it hands its slot to the next one.
        self._specs = [
            _TaskSpec(
                shard,
                i,
                batch_rows,
                on_error,
                len(self.shards) > self.max_concurrent_shards,
                self._reports,
            )
            for i, shard in enumerate(self.shards)
        ]

    def __repr__(self) -> str:
        return (
            f"TrutoDatasource({self.plan.model}/{self.plan.resource}, {self.plan.mode}, "
            f"{len(self.plan.accounts)} accounts, {len(self.shards)} shards, "
            f"{self.max_concurrent_shards} at once)"
        )

    def get_name(self) -> str:
        return "Truto"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        return [
            ReadTask(
                functools.partial(read_shard_tables, spec),
                BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None),
                schema=self.schema,
                per_task_row_limit=per_task_row_limit,
            )
            for spec in self._specs
        ]

    def read(self, **ray_options: Any) -> ray.data.Dataset:
        """The dataset, read ``max_concurrent_shards`` tasks at a time at most."""
        if "concurrency" in ray_options:
            raise ConfigurationError(
                "the concurrency cap is max_concurrent_shards (the budget is split by it)"
            )
        dataset: ray.data.Dataset = ray.data.read_datasource(
            self, concurrency=self.max_concurrent_shards, **ray_options
        )
        return dataset

    def report(self) -> dict[str, Any]:
        """What the tasks reported (after the dataset ran): totals and failed accounts.

        ``tasks`` counts tasks that finished (a re-executed task reports once);
        ``failed`` lists the failed units' reports (``SweepReport.to_dict`` rows);
        ``skipped`` the plan's skipped accounts.
        """
        if self._reports is None:
            raise ConfigurationError("this source was made with reports=False")
        by_task: dict[int, dict[str, Any]] = ray.get(self._reports.get.remote())
        rows = [row for r in by_task.values() for row in r["accounts"]]
        failed = [row for row in rows if row["state"] == "failed"]
        return {
            "tasks": len(by_task),
            "of_tasks": len(self.shards),
            "records": sum(row["records"] for row in rows),
            "requests": sum(row["requests"] for row in rows),
            "rate_limited": sum(row["rate_limited"] for row in rows),
            "failed": failed,
            "skipped": [row for row in rows if row["state"] == "skipped"],
            "ok": not failed and len(by_task) == len(self.shards),
        }


@ray.remote(num_cpus=0)
class _Reports:
    """Where read tasks leave their sweep report (by task index: a re-run overwrites)."""

    def __init__(self) -> None:
        self.by_task: dict[int, dict[str, Any]] = {}

    def put(self, index: int, report: dict[str, Any]) -> None:
        self.by_task[index] = report

    def get(self) -> dict[int, dict[str, Any]]:
        return self.by_task


def read_shard_tables(spec: _TaskSpec) -> Iterator[pa.Table]:
    """One read task: the shard's records as Arrow tables (runs in a Ray worker)."""
    token = shard_token(spec.shard, None)  # from the worker's environment
    report = yield from iterate_on_loop(functools.partial(_produce, spec, token), ahead=1)
    if spec.reports is not None:
        ray.get(spec.reports.put.remote(spec.index, report.to_dict()))


async def _produce(spec: _TaskSpec, token: str, put: Put[pa.Table]) -> SweepReport:
    shard = spec.shard
    dated = shard.dates is not None
    schema = model_schema(shard.model, shard.resource, dated=dated)
    batcher = RecordBatcher(schema, batch_rows=spec.batch_rows, dated=dated)
    async with shard_client(shard, token) as client:
        # Records as their JSON text: the batches are built without a dict per record.
        as_text = schema is not None
        async with shard_sweep(client, shard, on_error=spec.on_error, as_text=as_text) as running:
            async for batch in running.batches():
                account_id, records = batch
                for done in batcher.add(account_id, records, batch.date):
                    await put(pa.Table.from_batches([done]))
            last = batcher.flush()
            if last is not None:
                await put(pa.Table.from_batches([last]))
        if spec.hold_window:
            await _wait_out_window(client)
    return running.report


async def _wait_out_window(client: Client) -> None:
    """Sleep until none of this client's requests is left in the token's window.

    Every request was answered (the sweep ended), so one padded window from now is enough.
    """
    limiter = client._runtime.fetcher.limiter  # the client's own budget (private by design)
    if limiter is not None and limiter.budget.token.used(time.monotonic()) > 0:
        await anyio.sleep(limiter.budget.token.span)


def truto_source(
    resource: str,
    *,
    accounts: AccountQuery | list[str] | tuple[str, ...],
    mode: Mode = "paged",
    params: Mapping[str, Any] | None = None,
    dates: Dates | None = None,
    today: str | None = None,
    token_env: str = "TRUTO_API_TOKEN",
    base_url: str = DEFAULT_BASE_URL,
    rate_limits: RateLimits | None = None,
    allow_insecure: bool = False,
    retry: RetryPolicy | None = None,
    **source_options: Any,
) -> TrutoDatasource:
    """Plan the sweep once on the driver (token from ``$token_env``) and make the source.

    ``resource`` is ``"model/resource"`` (``"usage-metering/users"``). Other options go to
    :class:`TrutoDatasource` (``shards``, ``max_concurrent_shards``, ``on_error``,
    ``batch_rows``, ``task_concurrency``).
    """
    model, _, name = resource.partition("/")
    if not model or not name:
        raise ConfigurationError(f"resource must be model/resource, not {resource!r}")
    token = shard_token(Shard((), token_env=token_env), None)
    limits = rate_limits or RateLimits()

    async def make() -> tuple[Plan, tuple[int, float]]:
        async with Client(
            token,
            base_url=base_url,
            rate_limits=limits,
            allow_insecure=allow_insecure,
            retry=retry,
        ) as client:
            plan = await client.plan(
                model, name, accounts=accounts, params=params, dates=dates, today=today, mode=mode
            )
            return plan, token_spent(client)

    plan, spent = anyio.run(make)
    return TrutoDatasource(
        plan,
        base_url=base_url,
        token_env=token_env,
        rate_limits=limits,
        token_spent=spent,
        allow_insecure=allow_insecure,
        retry=retry,
        **source_options,
    )


def read_truto(
    resource: str,
    *,
    accounts: AccountQuery | list[str] | tuple[str, ...],
    ray_remote_args: Mapping[str, Any] | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """The records of ``resource`` across ``accounts`` as a Ray dataset (see the module).

    ``options`` are :func:`truto_source`'s. Each row has ``integrated_account_id`` (and
    ``date`` in a sweep over dates), then the model's fields.
    """
    source = truto_source(resource, accounts=accounts, **options)
    extra = {"ray_remote_args": dict(ray_remote_args)} if ray_remote_args else {}
    return source.read(**extra)
