"""Parse cost of one large record: time per MB should stay flat (linear in the size).

``python -m benchmarks.large_records`` builds a stream envelope holding one small record,
one large nested record (a user whose ``remote_data`` lists thousands of user-like
members, as the emulator generates them) and another small one, then parses it through
the library's read loop (:func:`truto_stream._parse.parse_body`) from memory, handed
over in network-sized chunks with no length (so the incremental path runs). It prints
the median time per size and the time per MB; roughly constant means linear. (Before
the sans-IO decoder: 2 / 4 / 8 / 16 MB took 2.4 / 11.8 / 55 / 211 s.)
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

import anyio
import orjson

from truto_stream._parse import parse_body
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig


class _Chunks:
    """The body in reads of at most ``chunk`` bytes, like a network stream."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._view = memoryview(data)
        self._chunk = chunk

    async def read(self, n: int = -1) -> bytes:
        size = self._chunk if n < 0 else min(n, self._chunk)
        piece, self._view = self._view[:size], self._view[size:]
        return bytes(piece)


def envelope(size: int) -> bytes:
    """A stream envelope whose middle record is about ``size`` bytes of nested JSON."""
    config = EmulatorConfig(accounts=(AccountSpec(integration="claude", tenant_id="t", users=500),))
    dataset = Dataset(config)
    members = [orjson.dumps(user) for user in dataset.users(dataset.accounts[0].id, 0, 500)]
    parts: list[bytes] = []
    total = 0
    while total < size:
        member = members[len(parts) % len(members)]
        parts.append(member)
        total += len(member) + 1
    record = b'{"id":"big","remote_data":{"members":[' + b",".join(parts) + b"]}}"
    return b'{"result":[{"id":"a"},' + record + b',{"id":"z"}],"next_cursor":null}'


def parse_seconds(body: bytes, chunk: int) -> float:
    async def run() -> float:
        seen: list[Any] = []

        async def emit(records: list[Any]) -> None:
            seen.extend(record["id"] for record in records)

        start = time.perf_counter()
        meta = await parse_body(
            _Chunks(body, chunk), content_type="application/json", content_length=None, emit=emit
        )
        elapsed = time.perf_counter() - start
        seen.extend(record["id"] for record in meta.records)
        assert seen == ["a", "big", "z"], seen
        return elapsed

    return anyio.run(run, backend="asyncio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1,4,16", help="record sizes in MB")
    parser.add_argument("--chunk", type=int, default=2**16, help="bytes per read")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    args = parser.parse_args()
    print(f"one record in a stream envelope, read {args.chunk:,} bytes at a time\n")
    print("| record | body | median s | ms per MB |")
    print("|---|---|---|---|")
    per_mb = []
    for mb in (float(s) for s in args.sizes.split(",")):
        body = envelope(int(mb * 2**20))
        times = []
        for _ in range(args.repeat):
            gc.collect()
            times.append(parse_seconds(body, args.chunk))
        median = statistics.median(times)
        per_mb.append(median / (len(body) / 2**20) * 1e3)
        print(f"| {mb:g} MB | {len(body) / 2**20:.1f} MiB | {median:.3f} | {per_mb[-1]:.1f} |")
    print(f"\nms per MB, largest / smallest: {per_mb[-1] / per_mb[0]:.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
