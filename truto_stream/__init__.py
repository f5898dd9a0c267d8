"""truto-stream: pull records out of Truto's unified API, fast and with bounded memory."""

from truto_stream._framing import Framing
from truto_stream._http import Timeouts
from truto_stream._retry import RetryPolicy
from truto_stream._version import __version__
from truto_stream.client import Client, RateLimits
from truto_stream.errors import (
    AccountBlocked,
    AuthError,
    BadRequest,
    ConfigurationError,
    Conflict,
    CursorLoop,
    Forbidden,
    HTTPError,
    MalformedBody,
    NeedsReauth,
    NotFound,
    PageLimitExceeded,
    RateLimited,
    RequestTimeout,
    ServerError,
    StorageError,
    StreamError,
    TransportError,
    TruncatedBody,
    TrutoError,
    UnexpectedContentType,
    Unprocessable,
)
from truto_stream.models import Email, IntegratedAccount, Organization, Role, SpendLimit, User
from truto_stream.page import Page
from truto_stream.shard import Shard, plan_shards, run_shard
from truto_stream.sweep import AccountQuery, AccountReport, Sweep, SweepItem, SweepReport

__all__ = [
    "AccountBlocked",
    "AccountQuery",
    "AccountReport",
    "AuthError",
    "BadRequest",
    "Client",
    "ConfigurationError",
    "Conflict",
    "CursorLoop",
    "Email",
    "Forbidden",
    "Framing",
    "HTTPError",
    "IntegratedAccount",
    "MalformedBody",
    "NeedsReauth",
    "NotFound",
    "Organization",
    "Page",
    "PageLimitExceeded",
    "RateLimited",
    "RateLimits",
    "RequestTimeout",
    "RetryPolicy",
    "Role",
    "ServerError",
    "Shard",
    "SpendLimit",
    "StorageError",
    "StreamError",
    "Sweep",
    "SweepItem",
    "SweepReport",
    "Timeouts",
    "TransportError",
    "TruncatedBody",
    "TrutoError",
    "UnexpectedContentType",
    "Unprocessable",
    "User",
    "__version__",
    "plan_shards",
    "run_shard",
]
