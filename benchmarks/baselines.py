"""The baselines, as faithful plain code (each runs in its own child process).

(a) :func:`sdk_style_sweep` re-creates what the official ``truto-python-sdk`` 0.1.6 does
    on the wire: accounts one after another, pages one after another, a new
    ``aiohttp.ClientSession`` (so a new TCP connection) per page, the whole page parsed
    with ``await resp.json()`` (stdlib ``json``), and records handed out by a hand-written
    async iterator that does ``items.pop(0)`` per record.
(b) :func:`naive_gather` is what a competent user writes in an afternoon: one shared
    session, ``asyncio.gather`` over every account at once, each account walking its
    cursor sequentially, the whole body read and parsed with ``orjson.loads``.
(c) :func:`parse_ceilings` parses the very same bytes from memory with ``orjson.loads``
    and ``ijson.items`` (no network): the ceilings for a parser-bound client.

Every consumer does the same trivial work per record (count it, read its ``id``).
"""

from __future__ import annotations

import asyncio
import gc
import io
import re
import statistics
import time
from typing import Any, Final
from urllib.parse import quote_plus, urlencode

import aiohttp
import ijson
import orjson

from benchmarks.timing import Stopwatch

__all__ = [
    "fetch_bodies",
    "naive_first_record",
    "naive_gather",
    "naive_stream_ijson",
    "parse_ceilings",
    "sdk_style_sweep",
    "warm_pages",
]

USERS_PATH: Final = "unified/usage-metering/users"


# -- (a) the official SDK's approach ---------------------------------------------------


def _dict_to_query_string(params: dict[str, Any]) -> str:
    """The SDK's encoder for flat params: ``str()`` values, ``quote_plus``."""
    pairs = [
        (k, "true" if v is True else "false" if v is False else str(v)) for k, v in params.items()
    ]
    return urlencode(pairs, quote_via=quote_plus)


class _SdkStyleClient:
    """``TrutoApi._get``: a new session (and connection) per request, whole-body JSON."""

    def __init__(self, token: str, base_url: str) -> None:
        self.base_url = base_url
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    async def get(self, endpoint: str, params: dict[str, Any]) -> Any:
        """GET ``endpoint?params`` on a session of its own; the parsed JSON body."""
        url = f"{self.base_url}/{endpoint}"
        query = _dict_to_query_string(params) if params else ""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}?{query}", headers=self.headers) as response,
        ):
            response.raise_for_status()
            content_type = response.headers.get("Content-Type", "").lower()
            if "json" in content_type:
                return await response.json()
            if content_type.startswith("text/"):
                return await response.text()
            return await response.read()


class _SdkStylePages:
    """``PaginationResult``: an async iterator over ``items.pop(0)``, refetching when empty.

    Like the SDK it writes ``next_cursor`` into the caller's params dict.
    """

    def __init__(self, client: _SdkStyleClient, endpoint: str, params: dict[str, Any]) -> None:
        self.client = client
        self.endpoint = endpoint
        self.params = params
        self.next_cursor: str | None = None
        self.items: list[Any] = []
        self.initial_fetch_done = False

    def __aiter__(self) -> _SdkStylePages:
        return self

    async def __anext__(self) -> Any:
        if not self.initial_fetch_done:
            await self._fetch_next_page()
            self.initial_fetch_done = True
        if not self.items and self.next_cursor:
            await self._fetch_next_page()
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def _fetch_next_page(self) -> None:
        if self.next_cursor:
            self.params["next_cursor"] = self.next_cursor
        response = await self.client.get(self.endpoint, self.params)
        self.items = response.get("result", [])
        self.next_cursor = response.get("next_cursor")


async def sdk_style_sweep(args: dict[str, Any]) -> dict[str, Any]:
    """Baseline (a): every account, one after another, through the SDK's iterator."""
    client = _SdkStyleClient(args["token"], args["url"])
    users = 0
    with Stopwatch() as sw:
        for account in args["accounts"]:
            params = {"integrated_account_id": account, **args.get("params", {})}
            async for user in _SdkStylePages(client, USERS_PATH, params):
                users += 1
                user["id"]
    return sw.result(users)


# -- (b) naive concurrent ---------------------------------------------------------------


def parse_whole(body: bytes, framing: str) -> list[Any]:
    """Parse a whole body the naive way, knowing its framing in advance."""
    if framing == "ndjson":
        return [orjson.loads(line) for line in body.splitlines() if line.strip()]
    value = orjson.loads(body)
    if isinstance(value, list):
        return value
    result: list[Any] = value["result"]
    return result


