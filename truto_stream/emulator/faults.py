"""Fault injection: a small grammar and pure, seeded decisions.

Grammar (rules separated by ``,`` or whitespace)::

    RULE  := KIND [":" ARG] ["@" WHERE] ["x" TIMES]
    KIND  := 500 | 502 | 504 | remote429 | remote500 | remote502 | remote504 | echo
           | reset | cut | stall | malformed | loop | empty
    WHERE := P            a probability per page, 0 <= P <= 1 (e.g. @0.05)
           | "#" N        page index N (0-based: #0 is the first page)
           | "#" N "-" M  page indexes N..M inclusive; "#N-" means N and after
    TIMES := N | "*"      attempts at a selected page that fail before it succeeds
                          (default 1; "*" fails every attempt)

``ARG`` by kind: ``reset``/``cut``/``malformed`` the body byte offset where it happens
(default: half-way), ``stall`` seconds without bytes (default 2), ``remote429`` the vendor
Retry-After seconds (default: the ``remote_retry_after_s`` option), ``echo`` the HTTP status
(400-599, default 400), ``empty`` the number of consecutive empty pages (default 1).
Without ``@WHERE`` a rule selects every page, except ``loop`` and ``empty`` which default
to ``@#1`` (the second page).

``loop`` and ``empty`` are behaviours, not transient errors: ``TIMES`` is ignored, and
the server picks a page's behaviour and its transient fault separately (the first
matching rule of each class), so a retried page keeps its content. A stream
request in a whole-body framing counts as page ``#0``; in the ``page`` framing the page
index comes from the cursor.

Every decision is a pure function of (seed, account id, page index, attempt number, rule
index), so a run is reproducible and a retry of a transiently failing page eventually gets
a healthy answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BODY_FAULTS",
    "FAULT_KINDS",
    "STATUS_FAULTS",
    "FaultRule",
    "FaultSpecError",
    "choose_fault",
    "parse_faults",
]

FaultKind = Literal[
    "500", "502", "504", "remote429", "remote500", "remote502", "remote504", "echo",
    "reset", "cut", "stall", "malformed", "loop", "empty",
]  # fmt: skip
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "502",
    "504",
    "remote429",
    "remote500",
    "remote502",
    "remote504",
    "echo",
    "reset",
    "cut",
    "stall",
    "malformed",
    "loop",
    "empty",
)
#: Faults answered with an error status instead of a body.
STATUS_FAULTS = frozenset(
    {"500", "502", "504", "remote429", "remote500", "remote502", "remote504", "echo"}
)
#: Faults that damage a body part-way through.
BODY_FAULTS = frozenset({"reset", "cut", "stall", "malformed"})
#: Behaviours (not transient): TIMES does not apply.
BEHAVIOURS = frozenset({"loop", "empty"})

_RULE = re.compile(
    r"^(?P<kind>500|502|504|remote429|remote500|remote502|remote504|echo"
    r"|reset|cut|stall|malformed|loop|empty)"
    r"(?::(?P<arg>\d+(?:\.\d*)?))?"
    r"(?:@(?P<where>#\d+(?:-\d*)?|\d*\.?\d+))?"
    r"(?:x(?P<times>\d+|\*))?$"
)


class FaultSpecError(ValueError):
    """A fault spec that does not follow the grammar."""


@dataclass(frozen=True)
class FaultRule:
    """One parsed rule. ``times`` is ``None`` for "every attempt"."""

    kind: str
    arg: float | None = None
    probability: float | None = None
    first_page: int | None = None
    last_page: int | None = None  # inclusive; None with first_page set = open-ended
    times: int | None = 1
    spec: str = ""

    def selects(self, seed: int, account_id: str, page: int, index: int) -> bool:
        """Whether this rule picks page ``page`` of ``account_id`` (attempt-independent)."""
        if self.first_page is not None:
            if page < self.first_page:
                return False
            return self.last_page is None or page <= self.last_page
        if self.probability is not None:
            return _unit(seed, account_id, page, index) < self.probability
        return True


def _unit(seed: int, account_id: str, page: int, index: int) -> float:
    digest = hashlib.blake2b(f"{seed}|{account_id}|{page}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def parse_faults(spec: str) -> tuple[FaultRule, ...]:
    """Parse a fault spec (see the module docstring); ``""`` means no faults."""
    rules: list[FaultRule] = []
    for part in re.split(r"[,\s]+", spec.strip()):
        if not part:
            continue
        m = _RULE.match(part)
        if m is None:
            raise FaultSpecError(
                f"bad fault rule {part!r}: KIND[:ARG][@WHERE][xTIMES] with KIND one of "
                + ", ".join(FAULT_KINDS)
            )
        kind = m["kind"]
        arg = float(m["arg"]) if m["arg"] is not None else None
        if kind == "echo" and arg is not None and not (arg.is_integer() and 400 <= arg <= 599):
            raise FaultSpecError(f"echo takes an HTTP status 400-599, not {m['arg']!r}")
        probability: float | None = None
        first: int | None = None
        last: int | None = None
        where = m["where"]
        if where is None and kind in BEHAVIOURS:
            where = "#1"
        if where is not None:
            if where.startswith("#"):
                lo, sep, hi = where[1:].partition("-")
                first = int(lo)
                if not sep:
                    last = first
                elif hi:
                    last = int(hi)
                    if last < first:
                        raise FaultSpecError(f"empty page range in {part!r}")
            else:
                probability = float(where)
                if not 0.0 <= probability <= 1.0:
                    raise FaultSpecError(f"probability out of [0, 1] in {part!r}")
        if kind == "empty" and arg is not None and first is not None and last == first:
            last = first + max(int(arg), 1) - 1  # empty:N@#P = N empty pages from P on
        times: int | None
        if m["times"] is None:
            times = 1
        elif m["times"] == "*":
            times = None
        else:
            times = int(m["times"])
        rules.append(FaultRule(kind, arg, probability, first, last, times, part))
    return tuple(rules)


def choose_fault(
    rules: tuple[FaultRule, ...],
    seed: int,
    account_id: str,
    page: int,
    attempt: int,
    kinds: frozenset[str] | None = None,
) -> FaultRule | None:
    """The first rule (restricted to ``kinds`` if given) that hits this page and attempt.

    ``attempt`` is 0 for the first request of a page. Transient rules hit attempts
    ``0 .. times-1``; behaviours (``loop``, ``empty``) ignore the attempt.
    """
    for index, rule in enumerate(rules):
        if kinds is not None and rule.kind not in kinds:
            continue
        if not rule.selects(seed, account_id, page, index):
            continue
        if rule.kind in BEHAVIOURS or rule.times is None or attempt < rule.times:
            return rule
    return None
