"""Names shared by the test packages (fixtures live in tests/conftest.py).

Tests import from here, never from a conftest: a conftest is pytest's to load.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Final
from urllib.parse import quote, quote_plus

from truto_stream import Client
from truto_stream._retry import RetryPolicy
from truto_stream.emulator import Emulator

#: The token the ``emulator`` fixture accepts (tests of secrets use their own, odder ones).
TOKEN: Final = "test-token"

#: Fast retries for tests: real backoff shape, tiny delays.
FAST_RETRY: Final = RetryPolicy(
    max_attempts=8, base_delay=0.001, max_delay=0.01, max_retry_after=0.05
)

#: ``emu = await emulator(**config_overrides)``: the ``emulator`` fixture.
EmulatorFactory = Callable[..., Awaitable[Emulator]]

#: ``async with client_for(emu, **options) as client``: the ``client_for`` fixture.
ClientFor = Callable[..., AbstractAsyncContextManager[Client]]

__all__ = ["FAST_RETRY", "TOKEN", "ClientFor", "EmulatorFactory", "echo_forms", "frozen_heap"]


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """The test process's own objects kept out of the collector's way for a timed section.

    Late in the suite the test process holds ~230,000 objects (every extra imported, every
    earlier test's leftovers); one full collection of them inside a section timed against
    a rate limit adds its pause to the measurement (0.58 s on the busy 2-core machine,
    caught by a ``gc.callbacks`` spy). Frozen, they are skipped; what the section itself
    allocates is collected as usual. (``tune_gc=True`` does the same for a user's sweep.)
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def echo_forms(token: str) -> list[str]:
    """Every form of ``token`` a server might echo, computed here and not by the library.

    The token, its ``Bearer`` header value and the whole header line, each raw,
    URL-encoded (three ways), JSON-escaped (with and without escaped slashes), hex and
    base64 (standard, URL-safe, unpadded).
    """
    forms: list[str] = []
    bearer = f"Bearer {token}"
    for text in (token, bearer, f"Authorization: {bearer}"):
        raw = text.encode()
        forms += [
            text,
            quote(text, safe=""),
            quote(text),
            quote_plus(text),
            json.dumps(text)[1:-1],
            json.dumps(text).replace("/", "\\/")[1:-1],
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
        ]
    return forms
