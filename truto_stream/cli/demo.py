"""``truto-stream demo``: a whole sweep against the embedded emulator, in seconds.

Starts the emulator in a child process (so it has its own core) with the scenario in
``demo_scenario.json`` beside this module: eight tenants, three integrations, 29 accounts
of 100 to 50,000 users, one ``needs_reauth`` and one blocked account, transient faults
(502, 500, 504, a reset, a cut body, malformed JSON, vendor 429s with Retry-After), a
looping cursor, and Truto's rate limits (500 requests per token and 50 per account, per
window; the window is scaled from 10 s to 1 s so the demo fits in well under 30 s). It
then runs the same code as ``truto-stream sweep``, writes ``demo-users.ndjson``, prints
the summary and checks every completed account against the emulator's data set.
"""

from __future__ import annotations

import importlib.resources
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from truto_stream.cli.common import EXIT_OK, CliParser, UsageError, eprint, usage_exit
from truto_stream.cli.progress import PROGRESS_MODES
from truto_stream.cli.runner import Interrupted, run_command
from truto_stream.cli.sweep import SweepOptions, run_sweep
from truto_stream.client import RateLimits
from truto_stream.emulator import Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.scenario import ScenarioError, config_from_mapping, load_scenario
from truto_stream.sweep import SweepReport

__all__ = ["build_parser", "demo_config", "main"]

DEFAULT_OUTPUT = "demo-users.ndjson"


def demo_config() -> EmulatorConfig:
    """The demo's emulator configuration (from the packaged scenario file)."""
    import orjson

    text = importlib.resources.files(__package__).joinpath("demo_scenario.json").read_bytes()
    return config_from_mapping(orjson.loads(text))


def build_parser() -> CliParser:
    """The ``demo`` argument parser."""
    parser = CliParser(
        prog="truto-stream demo",
        description="Sweep a realistic multi-tenant data set served by the embedded emulator.",
    )
    parser.add_argument(
        "--output", default=DEFAULT_OUTPUT, metavar="FILE", help=f"default {DEFAULT_OUTPUT}"
    )
    parser.add_argument("--mode", choices=("paged", "stream"), default="paged")
    parser.add_argument("--concurrency", type=int, default=64, metavar="N")
    parser.add_argument("--scenario", metavar="FILE", help="another emulator scenario file")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str]) -> int:
    """``truto-stream demo``."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
        if args.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        config = load_scenario(args.scenario) if args.scenario else demo_config()
    except (UsageError, ScenarioError) as exc:
        return usage_exit(parser, UsageError(str(exc)))
    dataset = Dataset(config)
    say = (lambda *_: None) if args.quiet else eprint
    say(_describe(dataset))
    started = time.monotonic()
    with EmulatorProcess(config) as emulator:
        say(f"emulator listening on {emulator.url} (pid {emulator.pid})\n")
        options = SweepOptions(
            model="usage-metering",
            resource="users",
            token=config.tokens[0],
            mode=args.mode,
            concurrency=args.concurrency,
            output=args.output,
            base_url=emulator.url,
            progress=args.progress,
            quiet=args.quiet,
        )
        reports: list[SweepReport] = []

        async def body(interrupted: Interrupted) -> int:
            return await run_sweep(
                options,
                interrupted,
                client_options={"rate_limits": _budgets(config)},
                title="demo: usage-metering/users",
                on_report=reports.append,
            )

        status = run_command(body)
    report = reports[0] if reports else SweepReport()
    wall = time.monotonic() - started
    if status not in (0, 1):
        return status
    problems = _verify(dataset, report)
    if not args.quiet:
        _explain(dataset, report, Path(args.output), wall, problems)
    return EXIT_OK if not problems else 1


def _budgets(config: EmulatorConfig) -> RateLimits:
    """Client budgets matching the emulator's (scaled) windows."""
    return RateLimits(
        token_limit=config.token_limit,
        account_limit=config.account_limit,
        window=config.rate_window_s,
    )


def _describe(dataset: Dataset) -> str:
    accounts = dataset.accounts
    users = sum(a.user_count for a in accounts)
    integrations = sorted({a.integration for a in accounts})
    cfg = dataset.config
    return (
        f"truto-stream demo: {len(accounts)} integrated accounts of {len(dataset.tenants)} "
        f"tenants ({', '.join(integrations)}), {users:,} users; rate limits "
        f"{cfg.token_limit}/token and {cfg.account_limit}/account per {cfg.rate_window_s:g} s "
        "window; transient faults injected"
    )


def _verify(dataset: Dataset, report: SweepReport) -> list[str]:
    """Every account that completed delivered exactly its users; say what does not hold."""
    problems = []
    for account in dataset.accounts:
        got = report.accounts.get(account.id)
        if got is None or got.state != "done":
            continue
        if got.records != account.user_count:
            problems.append(
                f"account {account.id}: {got.records} records, expected {account.user_count}"
            )
    return problems


def _explain(
    dataset: Dataset, report: SweepReport, output: Path, wall: float, problems: list[str]
) -> None:
    done = [r for r in report.accounts.values() if r.state == "done"]
    retried = sum(1 for r in done if r.retries)
    limited = sum(r.rate_limited for r in report.accounts.values())
    failed = report.failures()
    skipped = [r for r in report.accounts.values() if r.state == "skipped"]
    lines = [
        "",
        f"wrote {report.records:,} users to {output.resolve()} in {wall:.1f} s (emulator "
        "start-up included)",
        f"  - {len(done)} accounts complete; {retried} of them hit transient faults and were "
        f"retried (vendor 429s: {limited}, each waited out its Retry-After)",
        f"  - {len(skipped)} skipped before any request (needs_reauth, blocked)",
    ]
    for r in failed:
        lines.append(f"  - failed, reported and left for a rerun: {r.account_id}: {r.error}")
    if problems:
        lines += ["verification FAILED:", *(f"  {p}" for p in problems)]
    else:
        lines.append(
            "  - every complete account delivered all its users (checked against the "
            "emulator's data set)"
        )
    lines += [
        "",
        "next: point it at Truto with your own token, e.g.",
        "  export TRUTO_API_TOKEN=...",
        "  truto-stream sweep usage-metering/users --integration claude "
        "--checkpoint sweep.db --output users.ndjson",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
