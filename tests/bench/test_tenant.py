"""The tenant-scale scenario's pure parts, and running "ours" with another library."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import harness
from benchmarks.procs import SideResult, run_side
from benchmarks.report import Row
from benchmarks.tenant_memory import memory_rows, memory_variants
from benchmarks.tenant_report import (
    ARROW,
    FLOOR,
    NAIVE,
    PYARROW,
    Figures,
    figures,
    side_table,
    speed_row,
)
from benchmarks.tenant_rows import workload_rows
from benchmarks.tenant_workloads import FLOOR_USERS, WORKLOADS, Sized, plan

ISSUE_SIZES = {
    "paged-1000": (2_000, 1_000),
    "paged-100": (2_000, 1_000),
    "stream-envelope": (200, 10_000),
    "stream-ndjson": (200, 10_000),
    "many": (5_000, 100),
    "many-ids": (20_000, 100),
    "memory": (520, 2_000),
}


def test_tenant_scale_1_is_the_issues_table() -> None:
    sizes = {w.workload.key: (w.accounts, w.users) for w in plan(scale=1.0, smoke=False)}
    assert sizes == ISSUE_SIZES


def test_default_scale_shrinks_accounts_not_users() -> None:
    works = {w.workload.key: w for w in plan(scale=0.05, smoke=False)}
    assert (works["paged-1000"].accounts, works["paged-1000"].users) == (100, 1_000)
    assert (works["many-ids"].accounts, works["many-ids"].users) == (1_000, 100)
    # The memory row keeps enough accounts for 512 walks at once.
    assert works["memory"].accounts == 520
    assert works["memory"].users == 500
    assert works["paged-1000"].title() == "paged, 100 accounts x 1,000 users, 1,000 per page"
    assert works["stream-ndjson"].title() == "stream (ndjson), 10 accounts x 10,000 users"


def test_smoke_runs_one_workload_per_code_path() -> None:
    works = plan(scale=1.0, smoke=True)
    extras = {extra for w in works for extra in w.workload.extras}
    assert {"shard", "discover", "pyarrow", "memory"} <= extras
    assert all(w.smoke and w.total <= 3_000 for w in works)
    assert len(works) < len(WORKLOADS)


def test_floors_parse_a_bounded_sample() -> None:
    issue = {w.workload.key: w for w in plan(scale=1.0, smoke=False)}
    assert issue["paged-1000"].floor_accounts * 1_000 == FLOOR_USERS
    small = Sized(WORKLOADS[0], 3, 1_000)
    assert small.floor_accounts == 3
    assert Sized(WORKLOADS[0], 1, 10 * FLOOR_USERS).floor_accounts == 1
    assert len(set(issue["many-ids"].ids)) == 20_000


def test_only_takes_names_and_ours_python_takes_labels() -> None:
    settings = harness.parse_args(
        ["--only", "1,tenant-scale", "--ours-python", "before=/x/bin/python"]
    )
    assert settings.only == [1, 7]
    assert settings.ours_pythons() == [("before", "/x/bin/python")]
    assert "--ours-python before=/x/bin/python" in harness.command_line(settings)
    assert harness.parse_args(["--tenant-scale", "1"]).tenant_scale == 1.0
    with pytest.raises(SystemExit):
        harness.parse_args(["--ours-python", "/no/label"])
    with pytest.raises(SystemExit):
        harness.parse_args(["--only", "no-such-scenario"])


def test_tenant_rows_runs_only_the_rows_named() -> None:
    """``--tenant-rows many,many-ids``: those rows alone (at the issue's sizes in minutes,
    not the hour of the whole scenario); it says so in the command and rewrites no docs."""
    settings = harness.parse_args(["--tenant-scale", "1", "--tenant-rows", "many, many-ids"])
    assert settings.tenant_rows == ["many", "many-ids"]
    assert "--tenant-rows many,many-ids" in harness.command_line(settings)
    works = plan(scale=1.0, smoke=False, rows=settings.tenant_rows)
    assert [(w.workload.key, w.accounts) for w in works] == [("many", 5_000), ("many-ids", 20_000)]
    assert plan(scale=1.0, smoke=False, rows=[]) == plan(scale=1.0, smoke=False)
    with pytest.raises(SystemExit):
        harness.parse_args(["--tenant-rows", "no-such-row"])


def _result(users_per_s: float, **extra: float) -> SideResult:
    out: SideResult = {
        "users": 1_000,
        "users_per_s": users_per_s,
        "wall_s": 1_000 / users_per_s,
        "cpu_s": 0.5,
        "cpu_us_per_user": 500.0,
        "gc_share_of_cpu": 0.2,
        "peak_rss_mb": 60.0,
        "rss_sweep_start_mb": 40.0,
        "emulator_cpu_s": 0.1,
    }
    out.update(extra)
    return out


def test_figures_take_medians_and_skip_failures() -> None:
    fig = figures([_result(100.0), _result(300.0), _result(200.0), {"error": "boom"}])
    assert fig.users_per_s == 200.0
    assert fig.runs == 3
    assert fig.emulator_share == pytest.approx(0.02)
    assert not figures([{"error": "boom"}]).ok


def test_speed_row_states_target_and_status() -> None:
    ours, naive = figures([_result(120.0)]), figures([_result(100.0)])
    row = speed_row("users/s", ours, NAIVE, naive, 1.1)
    assert (row.ratio, row.target, row.status) == ("1.20x", ">= 1.1x", "met")
    assert speed_row("users/s", naive, NAIVE, ours, 1.1).status == "MISSED"
    assert speed_row("users/s", ours, NAIVE, naive, None).status == "info"


def test_workload_rows_cover_targets_and_other_libraries() -> None:
    work = Sized(WORKLOADS[0], 10, 1_000)  # paged-1000, with run_shard
    figs = {
        "ours": figures([_result(120.0)]),
        "ours: run_shard": figures([_result(60.0)]),
        "ours [before]": figures([_result(80.0)]),
        "ours: run_shard [before]": figures([_result(40.0)]),
        NAIVE: figures([_result(100.0)]),
        "(c) orjson.loads floor": figures([_result(400.0)]),
    }
    rows = workload_rows(work, figs, ["before"])
    by_target = [(r.target, r.status) for r in rows]
    assert (">= 1.1x", "met") in by_target  # against the naive gather
    assert (">= 0.9x", "MISSED") in by_target  # run_shard at 0.5x of in-process
    assert ("< 10%", "MISSED") in by_target  # GC at 20%
    before = [r for r in rows if "[before]" in r.baseline]
    assert [r.ratio for r in before] == ["1.50x", "1.50x"]


def test_the_columnar_path_is_compared_with_the_orjson_floor() -> None:
    work = next(Sized(w, 10, 1_000) for w in WORKLOADS if "pyarrow" in w.extras)
    figs = {
        "ours": figures([_result(100.0)]),
        NAIVE: figures([_result(80.0)]),
        FLOOR: figures([_result(90.0)]),
        PYARROW: figures([_result(300.0)]),
        ARROW: figures([_result(180.0)]),
    }
    [row] = [r for r in workload_rows(work, figs, []) if "columnar path: " in r.measure]
    assert (row.baseline, row.ratio, row.target, row.status) == (
        f"{FLOOR} (dicts)",
        "2.00x",
        ">= 1.5x",
        "met",
    )


def test_memory_rows_compare_growth_with_the_stated_bound() -> None:
    work = Sized(WORKLOADS[-1], 520, 500)
    raw: dict[str, list[SideResult]] = {}
    for name, concurrency in memory_variants().items():
        raw[name] = [
            _result(
                1_000.0,
                largest_batch=100,
                default_buffer_records=10_000,
                default_concurrency=64,
                peak_rss_mb=40.0 + (concurrency or 64) / 8,
            )
        ]
    figs = {name: figures(results) for name, results in raw.items()}
    rows = memory_rows(work, figs, raw, per_record=2 * 2**20 / 10_000)  # 10,000 records: 2 MB
    c2, c64, c512, default, speed = rows
    # concurrency 512: growth 64 MB against (10,000 + 512 x 100) records x 209.7 B = 12.2 MB
    assert c512.status == "MISSED"
    assert "concurrency 512" in c512.measure
    assert "512 walks x 100 records" in c512.baseline
    assert c2.status == "met"  # 0.25 MB against 2.04 MB
    assert c64.status == "MISSED"  # 8 MB against (10,000 + 6,400) x 209.7 B = 3.3 MB
    assert "default (64)" in default.measure
    assert speed.target == ">= 1x"


def test_the_default_row_says_how_many_walks_an_adaptive_default_ran() -> None:
    work = Sized(WORKLOADS[-1], 520, 500)
    raw = {
        name: [
            _result(
                1_000.0,
                largest_batch=100,
                default_buffer_records=10_000,
                default_concurrency=8,
                walks=2 if concurrency is None else concurrency,
            )
        ]
        for name, concurrency in memory_variants().items()
    }
    figs = {name: figures(results) for name, results in raw.items()}
    default = memory_rows(work, figs, raw, per_record=200.0)[3]
    assert "default (2 of 8 walks, adaptive)" in default.measure
    assert "8 walks x 100 records" in default.baseline  # the bound stays the cap's


def _default_against_two(speeds: list[tuple[float, float]], walks: int) -> Row:
    """The default-against-2 row for rounds of (default, concurrency 2) users/s."""
    work = Sized(WORKLOADS[-1], 520, 500)
    raw: dict[str, list[SideResult]] = {}
    for name, concurrency in memory_variants().items():
        ran = walks if concurrency is None else concurrency
        raw[name] = [
            _result(
                default if concurrency is None else low,
                largest_batch=100,
                default_buffer_records=10_000,
                default_concurrency=8,
                walks=ran,
            )
            for default, low in speeds
        ]
    figs = {name: figures(results) for name, results in raw.items()}
    return memory_rows(work, figs, raw, per_record=200.0)[-1]


def test_a_default_that_ran_the_same_walks_as_2_is_judged_by_its_paired_rounds() -> None:
    # The same configuration twice: medians 0.99x apart, rounds either side of 1.
    rounds = [(960.0, 1_000.0), (985.0, 1_000.0), (1_000.0, 990.0), (1_010.0, 1_000.0)]
    row = _default_against_two(rounds, walks=2)
    assert row.status == "met"
    assert "paired" in row.ratio and "same 2 walks" in row.ratio


def test_a_default_slower_in_most_rounds_misses_even_with_the_same_walks() -> None:
    rounds = [(950.0, 1_000.0), (960.0, 1_000.0), (1_010.0, 1_000.0), (940.0, 1_000.0)]
    assert _default_against_two(rounds, walks=2).status == "MISSED"


def test_a_default_that_ran_more_walks_must_be_faster_by_its_medians() -> None:
    # Rounds that would pass as one configuration measured twice do not pass here.
    rounds = [(990.0, 1_000.0), (1_020.0, 1_000.0), (985.0, 1_000.0), (995.0, 1_000.0)]
    assert _default_against_two(rounds, walks=2).status == "met"
    assert _default_against_two(rounds, walks=4).status == "MISSED"
    faster = [(1_200.0, 1_000.0)] * 3
    assert _default_against_two(faster, walks=4).status == "met"


def test_side_table_lists_every_side() -> None:
    fig: Figures = figures([_result(100.0)])
    text = side_table([("paged, 1 x 1", {"ours": fig, "(c) orjson.loads floor": fig})])
    lines = [line for line in text.splitlines() if line.startswith("| paged") or "| (c)" in line]
    assert len(lines) == 2
    assert lines[1].endswith("| – |")  # no emulator share for a floor


def test_another_python_imports_its_own_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--ours-python``: the side runs these benchmarks but that interpreter's library.

    A fake ``truto_stream`` on PYTHONPATH stands for another venv's. Started from the
    repository root (as every other side is), the checkout's own library would shadow it.
    """
    fake = tmp_path / "lib" / "truto_stream"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        textwrap.dedent(
            """
            __version__ = "fake-1"
            AccountQuery = RateLimits = object
            def plan_shards(*a, **k): ...
            def run_shard(*a, **k): ...
            class Client:
                def sweep(self, model, resource, *, accounts, concurrency=7,
                          buffer_records=11): ...
            """
        )
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    other = run_side("tenant_ours:library_info", {}, python=sys.executable)
    assert other["library"] == str(fake.resolve())
    assert (other["version"], other["default_concurrency"]) == ("fake-1", 7)
    assert other["default_buffer_records"] == 11
    this = run_side("tenant_ours:library_info", {})
    assert this["library"] == str(harness.ROOT / "truto_stream")


def test_rows_are_table_rows() -> None:
    assert isinstance(speed_row("m", figures([_result(1.0)]), "b", figures([]), 1.0), Row)
