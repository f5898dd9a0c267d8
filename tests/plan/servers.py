"""Helpers for plan tests: the emulator's stats over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp


async def stats_of(url: str, *, reset: bool = False) -> dict[str, Any]:
    """``GET /_emulator/stats`` (after ``POST /_emulator/reset?rate_limits=true`` if asked)."""
    async with aiohttp.ClientSession() as session:
        if reset:
            async with session.post(f"{url}/_emulator/reset?rate_limits=true") as response:
                await response.read()
        async with session.get(f"{url}/_emulator/stats") as response:
            data: dict[str, Any] = await response.json()
    return data
