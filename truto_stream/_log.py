"""What the library logs: the ``truto_stream`` logger hierarchy and its events.

Loggers (standard :mod:`logging`, so any handler or formatter works):

- ``truto_stream.sweep``: a sweep's start and end, and per unit of work (an integrated
  account) its start, finish, failure or skip;
- ``truto_stream.fetch``: a retried request (with the reason, the attempt and the delay),
  a 429 (with the wait and whether ``max_retry_after`` capped it), and at DEBUG each page.

Every event carries its fields as record attributes (``extra=``): ``event`` names it
(``unit.start``, ``retry``...), the others are the ones listed in docs/logging.md, so a
JSON formatter emits them as keys. The library installs no handler (a
:class:`logging.NullHandler` on ``truto_stream`` only keeps Python's last-resort handler
quiet): nothing is printed unless the application configures logging.

The token never reaches a record: messages and fields are built from account ids, paths,
counters and project errors that the fetch loop has already scrubbed of it. Cursors are
left out too (they are request data). Each helper checks ``isEnabledFor`` first, so with
logging off an event costs one cached level check and nothing is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from truto_stream.errors import HTTPError, RateLimited, TrutoError

if TYPE_CHECKING:
    from truto_stream._fetch import WalkStats
    from truto_stream.sweep import SweepReport
    from truto_stream.unit import Unit

__all__ = [
    "FETCH",
    "SWEEP",
    "page",
    "retry",
    "sweep_finished",
    "sweep_started",
    "unit_ended",
    "unit_skipped",
    "unit_started",
]

ROOT: Final = logging.getLogger("truto_stream")
ROOT.addHandler(logging.NullHandler())

FETCH: Final = logging.getLogger("truto_stream.fetch")
SWEEP: Final = logging.getLogger("truto_stream.sweep")

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
_ERROR: Final = logging.ERROR

#: Walk counters every unit event reports (the names of ``WalkStats`` fields).
_COUNTERS: Final = ("records", "pages", "requests", "retries", "rate_limited", "bytes")


def _emit(
    logger: logging.Logger, level: int, msg: str, args: tuple[Any, ...], **fields: Any
) -> None:
    # stacklevel 3: the record names the library function that called the helper.
    logger.log(level, msg, *args, extra=fields, stacklevel=3)


def _where(account_id: str | None, path: str) -> str:
    return f"{path} (account {account_id})" if account_id else path


# -- truto_stream.fetch -------------------------------------------------------------------


def retry(
    error: TrutoError,
    *,
    account_id: str | None,
    path: str,
    attempt: int,
    max_attempts: int,
    delay: float,
    max_retry_after: float,
) -> None:
    """A failed attempt is retried after ``delay`` s (``error`` must be scrubbed already).

    A 429 is its own event, ``rate_limited``: its wait is the server's ``Retry-After``,
    capped at ``max_retry_after`` (``capped`` says when it was).
    """
    if not FETCH.isEnabledFor(_WARNING):
        return
    status = error.status if isinstance(error, HTTPError) else None
    fields: dict[str, Any] = {
        "account_id": account_id,
        "path": path,
        "attempt": attempt,
        "max_attempts": max_attempts,
        "delay": round(delay, 3),
        "status": status,
        "error_type": type(error).__name__,
        "error": error.message,
    }
    where = _where(account_id, path)
    if isinstance(error, RateLimited):
        asked = error.retry_after
        capped = asked is not None and asked > max_retry_after
        remote = " from the vendor" if error.is_remote else ""
        note = f" (Retry-After {asked:g} s capped by max_retry_after)" if capped else ""
        _emit(
            FETCH,
            _WARNING,
            "GET %s: rate limited%s (HTTP 429), waiting %.2f s%s before attempt %d of %d",
            (where, remote, delay, note, attempt + 1, max_attempts),
            event="rate_limited",
            retry_after=asked,
            wait=round(delay, 3),
            capped=capped,
            remote=error.is_remote,
            **fields,
        )
        return
    _emit(
        FETCH,
        _WARNING,
        "GET %s: %s: %s; retrying in %.2f s (attempt %d of %d)",
        (where, type(error).__name__, error.message, delay, attempt + 1, max_attempts),
        event="retry",
        **fields,
    )


def page(*, account_id: str | None, path: str, index: int, records: int) -> None:
    """A page arrived whole (DEBUG: callers guard this per-page call themselves)."""
    _emit(
        FETCH,
        _DEBUG,
        "GET %s: page %d, %d records",
        (_where(account_id, path), index, records),
        event="page",
        account_id=account_id,
        path=path,
        page=index,
        records=records,
    )


# -- truto_stream.sweep -------------------------------------------------------------------


def sweep_started(*, path: str, accounts: object, concurrency: int, checkpoint: bool) -> None:
    """A sweep opened (``accounts``: a list of ids, or the ``AccountQuery`` discovering them)."""
    if SWEEP.isEnabledFor(_INFO):
        if isinstance(accounts, list):
            accounts = f"{len(accounts)} given"
        else:
            query = {k: v for k, v in vars(accounts).items() if v is not None}
            accounts = "discovered" + (f" ({_pairs(query)})" if query else "")
        _emit(
            SWEEP,
            _INFO,
            "sweep %s started: accounts %s, concurrency %d%s",
            (path, accounts, concurrency, ", with a checkpoint" if checkpoint else ""),
            event="sweep.start",
            path=path,
            accounts=accounts,
            concurrency=concurrency,
            checkpoint=checkpoint,
        )


def sweep_finished(*, path: str, report: SweepReport) -> None:
    """A sweep closed: its accounts' states and the totals of its report."""
    if SWEEP.isEnabledFor(_INFO):
        states = {s: report.count(s) for s in ("done", "failed", "skipped", "pending", "running")}
        totals = {
            name: sum(getattr(account, name) for account in report.accounts.values())
            for name in _COUNTERS
        }
        _emit(
            SWEEP,
            _INFO,
            "sweep %s finished: %d accounts done, %d failed, %d skipped; %d records",
            (path, states["done"], states["failed"], states["skipped"], totals["records"]),
            event="sweep.finish",
            path=path,
            states=states,
            totals=totals,
        )


