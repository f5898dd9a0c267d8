"""The Ray Data source against the emulator on loopback (one local Ray per session)."""

from __future__ import annotations

import bisect
import pickle
import urllib.request
from collections import Counter
from typing import Any

import orjson
import pyarrow as pa
import pytest

from tests.support import FAST_RETRY, TOKEN
from truto_stream import AccountQuery, RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.errors import ConfigurationError, ServerError

ray = pytest.importorskip("ray")
truto_ray = pytest.importorskip("truto_stream.ray")

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

FAULTS = "500@0.03,502@0.02,504@0.02,cut@0.02,reset@0.01,remote429@0.02,empty@0.02"


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as response:
        stats: dict[str, Any] = orjson.loads(response.read())
    return stats


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def _pairs(ds: Any) -> Counter[tuple[str, str]]:
    got: Counter[tuple[str, str]] = Counter()
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        got.update(
            zip(table["integrated_account_id"].to_pylist(), table["id"].to_pylist(), strict=True)
        )
    return got


@pytest.mark.parametrize("mode", ["paged", "stream"])
def test_two_hundred_accounts_with_faults_every_user_exactly_once(mode: str) -> None:
    accounts = tuple(
        AccountSpec(integration=("openai", "claude")[i % 2], tenant_id="acme", users=40 + i % 90)
        for i in range(200)
    )
    config = EmulatorConfig(
        tokens=(TOKEN,), seed=12, accounts=accounts, faults=FAULTS, remote_retry_after_s=0
    )
    dataset = Dataset(config)
    want = Counter((a.id, u) for a in dataset.accounts for u in dataset.user_ids(a.id))
    with EmulatorProcess(config) as emu:
        source = truto_ray.truto_source(
            "usage-metering/users",
            accounts=[a.id for a in dataset.accounts],
            mode=mode,
            base_url=emu.url,
            retry=FAST_RETRY,
            max_concurrent_shards=2,
            batch_rows=1_000,
        )
        got = _pairs(source.read())
        report = source.report()
    assert got == want  # every user, each once
    assert report["ok"] and report["records"] == sum(want.values())
    assert report["tasks"] == 2


def test_the_cluster_stays_within_the_tokens_and_each_accounts_limits() -> None:
    """Truto's 10:1 token/account ratio, scaled to 40 and 4 per 1 s: the budget binds."""
    window, token_limit, account_limit = 1.0, 40, 4
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id="t", users=1_000) for _ in range(12)
    )
    config = EmulatorConfig(
        tokens=(TOKEN,),
        seed=13,
        accounts=accounts,
        rate_window_s=window,
        token_limit=token_limit,
        account_limit=account_limit,
    )
    dataset = Dataset(config)
    ids = [a.id for a in dataset.accounts]
    limits = RateLimits(token_limit=token_limit, account_limit=account_limit, window=window)
    with EmulatorProcess(config) as emu:
        ds = truto_ray.read_truto(
            "usage-metering/users",
            accounts=ids,
            params={"limit": 100},
            base_url=emu.url,
            rate_limits=limits,
            max_concurrent_shards=2,
            shards=3,  # more tasks than slots: each waits out its window before ending
            task_concurrency=4,  # walks at once per task: the account limit binds
        )
        got = _pairs(ds)
        stats = _stats(emu.url)
    assert sum(got.values()) == 12 * 1_000 and max(got.values()) == 1
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
    every = [t for times in stats["request_times"].values() for t in times]
    assert len(every) == 12 * 10
    assert _max_in_window(every, window) <= token_limit
    for times in stats["request_times"].values():
        assert _max_in_window(times, window) <= account_limit


def test_the_token_is_in_no_pickled_task_and_no_repr() -> None:
    accounts = tuple(AccountSpec(integration="openai", tenant_id="t", users=20) for _ in range(5))
    config = EmulatorConfig(tokens=(TOKEN,), seed=14, accounts=accounts)
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        source = truto_ray.truto_source("usage-metering/users", accounts=ids, base_url=emu.url)
        tasks = source.get_read_tasks(4)
        blobs = [ray.cloudpickle.dumps(source), *(ray.cloudpickle.dumps(t) for t in tasks)]
        texts = [repr(source), *(repr(t) for t in tasks), *(repr(t.read_fn) for t in tasks)]
        ds = source.read()
        texts.append(repr(ds))
        assert ds.count() == 100
    assert tasks and all(TOKEN.encode() not in blob for blob in blobs)
    assert all(TOKEN not in text for text in texts)


