"""Live progress of a sweep on stderr: a rich display on a terminal, plain lines otherwise.

Progress reads the running sweep a few times per second from a task on the event loop
(never from another thread, so the report is never read while it changes) and writes to
stderr only, so ``truto-stream sweep ... | jq`` works. It first prints the sweep's plan
(units per integration, page sizes, skipped accounts, the estimate; only its warnings
with ``--quiet``), then the progress: units done, records, requests against the plan's
estimate, the request rate against the rate limit, an ETA from the plan and the current
rate, and when the sweep is held back by the rate budget, which one. Plain lines start
with an ISO 8601 UTC timestamp.

``--progress auto`` uses rich when stderr is a terminal (plain lines every few seconds
otherwise), ``always`` uses rich even when stderr is not a terminal, ``never`` shows
nothing but the plan; without rich installed every mode but ``never`` degrades to plain
lines.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import anyio

from truto_stream.plan import Plan, render_plan
from truto_stream.plan.estimate import format_duration
from truto_stream.sweep import SweepReport

__all__ = [
    "PROGRESS_MODES",
    "Progress",
    "RateMeter",
    "Snapshot",
    "SweepView",
    "iso_now",
    "make_progress",
    "rich_available",
]

ProgressMode = Literal["auto", "always", "never"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "always", "never")

#: How far back the current request rate looks (seconds).
RATE_SPAN = 10.0


class SweepView(Protocol):
    """What progress reads from a running sweep (a :class:`~truto_stream.sweep.Sweep`)."""

    @property
    def report(self) -> SweepReport: ...

    @property
    def plan(self) -> Plan | None: ...

    @property
    def budget_waiting(self) -> tuple[int, int]: ...

    async def wait_plan(self) -> Plan: ...


def iso_now() -> str:
    """The UTC time now, ISO 8601 to the second: ``2026-11-29T01:40:00Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RateMeter:
    """Requests per second over the last ``span`` seconds, from (time, total) samples."""

    def __init__(self, span: float = RATE_SPAN) -> None:
        self.span = span
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> float:
        """Record the running total at ``now``; return the rate over the span before it."""
        samples = self._samples
        samples.append((now, total))
        while len(samples) > 2 and samples[1][0] <= now - self.span:
            samples.popleft()
        t0, n0 = samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


@dataclass(frozen=True)
class Snapshot:
    """Totals of a sweep at one instant (plus the plan's view of them, when planned)."""

    accounts: int
    finished: int
    done: int
    failed: int
    skipped: int
    running: int
    records: int
    requests: int
    retries: int
    rate_limited: int
    bytes: int
    elapsed: float
    units: int | None = None
    planned_requests: int | None = None
    request_rate: float = 0.0
    limit_rate: float | None = None
    waiting_token: int = 0
    waiting_account: int = 0

    @classmethod
    def of(cls, report: SweepReport, elapsed: float) -> Snapshot:
        counts = {"done": 0, "failed": 0, "skipped": 0, "running": 0}
        records = requests = retries = limited = size = 0
        for account in report.accounts.values():
            if account.state in counts:
                counts[account.state] += 1
            records += account.records
            requests += account.requests
            retries += account.retries
            limited += account.rate_limited
            size += account.bytes
        return cls(
            accounts=len(report.accounts),
            finished=counts["done"] + counts["failed"] + counts["skipped"],
            done=counts["done"],
            failed=counts["failed"],
            skipped=counts["skipped"],
            running=counts["running"],
            records=records,
            requests=requests,
            retries=retries,
            rate_limited=limited,
            bytes=size,
            elapsed=elapsed,
        )

    @classmethod
    def live(cls, view: SweepView, elapsed: float, meter: RateMeter) -> Snapshot:
        """A snapshot with the plan's totals, the request rate and the budget's waiters."""
        base = cls.of(view.report, elapsed)
        plan = view.plan
        token, account = view.budget_waiting
        rate = meter.add(elapsed, base.requests)
        if plan is None:
            return replace(base, request_rate=rate, waiting_token=token, waiting_account=account)
        ceiling = plan.estimate.ceiling
        return replace(
            base,
            units=plan.unit_count + len(plan.skipped),
            planned_requests=plan.estimate.requests,
            request_rate=rate,
            limit_rate=ceiling.token_limit / ceiling.window,
            waiting_token=token,
            waiting_account=account,
        )

    @property
    def rate(self) -> float:
        """Records per second since the start."""
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left: the plan's requests not yet made, at the current request rate."""
        if self.planned_requests is None or self.request_rate <= 0:
            return None
        return max(0, self.planned_requests - self.requests) / self.request_rate

    @property
    def waiting(self) -> str | None:
        """What the sweep is held back by, in words (None: nothing)."""
        if self.waiting_token:
            return "waiting on the per-token budget"
        if self.waiting_account:
            return "waiting on per-account budgets"
        return None

    def line(self) -> str:
        """The one-line plain form."""
        parts = [self._units(), f"{self.records:,} records ({self.rate:,.0f}/s)"]
        parts.append(self._requests())
        if self.planned_requests is not None:
            parts.append(f"ETA {_eta(self)}")
        if self.waiting:
            parts.append(self.waiting)
        parts.append(
            f"{self.retries} retries, {self.rate_limited} 429s, {self.failed} failed, "
            f"{self.elapsed:.1f}s"
        )
        return ", ".join(parts)

    def _units(self) -> str:
        total = self.units if self.units is not None else self.accounts
        word = "units" if self.units is not None else "accounts"
        return f"{self.finished}/{total} {word}"

    def _requests(self) -> str:
        planned = f"/~{self.planned_requests:,}" if self.planned_requests is not None else ""
        text = f"{self.requests:,}{planned} requests ({self.request_rate:,.1f}/s"
        if self.limit_rate is not None:
            text += f" of {self.limit_rate:,.0f}/s allowed"
        return text + ")"