async def naive_gather(args: dict[str, Any]) -> dict[str, Any]:
    """Baseline (b): ``asyncio.gather`` over all accounts, whole bodies, ``orjson.loads``.

    ``args["stream"]`` asks for ``truto_response_format=stream`` (one response per
    account, parsed whole with the framing given in ``args["framing"]``).
    """
    stream = bool(args.get("stream"))
    framing = args.get("framing", "envelope")
    url = f"{args['url']}/{USERS_PATH}"
    headers = {"Authorization": f"Bearer {args['token']}"}
    extra = {str(k): str(v) for k, v in args.get("params", {}).items()}

    async def one(session: aiohttp.ClientSession, account: str) -> int:
        count = 0
        cursor: str | None = None
        while True:
            params = {"integrated_account_id": account, **extra}
            if stream:
                params["truto_response_format"] = "stream"
            if cursor:
                params["next_cursor"] = cursor
            async with session.get(url, params=params) as response:
                response.raise_for_status()
                body = await response.read()
            if stream and framing != "page":
                records = parse_whole(body, framing)
                del body
                for user in records:
                    count += 1
                    user["id"]
                return count
            page = orjson.loads(body)
            for user in page["result"]:
                count += 1
                user["id"]
            cursor = page.get("next_cursor")
            if not cursor:
                return count

    with Stopwatch() as sw:
        async with aiohttp.ClientSession(headers=headers) as session:
            counts = await asyncio.gather(*(one(session, a) for a in args["accounts"]))
    return sw.result(sum(counts))


# -- (c) parser ceilings over the same bytes in memory -----------------------------------


async def fetch_bodies(
    url: str, token: str, params: dict[str, str], *, follow: bool
) -> list[bytes]:
    """GET whole bodies (untimed set-up for the ceilings), following ``next_cursor``."""
    timeout = aiohttp.ClientTimeout(total=None)
    headers = {"Authorization": f"Bearer {token}"}
    bodies: list[bytes] = []
    cursor: str | None = None
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        while True:
            query = dict(params, **({"next_cursor": cursor} if cursor else {}))
            async with session.get(url, params=query) as response:
                response.raise_for_status()
                bodies.append(await response.read())
            if not follow:
                return bodies
            cursor = orjson.loads(bodies[-1]).get("next_cursor")
            if not cursor:
                return bodies


_IJSON_PREFIX: Final = {"envelope": "result.item", "page": "result.item", "array": "item"}


def _ijson_count(bodies: list[bytes], framing: str) -> int:
    count = 0
    for body in bodies:
        if framing == "ndjson":
            items = ijson.items(io.BytesIO(body), "", multiple_values=True, use_float=True)
        else:
            items = ijson.items(io.BytesIO(body), _IJSON_PREFIX[framing], use_float=True)
        for user in items:
            count += 1
            user["id"]
    return count


def _orjson_count(bodies: list[bytes], framing: str) -> int:
    count = 0
    for body in bodies:
        for user in parse_whole(body, framing):
            count += 1
            user["id"]
    return count


class _MemorySource:
    """Hands out an in-memory body in network-sized chunks (a ``ByteSource``)."""

    def __init__(self, body: bytes, chunk: int = 2**16) -> None:
        self._view = memoryview(body)
        self._chunk = chunk

    async def read(self, n: int = -1) -> bytes:
        n = self._chunk if n < 0 else min(n, self._chunk)
        piece, self._view = self._view[:n], self._view[n:]
        return bytes(piece)


async def _library_count(bodies: list[bytes], framing: str) -> int:
    """Our own body parser (``truto_stream._parse``) over the bytes in memory.

    Diagnostic: it separates the parser's cost from the network path's. Bodies are
    handed over without a length, as a stream arrives, so the incremental path runs.
    """
    from truto_stream._parse import parse_body

    count = 0

    async def emit(records: list[Any]) -> None:
        nonlocal count
        for user in records:
            count += 1
            user["id"]

    content_type = "application/x-ndjson" if framing == "ndjson" else "application/json"
    for body in bodies:
        meta = await parse_body(
            _MemorySource(body), content_type=content_type, content_length=None, emit=emit
        )
        await emit(meta.records)
    return count


async def parse_ceilings(args: dict[str, Any]) -> dict[str, Any]:
    """Ceilings (c): fetch the bodies (untimed), then time each parser over them in memory.

    ``args["parsers"]`` picks among ``orjson``, ``ijson`` and ``library`` (our parser).
    ``args["stream"]`` fetches the stream response (the ``page`` framing and paged mode
    follow ``next_cursor``).
    """
    url = f"{args['url']}/{USERS_PATH}"
    params = {"integrated_account_id": args["accounts"][0]}
    params.update({str(k): str(v) for k, v in args.get("params", {}).items()})
    stream = bool(args.get("stream"))
    framing = args.get("framing", "envelope") if stream else "page"
    if stream:
        params["truto_response_format"] = "stream"
    bodies = await fetch_bodies(url, args["token"], params, follow=framing == "page")
    out: dict[str, Any] = {"bytes": sum(map(len, bodies)), "bodies": len(bodies)}
    for parser in args.get("parsers", ("orjson", "ijson")):
        gc.collect()
        with Stopwatch() as sw:
            if parser == "library":
                users = await _library_count(bodies, framing)
            else:
                users = (_orjson_count if parser == "orjson" else _ijson_count)(bodies, framing)
        out[parser] = sw.result(users)
    return out


