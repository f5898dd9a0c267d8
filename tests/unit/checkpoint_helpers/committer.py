"""Subprocess for the crash test: applies the seeded update stream to a checkpoint forever.

Usage: ``python -m tests.unit.checkpoint_helpers.committer PATH SEED ACCOUNTS``. Prints
``ready`` once the checkpoint is open, then ``flushed N`` each time an explicit flush has
returned (every update up to step N is then on disk). Background flushes (every 2 ms or
every 50 updates) run in between and are not announced. The parent kills it with SIGKILL.
"""

from __future__ import annotations

import random
import sys

import anyio
import anyio.lowlevel

from tests.unit.checkpoint_helpers import SWEEP_KEY, ops
from truto_stream.checkpoint import Checkpoint


async def main(path: str, seed: int, accounts: int) -> None:
    rng = random.Random(seed ^ 0x5EED)
    cp = await Checkpoint.open(path, SWEEP_KEY, flush_interval=0.002, max_pending=50)
    print("ready", flush=True)
    async with cp:
        for op in ops(seed, accounts):
            if op.kind == "commit":
                cp.commit_page(op.account, op.text, op.records)
            elif op.kind == "reset":
                cp.reset(op.account)
            elif op.kind == "done":
                cp.mark_done(op.account)
            elif op.kind == "fail":
                cp.mark_failed(op.account, op.text or "")
            else:
                cp.mark_skipped(op.account, op.text or "")
            if rng.random() < 0.01:
                await cp.flush()
                print(f"flushed {op.step}", flush=True)
            else:
                await anyio.lowlevel.checkpoint()  # let the background flusher run


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
