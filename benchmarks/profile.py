"""Profile one of our sides in-process: ``python -m benchmarks.profile sweep|walk|stream``.

Starts the emulator in its own process (warmed), runs the side once under cProfile, and
prints the hottest functions by own time, the CPU time and the share spent in the
garbage collector. Used to find the hot spots named in docs/benchmarks.md.

Examples::

    python -m benchmarks.profile sweep --accounts 50 --users 1000 --limit 100
    python -m benchmarks.profile sweep --consume records
    python -m benchmarks.profile stream --users 200000 --framing envelope
    python -m benchmarks.profile walk --users 50000 --limit 100 --gc-off
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import baselines, ours
from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.limits import NON_BINDING_LIMITS
from truto_stream.emulator import EmulatorConfig
from truto_stream.emulator.config import STREAM_FRAMINGS


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the side under the profiler, print the report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("side", choices=["sweep", "walk", "stream"])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--framing", choices=STREAM_FRAMINGS, default="envelope")
    parser.add_argument("--consume", choices=["batches", "records"], default="batches")
    parser.add_argument("--gc-off", action="store_true", help="disable the cyclic GC")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="profile CPU time (default: a busy machine does not distort it) or wall time",
    )
    ns = parser.parse_args(argv)
    n_accounts = 1 if ns.side != "sweep" else ns.accounts
    specs = accounts(n_accounts, ns.users)
    config = EmulatorConfig(
        accounts=specs,
        token_limit=0,
        account_limit=0,
        stream_framing=ns.framing,
        page_cache_mb=1024,
    )
    with running_emulator(config) as emu:
        args: dict[str, Any] = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(specs),
            "params": {"limit": ns.limit},
            "rate_limits": NON_BINDING_LIMITS,
            "consume": ns.consume,
        }
        if ns.side == "stream":
            params = {"limit": ns.limit} if ns.framing == "page" else {}
            args.update(mode="stream", params=params)
        else:
            asyncio.run(baselines.naive_gather(args))  # warm the emulator's page cache
        side = ours.ours_sweep if ns.side == "sweep" else ours.ours_walk
        if ns.gc_off:
            gc.disable()
        timer = time.process_time if ns.clock == "cpu" else time.perf_counter
        profiler = cProfile.Profile(timer)
        profiler.enable()
        result = asyncio.run(side(args))
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(ns.top)
    if ns.callers:
        stats.print_callers(ns.callers)
    print(out.getvalue())
    print(
        f"users {result['users']:,}  wall {result['wall_s']:.3f} s  cpu {result['cpu_s']:.3f} s  "
        f"gc {result['gc_s']:.3f} s ({result['gc_share_of_cpu']:.0%} of cpu)  "
        f"{result['cpu_us_per_user']:.2f} µs/user (under the profiler)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
