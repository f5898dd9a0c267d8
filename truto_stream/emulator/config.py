"""Emulator configuration: one frozen dataclass, every CLI option is a field."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from truto_stream.emulator.vendors import INTEGRATIONS

__all__ = [
    "DEFAULT_TOKEN",
    "INTEGRATIONS",
    "STATUSES",
    "STREAM_FRAMINGS",
    "STREAM_META",
    "AccountSpec",
    "EmulatorConfig",
    "parse_day",
]

#: The API token the emulator accepts when none is configured (a development value).
DEFAULT_TOKEN = "truto-emulator-dev-token"

#: Integrated-account statuses Truto documents.
STATUSES: tuple[str, ...] = (
    "active",
    "connecting",
    "post_install_error",
    "validation_error",
    "needs_reauth",
)

StreamFraming = Literal["envelope", "ndjson", "array", "page"]
StreamMeta = Literal["before", "after", "both"]
STREAM_FRAMINGS: tuple[str, ...] = ("envelope", "ndjson", "array", "page")
STREAM_META: tuple[str, ...] = ("before", "after", "both")


def parse_day(text: str) -> dt.date:
    """A strict ``YYYY-MM-DD`` calendar date (``ValueError`` otherwise)."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.replace("-", "").isdigit():
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a calendar date: {text!r}") from None


@dataclass(frozen=True)
class AccountSpec:
    """One explicitly declared integrated account (from a scenario file).

    ``id`` defaults to a deterministic UUID; ``faults`` (a fault spec, see
    :mod:`truto_stream.emulator.faults`) replaces the global ``faults`` for this account
    when not ``None``.
    """

    integration: str
    tenant_id: str
    users: int = 100
    status: str = "active"
    is_blocked: bool = False
    faults: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if self.integration not in INTEGRATIONS:
            raise ValueError(f"unknown integration {self.integration!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown account status {self.status!r}")
        if not 0 <= self.users < 1 << 32:
            raise ValueError("users must be in [0, 2**32)")


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator does, as data.

    Generated inventory: ``tenants`` tenants; per integration ``accounts_per_integration``
    active accounts plus ``needs_reauth_accounts``, ``connecting_accounts`` and
    ``blocked_accounts`` extra ones; users per account drawn from ``users`` (min, max).
    ``accounts`` (explicit :class:`AccountSpec` entries, e.g. from a scenario file)
    replaces the generated inventory when non-empty.

    Limits: sliding windows of ``rate_window_s`` seconds, ``token_limit`` requests per
    token and ``account_limit`` per integrated account (0 disables a limit).
    ``retry_after`` is the 429 ``Retry-After``: seconds as a number, ``"window"`` (the
    window length) or ``"reset"`` (time until a slot frees up).

    ``latency_ms`` (plus up to ``latency_jitter_ms``) delays each unified page;
    ``admin_latency_ms`` delays each answer of the admin routes (``/integrated-account``
    pages and lookups), as a slow account listing does.

    ``today`` (``YYYY-MM-DD``) is the emulator's today: ``date`` defaults to three days
    before it and later dates are refused. ``None`` follows the UTC clock.
    """

    host: str = "127.0.0.1"
    port: int = 0
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    seed: int = 0
    tenants: int = 3
    accounts_per_integration: int = 2
    users: tuple[int, int] = (10, 200)
    integrations: tuple[str, ...] = INTEGRATIONS
    needs_reauth_accounts: int = 0
    connecting_accounts: int = 0
    blocked_accounts: int = 0
    accounts: tuple[AccountSpec, ...] = ()
    # latency and bandwidth
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    admin_latency_ms: float = 0.0
    bandwidth_bps: int = 0
    # rate limits
    rate_window_s: float = 10.0
    token_limit: int = 500
    account_limit: int = 50
    retry_after: float | str = 10.0
    remote_retry_after_s: float = 60.0
    # formats
    stream_framing: StreamFraming = "envelope"
    stream_meta: StreamMeta = "after"
    stream_batch: int = 512
    is_partial_response: bool = False
    large_page_records: int = 20_000
    admin_default_limit: int = 100
    # time
    today: str | None = None
    # faults
    faults: str = ""
    # bookkeeping
    stats: bool = True
    stats_timestamps: int = 1000
    page_cache_mb: int = 64
    shutdown_timeout_s: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.users
        if lo < 0 or hi < lo:
            raise ValueError(f"bad users range {self.users!r}")
        if not self.tokens:
            raise ValueError("at least one token is required")
        for name in self.integrations:
            if name not in INTEGRATIONS:
                raise ValueError(f"unknown integration {name!r}")
        if self.stream_framing not in STREAM_FRAMINGS:
            raise ValueError(f"unknown stream framing {self.stream_framing!r}")
        if self.stream_meta not in STREAM_META:
            raise ValueError(f"unknown stream meta placement {self.stream_meta!r}")
        if self.rate_window_s <= 0:
            raise ValueError("rate_window_s must be > 0")
        if isinstance(self.retry_after, str) and self.retry_after not in ("window", "reset"):
            raise ValueError("retry_after must be seconds, 'window' or 'reset'")
        if not isinstance(self.retry_after, str) and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.stream_batch < 1:
            raise ValueError("stream_batch must be >= 1")
        if self.tenants < 1:
            raise ValueError("tenants must be >= 1")
        if self.today is not None:
            parse_day(self.today)
        # Validate fault specs early so a typo fails at start-up, not mid-test.
        from truto_stream.emulator.faults import parse_faults

        parse_faults(self.faults)
        for acc in self.accounts:
            if acc.faults is not None:
                parse_faults(acc.faults)

    def today_date(self) -> dt.date:
        """The emulator's today: ``today``, or the UTC date now."""
        if self.today is not None:
            return dt.date.fromisoformat(self.today)
        return dt.datetime.now(dt.UTC).date()

    def default_date(self) -> str:
        """What ``date`` means when a request omits it: three days before today."""
        return (self.today_date() - dt.timedelta(days=3)).isoformat()

    def replace(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the scenario-file ``options`` shape)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "accounts":
                value = [dataclasses.asdict(a) for a in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out
