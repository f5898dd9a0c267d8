"""A pytest plugin: the local Truto emulator as a fixture, for your own service's tests.

Installing truto-stream registers it (the ``pytest11`` entry point ``truto_stream``)::

    @pytest.mark.truto_emulator(users=250, faults="502@#1")
    def test_my_sync_job(truto_emulator):
        assert my_job(base_url=truto_emulator.url, token=truto_emulator.token) == 250 * 6

The emulator serves on 127.0.0.1, on a free port, from an event loop in a thread of its
own, so the test may be synchronous or use any async framework (anyio, pytest-asyncio,
trio): its client just talks HTTP to ``.url``. It is started for the tests that ask for
the fixture, and stopped after each of them; a test suite that does not use it only pays
for the marker's registration. See docs/testing.md.

Options (the ``truto_emulator`` marker's keywords, or the factory's): every
:class:`~truto_stream.emulator.EmulatorConfig` field (``seed``, ``faults``,
``token_limit``, ``latency_ms``, ``tokens``...), and these shorthands:

- ``accounts``: an int (active accounts per integration) or a sequence of
  :class:`~truto_stream.emulator.AccountSpec` (or of their keyword dicts);
- ``users``: an int (users of every account) or a ``(min, max)`` range;
- ``framing``: the stream framing (``"envelope"``, ``"ndjson"``, ``"array"``, ``"page"``).

Markers on the module, class and function are merged, the closest winning.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

if TYPE_CHECKING:
    from truto_stream.emulator import Account, Dataset, Emulator, EmulatorConfig

__all__ = [
    "EmulatorFactory",
    "TrutoEmulator",
    "emulator_config",
    "running_emulator",
    "truto_emulator",
    "truto_emulator_factory",
]

MARKER = "truto_emulator"


class TrutoEmulator:
    """A running emulator, seen from a test.

    ``url`` and ``token`` are what the service under test needs; ``dataset`` computes
    what the emulator serves (``dataset.users(account_id)``: the unified records, in
    order); ``stats`` is what it has served so far (the same dict as
    ``GET /_emulator/stats``: requests by account and status, faults injected, 429s...).
    """

    def __init__(self, emulator: Emulator, portal: BlockingPortal, dataset: Dataset) -> None:
        self._emulator = emulator
        self._portal = portal
        self.config: EmulatorConfig = emulator.config
        self.url: str = emulator.url
        self.token: str = self.config.tokens[0]
        # Its own copy (a pure function of the config): nothing is shared with the
        # server's thread.
        self.dataset = dataset

    def __repr__(self) -> str:
        return f"TrutoEmulator(url={self.url!r})"

    @property
    def accounts(self) -> list[Account]:
        """Every integrated account the emulator serves (``dataset.accounts``)."""
        return self.dataset.accounts

    @property
    def stats(self) -> dict[str, Any]:
        """What the emulator has served so far (read in its own thread)."""
        return self._portal.call(self._emulator.stats_snapshot)

    def reset_stats(self, *, rate_limits: bool = False, faults: bool = False) -> None:
        """Zero the stats (and, if asked, the rate-limit windows and fault counters)."""
        reset = functools.partial(
            self._emulator.reset_stats, rate_limits=rate_limits, faults=faults
        )
        self._portal.call(reset)

    def wait_idle(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait until no response is in progress and no connection is open; the stats."""
        return self._portal.call(self._emulator.wait_idle, timeout)


#: ``truto_emulator_factory``: ``factory(**options) -> TrutoEmulator`` (started).
EmulatorFactory = Callable[..., TrutoEmulator]


def emulator_config(options: Mapping[str, Any]) -> EmulatorConfig:
    """The :class:`EmulatorConfig` for the plugin's options (shorthands resolved)."""
    from truto_stream.emulator import AccountSpec, EmulatorConfig

    fields = dict(options)
    accounts = fields.pop("accounts", None)
    if isinstance(accounts, int):
        fields["accounts_per_integration"] = accounts
    elif accounts is not None:
        fields["accounts"] = tuple(_account_spec(spec, AccountSpec) for spec in accounts)
    users = fields.get("users")
    if isinstance(users, int):
        fields["users"] = (users, users)
    elif isinstance(users, Sequence):
        fields["users"] = tuple(users)
    if "framing" in fields:
        fields["stream_framing"] = fields.pop("framing")
    if isinstance(fields.get("tokens"), str):
        fields["tokens"] = (fields["tokens"],)
    try:
        return EmulatorConfig(**fields)
    except TypeError as exc:  # an unknown keyword: say which options exist
        raise pytest.UsageError(f"truto_emulator: {exc}; see truto_stream.testing") from None


def _account_spec(spec: Any, cls: type[Any]) -> Any:
    return spec if isinstance(spec, cls) else cls(**spec)


@contextlib.contextmanager
def running_emulator(config: EmulatorConfig) -> Iterator[TrutoEmulator]:
    """Serve ``config`` from an event loop in a thread until the block ends."""
    from truto_stream.emulator import Dataset, Emulator

    dataset = Dataset(config)
    with start_blocking_portal(backend="asyncio") as portal:
        emulator = portal.call(Emulator, config)  # built in the loop that serves it
        with portal.wrap_async_context_manager(emulator):
            yield TrutoEmulator(emulator, portal, dataset)


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):  # farthest first
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keywords only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def truto_emulator_factory() -> Iterator[EmulatorFactory]:
    """``factory(**options)`` starts an emulator (:class:`TrutoEmulator`); all are stopped
    at the end of the test. For more than one emulator, or options computed in the test."""
    with contextlib.ExitStack() as stack:

        def factory(**options: Any) -> TrutoEmulator:
            return stack.enter_context(running_emulator(emulator_config(options)))

        yield factory


@pytest.fixture
def truto_emulator(
    request: pytest.FixtureRequest, truto_emulator_factory: EmulatorFactory
) -> TrutoEmulator:
    """An emulator for this test, configured by its ``truto_emulator`` markers."""
    return truto_emulator_factory(**_marker_options(request.node))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): configure the truto_emulator fixture (EmulatorConfig fields, "
        "accounts=, users=, framing=; see truto_stream.testing)",
    )
