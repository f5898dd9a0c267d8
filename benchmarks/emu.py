"""The emulator, in its own process, as the harness sees it: URL, CPU time, stats."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from benchmarks.procs import proc_cpu_seconds
from truto_stream.emulator import AccountSpec, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.config import DEFAULT_TOKEN

__all__ = ["TOKEN", "EmulatorHandle", "account_ids", "accounts", "running_emulator"]

TOKEN: Final = DEFAULT_TOKEN


def accounts(count: int, users: int, integration: str = "claude") -> tuple[AccountSpec, ...]:
    """``count`` active accounts of ``users`` users each, with readable fixed ids."""
    return tuple(
        AccountSpec(integration=integration, tenant_id="bench", users=users, id=f"bench-{i:05d}")
        for i in range(count)
    )


def account_ids(specs: tuple[AccountSpec, ...]) -> list[str]:
    """The ids of ``specs`` (all set explicitly by :func:`accounts`)."""
    return [str(spec.id) for spec in specs]


class EmulatorHandle:
    """A running emulator process: its URL, CPU seconds so far, stats and reset."""

    def __init__(self, proc: EmulatorProcess) -> None:
        self._proc = proc
        self.url = proc.url
        self.pid = proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the emulator process has used so far."""
        return proc_cpu_seconds(self.pid)

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=30) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def reset(self, *, rate_limits: bool = True) -> None:
        """``POST /_emulator/reset``: zero the stats (and the rate windows)."""
        flag = "true" if rate_limits else "false"
        request = urllib.request.Request(
            f"{self.url}/_emulator/reset?rate_limits={flag}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


@contextmanager
def running_emulator(config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    """Start the emulator in its own process for the duration of the block."""
    proc = EmulatorProcess(config)
    proc.start()
    try:
        yield EmulatorHandle(proc)
    finally:
        proc.stop()
