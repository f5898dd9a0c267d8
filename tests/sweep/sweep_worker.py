"""A sweep in its own process, for kill -9 tests: records go to a file as they arrive.

Usage: python -m tests.sweep.sweep_worker URL CHECKPOINT OUTPUT ACCOUNT_ID...
(the token comes from $TRUTO_API_TOKEN). Each batch is written and flushed before the
next is pulled: what the sweep commits has always reached the file first.
"""

from __future__ import annotations

import sys

import anyio
import orjson

from truto_stream import Client
from truto_stream._retry import RetryPolicy


async def main(url: str, checkpoint: str, output: str, accounts: list[str]) -> None:
    retry = RetryPolicy(base_delay=0.001, max_delay=0.01, max_retry_after=0.05)
    async with (
        Client(base_url=url, retry=retry) as client,
        client.sweep(
            "usage-metering",
            "users",
            accounts=accounts,
            params={"limit": 100},
            concurrency=4,
            checkpoint=checkpoint,
        ) as sweep,
    ):
        # Plain blocking writes on purpose: each batch is on disk before the next pull.
        with open(output, "ab") as out:  # noqa: ASYNC230
            async for account_id, records in sweep.batches():
                out.write(b"".join(orjson.dumps([account_id, r["id"]]) + b"\n" for r in records))
                out.flush()
    sys.exit(0 if sweep.report.ok else 1)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:], backend="asyncio")
