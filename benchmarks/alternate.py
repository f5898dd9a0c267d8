"""``python -m benchmarks.alternate``: this checkout's library against another's, alternated.

One emulator in its own process; each round runs this library, the other interpreter's
library (another commit in its own venv, e.g. the first version) and the naive gather,
each in a fresh child process (``benchmarks.child``: its own peak RSS, imports not
timed), the two libraries' order flipped every round; medians of CPU µs per user, users/s,
the collector's share of CPU, the most records buffered and peak RSS. Issue #14's "the
figures stay within noise" is read from such runs: the same set-up as scenarios 1 and 6
(``ours:ours_sweep``, 100 per page, no limits), with the sides interleaved so that the
machine's drift falls on both.

::

    python -m benchmarks.alternate --other-python /path/to/old/.venv/bin/python \\
        --accounts 1000 --users 250 --rounds 7               # scenario 6's 1,000 x 250
    python -m benchmarks.alternate --other-python ... --accounts 50 --users 1000 \\
        --latency-ms 50 --rounds 5                           # scenario 1
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideResult, run_side
from truto_stream.emulator import EmulatorConfig

__all__ = ["main"]

#: (label, figure of a side's result, scale) printed per side.
FIGURES = (
    ("µs CPU/user", "cpu_us_per_user", 1.0),
    ("k users/s", "users_per_s", 1e-3),
    ("GC % of CPU", "gc_share_of_cpu", 100.0),
    ("peak buffered", "peak_buffered_records", 1.0),
    ("peak RSS MB", "peak_rss_mb", 1.0),
)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alternate", description=__doc__)
    parser.add_argument("--other-python", required=True, help="the other library's interpreter")
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=250, help="users per account")
    parser.add_argument("--limit", type=int, default=100, help="users per page")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="per page")
    parser.add_argument("--mode", choices=("paged", "stream"), default="paged")
    parser.add_argument("--side", default="ours:ours_sweep", help="the libraries' side")
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


def _median(results: list[SideResult], key: str, scale: float) -> float:
    return statistics.median(float(r.get(key) or 0.0) * scale for r in results)


def _line(name: str, results: list[SideResult]) -> str:
    figures = ", ".join(f"{label} {_median(results, key, s):.3g}" for label, key, s in FIGURES)
    return f"{name}: {figures}"


def main(argv: Sequence[str] | None = None) -> None:
    opts = _parse(argv)
    specs = accounts(opts.accounts, opts.users)
    config = EmulatorConfig(
        accounts=specs,
        token_limit=0,
        account_limit=0,
        latency_ms=opts.latency_ms,
        page_cache_mb=min(2048, max(64, opts.accounts * opts.users * 900 // 2**20 + 64)),
    )
    with running_emulator(config) as emu:
        args: dict[str, Any] = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(specs),
            "params": {"limit": opts.limit} if opts.mode == "paged" else {},
            "rate_limits": NON_BINDING_LIMITS,
            "mode": opts.mode,
            "stream": opts.mode == "stream",  # the naive gather's switch
        }
        run_side("baselines:naive_gather", args)  # the emulator renders its pages once
        sides = {"this": (opts.side, None), "other": (opts.side, opts.other_python)}
        results: dict[str, list[SideResult]] = {"this": [], "other": [], "naive": []}
        for round_ in range(opts.rounds):
            order = ["this", "other"] if round_ % 2 == 0 else ["other", "this"]
            for name in order:
                side, python = sides[name]
                results[name].append(run_side(side, args, python=python))
            results["naive"].append(run_side("baselines:naive_gather", args))
            cpu = {k: round(v[-1].get("cpu_us_per_user", 0), 2) for k, v in results.items()}
            print(round_, "µs CPU/user", cpu, flush=True)
    for name, res in results.items():
        print(_line(name, res))
    this, other = (_median(results[k], "users_per_s", 1.0) for k in ("this", "other"))
    print(f"this / other: {this / other:.2f}x users/s")


if __name__ == "__main__":
    main()
