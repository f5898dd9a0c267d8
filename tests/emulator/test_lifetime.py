"""A stopped emulator leaves nothing behind: its state (page cache, datasets) is freed.

aiohttp memoises the middleware chain per (handler, apps) in a module-level cache of
1,024 entries, so an application with a middleware stays reachable from aiohttp itself
after it stopped. A test suite (or a service's own suite, through the pytest plugin)
that starts many emulators would then keep each one's state, up to ``page_cache_mb``
of rendered pages apiece.
"""

from __future__ import annotations

import gc
import weakref

import aiohttp
import pytest

from truto_stream.emulator import AccountSpec, Emulator, EmulatorConfig

pytestmark = pytest.mark.anyio

TOKEN = "lifetime-token"


async def _served_once() -> weakref.ref[object]:
    account = AccountSpec(integration="claude", tenant_id="t", users=5)
    config = EmulatorConfig(tokens=(TOKEN,), accounts=(account,))
    emulator = Emulator(config)
    async with emulator, aiohttp.ClientSession() as session:
        async with session.get(
            f"{emulator.url}/unified/usage-metering/users",
            params={"integrated_account_id": emulator.dataset.accounts[0].id},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status == 200
            await response.read()
        async with session.get(f"{emulator.url}/_emulator/stats") as response:
            assert response.status == 200
    return weakref.ref(emulator.state)


async def test_a_stopped_emulator_frees_its_state() -> None:
    state = await _served_once()
    gc.collect()
    assert state() is None, [type(r).__name__ for r in gc.get_referrers(state())]
