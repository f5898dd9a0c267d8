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

from benchmarks.emu import TOKEN, EmulatorHandle, account_ids, accounts, running_emulator
from benchmarks.procs import read_vm_kb
from truto_stream.emulator import EmulatorConfig

__all__ = ["main", "run"]

USERS = 10_000
ACCOUNTS = 20
_RAY_NOTE = "Ray: not measured (truto_stream.ray or ray is not installed here)"


class _PeakRss:
    """Polls the peak RSS (VmHWM) of a process and of its descendants while it runs."""

    def __init__(self, pid: int, interval: float = 0.05, *, only: bytes = b"") -> None:
        self._root = pid
        self._interval = interval
        self._only = only  # descendants whose command line holds this (Ray's workers)
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
                    if pid == self._root or self._only in _cmdline(pid):
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


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


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


#: The Ray side, in a fresh interpreter: one local Ray with ``num_cpus`` CPUs, the same
#: stream sweep read as a dataset (timed from ``read_truto``, Ray's own start-up excluded).
_RAY_SCRIPT = """
import json, sys, time
import ray
from truto_stream.ray import read_truto
url, cpus = sys.argv[1], int(sys.argv[2])
ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
started = time.monotonic()
ds = read_truto("usage-metering/users", accounts=[], mode="stream", shards=cpus,
                base_url=url, max_concurrent_shards=cpus)
records = sum(batch.num_rows for batch in ds.iter_batches(batch_format="pyarrow"))
print("RAY_RESULT " + json.dumps({"records": records, "seconds": time.monotonic() - started}))
ray.shutdown()
"""


def _ray_side(url: str, cpus: int, ids: list[str]) -> dict[str, Any]:
    script = _RAY_SCRIPT.replace("accounts=[]", f"accounts={ids!r}")
    env = {**os.environ, "TRUTO_API_TOKEN": TOKEN}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(
        [sys.executable, "-c", script, url, str(cpus)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    with _PeakRss(child.pid, only=b"default_worker") as rss:
        out, err = child.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.decode().splitlines() if line.startswith("RAY_RESULT ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"ray: exit {child.returncode}: {err[-2000:]!r}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RAY_RESULT "))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(cpu_s=cpu, rss_mb=rss.workers_mb())
    return result


def _measure(emu: EmulatorHandle, name: str, side: Any) -> dict[str, Any]:
    emu.reset(rate_limits=True)
    emu_before = emu.cpu_seconds()
    result: dict[str, Any] = side()
    emu_cpu = emu.cpu_seconds() - emu_before
    result.update(
        name=name,
        users_per_s=result["records"] / result["seconds"],
        emulator_cpu_s=emu_cpu,
        emulator_share=emu_cpu / (emu_cpu + result["cpu_s"]) if emu_cpu else 0.0,
        rate_limited=sum(int(v) for v in emu.stats()["rate_limited"].values()),
    )
    return result


def run(
    *, scale: float, processes: int, rounds: int, smoke: bool = False, ray: bool | None = None
) -> dict[str, Any]:
    """Every side ``rounds`` times, interleaved; the medians and each run.

    ``ray``: measure the Ray side (``None``: when ``truto_stream.ray`` can be imported).
    """
    count, users = (4, 500) if smoke else (max(2, round(ACCOUNTS * scale)), USERS)
    specs = accounts(count, users)
    config = EmulatorConfig(tokens=(TOKEN,), seed=7, accounts=specs)
    ray = _ray_available() if ray is None else ray
    with tempfile.TemporaryDirectory() as tmp, running_emulator(config) as emu:
        out = Path(tmp) / "users.ndjson"
        sides: dict[str, Any] = {
            "1 process": lambda: _cli_side(emu.url, 1, out),
            f"--processes {processes}": lambda: _cli_side(emu.url, processes, out),
        }
        if ray:
            ids = account_ids(specs)
            sides[f"Ray, {processes} CPUs"] = lambda: _ray_side(emu.url, processes, ids)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for _ in range(rounds):
            for name, side in sides.items():
                runs[name].append(_measure(emu, name, side))
                out.unlink(missing_ok=True)
    rows = [_median(name, results) for name, results in runs.items()]
    base = rows[0]["users_per_s"]
    for row in rows:
        row["speedup"] = row["users_per_s"] / base if base else 0.0
    return {"accounts": count, "users": users, "cores": os.cpu_count(), "rows": rows,
            "runs": runs, "notes": [] if ray else [_RAY_NOTE]}  # fmt: skip


def _ray_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("ray", "truto_stream.ray"))


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
    parser.add_argument("--no-ray", action="store_true", help="leave the Ray side out")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    summary = run(scale=args.scale, processes=args.processes, rounds=args.rounds, smoke=args.smoke)
    print(_table(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