def test_get_read_tasks_is_pure_and_sends_nothing() -> None:
    accounts = tuple(AccountSpec(integration="claude", tenant_id="t", users=30) for _ in range(6))
    config = EmulatorConfig(tokens=(TOKEN,), seed=15, accounts=accounts, today="2026-07-15")
    with EmulatorProcess(config) as emu:
        source = truto_ray.truto_source(
            "usage-metering/users",
            accounts=AccountQuery(tenant_id="t"),  # discovery, once, here
            dates=("2026-07-13", "2026-07-14"),
            base_url=emu.url,
            max_concurrent_shards=3,
        )
        before = _stats(emu.url)["requests"]["total"]
        first = source.get_read_tasks(2)
        again = source.get_read_tasks(200)
        after = _stats(emu.url)["requests"]["total"]
    assert before == after > 0
    assert len(first) == len(again) == 3
    assert [t.read_fn.args for t in first] == [t.read_fn.args for t in again]
    assert all(s.rate_limits.token_limit == 500 // 3 for s in source.shards)
    assert all(s.token_spent > 0 for s in source.shards)  # the discovery's requests
    assert first[0].schema.names[:2] == ["integrated_account_id", "date"]


def test_a_task_replays_the_same_blocks() -> None:
    """Ray re-runs a lost or failed task and keeps each block index once: a task's blocks
    are the same on every run (units in plan order, cut every batch_rows rows), so the
    dataset holds every record once, even with faults and retries inside the runs."""
    accounts = tuple(AccountSpec(integration="openai", tenant_id="t", users=333) for _ in range(4))
    config = EmulatorConfig(tokens=(TOKEN,), seed=16, accounts=accounts, faults=FAULTS)
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        source = truto_ray.truto_source(
            "usage-metering/users",
            accounts=ids,
            base_url=emu.url,
            retry=FAST_RETRY,
            max_concurrent_shards=1,
            batch_rows=250,
            reports=False,
        )
        [task] = source.get_read_tasks(1)
        runs = [list(task()) for _ in range(2)]
    assert [t.num_rows for t in runs[0]] == [250] * 5 + [82]
    assert all(a.equals(b) for a, b in zip(*runs, strict=True))


def test_a_failed_account_is_reported_and_the_dataset_goes_on() -> None:
    accounts = (
        AccountSpec(integration="openai", tenant_id="t", users=50),
        AccountSpec(integration="openai", tenant_id="t", users=50, faults="500@#0x*"),
        AccountSpec(integration="openai", tenant_id="t", users=50),
    )
    config = EmulatorConfig(tokens=(TOKEN,), seed=17, accounts=accounts)
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        options: dict[str, Any] = {"accounts": ids, "base_url": emu.url, "retry": FAST_RETRY}
        source = truto_ray.truto_source("usage-metering/users", **options)
        rows = source.read().take_all()
        report = source.report()
        strict = truto_ray.read_truto("usage-metering/users", on_error="raise", **options)
        with pytest.raises(ServerError):  # Ray's RayTaskError(ServerError) is one too
            strict.materialize()
    assert {r["integrated_account_id"] for r in rows} == {ids[0], ids[2]}
    assert len(rows) == 100
    assert not report["ok"]
    assert [f["account_id"] for f in report["failed"]] == [ids[1]]
    assert TOKEN not in repr(report)


def test_read_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="model/resource"):
        truto_ray.read_truto("users", accounts=["a"], base_url="http://127.0.0.1:9")


def test_blocks_have_the_one_fixed_schema() -> None:
    accounts = (AccountSpec(integration="openai", tenant_id="t", users=10),)
    config = EmulatorConfig(tokens=(TOKEN,), seed=18, accounts=accounts)
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        source = truto_ray.truto_source("usage-metering/users", accounts=ids, base_url=emu.url)
        [task] = source.get_read_tasks(1)
        tables = list(task())
    from truto_stream.arrow import model_schema

    schema = model_schema("usage-metering", "users")
    assert tables and all(isinstance(t, pa.Table) for t in tables)
    assert all(t.schema.equals(schema) for t in tables)
    assert pickle.loads(pickle.dumps(source.shards)) == source.shards