def unit_started(unit: Unit, *, path: str, resumed: bool) -> None:
    """A worker starts walking a unit (``resumed``: from the checkpoint's progress)."""
    if SWEEP.isEnabledFor(_INFO):
        _emit(
            SWEEP,
            _INFO,
            "%s: started%s",
            (_unit_name(unit), " (resumed from the checkpoint)" if resumed else ""),
            event="unit.start",
            path=path,
            resumed=resumed,
            **_unit_fields(unit),
        )


def unit_ended(
    unit: Unit,
    *,
    path: str,
    stats: WalkStats,
    seconds: float,
    error: TrutoError | None,
) -> None:
    """A unit's walk ended: with its last page, or on ``error`` (already scrubbed: it
    left the fetch loop)."""
    if error is None:
        if SWEEP.isEnabledFor(_INFO):
            counters = _counters(stats)
            done = (counters["records"], counters["pages"], counters["requests"], seconds)
            _emit(
                SWEEP,
                _INFO,
                "%s: done, %d records, %d pages, %d requests in %.2f s",
                (_unit_name(unit), *done),
                event="unit.finish",
                path=path,
                seconds=round(seconds, 3),
                **_unit_fields(unit),
                **counters,
            )
    elif SWEEP.isEnabledFor(_ERROR):
        _emit(
            SWEEP,
            _ERROR,
            "%s: failed: %s: %s",
            (_unit_name(unit), type(error).__name__, error.message),
            event="unit.failed",
            path=path,
            error_type=type(error).__name__,
            error=error.message,
            status=error.status if isinstance(error, HTTPError) else None,
            seconds=round(seconds, 3),
            **_unit_fields(unit),
            **_counters(stats),
        )


def unit_skipped(unit: Unit, *, reason: str) -> None:
    """Discovery skipped a unit's account (not active, blocked)."""
    if SWEEP.isEnabledFor(_INFO):
        _emit(
            SWEEP,
            _INFO,
            "%s: skipped: %s",
            (_unit_name(unit), reason),
            event="unit.skipped",
            reason=reason,
            **_unit_fields(unit),
        )


def _unit_name(unit: Unit) -> str:
    return f"account {unit.account_id}" + (f" on {unit.date}" if unit.date else "")


def _unit_fields(unit: Unit) -> dict[str, Any]:
    """``account_id``, and the unit's ``unit`` key, ``date`` and ``integration`` if known."""
    fields: dict[str, Any] = {"account_id": unit.account_id, "unit": unit.key}
    for name in ("date", "integration", "tenant_id"):
        value = getattr(unit, name)
        if value is not None:
            fields[name] = value
    return fields


def _pairs(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in fields.items())


def _counters(stats: WalkStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in _COUNTERS}
