"""Child entry point: ``python -m benchmarks.child module:function '{json args}'``.

Imports ``benchmarks.<module>``, calls ``function(args)`` (awaiting it on a fresh asyncio
loop if it is a coroutine function) and prints ``BENCH_RESULT {json}`` with what the side
returned plus this process's peak RSS. The side measures its own section (wall and CPU
time) so that interpreter start-up and imports are not counted. The arguments may come on
stdin instead (``-`` in their place), as :func:`benchmarks.procs.run_side` sends them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import resource
import sys
import traceback
from typing import Any

from benchmarks.procs import RESULT_PREFIX, read_vm_kb


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (VmHWM, falling back to ru_maxrss)."""
    try:
        return read_vm_kb("VmHWM") / 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    """Run one side and print its result line; exit 1 (with a result) on failure."""
    target, raw = argv[0], argv[1]
    if raw == "-":
        raw = sys.stdin.read()
    module_name, func_name = target.split(":")
    args: dict[str, Any] = json.loads(raw)
    start_rss = read_vm_kb("VmRSS") / 1024
    status = 0
    try:
        func = getattr(importlib.import_module(f"benchmarks.{module_name}"), func_name)
        is_async = inspect.iscoroutinefunction(func)
        result: dict[str, Any] = asyncio.run(func(args)) if is_async else func(args)
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
        status = 1
    result["rss_start_mb"] = round(start_rss, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
