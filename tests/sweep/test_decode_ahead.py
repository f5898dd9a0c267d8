"""How far walks decode ahead of the caller (issue #14, scenario 6; issue #15, the collector).

The caller runs on the walks' thread. While it waits for a part, one decoded part is
enough: it runs as soon as that part is there, and parts decoded before it has run
deliver nothing sooner but stay alive across the collector's young passes (the first
sweep of 1,000 accounts x 250 users held 4,000-6,000 records so, and spent 30% of its
CPU in the collector against 21% for the first version). A caller away on its own I/O
with a part in hand is worth decoding ahead of, up to ``buffer_records``.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import AccountSpec
from truto_stream.sweep import Sweep

pytestmark = pytest.mark.anyio


async def _sweep(
    emulator: EmulatorFactory,
    accounts: int,
    users: int,
    *,
    away_s: float = 0.0,
    verdicts: list[bool] | None = None,
    **config: Any,
) -> Sweep:
    """Sweep ``accounts`` accounts of ``users`` users at 100 a page, the caller away
    ``away_s`` per batch; ``verdicts`` gets the gate's ``ahead`` at each batch."""
    specs = tuple(
        AccountSpec(integration="claude", tenant_id="t", users=users) for _ in range(accounts)
    )
    emu = await emulator(accounts=specs, account_limit=0, token_limit=0, **config)
    ids = [a.id for a in emu.dataset.accounts]
    seen = 0
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=None) as client,
        client.sweep("usage-metering", "users", accounts=ids, params={"limit": 100}) as sweep,
    ):
        async for _, records in sweep.batches():
            seen += len(records)
            if verdicts is not None:
                verdicts.append(sweep._gate.ahead)
            if away_s:
                await anyio.sleep(away_s)
    assert seen == accounts * users
    return sweep


async def _peak(emulator: EmulatorFactory, *, away_s: float) -> int:
    """The most records buffered at once, 64 accounts of 300 users."""
    return (await _sweep(emulator, 64, 300, away_s=away_s)).peak_buffered_records


async def test_a_busy_caller_has_one_page_decoded_ahead(emulator: EmulatorFactory) -> None:
    # 64 walks, their pages arriving together: before, each decoded its page before the
    # caller ran (thousands of records alive at once).
    assert await _peak(emulator, away_s=0) <= 100


async def test_walks_decode_ahead_of_a_caller_away_on_its_own_io(
    emulator: EmulatorFactory,
) -> None:
    assert await _peak(emulator, away_s=0.002) >= 1_000


async def test_walks_decode_ahead_of_a_waiting_caller_when_the_process_idles(
    emulator: EmulatorFactory,
) -> None:
    # 50 ms a page, 4 accounts: the walks wait on the network and the process (the
    # emulator included) idles most of the time while the caller waits. A walk held
    # back would be a request not sent (a paged walk learns its next cursor by decoding
    # its page): latency-bound sweeps decode ahead freely.
    verdicts: list[bool] = []
    await _sweep(emulator, 4, 1_200, latency_ms=50, verdicts=verdicts)
    # The caller keeps up, so the buffer stays short either way; what shows is the
    # gate's verdict: walks may decode ahead of the waiting caller (in most of the
    # sweep's second half: the first period starts after the first answers).
    later = verdicts[len(verdicts) // 2 :]
    assert sum(later) > len(later) // 2, verdicts
