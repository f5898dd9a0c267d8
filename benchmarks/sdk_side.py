"""The real ``truto-python-sdk`` side, run with the SDK venv's own Python.

Standalone on purpose (stdlib plus the SDK only: it runs in another interpreter, without
this project installed). ``python sdk_side.py '{json args}'`` prints the same
``BENCH_RESULT {json}`` line as :mod:`benchmarks.child`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from typing import Any


def _vm_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def sweep(args: dict[str, Any]) -> dict[str, Any]:
    """Every account, one after another, through ``TrutoApi.unified_api.list``."""
    sdk = importlib.import_module("truto_python_sdk")
    api = sdk.TrutoApi(token=args["token"], base_url=args["url"])
    users = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for account in args["accounts"]:
        query = {"integrated_account_id": account, **args.get("params", {})}
        async for user in api.unified_api.list("usage-metering", "users", query):
            users += 1
            user["id"]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "users": users,
        "users_per_s": users / wall if wall else 0.0,
        "cpu_us_per_user": cpu / users * 1e6 if users else 0.0,
        "python": sys.version.split()[0],
    }


def main() -> int:
    """Run the sweep and print the result line."""
    start_rss = _vm_kb("VmRSS") / 1024
    try:
        result = asyncio.run(sweep(json.loads(sys.argv[1])))
        status = 0
    except Exception as exc:
        result, status = {"error": f"{type(exc).__name__}: {exc}"}, 1
    result["rss_start_mb"] = round(start_rss, 1)
    result["peak_rss_mb"] = round(_vm_kb("VmHWM") / 1024, 1)
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
