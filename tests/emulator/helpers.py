"""Small HTTP helpers for the emulator contract tests (real aiohttp over loopback)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tests.support import TOKEN
from truto_stream.emulator import Emulator

USERS = "/unified/usage-metering/users"
Params = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass
class Reply:
    """A whole response: status, headers, body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def get(
    emu: Emulator,
    path: str,
    params: Params | None = None,
    *,
    token: str | None = TOKEN,
) -> Reply:
    """GET ``path`` with a bearer token; reads the whole body."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(emu.url + path, params=params, headers=headers) as resp,
    ):
        body = await resp.read()
        return Reply(resp.status, dict(resp.headers), body)


async def users_page(emu: Emulator, account_id: str, **params: str) -> Reply:
    """One page of the unified users route."""
    return await get(emu, USERS, {"integrated_account_id": account_id, **params})


async def walk(emu: Emulator, account_id: str, **params: str) -> list[dict[str, Any]]:
    """Every record of an account by following ``next_cursor`` (unified format)."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for _ in range(100_000):
            q = {"integrated_account_id": account_id, **params}
            if cursor is not None:
                q["next_cursor"] = cursor
            async with session.get(emu.url + USERS, params=q) as resp:
                assert resp.status == 200, await resp.text()
                page = orjson.loads(await resp.read())
            out.extend(page["result"])
            assert page["result_count"] == len(page["result"])
            cursor = page["next_cursor"]
            if cursor is None:
                return out
    raise AssertionError("too many pages")
