"""The aiohttp transport: the only module that imports aiohttp (the emulator aside).

:class:`AiohttpTransport` implements :class:`truto_stream._transport.Transport`: it owns
(or borrows) one pooled ``aiohttp.ClientSession``, adds the bearer token to each request
and returns the project's own :class:`~truto_stream._transport.Response`, whose body
reads through :class:`_AiohttpBody`. Every aiohttp, OS or timeout exception, raised while
sending or while reading a body, is mapped by :func:`map_error`, the one place that does
it. aiohttp's exceptions can carry request headers (and so the token) and raw server
bytes; none of them leaves this module.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, TypeAlias

import aiohttp
import yarl

from truto_stream._bounds import CompressionLimits, Inflation, RateFloor, Timeouts
from truto_stream._deadline import Deadline, Deadlines
from truto_stream._redact import Redactor
from truto_stream._transport import BodySource, Response, ScrubbedBody
from truto_stream._version import __version__
from truto_stream.errors import (
    BodyTooLarge,
    ConfigurationError,
    RequestTimeout,
    TransferTooSlow,
    TransportError,
    TruncatedBody,
    TrutoError,
)

__all__ = ["AiohttpTransport", "Session", "check_base_url", "map_error"]

#: The pooled HTTP session a caller may lend the client (typed here, so aiohttp stays here).
Session: TypeAlias = aiohttp.ClientSession

USER_AGENT: Final = f"truto-stream/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"


class _Token:
    """Holds the API token so that no repr, log line or traceback shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def header(self) -> str:
        return f"Bearer {self._value}"

    def __repr__(self) -> str:
        return "<token redacted>"

    __str__ = __repr__


