"""Measure the emulator's speed (not a test: no timing assertions anywhere).

    .venv/bin/python -m tests.emulator.speed [--users 300000] [--pages 2000]

Prints: render cost of one 100-user page (uncached and cached) per integration; server
CPU per 100-user page served over HTTP (the emulator in its own process, CPU read from
/proc); stream throughput on loopback per framing (client discards the bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import aiohttp

from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.render import Renderer

TOKEN = "speed-token"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def render_costs(pages: int) -> None:
    print("render one 100-user page (in process, no HTTP, CPU time):")
    for integration in ("claude", "openai", "cursor"):
        ds = Dataset(
            EmulatorConfig(
                accounts=(AccountSpec(integration=integration, tenant_id="t", users=10**6),)
            )
        )
        renderer = Renderer(ds)
        acc = ds.accounts[0]
        renderer.records(acc, 0, 1)  # build the slot templates once
        t0 = time.process_time()
        for k in range(pages):
            renderer.cached_records(acc, k * 100, k * 100 + 100, frozenset())
        uncached = (time.process_time() - t0) / pages
        t0 = time.process_time()
        for k in range(pages):
            renderer.cached_records(acc, k * 100, k * 100 + 100, frozenset())
        cached = (time.process_time() - t0) / pages
        size = len(renderer.records(acc, 0, 100))
        print(
            f"  {integration:7s} {uncached * 1e3:6.3f} ms uncached, {cached * 1e6:6.2f} us cached,"
            f" {size / 1024:5.1f} KiB/page, {size / uncached / 1e6:6.0f} MB/s render"
        )


async def served_pages(url: str, pid: int, accounts: list[str], pages: int) -> None:
    print(
        f"server CPU per 100-user page over HTTP ({pages} pages walked by one keep-alive client):"
    )
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        for acc in accounts:  # warm-up: per-seed slot tables and templates, built once
            params = {"integrated_account_id": acc, "limit": "7"}
            async with s.get(url + "/unified/usage-metering/users", params=params) as r:
                await r.read()
        for label in ("first walk (renders)", "second walk (cached)"):
            for acc in accounts:
                cpu0 = _cpu_seconds(pid)
                t0 = time.perf_counter()
                cursor = None
                for _ in range(pages):
                    params = {"integrated_account_id": acc, "limit": "100"}
                    if cursor:
                        params["next_cursor"] = cursor
                    async with s.get(url + "/unified/usage-metering/users", params=params) as r:
                        body = await r.read()
                    cursor = body.rsplit(b'"next_cursor":"', 1)[1].split(b'"', 1)[0].decode()
                wall = time.perf_counter() - t0
                cpu = _cpu_seconds(pid) - cpu0
                print(
                    f"  {label:22s} {acc:8s} {cpu / pages * 1e3:6.3f} ms server CPU/page,"
                    f" {pages / wall:6.0f} pages/s"
                )


async def streams(url: str, pid: int, accounts: list[str]) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        for acc in accounts:
            params = {"integrated_account_id": acc, "truto_response_format": "stream"}
            cpu0 = _cpu_seconds(pid)
            t0 = time.perf_counter()
            total = 0
            async with s.get(url + "/unified/usage-metering/users", params=params) as r:
                async for chunk in r.content.iter_chunked(1 << 20):
                    total += len(chunk)
            wall = time.perf_counter() - t0
            cpu = _cpu_seconds(pid) - cpu0
            mb = total / 1e6
            print(
                f"  {acc:8s} {mb:6.1f} MB in {wall:5.2f} s = {mb / wall:4.0f} MB/s wall;"
                f" server CPU {cpu:5.2f} s = {mb / max(cpu, 1e-9):4.0f} MB per CPU-s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300_000, help="users in the stream test")
    parser.add_argument("--pages", type=int, default=2000, help="pages in the render tests")
    args = parser.parse_args()
    render_costs(args.pages)
    specs = tuple(
        AccountSpec(integration=i, tenant_id="t", users=args.users, id=i)
        for i in ("claude", "openai", "cursor")
    )
    for framing in ("ndjson", "envelope", "array"):
        config = EmulatorConfig(
            tokens=(TOKEN,), accounts=specs, token_limit=0, account_limit=0, stream_framing=framing
        )
        with EmulatorProcess(config) as proc:
            if framing == "ndjson":
                pages = min(args.pages, args.users // 100)
                asyncio.run(served_pages(proc.url, proc.pid, ["claude", "openai"], pages))
            print(f"stream throughput on loopback, framing={framing}, {args.users} users:")
            asyncio.run(streams(proc.url, proc.pid, ["claude", "openai", "cursor"]))


if __name__ == "__main__":
    main()
