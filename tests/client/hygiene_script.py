"""Runs the client's lifecycles end to end; the test checks stderr stays silent.

Usage: python -X dev -m tests.client.hygiene_script
"""

from __future__ import annotations

import contextlib
import gc

import anyio

from truto_stream import Client
from truto_stream.emulator import AccountSpec, Emulator, EmulatorConfig

TOKEN = "hygiene-token"


async def main() -> None:
    accounts = tuple(
        AccountSpec(integration=name, tenant_id="t", users=3_000)
        for name in ("claude", "openai", "cursor")
    )
    config = EmulatorConfig(tokens=(TOKEN,), accounts=accounts, stream_framing="ndjson")
    async with Emulator(config) as emu:
        ids = [a.id for a in emu.dataset.accounts]
        async with Client(token=TOKEN, base_url=emu.url) as client:
            # Break out of plain loops, in both modes, and of a sweep.
            for mode in ("paged", "stream"):
                async for _ in client.list("usage-metering", "users", account=ids[0], mode=mode):
                    break
            async with contextlib.aclosing(
                client.pages("usage-metering", "users", account=ids[1])
            ) as pages:
                async for _ in pages:
                    break
            async with client.sweep("usage-metering", "users", accounts=ids) as sweep:
                async for _ in sweep:
                    break
            sweep2 = client.sweep("usage-metering", "users", accounts=ids)
            async for _ in sweep2:
                break
            await sweep2.wait_closed()
            # Run one to completion, then leave the client with a loop still open.
            async for _ in client.list("usage-metering", "users", account=ids[2]):
                pass
            abandoned = client.list("usage-metering", "users", account=ids[0])
            await anext(abandoned)
            await abandoned.aclose()
        gc.collect()


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
    print("clean exit")
