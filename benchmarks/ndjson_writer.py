"""``python -m benchmarks.ndjson_writer``: the command's NDJSON output, from dicts or texts.

What ``truto-stream sweep --format ndjson`` does to each record between the socket and
the file, in one process, side by side on the same bytes (the emulator's users as an
NDJSON stream cut in 256 KiB reads; no HTTP, so the figures are the decode and write
path alone):

- ``dicts``: the body decoded to dicts (``BodyDecoder``), then ``NdjsonWriter`` encodes
  each with ``integrated_account_id`` spliced in front (the path before texts);
- ``texts``: the body's records handed on as their own text (``as_text``), the writer
  splices ``integrated_account_id`` into each, no decode or encode per record;
- the same two for a sweep over dates (``date`` added to each record too).

Both sides must write the same bytes (checked). Prints CPU µs per record and the ratio.
With ``--cli``, also the whole command end to end: ``truto-stream sweep --mode stream
--format ndjson --output FILE`` on one account of ``--users`` users (the emulator in its
own process, NDJSON framing; ``--format parquet`` or ``json`` for those outputs), once
per interpreter given with ``--python LABEL=PATH``
(another commit's library in its own venv: the library before texts), CPU of the
command's process::

    python -m benchmarks.ndjson_writer                # 200,000 users, 3 rounds
    python -m benchmarks.ndjson_writer --users 20000  # seconds
    python -m benchmarks.ndjson_writer --cli --python before=/path/to/old/.venv/bin/python
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.procs import shim_dir
from truto_stream._decode import BodyDecoder
from truto_stream.cli.writers import NdjsonWriter, with_date
from truto_stream.emulator import Dataset, EmulatorConfig

__all__ = ["main", "run"]

CHUNK = 2**18
ACCOUNT = "acc-bench"


def _body(users: int) -> bytes:
    data = Dataset(EmulatorConfig(tokens=(TOKEN,), accounts=accounts(1, users)))
    return b"\n".join(orjson.dumps(u) for u in data.users(data.accounts[0].id)) + b"\n"


def _write(body: bytes, *, as_text: bool, day: str | None) -> bytes:
    """Decode ``body`` read by read and write each read's records as the command does."""
    out = io.BytesIO()
    writer = NdjsonWriter(out)
    decoder = BodyDecoder("application/x-ndjson", as_text=as_text)
    for start in range(0, len(body), CHUNK):
        records = decoder.feed(body[start : start + CHUNK])
        if records:
            writer.write_batch(ACCOUNT, with_date(records, day) if day else records)
    last = decoder.close().records
    if last:
        writer.write_batch(ACCOUNT, with_date(last, day) if day else last)
    return out.getvalue()


def _cpu(run: Callable[[], bytes], rounds: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(rounds):
        started = time.process_time()
        out = run()
        best = min(best, time.process_time() - started)
    return best, out


def run(users: int, rounds: int = 3) -> list[tuple[str, float, float]]:
    """``(case, dicts µs/record, texts µs/record)`` rows; raises if the outputs differ."""
    body = _body(users)
    rows = []
    for case, day in (("undated", None), ("dated", "2026-11-20")):
        dicts, want = _cpu(functools.partial(_write, body, as_text=False, day=day), rounds)
        texts, got = _cpu(functools.partial(_write, body, as_text=True, day=day), rounds)
        if got != want:
            raise AssertionError(f"{case}: the texts' output differs from the dicts'")
        rows.append((case, 1e6 * dicts / users, 1e6 * texts / users))
    return rows


def run_cli(
    users: int, pythons: dict[str, str], fmt: str = "ndjson"
) -> list[tuple[str, float, float, int]]:
    """``(label, wall s, CPU s, output bytes)`` of the command per interpreter."""
    specs = accounts(1, users)
    config = EmulatorConfig(
        tokens=(TOKEN,), accounts=specs, stream_framing="ndjson", token_limit=0, account_limit=0
    )
    rows = []
    with running_emulator(config) as emu, tempfile.TemporaryDirectory() as tmp:
        for label, python in pythons.items():
            out = Path(tmp) / f"{label}.{fmt}"
            argv = [python, "-m", "truto_stream.cli", "sweep", "usage-metering/users"]
            argv += ["--base-url", emu.url, "--mode", "stream", "--format", fmt]
            argv += ["--account", account_ids(specs)[0], "--output", str(out)]
            argv += ["--progress", "never"]
            env = {**os.environ, "TRUTO_API_TOKEN": TOKEN}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            # Started outside this checkout, so another venv imports its own library.
            subprocess.run(argv, check=True, env=env, cwd=shim_dir(), capture_output=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            rows.append((label, wall, cpu, out.stat().st_size))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ndjson_writer")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="also the command end to end")
    parser.add_argument("--python", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--format", default="ndjson", choices=("ndjson", "json", "parquet"))
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    print(f"NDJSON body of {args.users:,} users, decoded and written (best of {args.rounds})")
    print(f"{'case':<10} {'dicts µs/rec':>13} {'texts µs/rec':>13} {'texts faster':>13}")
    for case, dicts, texts in run(args.users, args.rounds):
        print(f"{case:<10} {dicts:>13.2f} {texts:>13.2f} {dicts / texts:>12.2f}x")
    if args.cli:
        pythons = dict(item.split("=", 1) for item in args.python)
        pythons["this"] = sys.executable
        print(f"the command to {args.format}, one account of {args.users:,} users (NDJSON stream)")
        print(f"{'python':<10} {'wall s':>8} {'cpu s':>7} {'cpu µs/user':>12} {'MiB out':>8}")
        for label, wall, cpu, size in run_cli(args.users, pythons, args.format):
            per_user = 1e6 * cpu / args.users
            print(f"{label:<10} {wall:>8.2f} {cpu:>7.2f} {per_user:>12.2f} {size / 2**20:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
