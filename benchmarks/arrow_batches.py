"""``python -m benchmarks.arrow_batches``: Arrow batches against the dict iterator.

One account's users in stream mode (NDJSON framing), the emulator in its own process;
each side runs in a child process of its own (peak RSS is that child's), reading the same
stream:

- ``dicts``: ``client.pages(...)``, every record touched (the dict iterator's floor);
- ``arrow``: ``client.arrow_batches(...)`` (10,000-row batches of the fixed schema),
  built from the records' texts without a dict per record;
- ``arrow from dicts``: the same batches built from the decoded dicts
  (``client.pages`` into ``RecordBatcher``: the path before the texts, and the fallback);
- ``arrow 1/10``: the same stream at a tenth of the size, for the memory comparison:
  a flat peak means the same RSS for 10x the users;
- ``orjson floor``: ``orjson.loads`` of each line of the same NDJSON, held in memory
  (the parse floor of dict records);
- ``pyarrow.json floor``: ``pyarrow.json.read_json`` of the same NDJSON with the fixed
  schema, ``remote_data`` left out since it cannot make JSON text of an object (the
  parse floor of the bytes path), on a sample held in memory.

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

__all__ = ["arrow_side", "dict_arrow_side", "dicts_side", "floor_side", "main", "orjson_side"]

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
    _import_pyarrow()
    async with Client(TOKEN, base_url=args["url"], rate_limits=None) as client:
        started, cpu = time.perf_counter(), time.process_time()
        async for batch in client.arrow_batches(*USERS, account=args["account"], mode="stream"):
            rows += batch.num_rows
            batches += 1
    return {**_timed(rows, started, cpu), "batches": batches}


async def dict_arrow_side(args: dict[str, Any]) -> dict[str, Any]:
    """Arrow batches built from the dicts of the same stream (the path before texts)."""
    from truto_stream import Client
    from truto_stream.arrow import RecordBatcher, model_schema

    rows = batches = 0
    batcher = RecordBatcher(model_schema(*USERS))
    _warm_pyarrow()
    async with Client(TOKEN, base_url=args["url"], rate_limits=None) as client:
        started, cpu = time.perf_counter(), time.process_time()
        async for page in client.pages(*USERS, account=args["account"], mode="stream"):
            for batch in batcher.add(args["account"], page.records):
                rows += batch.num_rows
                batches += 1
        last = batcher.flush()
        rows += last.num_rows if last is not None else 0
    return {**_timed(rows, started, cpu), "batches": batches + (last is not None)}


def _import_pyarrow() -> None:
    """pyarrow and the library's Arrow modules imported before the clock (the text path
    never calls ``pa.array`` on a list, so pandas stays out of it)."""
    import pyarrow.json  # noqa: F401

    import truto_stream.arrow  # noqa: F401


def _warm_pyarrow() -> None:
    """pyarrow imports pandas (a second of CPU) at its first ``pa.array`` of a list, as
    ``RecordBatch.from_pylist`` on dicts makes: not in the timing."""
    import pyarrow as pa

    _import_pyarrow()
    pa.array(["warm"], pa.string())


def _ndjson(users: int) -> bytes:
    """The NDJSON stream of one account of ``users`` users, as the emulator's data."""
    import orjson

    from truto_stream.emulator import Dataset

    config = EmulatorConfig(tokens=(TOKEN,), accounts=accounts(1, users))
    data = Dataset(config)
    return b"\n".join(orjson.dumps(u) for u in data.users(data.accounts[0].id)) + b"\n"


def orjson_side(args: dict[str, Any]) -> dict[str, Any]:
    """``orjson.loads`` of each line of the same NDJSON, in memory (no HTTP)."""
    import orjson

    lines = _ndjson(args["users"]).splitlines()
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(orjson.loads(line)["id"] is not None for line in lines)
    return {**_timed(count, started, cpu), "mb": round(sum(map(len, lines)) / 2**20, 1)}


def floor_side(args: dict[str, Any]) -> dict[str, Any]:
    """``pyarrow.json`` over NDJSON bytes of ``args["users"]`` records (no HTTP)."""
    import pyarrow as pa
    import pyarrow.json as pj

    from truto_stream.arrow import model_schema

    body = _ndjson(args["users"])
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
            ("arrow from dicts", "arrow_batches:dict_arrow_side", big),
            (f"arrow, {small:,} users", "arrow_batches:arrow_side", little),
        ):
            rows.append((label, run_side(side, {"url": emu.url, "account": account})))
    for label, side in (
        ("orjson floor", "arrow_batches:orjson_side"),
        ("pyarrow.json floor", "arrow_batches:floor_side"),
    ):
        rows.append((label, run_side(side, {"users": floor_users})))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.arrow_batches")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--floor-users", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 users: seconds")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    users, floor = (20_000, 5_000) if args.smoke else (args.users, args.floor_users)
    print(f"stream mode (ndjson), one account of {users:,} users; emulator in its own process")
    print(
        f"{'side':<24} {'users/s':>10} {'wall s':>8} {'cpu s':>7} {'cpu µs/user':>12}"
        f" {'peak RSS MiB':>13}"
    )
    rows = run(users, floor)
    for label, result in rows:
        if "error" in result:
            print(f"{label:<24} error: {result['error']}")
            continue
        print(
            f"{label:<24} {result['users_per_s']:>10,} {result['seconds']:>8} "
            f"{result['cpu_seconds']:>7} {_per_user(result):>12.2f} {result['peak_rss_mb']:>13}"
        )
    results = dict(rows)
    others = ("dicts", "arrow from dicts", "orjson floor", "pyarrow.json floor")
    if all("error" not in results[name] for name in ("arrow", *others)):
        ours = results["arrow"]
        for what, ratio in (
            ("users/s", lambda r: ours["users_per_s"] / max(1, r["users_per_s"])),
            ("CPU per user", lambda r: _per_user(r) / max(1e-9, _per_user(ours))),
        ):
            print(
                f"arrow against {what} (x faster): "
                + ", ".join(f"{name} {ratio(results[name]):.2f}x" for name in others)
            )
    return 0


def _per_user(result: dict[str, Any]) -> float:
    return 1e6 * float(result["cpu_seconds"]) / max(1, int(result["records"]))


if __name__ == "__main__":
    raise SystemExit(main())
