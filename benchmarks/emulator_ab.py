"""``python -m benchmarks.emulator_ab``: this checkout's emulator against another's.

The tenant-scale stream rows (scenario 7's ``stream-envelope`` and ``stream-ndjson``) with
the emulator as the thing measured: each round starts a fresh emulator process of each
checkout (the order flipped every round), warms it as scenario 7 does (every account
once, untimed; ``--warm one``: one account only), then runs our sweep
(``tenant_ours:tenant_sweep``) and the naive gather against it, each in a fresh child of
this checkout. Per side it reports the emulator's CPU per user served, its share of a core
(emulator CPU / the side's wall, as the scenario's "emulator" column), users/s, and the
per-round paired ratios this/other. The client is the same library on both sides, so a
change in users/s is the emulator's doing.

::

    python -m benchmarks.emulator_ab --other-python /work/main/.venv/bin/python --rounds 7
    python -m benchmarks.emulator_ab --other-python ... --page-cache-mb 0   # rendering only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.emu import TOKEN, EmulatorHandle
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideResult, run_side
from truto_stream.emulator import AccountSpec, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.config import StreamFraming

__all__ = ["main"]

SIDES = {"ours": "tenant_ours:tenant_sweep", "naive": "baselines:naive_gather"}
THIS = "this"
OTHER = "other"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_ab", description=__doc__)
    parser.add_argument("--other-python", required=True, help="the other emulator's interpreter")
    parser.add_argument("--accounts", type=int, default=10, help="scenario 7's default: 10")
    parser.add_argument("--users", type=int, default=10_000, help="users per account")
    parser.add_argument("--framings", default="envelope,ndjson")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warm", choices=("all", "one"), default="all")
    parser.add_argument("--page-cache-mb", type=int, default=64, help="the emulator's default")
    return parser.parse_args(argv)


def _config(ns: argparse.Namespace, framing: StreamFraming, ids: list[str]) -> EmulatorConfig:
    specs = tuple(
        AccountSpec(integration="claude", tenant_id="ab", users=ns.users, id=i) for i in ids
    )
    return EmulatorConfig(
        accounts=specs,
        token_limit=0,
        account_limit=0,
        stream_framing=framing,
        page_cache_mb=ns.page_cache_mb,
    )


def _side(emu: EmulatorHandle, target: str, args: dict[str, Any]) -> SideResult:
    cpu0 = emu.cpu_seconds()
    result = run_side(target, args)
    if "error" in result:
        raise RuntimeError(f"{target}: {result['error']}")
    cpu = emu.cpu_seconds() - cpu0
    result["emulator_us_per_user"] = cpu * 1e6 / result["users"]
    result["emulator_share"] = _ratio(cpu, result["wall_s"])
    return result


def _round(
    ns: argparse.Namespace, python: str, framing: StreamFraming, ids: list[str], flip: bool
) -> dict[str, SideResult]:
    """One emulator process of ``python``: warm it, then ours and the naive gather."""
    # Started with ``-m``: no checkout (ours as the working directory, or PYTHONPATH) may
    # shadow the interpreter's own truto_stream.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONSAFEPATH"] = "1"
    proc = EmulatorProcess(_config(ns, framing, ids), python=python, env=env)
    proc.start()
    try:
        emu = EmulatorHandle(proc)
        args = {"url": emu.url, "token": TOKEN, "accounts": ids, "tenant": "ab",
                "mode": "stream", "framing": framing, "stream": True, "params": {},
                "rate_limits": NON_BINDING_LIMITS}  # fmt: skip
        warm = ids if ns.warm == "all" else ids[:1]
        run_side(SIDES["naive"], dict(args, accounts=warm))  # untimed
        names = list(SIDES)[::-1] if flip else list(SIDES)
        return {name: _side(emu, SIDES[name], args) for name in names}
    finally:
        proc.stop()


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(a: float, b: float) -> float:
    """``a / b``, NaN when ``b`` is 0 (CPU below the clock tick in tiny runs)."""
    return a / b if b else float("nan")


def _report(framing: str, runs: dict[str, list[dict[str, SideResult]]]) -> None:
    n = len(runs[THIS])
    print(f"\n## stream ({framing}), {n} rounds")
    print("| side | emulator | users/s | emulator µs/user | emulator share of a core |")
    print("|---|---|---|---|---|")
    for side in SIDES:
        for emu in (OTHER, THIS):
            rs = [r[side] for r in runs[emu]]
            print(
                f"| {side} | {emu} | {_med([r['users_per_s'] for r in rs]):,.0f} | "
                f"{_med([r['emulator_us_per_user'] for r in rs]):.2f} | "
                f"{_med([r['emulator_share'] for r in rs]):.0%} |"
            )
    for side in SIDES:
        speed = [_ratio(t[side]["users_per_s"], o[side]["users_per_s"]) for t, o in _pairs(runs)]
        cost = [
            _ratio(t[side]["emulator_us_per_user"], o[side]["emulator_us_per_user"])
            for t, o in _pairs(runs)
        ]
        print(
            f"- {side}: users/s this/other, paired median {_med(speed):.2f}x "
            f"(rounds: {' '.join(f'{x:.2f}' for x in speed)}); emulator CPU per user "
            f"this/other {_med(cost):.2f}x (rounds: {' '.join(f'{x:.2f}' for x in cost)})"
        )
    for emu in (OTHER, THIS):
        ratios = [_ratio(r["ours"]["users_per_s"], r["naive"]["users_per_s"]) for r in runs[emu]]
        print(
            f"- ours/naive against the {emu} emulator: median {_med(ratios):.2f}x "
            f"(rounds: {' '.join(f'{x:.2f}' for x in ratios)})"
        )


def _pairs(
    runs: dict[str, list[dict[str, SideResult]]],
) -> list[tuple[dict[str, SideResult], dict[str, SideResult]]]:
    return list(zip(runs[THIS], runs[OTHER], strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Alternate the two emulators round by round; print medians and paired ratios."""
    ns = _parse(argv)
    ids = [f"ab-{i:05d}" for i in range(ns.accounts)]
    pythons = {THIS: sys.executable, OTHER: ns.other_python}
    framings: list[StreamFraming] = [f for f in ("envelope", "ndjson") if f in ns.framings]
    runs: dict[str, dict[str, list[dict[str, SideResult]]]] = {
        f: {THIS: [], OTHER: []} for f in framings
    }
    for r in range(ns.rounds):
        for framing in framings:
            order = [THIS, OTHER] if r % 2 == 0 else [OTHER, THIS]
            for emu in order:
                result = _round(ns, pythons[emu], framing, ids, flip=r % 2 == 1)
                runs[framing][emu].append(result)
                brief = ", ".join(
                    f"{s} {x['users_per_s']:,.0f}/s emu {x['emulator_share']:.0%}"
                    for s, x in result.items()
                )
                print(f"round {r + 1} {framing} {emu}: {brief}", file=sys.stderr, flush=True)
    for framing in framings:
        _report(framing, runs[framing])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
