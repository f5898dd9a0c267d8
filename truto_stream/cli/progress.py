"""Live progress of a sweep on stderr: a rich display on a terminal, plain lines otherwise.

Progress reads the sweep's live :class:`~truto_stream.sweep.SweepReport` a few times per
second from a task on the event loop (never from another thread, so the report is never
read while it changes) and writes to stderr only, so ``truto-stream sweep ... | jq`` works.

``--progress auto`` uses rich when stderr is a terminal (plain lines every few seconds
otherwise), ``always`` uses rich even when stderr is not a terminal, ``never`` shows
nothing; without rich installed every mode but ``never`` degrades to plain lines.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio

from truto_stream.sweep import SweepReport

__all__ = ["PROGRESS_MODES", "Progress", "Snapshot", "make_progress", "rich_available"]

ProgressMode = Literal["auto", "always", "never"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "always", "never")

_FINISHED = ("done", "failed", "skipped")


@dataclass(frozen=True)
class Snapshot:
    """Totals of a sweep report at one instant."""

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

    @property
    def rate(self) -> float:
        """Records per second since the start."""
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        """The one-line plain form."""
        return (
            f"{self.finished}/{self.accounts} accounts, {self.records:,} records "
            f"({self.rate:,.0f}/s), {self.retries} retries, {self.rate_limited} 429s, "
            f"{self.failed} failed, {self.elapsed:.1f}s"
        )


class Progress(Protocol):
    """Something that shows a sweep's progress until cancelled."""

    async def run(self, report: SweepReport) -> None:
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
        return NoProgress()
    tty = sys.stderr.isatty()
    if rich_available() and (mode == "always" or tty):
        return RichProgress(title, force_terminal=mode == "always" and not tty)
    return PlainProgress(title, interval=2.0 if mode == "always" or tty else 5.0)


class NoProgress:
    """Shows nothing."""

    async def run(self, report: SweepReport) -> None:
        await anyio.sleep_forever()


class PlainProgress:
    """A line on stderr every ``interval`` seconds."""

    def __init__(self, title: str, *, interval: float) -> None:
        self.title = title
        self.interval = interval

    async def run(self, report: SweepReport) -> None:
        start = time.monotonic()
        while True:
            await anyio.sleep(self.interval)
            snapshot = Snapshot.of(report, time.monotonic() - start)
            print(f"{self.title}: {snapshot.line()}", file=sys.stderr, flush=True)


class RichProgress:
    """A live rich display: a bar of accounts finished, then the counters."""

    def __init__(self, title: str, *, force_terminal: bool = False, fps: float = 8.0) -> None:
        self.title = title
        self.force_terminal = force_terminal
        self.period = 1.0 / fps

    async def run(self, report: SweepReport) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True, force_terminal=self.force_terminal or None)
        start = time.monotonic()
        live = Live(
            self._render(Snapshot.of(report, 0.0)),
            console=console,
            auto_refresh=False,  # refreshed from the loop: the report is never read off-thread
            transient=True,
        )
        with live:
            try:
                while True:
                    await anyio.sleep(self.period)
                    live.update(self._render(Snapshot.of(report, time.monotonic() - start)))
                    live.refresh()
            finally:
                live.update(self._render(Snapshot.of(report, time.monotonic() - start)))

    def _render(self, s: Snapshot) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        bar = ProgressBar(total=max(s.accounts, 1), completed=s.finished, width=30)
        head = Text.assemble((self.title, "bold"), " ")
        grid.add_row(head, bar, Text(f"{s.finished}/{s.accounts} accounts", style="cyan"))
        stats = Text.assemble(
            (f"{s.records:,}", "bold green"),
            " records  ",
            (f"{s.rate:,.0f}", "green"),
            " rec/s  ",
            (f"{s.retries}", "yellow"),
            " retries  ",
            (f"{s.rate_limited}", "yellow"),
            " × 429  ",
            (f"{s.failed}", "bold red" if s.failed else "dim"),
            " failed  ",
            (f"{s.running}", "dim"),
            " running  ",
            (f"{s.elapsed:.1f}s", "dim"),
        )
        outer = Table.grid()
        outer.add_row(grid)
        outer.add_row(stats)
        return outer
