"""``python -m benchmarks.columnar_ab``: the columnar path against another library's, paired.

The tenant-scale row's stream (NDJSON) workload, its Arrow side only (``sweep.arrow_batches()``,
:func:`benchmarks.tenant_ours.tenant_arrow`), for this checkout and another interpreter's
library (another commit in its own venv), with the ``orjson.loads`` floor of the same
bytes (:func:`benchmarks.tenant_floors.orjson_floor`) and, with ``--dicts``, this
checkout's dict sweep (``sweep.batches()``). One emulator in its own process; each side in
a fresh child, the order flipped every round. Printed: each round's users/s and CPU
µs/user, the medians, and the ratios of users/s paired by round (median, min, max): on a
noisy 2-core machine a ratio of medians taken from different rounds misleads. The CPU
ratios beside them (the other side's CPU per user over this one's) move less when other
processes share the cores.

::

    python -m benchmarks.columnar_ab --other-python /work/main/.venv/bin/python --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.emu import TOKEN, running_emulator
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideResult, run_side
from truto_stream.emulator import AccountSpec, EmulatorConfig

__all__ = ["main", "paired"]

#: The sides' functions (``benchmarks.<module>:<function>``).
_ARROW = "tenant_ours:tenant_arrow"
_FLOOR = "tenant_floors:orjson_floor"
_DICTS = "tenant_ours:tenant_sweep"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.columnar_ab", description=__doc__)
    parser.add_argument("--other-python", required=True, help="the other library's interpreter")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--users", type=int, default=10_000, help="users per account")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dicts", action="store_true", help="also this library's dict sweep")
    return parser.parse_args(argv)


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


def _median(results: list[SideResult], key: str) -> float:
    return statistics.median(float(r[key]) for r in results)


def main(argv: Sequence[str] | None = None) -> None:
    opts = _parse(argv)
    specs = tuple(
        AccountSpec(integration="claude", tenant_id="ab", users=opts.users, id=f"ab-{i:05d}")
        for i in range(opts.accounts)
    )
    config = EmulatorConfig(
        accounts=specs,
        tokens=(TOKEN,),
        token_limit=0,
        account_limit=0,
        stream_framing="ndjson",
        page_cache_mb=min(2048, max(64, opts.accounts * opts.users * 900 // 2**20 + 64)),
    )
    sides: dict[str, tuple[str, str | None]] = {
        "this": (_ARROW, None),
        "other": (_ARROW, opts.other_python),
        "floor": (_FLOOR, None),
    }
    if opts.dicts:
        sides["this dicts"] = (_DICTS, None)
    with running_emulator(config) as emu:
        args: dict[str, Any] = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": [str(spec.id) for spec in specs],
            "params": {},
            "rate_limits": NON_BINDING_LIMITS,
            "mode": "stream",
            "framing": "ndjson",
        }
        run_side(_FLOOR, args)  # the emulator renders its bodies once
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
    for name, res in results.items():
        print(
            f"{name}: {_median(res, 'users_per_s') / 1e3:.1f}k users/s, "
            f"{_median(res, 'cpu_us_per_user'):.2f} µs CPU/user (medians)"
        )
    pairs = [("this", "other"), ("this", "floor"), ("other", "floor")]
    pairs += [("this", "this dicts")] if opts.dicts else []
    for a, b in pairs:
        mid, low, high = paired(results[a], results[b])
        cpu, cpu_low, cpu_high = paired(results[a], results[b], "cpu_us_per_user")
        print(
            f"{a} / {b}: users/s paired {mid:.3f}x (min {low:.3f}, max {high:.3f}); "
            f"CPU per user {cpu:.3f}x (min {cpu_low:.3f}, max {cpu_high:.3f})"
        )


if __name__ == "__main__":
    main()
