"""``tune_gc=True``: the collector is tuned while the sweep runs and put back after it;
without it, a sweep never touches the process's collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream._collector import TUNED_THRESHOLDS
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

CALLERS = (700, 10, 10)


@pytest.fixture(autouse=True)
def callers_collector() -> Iterator[None]:
    """The caller's own settings, put back whatever the test did."""
    threshold = gc.get_threshold()
    gc.set_threshold(*CALLERS)
    yield
    gc.set_threshold(*threshold)


async def _sweep(
    url: str, ids: list[str], *, stop_after: int | None = None, **options: Any
) -> set[tuple[int, int, int]]:
    """Sweep ``ids`` and return the thresholds seen while consuming."""
    seen: set[tuple[int, int, int]] = set()
    async with (
        Client(token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=None) as client,
        client.sweep(
            "usage-metering", "users", accounts=ids, params={"limit": 50}, **options
        ) as sweep,
    ):
        count = 0
        async for _, records in sweep.batches():
            seen.add(gc.get_threshold())
            count += len(records)
            if stop_after is not None and count >= stop_after:
                break
    return seen


async def test_tuned_while_the_sweep_runs_and_restored_after(emulator: EmulatorFactory) -> None:
    accounts = tuple(AccountSpec(integration="claude", tenant_id="t", users=120) for _ in range(4))
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0)
    ids = [a.id for a in emu.dataset.accounts]
    frozen = gc.get_freeze_count()
    assert await _sweep(emu.url, ids, tune_gc=True) == {TUNED_THRESHOLDS}
    assert gc.get_threshold() == CALLERS
    assert gc.get_freeze_count() == frozen


async def test_restored_when_the_caller_breaks_out(emulator: EmulatorFactory) -> None:
    accounts = tuple(AccountSpec(integration="claude", tenant_id="t", users=500) for _ in range(4))
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0)
    ids = [a.id for a in emu.dataset.accounts]
    assert await _sweep(emu.url, ids, stop_after=60, tune_gc=True) == {TUNED_THRESHOLDS}
    assert gc.get_threshold() == CALLERS


async def test_by_default_the_collector_is_left_alone(emulator: EmulatorFactory) -> None:
    accounts = tuple(AccountSpec(integration="claude", tenant_id="t", users=120) for _ in range(4))
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0)
    ids = [a.id for a in emu.dataset.accounts]
    assert await _sweep(emu.url, ids) == {CALLERS}
    assert gc.get_threshold() == CALLERS
