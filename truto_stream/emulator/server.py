"""Running the emulator: in the current event loop, or in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from truto_stream.emulator.app import build_app
from truto_stream.emulator.config import EmulatorConfig
from truto_stream.emulator.data import Dataset
from truto_stream.emulator.state import EmulatorState

__all__ = ["LISTENING_PREFIX", "Emulator", "EmulatorProcess"]

#: The one line the CLI prints once the socket is listening.
LISTENING_PREFIX = "listening on "


class Emulator:
    """The emulator served from the running event loop (tests, benchmarks, demos).

    ::

        async with Emulator(EmulatorConfig(seed=1)) as emu:
            emu.url, emu.dataset, emu.stats_snapshot()
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.state = EmulatorState(self.config)
        self._runner: web.AppRunner | None = None
        self.host = self.config.host
        self.port = self.config.port

    @property
    def dataset(self) -> Dataset:
        """The data being served."""
        return self.state.dataset

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port)."""
        app = build_app(self.state)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()  # nothing is left half set up when the port is taken
            raise
        self._runner = runner
        self.state.server = runner.server
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.host, self.port = str(address[0]), int(address[1])
                break

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def stats_snapshot(self) -> dict[str, Any]:
        """The same dict ``GET /_emulator/stats`` returns."""
        return self.state.stats.snapshot(self.state.connections())

    async def wait_idle(
        self, timeout_s: float = 5.0, *, connections: bool = True
    ) -> dict[str, Any]:
        """Wait until no response is in progress and (``connections``) no connection is open.

        Returns the final stats snapshot; raises ``TimeoutError`` after ``timeout_s``.
        (Connections close asynchronously after a client goes away, so tests that check
        "nothing left open" need to wait for the server to notice.)
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            snap = self.stats_snapshot()
            if snap["responses"]["in_progress"] == 0 and not (
                connections and snap["connections"]["open"]
            ):
                return snap
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"emulator not idle after {timeout_s}s: {snap['responses']}")
            await asyncio.sleep(0.005)

    def reset_stats(self, *, rate_limits: bool = False, faults: bool = False) -> None:
        """Same as ``POST /_emulator/reset``."""
        self.state.reset(rate_limits=rate_limits, faults=faults)


class EmulatorProcess:
    """The emulator in a separate process (``python -m truto_stream.emulator``).

    Takes an :class:`EmulatorConfig` (passed as a scenario file) or a list of CLI
    arguments; waits for the ``listening on`` line. ::

        with EmulatorProcess(EmulatorConfig(seed=1)) as proc:
            proc.url, proc.pid
    """

    def __init__(
        self,
        config: EmulatorConfig | list[str] | None = None,
        *,
        start_timeout_s: float = 30.0,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.python = python or sys.executable
        self.env = env
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._scenario: str | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc.pid

    def _args(self) -> list[str]:
        if isinstance(self.config, list):
            return list(self.config)
        config = self.config if self.config is not None else EmulatorConfig()
        fd, path = tempfile.mkstemp(prefix="truto-emulator-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump({"options": config.to_dict()}, fh)
        self._scenario = path
        return ["--scenario", path]

    def start(self) -> None:
        """Spawn the child and wait for its listening line."""
        cmd = [self.python, "-m", "truto_stream.emulator", *self._args()]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=None, env=self.env, stdin=subprocess.DEVNULL
        )
        stdout = self._proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.stop()
                    raise TimeoutError("emulator process did not start in time")
                byte = os.read(stdout.fileno(), 1)
                if not byte:
                    code = self._proc.wait()
                    self.stop()
                    raise RuntimeError(f"emulator process exited with {code} before listening")
                line += byte
        text = line.decode().strip()
        if not text.startswith(LISTENING_PREFIX):
            self.stop()
            raise RuntimeError(f"unexpected first line from emulator: {text!r}")
        self.url = text[len(LISTENING_PREFIX) :]

    def stop(self) -> None:
        """Terminate the child (then kill it if it lingers) and clean up."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._scenario is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._scenario)
            self._scenario = None

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
