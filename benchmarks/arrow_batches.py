"""``python -m benchmarks.arrow_batches``: Arrow batches against the dict iterator.

One account's users in stream mode (NDJSON framing), the emulator in its own process;
each side runs in a child process of its own (peak RSS is that child's), reading the same
stream:

- ``dicts``: ``client.pages(...)``, every record touched (the dict iterator's floor);
- ``arrow``: ``client.arrow_batches(...)`` (10,000-row batches of the fixed schema);
- ``arrow 1/10``: the same stream at a tenth of the size, for the memory comparison:
  a flat peak means the same RSS for 10x the users;
- ``pyarrow.json``: the parse floor of the bytes path (``pyarrow.json.read_json`` of the
  same NDJSON with the fixed schema, ``remote_data`` left out since it cannot make JSON
  text of an object), on a sample held in memory.

::

    python -m benchmarks.arrow_batches                  # 1,000,000 users
    python -m benchmarks.arrow_batches --users 50000    # smaller (CI smoke: --smoke)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.procs import run_side
from truto_stream.emulator import EmulatorConfig

__all__ = ["arrow_side", "dicts_side", "floor_side", "main"]

USERS = ("usage-metering", "users")


async def dicts_side(args: dict[str, Any]) -> dict[str, Any]:
    """The dict iterator: every record of the stream, counted."""
    from truto_stream import Client

    count = 0
    async with Client(TOKEN, base_url=args["url"], rate_limits=None) as client:
        started, cpu = time.perf_counter(), time.process_time()
        async for page in client.pages(*USERS, account=args["account"], mode="stream"):
            for record in page.records:
                count += record["id"] is not None
    return _timed(count, started, cpu)


async def arrow_side(args: dict[str, Any]) -> dict[str, Any]:
    """Arrow batches of the same stream."""
    from truto_stream import Client

    rows = batches = 0
    async with Client(TOKEN, base_url=args["url"], rate_limits=None) as client:
        started, cpu = time.perf_counter(), time.process_time()
        async for batch in client.arrow_batches(*USERS, account=args["account"], mode="stream"):
            rows += batch.num_rows
            batches += 1
    return {**_timed(rows, started, cpu), "batches": batches}


def floor_side(args: dict[str, Any]) -> dict[str, Any]:
    """``pyarrow.json`` over NDJSON bytes of ``args["users"]`` records (no HTTP)."""
    import orjson
    import pyarrow as pa
    import pyarrow.json as pj

    from truto_stream.arrow import model_schema
    from truto_stream.emulator import Dataset

    config = EmulatorConfig(tokens=(TOKEN,), accounts=accounts(1, args["users"]))
    data = Dataset(config)
    account = data.accounts[0].id
    body = b"\n".join(orjson.dumps(u) for u in data.users(account)) + b"\n"
    schema = model_schema(*USERS)
    assert schema is not None
    fields = [f for f in schema if f.name not in ("integrated_account_id", "remote_data")]
    options = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
    started, cpu = time.perf_counter(), time.process_time()
    table = pj.read_json(io.BytesIO(body), parse_options=options)
    return {**_timed(table.num_rows, started, cpu), "mb": round(len(body) / 2**20, 1)}


def _timed(count: int, started: float, cpu: float) -> dict[str, Any]:
    wall = time.perf_counter() - started
    return {
        "records": count,
        "seconds": round(wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "users_per_s": round(count / wall) if wall else 0,
    }


def run(users: int, floor_users: int) -> list[tuple[str, dict[str, Any]]]:
    """Every side against one emulator process; ``(label, result)`` rows."""
    small = max(1, users // 10)
    specs = (*accounts(1, users), dataclasses.replace(accounts(1, small)[0], id="bench-small"))
    config = EmulatorConfig(
        tokens=(TOKEN,), accounts=specs, stream_framing="ndjson", token_limit=0, account_limit=0
    )
    big, little = account_ids(specs)
    rows = []
    with running_emulator(config) as emu:
        for label, side, account in (
            ("dicts", "arrow_batches:dicts_side", big),
            ("arrow", "arrow_batches:arrow_side", big),
            (f"arrow, {small:,} users", "arrow_batches:arrow_side", little),
        ):
            rows.append((label, run_side(side, {"url": emu.url, "account": account})))
    rows.append(
        ("pyarrow.json floor", run_side("arrow_batches:floor_side", {"users": floor_users}))
    )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.arrow_batches")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--floor-users", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 users: seconds")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    users, floor = (20_000, 5_000) if args.smoke else (args.users, args.floor_users)
    print(f"stream mode (ndjson), one account of {users:,} users; emulator in its own process")
    print(f"{'side':<24} {'users/s':>10} {'wall s':>8} {'cpu s':>7} {'peak RSS MiB':>13}")
    for label, result in run(users, floor):
        if "error" in result:
            print(f"{label:<24} error: {result['error']}")
            continue
        print(
            f"{label:<24} {result['users_per_s']:>10,} {result['seconds']:>8} "
            f"{result['cpu_seconds']:>7} {result['peak_rss_mb']:>13}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
