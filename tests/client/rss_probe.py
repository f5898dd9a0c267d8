"""Consume one account's stream and print the peak RSS in KiB (for the memory test).

Usage: python -m tests.client.rss_probe URL ACCOUNT_ID MODE
"""

from __future__ import annotations

import sys

import anyio

from truto_stream import Client, TrutoError


async def main(url: str, account: str, mode: str) -> None:
    """Print the record count (or the error's type, if the list fails) and the peak RSS."""
    count = 0
    async with Client(token="test-token", base_url=url) as client:
        try:
            async for _ in client.list("usage-metering", "users", account=account, mode=mode):  # type: ignore[arg-type]
                count += 1
        except TrutoError as exc:
            print(type(exc).__name__, peak_rss_kib())
            return
    print(count, peak_rss_kib())


def peak_rss_kib() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent
    across fork and exec, so a child of a big pytest process would report the parent's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    url, account, mode = sys.argv[1:4]
    anyio.run(main, url, account, mode, backend="asyncio")
