"""Scenario 7: tenant scale (issue #15), every side in one run.

The rows of the issue's table (see :mod:`benchmarks.tenant_workloads`): paged sweeps of
many 1,000-user accounts at 1,000 and 100 per page, stream sweeps of 10,000-user accounts
(envelope and NDJSON), paged sweeps of many 100-user accounts (given as ids, and discovered
with ``AccountQuery``), ``run_shard`` in one process against the in-process sweep, and
peak memory at concurrency 2, 64, 512 and the default. Beside ours, in their own processes:
the naive ``asyncio.gather`` + aiohttp + orjson loop, ``orjson.loads`` of the same bytes,
and for NDJSON ``pyarrow.json`` over them. ``--ours-python LABEL=PYTHON`` adds the "ours"
sides again with another interpreter's library (another commit's, in its own venv).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from benchmarks.emu import TOKEN, EmulatorHandle, running_emulator
from benchmarks.harness import Context, Side, first_error
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideError, SideResult, run_side
from benchmarks.report import ScenarioResult
from benchmarks.tenant_memory import memory_rows, memory_variants, record_footprint
from benchmarks.tenant_report import ARROW, FLOOR, NAIVE, PYARROW, figures, side_table
from benchmarks.tenant_rows import labelled, workload_rows
from benchmarks.tenant_workloads import Sized, plan, specs
from truto_stream.emulator import EmulatorConfig
from truto_stream.emulator.config import StreamFraming

TITLE = "tenant scale"

Variants = list[tuple[str, str | None]]


def _config(works: list[Sized], framing: StreamFraming) -> EmulatorConfig:
    """One emulator for these workloads; its page cache sized to their paged bytes."""
    paged = sum(w.total for w in works if w.workload.mode == "paged")
    return EmulatorConfig(
        accounts=tuple(spec for work in works for spec in specs(work)),
        token_limit=0,
        account_limit=0,
        stream_framing=framing,
        page_cache_mb=min(2048, max(64, paged * 900 // 2**20 + 64)),
    )


def _args(emu: EmulatorHandle, work: Sized) -> dict[str, Any]:
    w = work.workload
    return {
        "url": emu.url,
        "token": TOKEN,
        "accounts": work.ids,
        "tenant": w.tenant,
        "mode": w.mode,
        "framing": w.framing,
        "stream": w.mode == "stream",
        "params": {"limit": w.limit} if w.limit else {},
        "rate_limits": NON_BINDING_LIMITS,
    }


def _ours(work: Sized, args: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The "ours" sides of a workload: name -> (target, args)."""
    extras = work.workload.extras
    if "memory" in extras:
        return {
            name: ("tenant_ours:tenant_sweep", dict(args, concurrency=c))
            for name, c in memory_variants(smoke=work.smoke).items()
        }
    ours = {"ours": ("tenant_ours:tenant_sweep", args)}
    if "shard" in extras:
        ours["ours: run_shard"] = ("tenant_ours:tenant_shard", args)
    if "discover" in extras:
        ours["ours: discovered"] = ("tenant_ours:tenant_sweep", dict(args, discover=True))
    return ours


def _sides(work: Sized, args: dict[str, Any], variants: Variants) -> dict[str, Side]:
    """Ours (once per library), the naive gather and the floors of one workload."""
    sides = {
        labelled(name, label): Side(target, a, python=python, expect_users=work.total)
        for name, (target, a) in _ours(work, args).items()
        for label, python in variants
    }
    extras = work.workload.extras
    if "memory" in extras:
        return sides
    if "pyarrow" in extras:  # this library's columnar path (the first version had none)
        sides[ARROW] = Side("tenant_ours:tenant_arrow", args, expect_users=work.total)
    sides[NAIVE] = Side("baselines:naive_gather", args, expect_users=work.total)
    sample = dict(args, accounts=work.ids[: work.floor_accounts])
    floor_users = work.floor_accounts * work.users
    if "no-floor" not in extras:
        sides[FLOOR] = Side("tenant_floors:orjson_floor", sample, expect_users=floor_users)
    if "pyarrow" in extras:
        sides[PYARROW] = Side("tenant_floors:pyarrow_floor", sample, expect_users=floor_users)
    return sides


def _measure(
    ctx: Context, emu: EmulatorHandle, work: Sized, variants: Variants
) -> dict[str, list[SideResult]]:
    """Warm the emulator (every page, or every stream's batches as far as they fit, into
    its page cache), then every side, interleaved."""
    args = _args(emu, work)
    ctx.log(f"tenant scale: {work.title()}")
    if work.workload.mode == "paged":
        ctx.warm(emu, Side("baselines:warm_pages", args))
    else:
        ctx.warm(emu, Side("baselines:naive_gather", args))
    return ctx.measure(emu, _sides(work, args, variants))


def _library_note(label: str, python: str | None) -> str:
    """Which library a label's sides import, and at which commit."""
    try:
        info = run_side("tenant_ours:library_info", {}, python=python)
    except (SideError, OSError) as exc:
        return f"ours [{label}]: {python} could not run: {exc}"
    where = Path(str(info.get("library", "")))
    commit = "unknown commit"
    try:
        git = ["git", "-C", str(where), "rev-parse", "--short", "HEAD"]
        commit = subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()
        dirty = ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no", "."]
        if subprocess.run(dirty, capture_output=True, text=True, check=True).stdout.strip():
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    name = f"ours [{label}]" if label else "ours"
    return (
        f"{name}: `{python or 'this interpreter'}`, truto_stream from `{where}` at {commit}; "
        f"sweep defaults: concurrency {info.get('default_concurrency')} "
        f"(stream {info.get('default_concurrency_stream')}), "
        f"buffer_records {info.get('default_buffer_records')}; "
        + (
            "sweeps run with `tune_gc=True` (the documented opt-in)."
            if info.get("tune_gc")
            else "no `tune_gc` opt-in (the collector as the process has it)."
        )
    )


def run(ctx: Context) -> ScenarioResult:
    """Every workload on its emulator (one per stream framing); rows; the side table."""
    result = ScenarioResult(7, TITLE)
    variants: Variants = [("", None), *ctx.settings.ours_pythons()]
    result.notes += [_library_note(label, python) for label, python in variants]
    scale = ctx.settings.tenant_scale * ctx.settings.scale
    works = plan(scale=scale, smoke=ctx.smoke, rows=ctx.settings.tenant_rows)
    runs: dict[str, dict[str, list[SideResult]]] = {}
    per_record = float("nan")
    framings: tuple[StreamFraming, ...] = ("envelope", "ndjson")
    for framing in framings:
        group = [work for work in works if work.workload.framing == framing]
        if not group:
            continue
        with running_emulator(_config(group, framing)) as emu:
            for work in group:
                if "memory" in work.workload.extras:
                    per_record = record_footprint(emu.url, TOKEN, work.ids[0])
                runs[work.workload.key] = _measure(ctx, emu, work, variants)
    labels = [label for label, _python in variants if label]
    blocks = []
    for work in works:
        sides = runs[work.workload.key]
        for name, results in sides.items():
            result.raw[f"{work.workload.key}/{name}"] = results
            error = first_error(results)
            if error:
                result.notes.append(f"{work.title()}, {name} failed: {error}")
        figs = {name: figures(results) for name, results in sides.items()}
        blocks.append((work.title(), figs))
        if "memory" in work.workload.extras:
            result.rows += memory_rows(work, figs, sides, per_record)
        else:
            result.rows += workload_rows(work, figs, labels)
    result.tables.append(side_table(blocks))
    return result