def _eta(s: Snapshot) -> str:
    eta = s.eta
    if eta is None:
        return "unknown"
    if s.planned_requests is not None and s.requests >= s.planned_requests:
        return "past the estimate"
    return format_duration(eta)


class Progress(Protocol):
    """Something that shows a sweep's progress until cancelled."""

    async def run(self, view: SweepView) -> None:
        """Show progress until cancelled (then clear any live display)."""


def rich_available() -> bool:
    """Whether rich can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_progress(mode: str, *, quiet: bool, title: str) -> Progress:
    """The progress display for ``--progress MODE`` (``--quiet`` turns it off)."""
    if quiet or mode == "never":
        return NoProgress(quiet=quiet)
    tty = sys.stderr.isatty()
    if rich_available() and (mode == "always" or tty):
        return RichProgress(title, force_terminal=mode == "always" and not tty)
    return PlainProgress(title, interval=2.0 if mode == "always" or tty else 5.0)


async def announce_plan(view: SweepView, *, quiet: bool) -> Plan:
    """Wait for the sweep's plan; print it on stderr (only its warnings when ``quiet``)."""
    plan = await view.wait_plan()
    if quiet:
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    else:
        print(render_plan(plan), file=sys.stderr, flush=True)
    return plan


class NoProgress:
    """Shows the plan (its warnings with ``--quiet``), then nothing."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    async def run(self, view: SweepView) -> None:
        await announce_plan(view, quiet=self.quiet)
        await anyio.sleep_forever()


class PlainProgress:
    """The plan, then a timestamped line on stderr every ``interval`` seconds."""

    def __init__(self, title: str, *, interval: float) -> None:
        self.title = title
        self.interval = interval

    async def run(self, view: SweepView) -> None:
        start = time.monotonic()
        await announce_plan(view, quiet=False)
        meter = RateMeter()
        while True:
            await anyio.sleep(self.interval)
            snapshot = Snapshot.live(view, time.monotonic() - start, meter)
            print(f"{iso_now()} {self.title}: {snapshot.line()}", file=sys.stderr, flush=True)


class RichProgress:
    """A live rich display: a bar of units finished, then the counters."""

    def __init__(self, title: str, *, force_terminal: bool = False, fps: float = 8.0) -> None:
        self.title = title
        self.force_terminal = force_terminal
        self.period = 1.0 / fps

    async def run(self, view: SweepView) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True, force_terminal=self.force_terminal or None)
        start = time.monotonic()
        await announce_plan(view, quiet=False)
        meter = RateMeter()
        live = Live(
            self._render(Snapshot.live(view, 0.0, meter)),
            console=console,
            auto_refresh=False,  # refreshed from the loop: the report is never read off-thread
            transient=True,
        )
        with live:
            try:
                while True:
                    await anyio.sleep(self.period)
                    snapshot = Snapshot.live(view, time.monotonic() - start, meter)
                    live.update(self._render(snapshot))
                    live.refresh()
            finally:
                live.update(self._render(Snapshot.live(view, time.monotonic() - start, meter)))

    def _render(self, s: Snapshot) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        total = s.units if s.units is not None else s.accounts
        grid = Table.grid(padding=(0, 1))
        bar = ProgressBar(total=max(total, 1), completed=s.finished, width=30)
        head = Text.assemble((self.title, "bold"), " ")
        word = "units" if s.units is not None else "accounts"
        grid.add_row(head, bar, Text(f"{s.finished}/{total} {word}", style="cyan"))
        stats = Text.assemble(
            (f"{s.records:,}", "bold green"),
            " records  ",
            (f"{s.rate:,.0f}", "green"),
            " rec/s  ",
            (s._requests(), "cyan"),
            "  ",
            (f"ETA {_eta(s)}" if s.planned_requests is not None else "", "bold"),
            "  ",
            (f"{s.retries}", "yellow"),
            " retries  ",
            (f"{s.rate_limited}", "yellow"),
            " × 429  ",
            (f"{s.failed}", "bold red" if s.failed else "dim"),
            " failed  ",
            (f"{s.elapsed:.1f}s", "dim"),
        )
        outer = Table.grid()
        outer.add_row(grid)
        outer.add_row(stats)
        if s.waiting:
            outer.add_row(Text(s.waiting, style="yellow"))
        return outer