def check_base_url(base_url: str, *, allow_insecure: bool = False) -> yarl.URL:
    """Parse ``base_url``; plain http is allowed only for loopback hosts or when asked."""
    url = yarl.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.scheme == "http" and not allow_insecure and not _is_loopback(url.host):
        raise ConfigurationError(
            f"base_url {base_url!r} is plain http to a non-loopback host; the token would "
            "travel in clear text. Use https, or pass allow_insecure=True."
        )
    if url.query_string or url.fragment:
        raise ConfigurationError("base_url must not carry a query string or fragment")
    return url.with_path(url.path.rstrip("/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AiohttpTransport:
    """A pooled aiohttp session bound to one base URL and one token."""

    def __init__(
        self,
        base_url: yarl.URL,
        token: str,
        *,
        timeouts: Timeouts,
        max_connections: int,
        compression: CompressionLimits | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base_url = base_url
        self._token = _Token(token)
        self.redactor = Redactor([token])
        self._timeouts = timeouts
        self._compression = compression or CompressionLimits()
        self._max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        # Built once: per request they cost as much as the rest of send() (measured).
        self._timeout = self._client_timeout()
        request = timeouts.request
        # On a session of our own, read_idle bounds the wait for the headers from the
        # moment the request has its connection (a wait for a pooled one is not the
        # server's silence), on one timer for all: aiohttp's sock_read arms and cancels
        # a timer per chunk received. Not needed when ``request`` ends the wait first.
        idle = _idle_seconds(timeouts)
        own = session is None
        needed = own and idle < math.inf and (request is None or idle < request)
        self._idle = Deadlines(idle) if needed else None
        # Nor is ``request``'s timer when these end every wait first: aiohttp's connect
        # bound (pool wait included; rounded up by at most a second), then read_idle.
        implied = (
            needed
            and request is not None
            and timeouts.connect > 0
            and timeouts.connect + _CONNECT_ROUNDING + idle <= request
        )
        self._deadlines = Deadlines(request) if request is not None and not implied else None
        # The read_idle deadline of each task whose request has its connection.
        self._connected: dict[asyncio.Task[Any], Deadline] = {}
        # path -> the base URL with the path appended, as URL.build takes it (encoded)
        self._prefixes: dict[str, tuple[str, str, str]] = {}

    def __repr__(self) -> str:
        return f"AiohttpTransport(base_url={str(self._base_url)!r}, token=<redacted>)"

    async def open(self) -> None:
        if self._session is None:
            options: dict[str, Any] = {
                "limit": self._max_connections,
                "limit_per_host": self._max_connections,
                "keepalive_timeout": 30.0,
            }
            connector = (
                _Connector(self._on_connected, **options)
                if self._idle is not None
                else aiohttp.TCPConnector(**options)
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                # The token goes with the session it owns: merging a per-request header
                # into the session's costs aiohttp 1.6 µs a request.
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    "Authorization": self._token.header(),
                },
                read_bufsize=2**18,
                raise_for_status=False,
            )

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _client_timeout(self) -> aiohttp.ClientTimeout:
        # No total timeout: a long healthy stream must never be killed. Connects are
        # bounded here. On a session of our own, silence is bounded by our timers: the
        # header wait's (send()) and each body wait's (_AiohttpBody); a lent session
        # keeps aiohttp's sock_read, as its connections cannot tell us when they are
        # taken.
        return aiohttp.ClientTimeout(
            total=None,
            connect=self._timeouts.connect,
            sock_connect=self._timeouts.connect,
            sock_read=None if self._owns_session else self._timeouts.read_idle,
        )

    def _on_connected(self) -> None:
        """The current task's request has its connection: its read_idle starts."""
        assert self._idle is not None
        task = asyncio.current_task()
        # aiohttp connects again, once, when a kept-alive connection turns out closed:
        # the first connection's deadline holds (so ``request``'s can be implied).
        if task is not None and task not in self._connected:
            self._connected[task] = self._idle.start()

    def _headers_over(self, deadline: Deadline | None) -> bool:
        """The current task's wait for headers is over: True if a deadline ended it."""
        timed_out = deadline is not None and deadline.end()
        if self._idle is not None:
            idle = self._connected.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            timed_out = (idle is not None and idle.end()) or timed_out
        return timed_out

    async def send(self, path: str, query: str, *, read_bytes: int | None = None) -> Response:
        """GET ``path?query`` (query already encoded) and return once headers are in.

        The caller must ``release()`` the response; an unread body makes aiohttp close
        the connection rather than return it to the pool.
        """
        if self._session is None:
            raise ConfigurationError("the client is not open: use `async with Client(...)`")
        scheme, authority, full_path = self._url_prefix(path)
        # Built from its parts: parsing the whole URL again costs three times as much.
        url = yarl.URL.build(
            scheme=scheme, authority=authority, path=full_path, query_string=query, encoded=True
        )
        # A borrowed session carries the token per request; one of our own already has it.
        headers = None if self._owns_session else {"Authorization": self._token.header()}
        # The wait for the headers is bounded by the transport's one timer (_deadline),
        # and by read_idle from when the connection is taken (_on_connected).
        deadline = self._deadlines.start() if self._deadlines is not None else None
        try:
            response = await self._session.get(
                url,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                # aiohttp reads ahead up to twice this before it stops the socket.
                read_bufsize=read_bytes,
            )
        except BaseException as exc:
            if self._headers_over(deadline) and isinstance(exc, asyncio.CancelledError):
                error = map_error(TimeoutError(), path)
            elif isinstance(exc, _FOREIGN):
                error = map_error(exc, path)
            else:
                raise
        else:
            self._headers_over(deadline)
            return self._response(response, path)
        raise error  # outside the except block: no foreign exception in its context

    def _url_prefix(self, path: str) -> tuple[str, str, str]:
        """The base URL with ``path`` appended: its scheme, authority and path, encoded
        (the list paths are few: cached)."""
        prefix = self._prefixes.get(path)
        if prefix is None:
            if len(self._prefixes) >= _MAX_PREFIXES:  # account lookups: one path each
                self._prefixes.clear()
            url = self._base_url.with_path(self._base_url.path.rstrip("/") + path)
            url = yarl.URL(str(url), encoded=True)  # as the encoded text reads back
            prefix = self._prefixes[path] = (url.scheme, url.raw_authority, url.raw_path)
        return prefix

    def _response(self, response: aiohttp.ClientResponse, path: str) -> Response:
        # aiohttp decodes a compressed body as it arrives; its reader then counts the
        # compressed bytes too (None when the body is not compressed).
        compressed = getattr(response.content, "total_compressed_bytes", None) is not None
        inflation = Inflation(self._compression) if compressed else None
        body: BodySource = _AiohttpBody(response.content, path, self._timeouts, inflation)
        if self.redactor.body_forms:
            # Server text echoing the token never reaches the parser (nor records,
            # cursors, checkpoints, outputs): every form of it is replaced here.
            body = ScrubbedBody(body, self.redactor.body_forms.scrubber())
        return Response(
            status=response.status,
            headers=response.headers,
            body=body,
            # Content-Length counts compressed bytes: the decoded length is unknown.
            content_length=None if compressed else response.content_length,
            on_release=response.release,
            on_close=response.close,
        )


class _AiohttpBody:
    """A response body whose every failure is a truto-stream error, within its bounds.

    A read that finds bytes buffered takes them without waiting; only a read that has to
    wait for the server counts towards the :class:`RateFloor`, and that wait is cut when
    the floor's window would end short, or after ``read_idle`` with no byte (one timer
    per wait, not one per chunk received). (The floor is made at the first wait: a body
    read whole from what has arrived never needs one.) A compressed body is checked
    against its :class:`Inflation` bounds as it decodes.
    """

    __slots__ = ("_content", "_floor", "_inflation", "_path", "_timeouts", "bytes_read")

    def __init__(
        self,
        content: aiohttp.StreamReader,
        path: str,
        timeouts: Timeouts,
        inflation: Inflation | None,
    ) -> None:
        self._content = content
        self._path = path
        self._timeouts = timeouts
        self._floor: RateFloor | None = None
        self._inflation = inflation
        self.bytes_read = 0

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join([chunk async for chunk in self._chunks()])
        try:
            data = self._content.read_nowait(n)
            if not data and not self._content.at_eof():
                data = await self._wait_for(n)
        except _FOREIGN as exc:
            error = map_error(exc, self._path, self.bytes_read)
        else:
            return self._count(data)
        raise error

    def read_buffered(self, n: int) -> bytes:
        try:
            data = self._content.read_nowait(n)
        except _FOREIGN as exc:
            error = map_error(exc, self._path, self.bytes_read)
        else:
            return self._count(data)
        raise error

    def at_eof(self) -> bool:
        return self._content.at_eof()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read(_CHUNK):
            yield chunk

    async def _wait_for(self, n: int) -> bytes:
        """Wait for the server's next bytes, no longer than the rate floor allows."""
        floor = self._floor
        if floor is None:
            timeouts = self._timeouts
            floor = self._floor = RateFloor(timeouts.min_rate, timeouts.rate_window)
        allowance = floor.allowance()
        idle = _idle_seconds(self._timeouts)
        started = time.monotonic()
        # One timer for both bounds on this wait: the floor's and read_idle.
        limit = min(allowance, idle)
        deadline = asyncio.timeout(limit if limit < math.inf else None)
        try:
            async with deadline:
                data = await self._content.read(n)
        except TimeoutError:
            if not deadline.expired() or idle <= allowance:
                raise  # read_idle (ours, or a lent session's sock_read): mapped by the caller
            data = b""
            waited = allowance
        else:
            waited = time.monotonic() - started
        if not floor.record(waited, len(data)):
            raise self._too_slow(floor)
        return data

    def _count(self, data: bytes) -> bytes:
        self.bytes_read += len(data)
        if self._inflation is not None:
            content = self._content
            excess = self._inflation.excess(content.total_bytes, content.total_raw_bytes)
            if excess is not None:
                raise BodyTooLarge(f"the compressed body was refused: {excess}", path=self._path)
        return data

    def _too_slow(self, floor: RateFloor) -> TransferTooSlow:
        return TransferTooSlow(
            f"the body arrived slower than {floor.min_rate:g} bytes/s over "
            f"{floor.window:g} s of waiting ({self.bytes_read} bytes read)",
            path=self._path,
        )


class _Connector(aiohttp.TCPConnector):
    """A pool that tells its transport when a request has taken its connection."""

    def __init__(self, connected: Callable[[], None], **options: Any) -> None:
        super().__init__(**options)
        self._connected = connected

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[aiohttp.tracing.Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> aiohttp.connector.Connection:
        connection = await super().connect(req, traces, timeout)
        self._connected()  # in the requesting task: aiohttp awaits this directly
        return connection


def _idle_seconds(timeouts: Timeouts) -> float:
    """``read_idle`` in seconds; 0 means no bound (as aiohttp's sock_read has it)."""
    return timeouts.read_idle or math.inf


#: How much later than asked aiohttp's connect bound may end (it rounds up to a second).
_CONNECT_ROUNDING: Final = 1.0
#: Paths whose encoded URL prefix a transport keeps.
_MAX_PREFIXES: Final = 64
#: Read size when a caller asks for a whole body (``read(-1)``).
_CHUNK: Final = 2**16


#: What aiohttp, the OS or a timeout may raise while sending or reading.
_FOREIGN = (aiohttp.ClientError, OSError, TimeoutError)


def map_error(exc: BaseException, path: str | None = None, body_bytes: int = 0) -> TrutoError:
    """The truto-stream error for an aiohttp, OS or timeout exception (the one mapping).

    Only exception type names and the OS's own words are kept: aiohttp's messages can
    quote raw server bytes (a bad status line, a header, a line too long) and its
    ``request_info`` carries the request headers, so neither is used.
    """
    if isinstance(exc, TimeoutError):
        return RequestTimeout(f"timed out ({_name(exc)})", path=path)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TruncatedBody(
            f"the body ended badly after {body_bytes} bytes ({_name(exc)})", path=path
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # Raised while reading the status line and headers: not valid HTTP.
        return TransportError(f"the answer is not valid HTTP ({_name(exc)})", path=path)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(f"connection failed ({_name(exc)}: {exc.strerror})", path=path)
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return TransportError(f"connection failed ({_name(exc)}: {exc.strerror})", path=path)
    return TransportError(f"connection failed ({_name(exc)})", path=path)


def _name(exc: BaseException) -> str:
    """The exception's type, and that of the exception it wraps (aiohttp nests parser errors)."""
    name = type(exc).__name__
    cause = exc.__cause__
    if isinstance(exc, aiohttp.ClientError) and isinstance(cause, Exception):
        return f"{name}: {type(cause).__name__}"
    return name
