"""The page size a plan sends to each integration (sans-IO).

The largest page the endpoint allows saves requests, and requests are what a sweep is
bound by (Truto: 500 per 10 s per token, 50 per account). A caller's explicit ``limit``
wins, but is clamped into the integration's bounds (with a warning) rather than sent as is
and refused for every account of that integration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from truto_stream.errors import ConfigurationError
from truto_stream.plan.capabilities import Capability

__all__ = ["TRUTO_DEFAULT_PAGE", "PageChoice", "choose_page", "requested_limit"]

#: The page size Truto documents as the default where an endpoint pages (Claude, OpenAI
#: Codex: 100); assumed by the estimate for integrations the plan knows nothing about.
TRUTO_DEFAULT_PAGE: Final = 100


@dataclass(frozen=True)
class PageChoice:
    """What to send as ``limit`` and what one request returns at most.

    ``limit`` ``None``: no ``limit`` is sent. ``per_request`` ``None``: one request
    returns everything (the estimate counts one request per unit). ``note`` says why, in
    a few words; ``warning`` marks a caller's ``limit`` that was changed.
    """

    limit: int | None
    per_request: int | None
    note: str
    warning: bool = False


def requested_limit(params: Mapping[str, Any]) -> int | None:
    """The caller's ``limit`` parameter as an int (None if absent).

    Raises :class:`ConfigurationError` for a value that is not a whole number (``"100"``
    from the command line is fine).
    """
    value = params.get("limit")
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"limit must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigurationError(f"limit must be a whole number, got {value!r}") from None
    if number < 1:
        raise ConfigurationError(f"limit must be at least 1, got {number}")
    return number


def choose_page(cap: Capability | None, requested: int | None) -> PageChoice:
    """The page size for one integration (``cap`` None: the integration is unknown)."""
    if cap is None:
        if requested is not None:
            return PageChoice(requested, requested, f"limit {requested} as given")
        return PageChoice(
            None, TRUTO_DEFAULT_PAGE, f"the endpoint's default page ({TRUTO_DEFAULT_PAGE} assumed)"
        )
    bounds = cap.limit
    if bounds is None:
        note = "one page, no limit"
        if requested is not None:
            return PageChoice(None, None, f"{note} (limit {requested} not sent)")
        return PageChoice(None, None, note)
    if requested is None:
        return PageChoice(bounds.maximum, bounds.maximum, f"limit {bounds.maximum} (the largest)")
    clamped = min(max(requested, bounds.minimum), bounds.maximum)
    if clamped == requested:
        return PageChoice(requested, requested, f"limit {requested} as given")
    return PageChoice(
        clamped,
        clamped,
        f"limit {clamped}: {requested} is outside {cap.label}'s {bounds.minimum}-{bounds.maximum}",
        warning=True,
    )
