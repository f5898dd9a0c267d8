"""A shard process (``python -m truto_stream.processes``) run directly, as its parent runs it.

A parent killed by SIGKILL closes its end of the shard's pipe before the kernel sends the
shard its own SIGKILL (``PR_SET_PDEATHSIG`` fires after the parent's files are closed):
in between, the shard's next frame meets a closed pipe. Closing the read end here does
the same, deterministically.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import anyio
import pytest

from tests.cli.support import cli_env
from tests.support import TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import AccountSpec
from truto_stream.processes._child import ChildSpec

pytestmark = pytest.mark.anyio

MODEL, RESOURCE = "usage-metering", "users"


async def test_a_shard_whose_parent_closed_its_pipe_ends_without_a_traceback(
    emulator: EmulatorFactory,
) -> None:
    accounts = tuple(AccountSpec("claude", "acme", users=2_000) for _ in range(2))
    # Slow enough that the shard is still sending frames when the pipe closes.
    emu = await emulator(accounts=accounts, bandwidth_bps=400_000, stream_batch=50)
    ids = [account.id for account in emu.dataset.accounts]
    async with Client(TOKEN, base_url=emu.url) as client:
        plan = await client.plan(MODEL, RESOURCE, accounts=ids, mode="stream")
    spec = ChildSpec(
        index=0,
        model=MODEL,
        resource=RESOURCE,
        mode="stream",
        plan=plan,
        base_url=emu.url,
        rate_limits=None,
        token_env="TRUTO_API_TOKEN",
        concurrency=2,
        buffer_records=500,
        parent_pid=os.getpid(),
    )
    # The pipe is ours: closing its read end closes it (anyio's stream would keep it open).
    read_end, write_end = os.pipe()
    try:
        process = await anyio.open_process(
            [sys.executable, "-m", "truto_stream.processes"],
            stdin=subprocess.PIPE,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
    finally:
        os.close(write_end)
    async with process:
        assert process.stdin is not None and process.stderr is not None
        async with process.stdin:
            await process.stdin.send(pickle.dumps(spec))
        with anyio.fail_after(30):
            # The first frame: the sweep is under way. Then the parent is gone.
            assert await anyio.to_thread.run_sync(os.read, read_end, 2**16)
            os.close(read_end)
            errors = b"".join([chunk async for chunk in process.stderr])
            code = await process.wait()
    assert code == 1
    assert b"Traceback" not in errors, errors.decode(errors="replace")
