"""Running a command's async body on asyncio, turning SIGINT/SIGTERM into a clean shutdown.

The first SIGINT (Ctrl-C) or SIGTERM cancels the command's cancel scope: every ``async
with`` unwinds as usual (the sweep stops its workers and commits its checkpoint, output
files are left under their partial name), and the exit status is 130 (SIGINT) or 143
(SIGTERM). A second signal during that shutdown exits at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from truto_stream.cli.common import EXIT_SIGINT, EXIT_SIGTERM

__all__ = ["Interrupted", "run_command"]


@dataclass
class Interrupted:
    """Which signal stopped the command (``None`` while none has)."""

    signum: int | None = None

    @property
    def exit_status(self) -> int:
        return EXIT_SIGTERM if self.signum == signal.SIGTERM else EXIT_SIGINT


def run_command(body: Callable[[Interrupted], Awaitable[int]]) -> int:
    """Run ``body`` on asyncio; return its exit status.

    ``body`` receives the :class:`Interrupted` flag so it can report an interruption in
    its own words (its cleanup runs inside the cancelled scope). A body that returns
    despite a signal (it arrived during a shielded finish, after the work was done) exits
    with its own status: only a body the signal actually cut short exits 130 or 143.
    """
    interrupted = Interrupted()

    async def main() -> int:
        status: int | None = None
        body_scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            # The watcher lives outside the body's scope, so it still hears a second signal
            # while the body is shutting down.
            tg.start_soon(_watch_signals, body_scope, interrupted)
            with body_scope:
                status = await body(interrupted)
            tg.cancel_scope.cancel()
        if status is not None:
            return status
        return interrupted.exit_status if interrupted.signum is not None else 0

    return asyncio.run(main())


async def _watch_signals(scope: anyio.CancelScope, interrupted: Interrupted) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if interrupted.signum is not None:
                # A second signal: the user wants out now, clean or not.
                sys.stderr.write("\ninterrupted again: exiting at once\n")
                sys.stderr.flush()
                os._exit(interrupted.exit_status)
            interrupted.signum = signum
            scope.cancel()
