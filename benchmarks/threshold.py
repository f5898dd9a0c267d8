"""Where the whole-body orjson path stops paying: per-user parse cost by body size.

``python -m benchmarks.threshold`` parses unified envelopes of growing size from memory
through the library's two paths for bodies (``parse_body`` with a known length under
the threshold, i.e. one ``orjson.loads``; and the incremental path for unknown lengths:
runs of whole records, each one ``orjson.loads``), next to ``ijson.items``. The library's
``ORJSON_MAX_BYTES`` is chosen from this table.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from functools import partial

import anyio
import ijson
import orjson

from truto_stream._parse import ORJSON_MAX_BYTES, parse_body
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig


class _Source:
    """The body in 64 KiB reads, like a network stream."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    async def read(self, n: int = -1) -> bytes:
        size = 2**16 if n < 0 else min(n, 2**16)
        chunk = bytes(self._data[self._at : self._at + size])
        self._at += len(chunk)
        return chunk


def _ours(body: bytes, *, whole: bool) -> int:
    async def run() -> int:
        count = 0

        async def emit(records: list[object]) -> None:
            nonlocal count
            count += len(records)

        meta = await parse_body(
            _Source(body),
            content_type="application/json",
            content_length=len(body) if whole else None,
            emit=emit,
            whole=whole,
        )
        return count + len(meta.records)

    return anyio.run(run, backend="asyncio")


def _ijson(body: bytes) -> int:
    return sum(1 for _ in ijson.items(io.BytesIO(body), "result.item", use_float=True))


def _best_us_per_user(fn: Callable[[], int], users: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            assert fn() == users
        best = min(best, (time.perf_counter() - start) / repeat / users * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,3000,10000,30000", help="users per body")
    args = parser.parse_args()
    config = EmulatorConfig(
        accounts=(AccountSpec(integration="claude", tenant_id="t", users=30_000),)
    )
    dataset = Dataset(config)
    account = dataset.accounts[0].id
    print(f"ORJSON_MAX_BYTES = {ORJSON_MAX_BYTES:,} bytes\n")
    print("| users | body | whole orjson µs/user | runs of records µs/user | ijson µs/user |")
    print("|---|---|---|---|---|")
    for users in (int(s) for s in args.sizes.split(",")):
        envelope = {"result": list(dataset.users(account, 0, users)), "next_cursor": None}
        body = orjson.dumps(envelope)
        repeat = max(1, 30_000 // users)
        whole = _best_us_per_user(partial(_ours, body, whole=True), users, repeat)
        runs = _best_us_per_user(partial(_ours, body, whole=False), users, repeat)
        stock = _best_us_per_user(partial(_ijson, body), users, repeat)
        print(
            f"| {users:,} | {len(body) / 2**20:.2f} MiB | {whole:.2f} | {runs:.2f} | {stock:.2f} |"
        )


if __name__ == "__main__":
    main()
