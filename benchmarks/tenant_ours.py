"""The library's sides of the tenant-scale scenario, through its public API only.

The same code runs against another commit's library in its own venv (``--ours-python``):
it imports only top-level names of ``truto_stream`` that exist in both (``Client``,
``RateLimits``, ``AccountQuery``, ``plan_shards``, ``run_shard``) and, from this package,
only the stdlib-only stopwatch. What it assumes of that API: ``client.sweep(model,
resource, accounts=..., params=..., mode=...)`` is an async context manager whose
``batches()`` yields ``(account_id, records)`` pairs; ``run_shard`` is a generator of record
lists; ``concurrency`` and ``buffer_records`` are keyword arguments of ``Client.sweep``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import truto_stream
from benchmarks.procs import read_vm_kb
from benchmarks.timing import Stopwatch
from truto_stream import AccountQuery, Client, RateLimits, plan_shards, run_shard

__all__ = ["library_info", "tenant_arrow", "tenant_shard", "tenant_sweep"]

MODEL: Final = "usage-metering"
RESOURCE: Final = "users"


def sweep_default(name: str) -> Any:
    """The default of ``Client.sweep``'s keyword ``name`` in this library (None if absent)."""
    parameter = inspect.signature(Client.sweep).parameters.get(name)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def default_concurrency(mode: str) -> Any:
    """The sweep's default concurrency in ``mode``: the signature's, else per mode
    (``truto_stream.sweep.DEFAULT_CONCURRENCY``, issue #15), else None."""
    default = sweep_default("concurrency")
    if default is not None:
        return default
    try:
        from truto_stream import sweep
    except ImportError:
        return None
    defaults: dict[str, Any] = dict(getattr(sweep, "DEFAULT_CONCURRENCY", {}))
    return defaults.get(mode)


def library_info(args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Which ``truto_stream`` this interpreter imports, and the sweep defaults it has
    (the concurrency for ``args["mode"]``, paged unless given)."""
    mode = (args or {}).get("mode") or "paged"
    return {
        "library": str(Path(truto_stream.__file__).resolve().parent),
        "version": getattr(truto_stream, "__version__", "?"),
        "default_concurrency": default_concurrency(mode),
        "default_concurrency_stream": default_concurrency("stream"),
        "default_buffer_records": sweep_default("buffer_records"),
        "tune_gc": tunes_gc(),
    }


def _shard_tunes_gc(args: dict[str, Any]) -> bool:
    """Whether ``run_shard`` takes the opt-in, and the side did not turn it off."""
    return "tune_gc" in inspect.signature(run_shard).parameters and args.get("tune_gc", True)


def tunes_gc() -> bool:
    """Whether this library's sweeps can tune the collector (``tune_gc=True``, issue #15)."""
    return "tune_gc" in inspect.signature(Client.sweep).parameters


def _options(args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``client.sweep``: only those the scenario sets.

    A library that has the documented ``tune_gc`` opt-in runs with it (unless the side
    says ``tune_gc: False``); one that does not runs as it is.
    """
    options: dict[str, Any] = {"params": args.get("params") or {}, "mode": args["mode"]}
    for name in ("concurrency", "buffer_records"):
        if args.get(name) is not None:
            options[name] = int(args[name])
    if tunes_gc() and args.get("tune_gc", True):
        options["tune_gc"] = True
    return options


def _rss_mb() -> float:
    return read_vm_kb("VmRSS") / 1024


@contextlib.asynccontextmanager
async def _sweep(args: dict[str, Any], accounts: AccountQuery | list[str]) -> AsyncIterator[Any]:
    """A client and its sweep over ``accounts``, with the scenario's options."""
    client = Client(
        token=args["token"],
        base_url=args["url"],
        rate_limits=RateLimits(**args["rate_limits"]),
    )
    async with client, client.sweep(MODEL, RESOURCE, accounts=accounts, **_options(args)) as sweep:
        yield sweep


async def tenant_sweep(args: dict[str, Any]) -> dict[str, Any]:
    """An in-process sweep, consumed with ``sweep.batches()`` (count, read ``id``).

    ``discover`` sweeps ``AccountQuery(tenant_id=args["tenant"])`` instead of the ids.
    Timed from creating the client (the naive gather's timing includes its session too).
    """
    accounts: AccountQuery | list[str]
    if args.get("discover"):
        accounts = AccountQuery(tenant_id=args["tenant"])
    else:
        accounts = list(args["accounts"])
    users = 0
    largest = 0
    rss_start = _rss_mb()
    with Stopwatch() as sw:
        async with _sweep(args, accounts) as sweep:
            async for _account, records in sweep.batches():
                largest = max(largest, len(records))
                for user in records:
                    users += 1
                    user["id"]
    return sw.result(
        users,
        rss_sweep_start_mb=round(rss_start, 1),
        largest_batch=largest,
        peak_buffered_records=getattr(sweep, "peak_buffered_records", None),
        # The most walks at once (an adaptive default runs fewer than its cap).
        walks=getattr(sweep.report, "walks", None),
        **library_info(args),
    )


def tenant_shard(args: dict[str, Any]) -> dict[str, Any]:
    """The same accounts as one shard, through ``run_shard`` in this process.

    The shard's concurrency is the in-process sweep's default (``Shard``'s own default
    is lower), so both run the same number of walks at once.
    """
    concurrency = args.get("concurrency") or default_concurrency(args["mode"])
    extra: dict[str, Any] = (
        {"concurrency": int(concurrency)} if isinstance(concurrency, int) else {}
    )
    users = 0
    largest = 0
    rss_start = _rss_mb()
    with Stopwatch() as sw:
        [shard] = plan_shards(
            list(args["accounts"]),
            1,
            rate_limits=RateLimits(**args["rate_limits"]),
            base_url=args["url"],
            params=args.get("params") or {},
            mode=args["mode"],
            **extra,
        )
        shard_options = {"tune_gc": True} if _shard_tunes_gc(args) else {}
        for records in run_shard(shard, token=args["token"], **shard_options):
            largest = max(largest, len(records))
            for user in records:
                users += 1
                user["id"]
    return sw.result(
        users,
        rss_sweep_start_mb=round(rss_start, 1),
        largest_batch=largest,
        shard_concurrency=extra.get("concurrency"),
        **library_info(),
    )


async def tenant_arrow(args: dict[str, Any]) -> dict[str, Any]:
    """The same sweep as :func:`tenant_sweep`, consumed as Arrow record batches
    (``sweep.arrow_batches()``: the columnar path, no dict per record), counting rows and
    reading the ``id`` column of each batch. pyarrow is imported before the clock starts,
    as the columnar floor has it imported (the library imports it on first use)."""
    import pyarrow.json  # noqa: F401

    users = 0
    rss_start = _rss_mb()
    with Stopwatch() as sw:
        async with _sweep(args, list(args["accounts"])) as sweep:
            async for batch in sweep.arrow_batches():
                users += batch.num_rows
                batch.column("id")
    return sw.result(users, rss_sweep_start_mb=round(rss_start, 1), **library_info(args))