async def naive_first_record(args: dict[str, Any]) -> dict[str, Any]:
    """(b)'s time to first record: one page GET + ``orjson.loads``; and a gather's first.

    Same protocol as :func:`benchmarks.ours.ours_first_record`: ``repeat`` tries on one
    session (the first one opens the connection), then ``repeat`` gathers over all
    accounts' first pages, each on a new session, timed to the first page parsed.
    """
    repeat = int(args.get("repeat", 5))
    accounts: list[str] = args["accounts"]
    url = f"{args['url']}/{USERS_PATH}"
    extra = {str(k): str(v) for k, v in args.get("params", {}).items()}
    lists: list[float] = []
    gathers: list[float] = []
    headers = {"Authorization": f"Bearer {args['token']}"}

    async def first_page(session: aiohttp.ClientSession, account: str) -> Any:
        params = {"integrated_account_id": account, **extra}
        async with session.get(url, params=params) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())["result"][0]

    async with aiohttp.ClientSession(headers=headers) as s:
        for i in range(repeat):
            t0 = time.perf_counter()
            await first_page(s, accounts[i % len(accounts)])
            lists.append(time.perf_counter() - t0)
    for _ in range(repeat):
        async with aiohttp.ClientSession(headers=headers) as s:
            t0 = time.perf_counter()
            tasks = [asyncio.ensure_future(first_page(s, a)) for a in accounts]
            _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            gathers.append(time.perf_counter() - t0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "list_first_s": lists,
        "list_cold_s": lists[0],
        "list_warm_median_s": statistics.median(lists[1:] or lists),
        "sweep_median_s": statistics.median(gathers),
        "sweep_s": gathers,
    }


_NEXT_CURSOR = re.compile(rb'"next_cursor":(null|"([^"]*)")')


async def warm_pages(args: dict[str, Any]) -> dict[str, Any]:
    """Untimed warm-up: fetch every page of every account without parsing the records.

    Fills the emulator's page cache so that measured sides are not charged for its first
    rendering; the cursor is read from the end of each body.
    """
    url = f"{args['url']}/{USERS_PATH}"
    extra = {str(k): str(v) for k, v in args.get("params", {}).items()}
    pages = 0

    async def one(session: aiohttp.ClientSession, account: str) -> None:
        nonlocal pages
        cursor: str | None = None
        while True:
            params = {"integrated_account_id": account, **extra}
            if cursor:
                params["next_cursor"] = cursor
            async with session.get(url, params=params) as response:
                response.raise_for_status()
                body = await response.read()
            pages += 1
            found = _NEXT_CURSOR.search(body, max(0, len(body) - 4096))
            cursor = found.group(2).decode() if found and found.group(2) else None
            if not cursor:
                return

    with Stopwatch() as sw:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {args['token']}"}) as s:
            await asyncio.gather(*(one(s, a) for a in args["accounts"]))
    return {"wall_s": sw.wall, "pages": pages}


async def naive_stream_ijson(args: dict[str, Any]) -> dict[str, Any]:
    """(b') the obvious streaming client: ``ijson.items_async`` straight over aiohttp.

    One stream response, ``ijson.items_async(resp.content, prefix)`` with the framing known
    in advance, no batching, no hand-off between tasks: the floor of what streaming over
    this network path costs. (Not for the ``page`` framing, whose cursor it cannot see.)
    """
    framing = args.get("framing", "envelope")
    prefix = {"envelope": "result.item", "array": "item", "ndjson": ""}[framing]
    url = f"{args['url']}/{USERS_PATH}"
    params = {"integrated_account_id": args["accounts"][0], "truto_response_format": "stream"}
    headers = {"Authorization": f"Bearer {args['token']}"}
    timeout = aiohttp.ClientTimeout(total=None)
    users = 0
    with Stopwatch() as sw:
        async with (
            aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
            session.get(url, params=params) as response,
        ):
            response.raise_for_status()
            async for user in ijson.items_async(
                response.content, prefix, use_float=True, multiple_values=framing == "ndjson"
            ):
                users += 1
                user["id"]
    return sw.result(users)
