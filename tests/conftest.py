"""Shared pytest set-up: anyio runs async tests on asyncio; the emulator and client fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import settings

from tests.support import FAST_RETRY, TOKEN, ClientFor, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import Emulator, EmulatorConfig

# Property tests are deterministic (the same examples on every run, in CI too) and free of
# per-example deadlines, which a loaded 2-core machine would trip at random.
settings.register_profile("project", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("project")

__all__ = ["EmulatorFactory"]  # re-exported for tests that still import it from here

#: What the ``emulator`` fixture uses unless a test overrides it.
EMULATOR_TEST_DEFAULTS: dict[str, Any] = {
    "seed": 1,
    "tokens": (TOKEN,),
    "tenants": 2,
    "accounts_per_integration": 2,
    "users": (10, 100),
    # High enough never to interfere; tests that exercise limits set their own.
    "token_limit": 1_000_000,
    "account_limit": 1_000_000,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorFactory]:
    """Async factory: ``emu = await emulator(**config_overrides)`` -> a started Emulator.

    Serves on 127.0.0.1 with a random free port in the test's event loop; token
    ``"test-token"``, small seeded data; every emulator started is stopped at teardown.
    """
    started: list[Emulator] = []

    async def factory(**overrides: Any) -> Emulator:
        config = EmulatorConfig(**{**EMULATOR_TEST_DEFAULTS, **overrides})
        emu = Emulator(config)
        await emu.start()
        started.append(emu)
        return emu

    try:
        yield factory
    finally:
        for emu in reversed(started):
            await emu.stop()


@pytest.fixture
def client_for() -> ClientFor:
    """``async with client_for(emu, **options) as client``: a Client on the emulator."""

    @asynccontextmanager
    async def make(emu: Emulator, **options: Any) -> AsyncIterator[Client]:
        options.setdefault("retry", FAST_RETRY)
        async with Client(token=TOKEN, base_url=emu.url, **options) as client:
            yield client

    return make
