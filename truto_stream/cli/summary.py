"""The end-of-sweep summary on stderr: totals, then every failed (and skipped) account.

Failed accounts are always listed (also with ``--quiet``): they are why the exit status
is 1. The table uses rich when the progress display did, plain aligned text otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from truto_stream.cli.progress import Snapshot
from truto_stream.sweep import SweepReport

__all__ = ["print_failures", "print_summary"]

#: At most this many skipped accounts are listed one by one.
MAX_SKIPPED_LISTED = 20


def _totals(s: Snapshot) -> list[tuple[str, str]]:
    return [
        ("accounts", f"{s.accounts} ({s.done} done, {s.failed} failed, {s.skipped} skipped)"),
        ("records", f"{s.records:,}"),
        ("records/s", f"{s.rate:,.0f}"),
        ("requests", f"{s.requests:,}"),
        ("retries", f"{s.retries:,}"),
        ("429s", f"{s.rate_limited:,}"),
        ("received", f"{s.bytes / 1e6:,.1f} MB"),
        ("elapsed", f"{s.elapsed:.1f} s"),
    ]


def _problem_rows(report: SweepReport) -> list[tuple[str, str, str]]:
    rows = [(r.account_id, r.error_type or "failed", _one_line(r.error)) for r in report.failures()]
    skipped = [r for r in report.accounts.values() if r.state == "skipped"]
    for r in skipped[:MAX_SKIPPED_LISTED]:
        rows.append((r.account_id, "skipped", _one_line(r.error)))
    if len(skipped) > MAX_SKIPPED_LISTED:
        rows.append(("…", "skipped", f"{len(skipped) - MAX_SKIPPED_LISTED} more skipped"))
    return rows


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def print_summary(
    report: SweepReport, *, elapsed: float, title: str, use_rich: bool, output: str | None
) -> None:
    """Print the totals and the failed/skipped accounts on stderr."""
    snapshot = Snapshot.of(report, elapsed)
    problems = _problem_rows(report)
    if use_rich:
        _print_rich(snapshot, problems, title, output)
        return
    err = sys.stderr
    print(f"\n{title}: summary", file=err)
    width = max(len(k) for k, _ in _totals(snapshot))
    for key, value in _totals(snapshot):
        print(f"  {key:<{width}}  {value}", file=err)
    if output:
        print(f"  {'output':<{width}}  {output}", file=err)
    _print_plain_problems(problems)
    err.flush()


def print_failures(report: SweepReport) -> None:
    """List only the failed accounts (``--quiet``)."""
    _print_plain_problems(
        [(r.account_id, r.error_type or "failed", _one_line(r.error)) for r in report.failures()]
    )


def _print_plain_problems(rows: Iterable[tuple[str, str, str]]) -> None:
    rows = list(rows)
    if not rows:
        return
    err = sys.stderr
    failed = sum(1 for _, kind, _ in rows if kind != "skipped")
    print(f"accounts not swept ({failed} failed):", file=err)
    id_width = max(len(a) for a, _, _ in rows)
    kind_width = max(len(k) for _, k, _ in rows)
    for account, kind, error in rows:
        print(f"  {account:<{id_width}}  {kind:<{kind_width}}  {error}", file=err)
    err.flush()


def _print_rich(
    s: Snapshot, problems: list[tuple[str, str, str]], title: str, output: str | None
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(stderr=True)
    totals = Table(title=f"{title}: summary", show_header=False, title_justify="left")
    totals.add_column(style="bold")
    totals.add_column(justify="right")
    for key, value in _totals(s):
        totals.add_row(key, value)
    if output:
        totals.add_row("output", output)
    console.print(totals)
    if problems:
        table = Table(title="accounts not swept", title_justify="left")
        # Ids are never cut (people copy them); reasons wrap instead.
        table.add_column("integrated account", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        table.add_column("reason", overflow="fold", ratio=1)
        for account, kind, error in problems:
            style = "yellow" if kind == "skipped" else "red"
            # Text, not markup: an error such as "HTTP 503 [remote]" must print as is.
            table.add_row(Text(account), Text(kind, style=style), Text(error))
        console.print(table)
