"""One exception hierarchy for everything truto-stream raises.

Every error carries what is useful for triage (status, Truto's ``error`` / ``message`` /
``truto_error_insight``, the integrated account id, the request path) and never the API
token: messages are built only from those fields, no request headers are kept, and the
fetch loop passes every error it raises through :meth:`TrutoError.clean` (the token in
any obvious form scrubbed from server text, control characters escaped, length bounded).

::

    TrutoError
    ├── ConfigurationError         bad arguments, no token, unsupported event loop
    ├── TransportError             network failure or timeout (retryable)
    │   └── RequestTimeout
    │       └── TransferTooSlow    the body trickled in slower than Timeouts.min_rate
    ├── HTTPError                  a non-2xx answer from Truto
    │   ├── BadRequest (400)
    │   ├── AuthError (401)
    │   │   └── NeedsReauth        401 with truto_is_remote_error: reconnect the account
    │   ├── Forbidden (403)
    │   ├── NotFound (404)
    │   ├── Conflict (409)
    │   ├── Unprocessable (422)
    │   ├── RateLimited (429)
    │   ├── ServerError (5xx other than 503)
    │   └── AccountBlocked (503)
    ├── StreamError                a body that is cut short, malformed or of the wrong type
    │   ├── TruncatedBody
    │   ├── MalformedBody
    │   ├── UnexpectedContentType
    │   └── BodyTooLarge           a compressed body past CompressionLimits (a bomb)
    ├── CursorLoop                 the API handed back a cursor already seen
    ├── PageLimitExceeded          the configured page cap was reached
    └── StorageError               a checkpoint or an output could not be written
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "AccountBlocked",
    "AuthError",
    "BadRequest",
    "BodyTooLarge",
    "ConfigurationError",
    "Conflict",
    "CursorLoop",
    "Forbidden",
    "HTTPError",
    "MalformedBody",
    "NeedsReauth",
    "NotFound",
    "PageLimitExceeded",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "StorageError",
    "StreamError",
    "TransferTooSlow",
    "TransportError",
    "TruncatedBody",
    "TrutoError",
    "UnexpectedContentType",
    "Unprocessable",
    "error_for_status",
]


class TextCleaner(Protocol):
    """Makes server text safe to show (see :class:`truto_stream._redact.Redactor`)."""

    def text(self, text: str) -> str: ...

    def value(self, value: Any) -> Any: ...


class TrutoError(Exception):
    """Base of every error raised by truto-stream.

    ``account_id`` and ``path`` say where it happened (the path has no query string, so
    cursors and parameters stay out of logs); ``retryable`` says whether the client's
    retry policy treats it as transient.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        account_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.account_id = account_id
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.account_id:
            where.append(f"account {self.account_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.message}{suffix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"

    def clean(
        self, cleaner: TextCleaner, *, account_id: str | None = None, path: str | None = None
    ) -> None:
        """Pass every text this error carries through ``cleaner``, then render it again.

        ``account_id`` and ``path`` label it when whoever raised it did not know them.
        Every attribute is cleaned, whatever the subclass: strings, and the strings
        inside mappings and lists (such as ``insight``).
        """
        self.account_id = self.account_id or account_id
        self.path = self.path or path
        for name, value in list(vars(self).items()):
            if isinstance(value, str | Mapping | list | tuple):
                setattr(self, name, cleaner.value(value))
        self._recompose()
        self.args = (self._render(),)

    def _recompose(self) -> None:
        """Rebuild ``message`` from the (cleaned) fields it is made of, if it is made of any."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (shards report errors across processes) whatever the subclass's
        # constructor: rebuild from the class, the attributes and the rendered message.
        return (_rebuild, (type(self), dict(self.__dict__), str(self)))


def _rebuild(cls: type[TrutoError], state: dict[str, Any], text: str) -> TrutoError:
    err = cls.__new__(cls)
    Exception.__init__(err, text)
    err.__dict__.update(state)
    return err


class ConfigurationError(TrutoError):
    """The client was set up wrongly: no token, a plain-http remote URL, a trio loop..."""


class TransportError(TrutoError):
    """The connection failed, was reset, or timed out before a full answer arrived."""

    retryable = True


class RequestTimeout(TransportError):
    """A connect, idle-read or per-request timeout expired."""


class TransferTooSlow(RequestTimeout):
    """The body arrived slower than ``Timeouts.min_rate`` (a trickle). Retried."""


class HTTPError(TrutoError):
    """Truto answered with a non-2xx status.

    ``error``, ``truto_message`` and ``insight`` are Truto's ``error``, ``message`` and
    ``truto_error_insight``; ``is_remote`` is ``truto_is_remote_error`` (the vendor behind
    the integrated account failed, not Truto); ``retry_after`` is the parsed Retry-After
    header in seconds, when one was sent.
    """

    status: int = 0

    def __init__(
        self,
        status: int,
        *,
        error: str | None = None,
        truto_message: str | None = None,
        insight: Mapping[str, Any] | None = None,
        is_remote: bool = False,
        retry_after: float | None = None,
        account_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.truto_message = truto_message
        self.insight: dict[str, Any] = dict(insight or {})
        self.is_remote = is_remote
        self.retry_after = retry_after
        super().__init__(self._text(), account_id=account_id, path=path)

    def _text(self) -> str:
        text = f"HTTP {self.status}"
        if self.error:
            text += f" {self.error}"
        if self.truto_message:
            text += f": {self.truto_message}"
        if self.is_remote:
            text += " [remote]"
        return text

    def _recompose(self) -> None:
        # The message quotes error and truto_message: once they are cleaned, it is built
        # again from them (cleaning it too would bound it twice).
        self.message = self._text()


class BadRequest(HTTPError):
    """400: the request was invalid (a parameter, a date, a tampered cursor)."""


class AuthError(HTTPError):
    """401: the API token was refused."""


class NeedsReauth(AuthError):
    """401 with ``truto_is_remote_error``: the integrated account needs reconnecting."""


class Forbidden(HTTPError):
    """403: the token or the account lacks a permission or scope."""


class NotFound(HTTPError):
    """404: the resource, or the integrated account, is not visible to this token."""


class Conflict(HTTPError):
    """409: a uniqueness conflict at the vendor."""


class Unprocessable(HTTPError):
    """422: the vendor rejected the request's content."""


class RateLimited(HTTPError):
    """429: Truto's or the vendor's rate limit; retried after ``retry_after``."""

    retryable = True


class ServerError(HTTPError):
    """5xx other than 503. 500, 502, 504 and any remote 5xx are retried (``retryable``).

    Truto's rule (its error model): 500, 502 and 504 are transient, and a 5xx with
    ``truto_is_remote_error`` means the vendor is failing: back off and retry, up to
    the retry policy's cap. Another 5xx from Truto itself (501...) is not retried.
    """

    def __init__(self, status: int, **kwargs: Any) -> None:
        super().__init__(status, **kwargs)
        self.retryable = status in (500, 502, 504) or self.is_remote


class AccountBlocked(HTTPError):
    """503: the integrated account is blocked; retrying does not help."""


class StreamError(TrutoError):
    """The response body could not be read as the records it should carry."""


class TruncatedBody(StreamError):
    """The body ended before its JSON did (a cut connection). Retryable."""

    retryable = True


class MalformedBody(StreamError):
    """The body is not valid JSON in the detected framing. Retried a few times."""

    retryable = True


class UnexpectedContentType(StreamError):
    """The body is of a content type the client cannot read (HTML, binary...)."""


class BodyTooLarge(StreamError):
    """A compressed body decoded past ``CompressionLimits`` (size or ratio): a bomb.

    Not retried: the same request gets the same body.
    """


class CursorLoop(TrutoError):
    """The API returned a ``next_cursor`` that this walk has already requested."""


class PageLimitExceeded(TrutoError):
    """The walk reached the configured ``max_pages`` before ``next_cursor`` ran out."""


class StorageError(TrutoError):
    """A checkpoint or an output file could not be written (disk full, read-only...).

    What was stored before stays consistent: a rerun with the same checkpoint resumes.
    """


_BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequest,
    401: AuthError,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    429: RateLimited,
    503: AccountBlocked,
}


def error_for_status(
    status: int,
    body: Mapping[str, Any] | None,
    *,
    retry_after: float | None = None,
    account_id: str | None = None,
    path: str | None = None,
) -> HTTPError:
    """Build the right :class:`HTTPError` subclass from a status and Truto's error body."""
    body = body or {}
    is_remote = bool(body.get("truto_is_remote_error"))
    error = body.get("error")
    message = body.get("message")
    insight = body.get("truto_error_insight")
    kwargs: dict[str, Any] = {
        "error": error if isinstance(error, str) else None,
        "truto_message": message if isinstance(message, str) and message else None,
        "insight": insight if isinstance(insight, Mapping) else None,
        "is_remote": is_remote,
        "retry_after": retry_after,
        "account_id": account_id,
        "path": path,
    }
    if status == 401 and is_remote:
        return NeedsReauth(status, **kwargs)
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(status, **kwargs)
    if status >= 500:
        return ServerError(status, **kwargs)
    return HTTPError(status, **kwargs)
