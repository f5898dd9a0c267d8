"""The command runner's exit status when a signal arrives (in this process, for real)."""

from __future__ import annotations

import os
import signal

import anyio

from truto_stream.cli.runner import Interrupted, run_command


async def _kill_self(signum: int) -> None:
    """Send ``signum`` to this process once the runner's watcher handles it."""
    default = signal.getsignal(signum)
    with anyio.fail_after(10):
        while signal.getsignal(signum) == default:  # noqa: ASYNC110  (the watcher starts)
            await anyio.sleep(0.001)
    os.kill(os.getpid(), signum)


async def _until_heard(interrupted: Interrupted) -> None:
    with anyio.fail_after(10):
        while interrupted.signum is None:  # noqa: ASYNC110  (set by the runner's watcher)
            await anyio.sleep(0.005)


def test_a_signal_that_cuts_the_body_short_exits_130_or_143() -> None:
    for signum, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):

        async def body(interrupted: Interrupted, signum: int = signum) -> int:
            await _kill_self(signum)
            await anyio.sleep(30)  # cancelled by the signal
            return 0

        assert run_command(body) == status


def test_a_body_that_finished_despite_a_late_signal_keeps_its_status() -> None:
    async def body(interrupted: Interrupted) -> int:
        # The work is done; its shielded finish hears the signal and completes anyway.
        with anyio.CancelScope(shield=True):
            await _kill_self(signal.SIGINT)
            await _until_heard(interrupted)
        return 1

    assert run_command(body) == 1
