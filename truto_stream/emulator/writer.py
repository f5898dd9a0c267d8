"""Writing response bodies: byte counting, bandwidth pacing and mid-body faults."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

from aiohttp import web

from truto_stream.emulator.faults import FaultRule
from truto_stream.emulator.stats import Stats

__all__ = ["MALFORMED", "BodyWriter", "ServerClosed"]

#: What a ``malformed`` fault splices into a body: never valid JSON.
MALFORMED = b"\x00<<emulator: malformed body>>{"


class ServerClosed(Exception):
    """The emulator closed the connection on purpose (``cut`` / ``reset`` faults)."""


class BodyWriter:
    """Writes one response body; fires a body fault once at a byte offset.

    ``trigger_at`` is the body offset where the fault fires; ``None`` with a fault set
    means "arm on the first :meth:`write` called with ``arm=True``" (mid-chunk).
    """

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        stats: Stats,
        *,
        fault: FaultRule | None = None,
        trigger_at: int | None = None,
        bandwidth_bps: int = 0,
    ) -> None:
        self.request = request
        self.response = response
        self.stats = stats
        self.fault = fault
        self.trigger_at = trigger_at
        self.bandwidth_bps = bandwidth_bps
        self.written = 0
        self.fired = False
        self._t0 = time.monotonic()

    async def write(self, chunk: bytes, *, arm: bool = False) -> None:
        """Write ``chunk``; may sleep (bandwidth, stall) or raise :class:`ServerClosed`."""
        if not chunk:
            return
        fault = self.fault
        if fault is not None and not self.fired:
            if self.trigger_at is None and arm:
                self.trigger_at = self.written + max(1, len(chunk) // 2)
            at = self.trigger_at
            if at is not None and self.written + len(chunk) > at:
                cut = max(at - self.written, 0)
                await self._send(chunk[:cut])
                self.fired = True
                await self._fire(fault)
                chunk = chunk[cut:]
        await self._send(chunk)

    async def _send(self, data: bytes) -> None:
        if not data:
            return
        bps = self.bandwidth_bps
        if bps <= 0:
            await self.response.write(data)
            self._count(len(data))
            return
        step = max(bps // 50, 1024)
        for pos in range(0, len(data), step):
            piece = data[pos : pos + step]
            await self.response.write(piece)
            self._count(len(piece))
            ahead = self.written / bps - (time.monotonic() - self._t0)
            if ahead > 0:
                await asyncio.sleep(ahead)

    def _count(self, n: int) -> None:
        self.written += n
        self.stats.bytes_sent += n

    async def _fire(self, fault: FaultRule) -> None:
        self.stats.faults[fault.kind] += 1
        kind = fault.kind
        if kind == "stall":
            await asyncio.sleep(fault.arg if fault.arg is not None else 2.0)
        elif kind == "malformed":
            await self._send(MALFORMED)
        elif kind in ("cut", "reset"):
            transport = self.request.transport
            if transport is not None:
                if kind == "reset":
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        # linger 0: close() sends RST instead of FIN
                        with contextlib.suppress(OSError):
                            sock.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                # close() flushes what was written, then (with linger 0) resets.
                transport.close()
            raise ServerClosed(kind)
