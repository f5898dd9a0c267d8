"""The sweep checkpoint store: real SQLite files, real worker threads, real SIGKILLs."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.unit.checkpoint_helpers import SWEEP_KEY, State, apply, ops, write_v1
from truto_stream.checkpoint import SCHEMA_VERSION, Checkpoint, UnitProgress
from truto_stream.errors import ConfigurationError, StorageError
from truto_stream.unit import Unit

pytestmark = pytest.mark.anyio

KEY = "usage-metering/users?mode=paged&page_size=100"
REPO = Path(__file__).resolve().parents[2]


def read_file(path: Path) -> dict[str, State]:
    """What is on disk, read by an independent connection (WAL lets it read alongside)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT unit_key, state, cursor, records, pages, error FROM units"
        ).fetchall()
    finally:
        conn.close()
    return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in rows}


def as_state(p: UnitProgress) -> State:
    return (p.state, p.cursor, p.records, p.pages, p.error)


async def wait_until(predicate: Callable[[], bool], *, bound: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``bound`` seconds."""
    with anyio.fail_after(bound):
        # Polling the file (not an event) is the point: it proves the rows reached disk.
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def test_round_trip_of_every_state(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY)
    cp.commit_page("a-progress", "c1", 100)
    cp.commit_page("a-progress", "c2", 40)
    cp.commit_page("a-done", "x1", 10)
    cp.commit_page("a-done", None, 5)
    cp.mark_done("a-done")
    cp.commit_page("a-failed", "f1", 7)
    cp.mark_failed("a-failed", "HTTP 503 account_blocked: 'quoted' \"and\" ünïcode\n2nd line")
    cp.mark_skipped("a-skipped", "not connected")
    cp.commit_page("a-reset", "r1", 3)
    cp.reset("a-reset")
    cp.mark_done("a-done-empty")
    before = {p.unit_key: p for p in cp.all()}
    await cp.flush()
    assert cp.pending == 0
    await cp.aclose()

    cp2 = await Checkpoint.open(path, KEY)
    try:
        after = {p.unit_key: p for p in cp2.all()}
        assert after == before  # updated_at included: REAL round-trips exactly
        assert as_state(after["a-progress"]) == ("in_progress", "c2", 140, 2, None)
        assert as_state(after["a-done"]) == ("done", None, 15, 2, None)
        failed = after["a-failed"]
        assert as_state(failed) == ("failed", "f1", 7, 1, failed.error)
        assert failed.error is not None
        assert failed.error.endswith("2nd line")
        assert as_state(after["a-skipped"]) == ("skipped", None, 0, 0, "not connected")
        assert as_state(after["a-reset"]) == ("in_progress", None, 0, 0, None)
        assert as_state(after["a-done-empty"]) == ("done", None, 0, 0, None)
        assert cp2.get("nobody") is None
        assert cp2.get("a-progress") == before["a-progress"]
    finally:
        await cp2.aclose()


async def test_a_rerun_resumes_and_retries(tmp_path: Path) -> None:
    """Failed and skipped accounts can be committed again; done ones cannot until reset."""
    path = tmp_path / "cp.sqlite"
    async with await Checkpoint.open(path, KEY) as cp:
        cp.commit_page("f", "f1", 10)
        cp.mark_failed("f", "timeout")
        cp.mark_skipped("s", "blocked")
        cp.commit_page("d", None, 1)
        cp.mark_done("d")
    async with await Checkpoint.open(path, KEY) as cp:
        f = cp.get("f")
        assert f is not None
        assert (f.state, f.cursor) == ("failed", "f1")
        cp.commit_page("f", "f2", 5)
        assert as_state(cp.get("f")) == ("in_progress", "f2", 15, 2, None)  # type: ignore[arg-type]
        cp.commit_page("s", "s1", 1)
        assert as_state(cp.get("s")) == ("in_progress", "s1", 1, 1, None)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="already done"):
            cp.commit_page("d", "again", 1)
        assert as_state(cp.get("d")) == ("done", None, 1, 1, None)  # type: ignore[arg-type]
        cp.reset("d")
        cp.commit_page("d", "d1", 2)
    assert read_file(path) == {
        "f": ("in_progress", "f2", 15, 2, None),
        "s": ("in_progress", "s1", 1, 1, None),
        "d": ("in_progress", "d1", 2, 1, None),
    }


async def test_updates_coalesce_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY)
    try:
        for i in range(1, 501):
            cp.commit_page("a", f"cursor-{i}", i)
        cp.commit_page("b", "b1", 1)
        assert cp.pending == 2  # two accounts to write, however many updates
        assert as_state(cp.get("a")) == ("in_progress", "cursor-500", 125250, 500, None)  # type: ignore[arg-type]
        await cp.flush()
        assert cp.pending == 0
        assert read_file(path) == {
            "a": ("in_progress", "cursor-500", 125250, 500, None),
            "b": ("in_progress", "b1", 1, 1, None),
        }
        # Counts keep accumulating across flushes, from the stored totals.
        cp.commit_page("a", "cursor-501", 1)
        cp.mark_failed("a", "boom")
        await cp.flush()
        assert read_file(path)["a"] == ("failed", "cursor-501", 125251, 501, "boom")
    finally:
        await cp.aclose()


async def test_background_flusher_flushes_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    async with await Checkpoint.open(path, KEY, flush_interval=0.02) as cp:
        cp.commit_page("a", "c1", 10)
        await wait_until(lambda: read_file(path).get("a") == ("in_progress", "c1", 10, 1, None))
        cp.mark_done("a")
        await wait_until(lambda: read_file(path).get("a") == ("done", "c1", 10, 1, None))
        assert cp.pending == 0


async def test_max_pending_wakes_the_flusher_early(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    # An interval far longer than the test bound: only max_pending can trigger this flush.
    async with await Checkpoint.open(path, KEY, flush_interval=3600, max_pending=10) as cp:
        for i in range(10):
            cp.commit_page(f"a{i}", "c", 1)
        await wait_until(lambda: len(read_file(path)) == 10)


async def test_exit_flushes_even_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY, flush_interval=3600)
    with anyio.CancelScope() as scope:
        async with cp:
            cp.commit_page("a", "c1", 3)
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert cp.closed
    assert read_file(path) == {"a": ("in_progress", "c1", 3, 1, None)}


async def test_aclose_is_idempotent_and_final(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY)
    cp.mark_skipped("a", "why")
    await cp.aclose()
    await cp.aclose()
    await cp.flush()  # nothing left to do, no error
    with pytest.raises(RuntimeError, match="closed"):
        cp.commit_page("a", "c", 1)
    assert read_file(path) == {"a": ("skipped", None, 0, 0, "why")}


async def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        await Checkpoint.open(tmp_path / "x", "")
    with pytest.raises(ConfigurationError):
        await Checkpoint.open(tmp_path / "x", KEY, flush_interval=0)
    with pytest.raises(ConfigurationError):
        await Checkpoint.open(tmp_path / "x", KEY, max_pending=0)
    async with await Checkpoint.open(tmp_path / "x", KEY) as cp:
        with pytest.raises(ValueError, match="non-negative"):
            cp.commit_page("a", "c", -1)
        assert cp.get("a") is None


async def test_another_sweeps_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    async with await Checkpoint.open(path, KEY) as cp:
        cp.commit_page("a", "c1", 1)
    other = "usage-metering/users?mode=stream"
    with pytest.raises(ConfigurationError, match="different sweep") as info:
        await Checkpoint.open(path, other)
    assert KEY in str(info.value)
    assert other in str(info.value)
    # Refusing left the file as it was.
    async with await Checkpoint.open(path, KEY) as cp:
        assert as_state(cp.get("a")) == ("in_progress", "c1", 1, 1, None)  # type: ignore[arg-type]


async def test_files_that_are_not_checkpoints_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not SQLite at all\n" * 100)
    with pytest.raises(ConfigurationError, match="cannot open checkpoint"):
        await Checkpoint.open(text, KEY)

    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigurationError, match="not a truto-stream checkpoint"):
        await Checkpoint.open(foreign, KEY)

    newer = tmp_path / "newer.sqlite"
    await (await Checkpoint.open(newer, KEY)).aclose()
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ConfigurationError, match="schema version"):
        await Checkpoint.open(newer, KEY)

    with pytest.raises(ConfigurationError, match="cannot open checkpoint"):
        await Checkpoint.open(tmp_path / "no" / "such" / "dir" / "cp.sqlite", KEY)


async def test_a_failed_write_keeps_updates_buffered(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY)
    try:
        cp.commit_page("a", "c1", 1)
        await cp.flush()
        # Another connection makes every write fail (a real SQLite error, no mock).
        conn = sqlite3.connect(path)
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER no_{event.lower()} BEFORE {event} ON units"
                " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
            )
        conn.commit()
        cp.commit_page("a", "c2", 2)
        cp.mark_skipped("b", "later")
        with pytest.raises(StorageError, match="disk says no") as failed:
            await cp.flush()
        assert isinstance(failed.value.__cause__, sqlite3.DatabaseError)
        assert cp.pending == 2
        cp.commit_page("a", "c3", 3)  # updates keep coalescing meanwhile
        conn.execute("DROP TRIGGER no_insert")
        conn.execute("DROP TRIGGER no_update")
        conn.commit()
        conn.close()
        await cp.flush()
        assert read_file(path) == {
            "a": ("in_progress", "c3", 6, 3, None),
            "b": ("skipped", None, 0, 0, "later"),
        }
    finally:
        await cp.aclose()


async def test_a_failing_background_flush_surfaces(tmp_path: Path) -> None:
    """A write error in the background flusher is not swallowed: it ends the block."""
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY, flush_interval=0.005)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TRIGGER no_insert BEFORE INSERT ON units"
        " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    conn.commit()
    conn.close()
    with pytest.RaisesGroup(pytest.RaisesExc(StorageError, match="disk says no")):
        with anyio.fail_after(10):
            async with cp:
                cp.commit_page("a", "c1", 1)
                await anyio.sleep_forever()  # ended by the flusher's failure
    assert cp.closed
    assert cp.pending == 1  # the update was never written, and is reported as such


async def test_shards_can_share_one_file(tmp_path: Path) -> None:
    """Checkpoints in other threads with their own event loops, plus one here, on one file,
    each updating its own accounts (as the shards of one sweep do): nothing is lost."""
    path = tmp_path / "shared.sqlite"

    async def shard(n: int) -> None:
        async with await Checkpoint.open(path, KEY, flush_interval=0.001, max_pending=5) as cp:
            for page in range(1, 201):
                for acct in range(10):
                    cp.commit_page(f"shard{n}-a{acct}", f"p{page}", 1)
                await anyio.lowlevel.checkpoint()
            cp.mark_done(f"shard{n}-a0")

    threads = [threading.Thread(target=anyio.run, args=(shard, n)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    try:
        await shard(0)
    finally:
        for t in threads:
            await anyio.to_thread.run_sync(t.join, 60)
    assert not any(t.is_alive() for t in threads)
    on_disk = read_file(path)
    assert len(on_disk) == 40
    for n in range(4):
        for acct in range(10):
            state = "done" if acct == 0 else "in_progress"
            assert on_disk[f"shard{n}-a{acct}"] == (state, "p200", 200, 200, None)


def _open_together(
    path: Path, barrier: threading.Barrier, failures: list[BaseException], n: int
) -> None:
    """Thread body: wait for the others, then open the checkpoint on a private event loop."""

    async def main() -> None:
        async with await Checkpoint.open(path, KEY) as cp:
            cp.mark_done(f"a{n}")

    barrier.wait()
    try:
        anyio.run(main)
    except BaseException as exc:
        failures.append(exc)


def test_concurrent_openers_of_a_new_file(tmp_path: Path) -> None:
    """Shards starting together race to create one file; every one of them gets in."""
    for trial in range(10):
        path = tmp_path / f"new-{trial}.sqlite"
        barrier = threading.Barrier(6)
        failures: list[BaseException] = []
        threads = [
            threading.Thread(target=_open_together, args=(path, barrier, failures, n))
            for n in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert len(read_file(path)) == 6


async def test_aclose_under_cancellation_still_writes(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    cp = await Checkpoint.open(path, KEY)
    cp.commit_page("a", "c1", 2)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await cp.aclose()
    assert cp.closed
    assert read_file(path) == {"a": ("in_progress", "c1", 2, 1, None)}


async def test_wrong_types_are_refused(tmp_path: Path) -> None:
    async with await Checkpoint.open(tmp_path / "cp.sqlite", KEY) as cp:
        with pytest.raises(TypeError):
            cp.commit_page("a", 17, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            cp.mark_failed(42, "x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-negative"):
            cp.commit_page("a", "c", True)
        assert cp.all() == []


async def test_two_checkpoints_side_by_side(tmp_path: Path) -> None:
    """Two sweeps in one event loop, on two files, interleaving updates and flushes."""
    paths = [tmp_path / "one.sqlite", tmp_path / "two.sqlite"]
    keys = ["usage-metering/users?mode=paged", "usage-metering/users?mode=stream"]

    async def sweep(n: int) -> None:
        rng = random.Random(n)
        async with await Checkpoint.open(
            paths[n], keys[n], flush_interval=0.001, max_pending=7
        ) as cp:
            for page in range(1, 301):
                for acct in range(20):
                    cp.commit_page(f"s{n}-a{acct}", f"s{n}-p{page}", n + 1)
                if rng.random() < 0.1:
                    await cp.flush()
                await anyio.lowlevel.checkpoint()
            for acct in range(0, 20, 2):
                cp.mark_done(f"s{n}-a{acct}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(sweep, 0)
        tg.start_soon(sweep, 1)

    for n in (0, 1):
        on_disk = read_file(paths[n])
        assert set(on_disk) == {f"s{n}-a{acct}" for acct in range(20)}
        for acct in range(20):
            state = "done" if acct % 2 == 0 else "in_progress"
            assert on_disk[f"s{n}-a{acct}"] == (state, f"s{n}-p300", 300 * (n + 1), 300, None)
        with pytest.raises(ConfigurationError):
            await Checkpoint.open(paths[n], keys[1 - n])


async def test_a_large_store_opens_and_flushes(tmp_path: Path) -> None:
    """100k accounts: write them all, reopen, update them all (it works; no timing asserts)."""
    path = tmp_path / "big.sqlite"
    n = 100_000
    async with await Checkpoint.open(path, KEY, max_pending=n + 1) as cp:
        for i in range(n):
            cp.commit_page(f"account-{i:06d}", f"cursor-{i}", 100)
        await cp.flush()
    async with await Checkpoint.open(path, KEY, max_pending=n + 1) as cp:
        rows = cp.all()
        assert len(rows) == n
        assert sum(p.records for p in rows) == 100 * n
        for i in range(n):
            account = f"account-{i:06d}"
            if i % 3 == 0:
                cp.mark_done(account)
            else:
                cp.commit_page(account, f"cursor-{i}-2", 1)
        await cp.flush()
    conn = sqlite3.connect(path)
    try:
        counts = dict(conn.execute("SELECT state, count(*) FROM units GROUP BY state"))
        total = conn.execute("SELECT sum(records) FROM units").fetchone()[0]
    finally:
        conn.close()
    assert counts == {"done": 33_334, "in_progress": 66_666}
    assert total == 100 * n + 66_666


# -- schema 2: units, parts of pages, the sink position -----------------------------------


async def test_units_with_dates_and_parts_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    day1 = Unit.of("acct", date="2026-11-20")
    day2 = Unit.of("acct", date="2026-11-21")
    async with await Checkpoint.open(path, KEY) as cp:
        cp.commit_page(day1, "p2", 100)
        cp.commit_part(day1, "p2", 40, "user-140", 40)
        cp.commit_part(day2, None, 7, "user-7", 7)  # a stream cut after 7 records
        cp.mark_failed(day2, "timeout")
        with pytest.raises(TypeError):
            cp.commit_part(day1, "p2", 41, None, 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-negative"):
            cp.commit_part(day1, "p2", -1, "x", 1)
    assert day1.key != day2.key
    async with await Checkpoint.open(path, KEY) as cp:
        one, two = cp.get(day1.key), cp.get(day2.key)
        assert one is not None and two is not None
        assert (one.account_id, one.date, one.state) == ("acct", "2026-11-20", "in_progress")
        assert (one.cursor, one.skip, one.last_id, one.records, one.pages) == (
            "p2",
            40,
            "user-140",
            140,
            1,
        )
        # A failed unit keeps its position: a rerun resumes it in the middle of the stream.
        assert (two.state, two.cursor, two.skip, two.last_id, two.error) == (
            "failed",
            None,
            7,
            "user-7",
            "timeout",
        )
        # The end of the page clears the part position.
        cp.commit_page(day1, "p3", 60)
        again = cp.get(day1.key)
        assert again is not None
        assert (again.cursor, again.skip, again.last_id, again.records, again.pages) == (
            "p3",
            0,
            None,
            200,
            2,
        )


async def test_the_sink_position_and_the_units_share_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    async with await Checkpoint.open(path, KEY) as cp:
        assert cp.sink_position is None
        cp.commit_page("a", "c1", 10)
        cp.put_sink({"offset": 1234, "records": 10})
        with pytest.raises(TypeError, match="JSON"):
            cp.put_sink({"offset": object()})
    async with await Checkpoint.open(path, KEY) as cp:
        assert cp.sink_position == {"offset": 1234, "records": 10}
    # Make the sink write fail: the unit written with it must not land either.
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TRIGGER no_sink BEFORE UPDATE ON sink BEGIN SELECT RAISE(ABORT, 'full'); END"
    )
    conn.commit()
    conn.close()
    cp = await Checkpoint.open(path, KEY)
    cp.commit_page("a", "c2", 5)
    cp.put_sink({"offset": 2000, "records": 15})
    with pytest.raises(StorageError, match="full"):
        await cp.flush()
    assert read_file(path)["a"] == ("in_progress", "c1", 10, 1, None)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER no_sink")
    conn.commit()
    conn.close()
    await cp.aclose()  # the buffered pair is written now, together
    assert read_file(path)["a"] == ("in_progress", "c2", 15, 2, None)
    async with await Checkpoint.open(path, KEY) as cp:
        assert cp.sink_position == {"offset": 2000, "records": 15}


async def test_a_version_1_checkpoint_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    write_v1(
        path,
        KEY,
        [
            ("a", "in_progress", "c7", 700, 7, None),
            ("b", "done", None, 50, 1, None),
            ("c", "failed", "c2", 20, 2, "HTTP 500"),
        ],
    )
    async with await Checkpoint.open(path, KEY) as cp:
        a = cp.get("a")
        assert a is not None
        assert (a.account_id, a.date, a.cursor, a.skip, a.last_id, a.records) == (
            "a",
            None,
            "c7",
            0,
            None,
            700,
        )
        assert as_state(cp.get("b")) == ("done", None, 50, 1, None)  # type: ignore[arg-type]
        assert as_state(cp.get("c")) == ("failed", "c2", 20, 2, "HTTP 500")  # type: ignore[arg-type]
        assert cp.sink_position is None  # a version 1 run recorded no output position
        cp.commit_part("a", "c7", 3, "u3", 3)
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert version == SCHEMA_VERSION == 2
    assert tables == {"schema_version", "sweep", "units", "sink"}
    assert read_file(path)["a"] == ("in_progress", "c7", 703, 7, None)
    # A version 1 checkpoint of another sweep is still refused, and left as it was.
    other = tmp_path / "v1-other.sqlite"
    write_v1(other, "another sweep", [("a", "done", None, 1, 1, None)])
    with pytest.raises(ConfigurationError, match="different sweep"):
        await Checkpoint.open(other, KEY)
    conn = sqlite3.connect(other)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    finally:
        conn.close()


# -- kill -9 ------------------------------------------------------------------------------

ACCOUNTS = 300
HELPER = "tests.unit.checkpoint_helpers.committer"


def check_after_kill(path: Path, seed: int, last_flushed: int) -> int:
    """Check the file holds the state after some prefix of the update stream that includes
    every update announced as flushed; return the length of that prefix."""
    on_disk: dict[str, State] = {}
    if path.exists():
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
        # Killed before the schema transaction committed: nothing at all, never half.
        assert tables in (set(), {"schema_version", "sweep", "units", "sink"}), tables
        if tables:
            on_disk = read_file(path)

    # Walk the model forward, tracking which accounts still differ from the file; the
    # file must match the model at some step at or after the last announced flush.
    model: dict[str, State] = {}
    differ = set(on_disk)
    steps = 0
    if not differ and last_flushed < 0:
        return 0
    for op in ops(seed, ACCOUNTS):
        apply(model, op)
        steps = op.step + 1
        if model[op.account] == on_disk.get(op.account):
            differ.discard(op.account)
        else:
            differ.add(op.account)
        if not differ and op.step >= last_flushed:
            return steps
        if op.step > last_flushed + 2_000_000:
            break
    raise AssertionError(
        f"the file matches no prefix of the updates that includes step {last_flushed}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "early"),
    [(seed, False) for seed in range(1, 6)] + [(seed, True) for seed in range(6, 10)],
)
def test_kill_9_loses_nothing_flushed(tmp_path: Path, seed: int, early: bool) -> None:
    """SIGKILL a process that keeps committing; the file must hold a consistent prefix."""
    path = tmp_path / "crash.sqlite"
    rng = random.Random(seed)
    proc = subprocess.Popen(
        [sys.executable, "-m", HELPER, str(path), str(seed), str(ACCOUNTS)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    last_flushed = -1
    try:
        if early:
            # Kill around the creation of the file and its schema: poll (bounded) for the
            # file to appear, then wait a random few milliseconds (fault injection, not
            # synchronisation: any outcome is checked).
            deadline = time.monotonic() + 30
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.0002)
            time.sleep(rng.uniform(0.0, 0.004))
        else:
            assert proc.stdout.readline().strip() == "ready"
            for _ in range(rng.randint(1, 60)):
                line = proc.stdout.readline()
                assert line.startswith("flushed "), line
                last_flushed = int(line.split()[1])
            time.sleep(rng.uniform(0.0, 0.01))  # fault injection: spread the kill moment
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for line in rest.splitlines():
        if line.startswith("flushed "):
            last_flushed = int(line.split()[1])

    if not path.exists():
        assert last_flushed < 0
    prefix = check_after_kill(path, seed, last_flushed)
    assert prefix >= last_flushed + 1
    print(f"seed {seed}: killed after step >= {last_flushed}; file holds the first {prefix}")

    # And the store reopens on that state and can carry on.
    async def reopen() -> None:
        async with await Checkpoint.open(path, SWEEP_KEY) as cp:
            assert {p.unit_key: as_state(p) for p in cp.all()} == read_file(path)
            cp.commit_page("after-crash", "c", 1)
        assert read_file(path)["after-crash"] == ("in_progress", "c", 1, 1, None)

    anyio.run(reopen)
