"""Parse floors of the tenant-scale scenario: the same bytes, parsed in memory.

Each floor fetches the bodies of its accounts first (untimed: every page of a paged
account, or each account's one stream response), then times only the parsing of them:
``orjson.loads`` into dicts (NDJSON: per line), or ``pyarrow.json.read_json`` over NDJSON
into an Arrow table (the columnar path's floor; pyarrow's default options, so its reader
threads count in the CPU time). Per record the work is the same trivial one as every other
side's: count it and read its ``id`` (for Arrow: the ``id`` column of each table).
"""

from __future__ import annotations

import asyncio
import gc
import io
from typing import Any, Final

from benchmarks.baselines import USERS_PATH, fetch_bodies, parse_whole
from benchmarks.timing import Stopwatch

__all__ = ["account_bodies", "orjson_floor", "pyarrow_floor"]

#: Accounts fetched at once while collecting the bodies (untimed).
FETCH_CONCURRENCY: Final = 16


async def account_bodies(args: dict[str, Any]) -> list[list[bytes]]:
    """Every body of every account in ``args["accounts"]`` (paged: following cursors)."""
    url = f"{args['url']}/{USERS_PATH}"
    stream = args["mode"] == "stream"
    extra = {str(k): str(v) for k, v in (args.get("params") or {}).items()}
    if stream:
        extra["truto_response_format"] = "stream"
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(account: str) -> list[bytes]:
        params = {"integrated_account_id": account, **extra}
        async with gate:
            return await fetch_bodies(url, args["token"], params, follow=not stream)

    return list(await asyncio.gather(*(one(a) for a in args["accounts"])))


def _framing(args: dict[str, Any]) -> str:
    return str(args.get("framing") or "envelope") if args["mode"] == "stream" else "envelope"


async def orjson_floor(args: dict[str, Any]) -> dict[str, Any]:
    """``orjson.loads`` of the same bodies the sweep receives, timed alone."""
    bodies = await account_bodies(args)
    framing = _framing(args)
    size = sum(len(body) for account in bodies for body in account)
    gc.collect()
    users = 0
    with Stopwatch() as sw:
        for account in bodies:
            for body in account:
                for user in parse_whole(body, framing):
                    users += 1
                    user["id"]
    return sw.result(users, bytes=size, bodies=sum(map(len, bodies)))


async def pyarrow_floor(args: dict[str, Any]) -> dict[str, Any]:
    """``pyarrow.json.read_json`` of the same NDJSON bodies into tables, timed alone."""
    import pyarrow.json as pa_json

    if _framing(args) != "ndjson":
        raise ValueError("the pyarrow.json floor reads NDJSON bodies only")
    bodies = await account_bodies(args)
    size = sum(len(body) for account in bodies for body in account)
    gc.collect()
    users = 0
    with Stopwatch() as sw:
        for account in bodies:
            for body in account:
                table = pa_json.read_json(io.BytesIO(body))
                users += table.num_rows
                table.column("id")
    return sw.result(users, bytes=size, bodies=sum(map(len, bodies)))
