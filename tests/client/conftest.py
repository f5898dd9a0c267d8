"""Fixtures for client tests: a Client bound to an in-process emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from truto_stream import Client
from truto_stream._retry import RetryPolicy

TOKEN = "test-token"

#: Fast retries for tests: real backoff shape, tiny delays.
FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01, max_retry_after=0.05)


@pytest.fixture
def client_for() -> Callable[..., AbstractAsyncContextManager[Client]]:
    """``async with client_for(emu, **options) as client`` — a Client on the emulator."""

    @asynccontextmanager
    async def make(emu: Any, **options: Any) -> AsyncIterator[Client]:
        options.setdefault("retry", FAST_RETRY)
        async with Client(token=TOKEN, base_url=emu.url, **options) as client:
            yield client

    return make
