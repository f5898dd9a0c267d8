"""``python -m benchmarks.alternate``: this checkout's library against another's, alternated.

One emulator in its own process; each round runs this library, the other interpreter's
library (another commit in its own venv, e.g. the first version) and a reference side,
each in a fresh child process (``benchmarks.child``: its own peak RSS, imports not
timed), the order of the sides flipped every round. Printed: each round's users/s and CPU
µs per user; each side's medians of CPU µs per user, users/s, the collector's share of
CPU, the most records buffered and peak RSS; and the ratios paired round by round
(median, least, most) of users/s and of CPU per user (the second side's CPU over the
first's, so that above 1 is faster). On a noisy 2-core machine a ratio of medians taken
from different rounds misleads; the CPU ratios move less than users/s when other
processes share the cores.

Two set-ups:

- a sweep (the default): issue #14's "the figures stay within noise" is read from such
  runs, the same set-up as scenarios 1 and 6 (``ours:ours_sweep``, 100 per page, no
  limits), beside the naive gather;
- ``--columnar``: the tenant-scale row's NDJSON stream, its Arrow side only
  (``sweep.arrow_batches()``, :func:`benchmarks.tenant_ours.tenant_arrow`), beside the
  ``orjson.loads`` floor of the same bytes (:func:`benchmarks.tenant_floors.orjson_floor`)
  and, with ``--dicts``, this checkout's dict sweep (``sweep.batches()``).

::

    python -m benchmarks.alternate --other-python /path/to/old/.venv/bin/python \\
        --accounts 1000 --users 250 --rounds 7               # scenario 6's 1,000 x 250
    python -m benchmarks.alternate --other-python ... --accounts 50 --users 1000 \\
        --latency-ms 50 --rounds 5                           # scenario 1
    python -m benchmarks.alternate --columnar --other-python ... --rounds 21 --dicts
                                                             # the Arrow path (issue #15)
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

__all__ = ["main", "paired"]

#: (label, figure of a side's result, scale) printed per side.
FIGURES = (
    ("µs CPU/user", "cpu_us_per_user", 1.0),
    ("k users/s", "users_per_s", 1e-3),
    ("GC % of CPU", "gc_share_of_cpu", 100.0),
    ("peak buffered", "peak_buffered_records", 1.0),
    ("peak RSS MB", "peak_rss_mb", 1.0),
)

#: The columnar set-up's sides (``benchmarks.<module>:<function>``).
ARROW = "tenant_ours:tenant_arrow"
FLOOR = "tenant_floors:orjson_floor"
DICTS = "tenant_ours:tenant_sweep"
NAIVE = "baselines:naive_gather"

#: Accounts, users per account and rounds unless told: (sweep, columnar).
_DEFAULTS = {"accounts": (1_000, 10), "users": (250, 10_000), "rounds": (5, 7)}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.alternate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--other-python", required=True, help="the other library's interpreter")
    parser.add_argument("--columnar", action="store_true", help="the Arrow path (NDJSON stream)")
    parser.add_argument("--accounts", type=int, help="1,000 (--columnar: 10)")
    parser.add_argument("--users", type=int, help="users per account: 250 (--columnar: 10,000)")
    parser.add_argument("--limit", type=int, default=100, help="users per page")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="per page")
    parser.add_argument("--mode", choices=("paged", "stream"), default="paged")
    parser.add_argument("--side", default="ours:ours_sweep", help="the libraries' side")
    parser.add_argument("--rounds", type=int, help="5 (--columnar: 7)")
    parser.add_argument("--dicts", action="store_true", help="--columnar: this dict sweep too")
    opts = parser.parse_args(argv)
    for name, defaults in _DEFAULTS.items():
        if getattr(opts, name) is None:
            setattr(opts, name, defaults[opts.columnar])
    return opts


def paired(
    a: list[SideResult], b: list[SideResult], key: str = "users_per_s"
) -> tuple[float, float, float]:
    """Median, least and most of ``a``'s users/s over ``b``'s, round by round (``key``
    ``"cpu_us_per_user"``: ``b``'s CPU per user over ``a``'s, so that above 1 is faster)."""
    if key == "users_per_s":
        ratios = [x[key] / y[key] for x, y in zip(a, b, strict=True)]
    else:
        ratios = [y[key] / x[key] for x, y in zip(a, b, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def _median(results: list[SideResult], key: str, scale: float) -> float:
    return statistics.median(float(r.get(key) or 0.0) * scale for r in results)


def _line(name: str, results: list[SideResult]) -> str:
    figures = ", ".join(f"{label} {_median(results, key, s):.3g}" for label, key, s in FIGURES)
    return f"{name}: {figures}"


def _config(opts: argparse.Namespace) -> EmulatorConfig:
    specs = accounts(opts.accounts, opts.users)
    return EmulatorConfig(
        accounts=specs,
        token_limit=0,
        account_limit=0,
        latency_ms=opts.latency_ms,
        stream_framing="ndjson" if opts.columnar else "envelope",
        page_cache_mb=min(2048, max(64, opts.accounts * opts.users * 900 // 2**20 + 64)),
    )


def _args(opts: argparse.Namespace, url: str, config: EmulatorConfig) -> dict[str, Any]:
    """What every side is handed (each reads what it needs)."""
    mode = "stream" if opts.columnar else opts.mode
    return {
        "url": url,
        "token": TOKEN,
        "accounts": account_ids(config.accounts),
        "params": {"limit": opts.limit} if mode == "paged" else {},
        "rate_limits": NON_BINDING_LIMITS,
        "mode": mode,
        "stream": mode == "stream",  # the naive gather's switch
        **({"framing": "ndjson"} if opts.columnar else {}),
    }


def _sides(opts: argparse.Namespace) -> dict[str, tuple[str, str | None]]:
    """name -> (side, interpreter): the two libraries first, then the references."""
    side = ARROW if opts.columnar else opts.side
    sides: dict[str, tuple[str, str | None]] = {
        "this": (side, None),
        "other": (side, opts.other_python),
    }
    if not opts.columnar:
        sides["naive"] = (NAIVE, None)
        return sides
    sides["floor"] = (FLOOR, None)
    if opts.dicts:
        sides["this dicts"] = (DICTS, None)
    return sides


def _rounds(
    opts: argparse.Namespace, sides: dict[str, tuple[str, str | None]], args: dict[str, Any]
) -> dict[str, list[SideResult]]:
    """Every side once a round, the order flipped every other round."""
    results: dict[str, list[SideResult]] = {name: [] for name in sides}
    for round_ in range(opts.rounds):
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        for name in order:
            side, python = sides[name]
            results[name].append(run_side(side, args, python=python))
        figures = {
            name: (round(r[-1]["users_per_s"] / 1e3, 1), round(r[-1]["cpu_us_per_user"], 2))
            for name, r in results.items()
        }
        print(round_, "(k users/s, µs CPU/user)", figures, flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    opts = _parse(argv)
    config = _config(opts)
    sides = _sides(opts)
    with running_emulator(config) as emu:
        args = _args(opts, emu.url, config)
        run_side(FLOOR if opts.columnar else NAIVE, args)  # the emulator renders its bodies
        results = _rounds(opts, sides, args)
    for name, res in results.items():
        print(_line(name, res))
    names = list(sides)
    pairs = [("this", "other"), *((a, b) for a in ("this", "other") for b in names[2:3])]
    pairs += [("this", name) for name in names[3:]]
    for a, b in pairs:
        mid, low, high = paired(results[a], results[b])
        cpu, cpu_low, cpu_high = paired(results[a], results[b], "cpu_us_per_user")
        print(
            f"{a} / {b}: users/s paired {mid:.3f}x (min {low:.3f}, max {high:.3f}); "
            f"CPU per user {cpu:.3f}x (min {cpu_low:.3f}, max {cpu_high:.3f})"
        )


if __name__ == "__main__":
    main()
