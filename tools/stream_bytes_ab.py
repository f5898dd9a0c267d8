"""Does this emulator send the same stream responses as another checkout's? Chunk by chunk.

``python tools/stream_bytes_ab.py --other-python /work/main/.venv/bin/python`` starts both
emulators (each its own interpreter's ``truto_stream``) with the same configuration, for
every stream framing, two ``stream_batch`` sizes and three fault settings (none, seeded
``malformed`` and ``cut`` faults), and asks both for the same stream requests (fields,
dates, ``truto_key_by``, ``limit``), each twice (a retried request; the second is served
from the page cache here). Every response's status and HTTP chunks must be equal; a body
cut by a fault must fail the same way. Exit status 1 on the first difference.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from truto_stream.emulator import Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.config import StreamFraming

USERS = "/unified/usage-metering/users"
TOKEN = "stream-bytes-ab"
VARIANTS: tuple[dict[str, str], ...] = (
    {},
    {"truto_ignore_remote_data": "true", "truto_exclude_fields[0]": "emails"},
    {"date": "2026-11-11"},
    {"date": "2026-10-20", "truto_exclude_fields[0]": "name"},
    {"truto_key_by": "email"},
    {"limit": "37"},
)


async def _chunks(url: str, params: dict[str, str]) -> tuple[Any, ...]:
    """(status, HTTP chunks), or how reading the body failed."""
    try:
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session,
            session.get(url + USERS, params=params) as resp,
        ):
            chunks, part = [], b""
            async for data, end_of_chunk in resp.content.iter_chunks():
                part += data
                if end_of_chunk and part:
                    chunks.append(part)
                    part = b""
            return resp.status, chunks, part
    except aiohttp.ClientPayloadError as exc:
        return ("payload error", type(exc).__name__)


async def _compare(urls: list[str], config: EmulatorConfig) -> int:
    """Every request against both emulators; the number of equal responses."""
    seen = 0
    for account in [a.id for a in Dataset(config).accounts][:8]:
        for variant in VARIANTS:
            params = {"integrated_account_id": account, "truto_response_format": "stream"}
            params.update(variant)
            for attempt in range(2):
                mine, other = [await _chunks(url, params) for url in urls]
                if mine != other:
                    raise AssertionError(f"differ: {config.stream_framing} {params} #{attempt}")
                seen += 1
    return seen


def main(argv: Sequence[str] | None = None) -> int:
    """Compare the two emulators; print how many responses were equal."""
    parser = argparse.ArgumentParser(prog="tools/stream_bytes_ab.py", description=__doc__)
    parser.add_argument("--other-python", required=True)
    ns = parser.parse_args(argv)
    # ``-m`` children: neither the working directory nor PYTHONPATH may pick the library.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONSAFEPATH"] = "1"
    framings: tuple[StreamFraming, ...] = ("envelope", "ndjson", "array", "page")
    faults = ("", "malformed:7000@0.5", "cut:9000@0.3")
    seen = 0
    for framing, batch, fault in itertools.product(framings, (512, 37), faults):
        config = EmulatorConfig(
            seed=3, tokens=(TOKEN,), users=(300, 2500), token_limit=0, account_limit=0,
            stream_framing=framing, stream_batch=batch, faults=fault, today="2026-11-30",
        )  # fmt: skip
        procs = [
            EmulatorProcess(config, python=p, env=env) for p in (sys.executable, ns.other_python)
        ]
        for proc in procs:
            proc.start()
        try:
            seen += asyncio.run(_compare([proc.url for proc in procs], config))
        except AssertionError as exc:
            print(exc)
            return 1
        finally:
            for proc in procs:
                proc.stop()
    print(f"{seen} stream responses, the same status and chunks from both emulators")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
