"""``python -m benchmarks.scale_out``: one stream-mode sweep on 1 process, on N, on Ray.

The same stream-mode sweep of ``usage-metering/users`` (the CLI, into an NDJSON file)
against the emulator in its own process on this machine, run as ``truto-stream sweep``
with ``--processes 1`` and ``--processes N``; on local Ray (``truto_stream.ray``) when
it is installed. For each: users/s, wall time, the CPU seconds of the sweep (every
process of it) and of the emulator, the emulator's share of the CPU used, and the peak
RSS of each worker process (the parent, then each shard).

On a 2-core machine with the emulator on the same machine, the emulator is the third
party on the two cores: whatever it takes is not there for parsing. Read the speed-up
with the emulator's share beside it. Runs on its own (not in ``python -m benchmarks``)::

    python -m benchmarks.scale_out                  # 20 accounts x 10,000 users, ~a minute
    python -m benchmarks.scale_out --scale 0.1      # a tenth of that
    python -m benchmarks.scale_out --smoke          # seconds
    python -m benchmarks.scale_out --processes 4 --rounds 3 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.emu import TOKEN, EmulatorHandle, accounts, running_emulator
from benchmarks.procs import read_vm_kb
from truto_stream.emulator import EmulatorConfig

__all__ = ["main", "run"]

USERS = 10_000
ACCOUNTS = 20
_RAY_NOTE = "Ray: not measured (truto_stream.ray is not installed in this checkout)"


class _PeakRss:
    """Polls the peak RSS (VmHWM) of a process and of its descendants while it runs."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._root = pid
        self._interval = interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree(self._root):
                with contextlib.suppress(OSError, KeyError):  # it ended meanwhile
                    self.peaks[pid] = max(self.peaks.get(pid, 0), read_vm_kb("VmHWM", pid))
            self._stop.wait(self._interval)

    def _tree(self, pid: int) -> list[int]:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [pid, *(p for child in children for p in self._tree(int(child)))]

    def workers_mb(self) -> list[float]:
        """Peak RSS per process, in MB: the parent first, then the shards by pid."""
        root = self.peaks.get(self._root, 0)
        shards = [kb for pid, kb in sorted(self.peaks.items()) if pid != self._root]
        return [round(kb / 1024, 1) for kb in (root, *shards)]


def _cli_side(url: str, processes: int, out: Path) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "truto_stream.cli", "sweep", "usage-metering/users",
        "--base-url", url, "--mode", "stream", "--processes", str(processes),
        "--output", str(out), "--progress", "never", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "TRUTO_API_TOKEN": TOKEN}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with _PeakRss(child.pid) as rss:
        _, err = child.communicate()
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise RuntimeError(f"--processes {processes}: exit {child.returncode}: {err[-2000:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with out.open("rb") as fh:
        records = sum(1 for _ in fh)
    return {"records": records, "seconds": seconds, "cpu_s": cpu, "rss_mb": rss.workers_mb()}


def _measure(emu: EmulatorHandle, name: str, processes: int, out: Path) -> dict[str, Any]:
    emu.reset(rate_limits=True)
    emu_before = emu.cpu_seconds()
    result = _cli_side(emu.url, processes, out)
    emu_cpu = emu.cpu_seconds() - emu_before
    result.update(
        name=name,
        users_per_s=result["records"] / result["seconds"],
        emulator_cpu_s=emu_cpu,
        emulator_share=emu_cpu / (emu_cpu + result["cpu_s"]) if emu_cpu else 0.0,
        rate_limited=sum(int(v) for v in emu.stats()["rate_limited"].values()),
    )
    return result


def run(*, scale: float, processes: int, rounds: int, smoke: bool = False) -> dict[str, Any]:
    """Every side ``rounds`` times, interleaved; the medians and each run."""
    count, users = (4, 500) if smoke else (max(2, round(ACCOUNTS * scale)), USERS)
    config = EmulatorConfig(tokens=(TOKEN,), seed=7, accounts=accounts(count, users))
    sides = (("1 process", 1), (f"--processes {processes}", processes))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    with tempfile.TemporaryDirectory() as tmp, running_emulator(config) as emu:
        for _ in range(rounds):
            for name, n in sides:
                out = Path(tmp) / f"users-{n}.ndjson"
                runs[name].append(_measure(emu, name, n, out))
                out.unlink()
    rows = [_median(name, results) for name, results in runs.items()]
    base = rows[0]["users_per_s"]
    for row in rows:
        row["speedup"] = row["users_per_s"] / base if base else 0.0
    return {"accounts": count, "users": users, "cores": os.cpu_count(), "rows": rows,
            "runs": runs, "notes": [_RAY_NOTE] if not _ray_available() else []}  # fmt: skip


def _ray_available() -> bool:
    try:
        import truto_stream.ray  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def _median(name: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    mid = sorted(results, key=lambda r: r["users_per_s"])[len(results) // 2]
    row = dict(mid)
    row["users_per_s"] = statistics.median(r["users_per_s"] for r in results)
    row["name"] = name
    return row


def _table(summary: dict[str, Any]) -> str:
    lines = [
        f"stream sweep, {summary['accounts']} accounts x {summary['users']:,} users,"
        f" {summary['cores']} cores, emulator on the same machine",
        "",
        "| side | users/s | speed-up | wall s | sweep CPU s | emulator CPU s"
        " | emulator share | peak RSS per worker (MB) | 429s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        rss = " / ".join(f"{mb:g}" for mb in r["rss_mb"])
        lines.append(
            f"| {r['name']} | {r['users_per_s']:,.0f} | {r['speedup']:.2f}x | {r['seconds']:.1f}"
            f" | {r['cpu_s']:.1f} | {r['emulator_cpu_s']:.1f} | {r['emulator_share']:.0%}"
            f" | {rss} | {r['rate_limited']} |"
        )
    lines += ["", *summary["notes"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_out")
    parser.add_argument("--scale", type=float, default=1.0, help="accounts x this (default 1)")
    parser.add_argument("--processes", type=int, default=2, help="shard processes (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    parser.add_argument("--smoke", action="store_true", help="tiny, seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    summary = run(scale=args.scale, processes=args.processes, rounds=args.rounds, smoke=args.smoke)
    print(_table(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
