"""What scrubbing the token out of bodies costs: the same 100 MB stream, with and without.

``python tools/bench_body_scrub.py [--mb 100] [--rounds 5]`` serves one envelope of
emulator users (about ``--mb`` MB, no Content-Length, so the client slices it as it
arrives) from a child process, and reads it with ``Client.list`` in this process,
alternating two clients: one whose token is too short to be searched for in bodies
(:data:`truto_stream._scrub.MIN_FORM_BYTES`: exactly the code path without scrubbing)
and one with a 36-character token (every body goes through the scrubber). It prints each
round's time and the median overhead, then the scrubber alone over the same bytes in
64 KiB and 16 KiB chunks. Relative figures only: run it on an idle machine for absolute ones.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from typing import Any

import orjson

from truto_stream import Client
from truto_stream._redact import Redactor
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig

OLD_TOKEN = "old-tok"  # 7 bytes: below MIN_FORM_BYTES, bodies are not scrubbed
NEW_TOKEN = "3f2c1a9e-5b7d-4c8e-9a1f-0e2d3c4b5a69"


def build_body(megabytes: int) -> bytes:
    config = EmulatorConfig(
        accounts=(AccountSpec(integration="claude", tenant_id="t", users=5000),)
    )
    dataset = Dataset(config)
    users = list(dataset.users(dataset.accounts[0].id))
    block = orjson.dumps(users)[1:-1]
    copies = max(1, megabytes * 10**6 // len(block))
    return b'{"result": [' + b",".join([block] * copies) + b'], "next_cursor": null}'


def serve(body: bytes, port: Any, ready: Any) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        writer.write(head)
        view = memoryview(body)
        for i in range(0, len(body), 2**18):
            writer.write(view[i : i + 2**18])
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port.value = server.sockets[0].getsockname()[1]
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


async def read_once(url: str, token: str) -> tuple[float, int]:
    records = 0
    async with Client(token=token, base_url=url, rate_limits=None) as client:
        started = time.perf_counter()
        async for page in client.pages("usage-metering", "users", account="a"):
            records += len(page.records)
    return time.perf_counter() - started, records


def scrubber_alone(body: bytes, chunk: int) -> float:
    forms = Redactor([NEW_TOKEN]).body_forms
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    scrubber = forms.scrubber()
    started = time.perf_counter()
    out = [scrubber.feed(c) for c in chunks]
    out.append(scrubber.end())
    elapsed = time.perf_counter() - started
    assert sum(map(len, out)) == len(body)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    body = build_body(args.mb)
    port, ready = multiprocessing.Value("i", 0), multiprocessing.Event()
    child = multiprocessing.Process(target=serve, args=(body, port, ready), daemon=True)
    child.start()
    ready.wait(30)
    url = f"http://127.0.0.1:{port.value}"
    print(f"body: {len(body) / 1e6:.1f} MB")
    times: dict[str, list[float]] = {"old": [], "new": []}
    try:
        for i in range(args.rounds):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for side in order:
                token = OLD_TOKEN if side == "old" else NEW_TOKEN
                elapsed, records = asyncio.run(read_once(url, token))
                times[side].append(elapsed)
                print(f"round {i + 1} {side}: {elapsed:.3f} s ({records:,} records)")
    finally:
        child.terminate()
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"median old {old:.3f} s, new {new:.3f} s: {100 * (new - old) / old:+.1f}%")
    for chunk in (2**16, 2**14):
        alone = scrubber_alone(body, chunk)
        print(f"scrubber alone, {chunk // 1024} KiB chunks: {alone:.3f} s per body")


if __name__ == "__main__":
    main()
