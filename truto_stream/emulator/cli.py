"""``truto-stream emulator`` / ``python -m truto_stream.emulator``: run the emulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from truto_stream._version import __version__
from truto_stream.emulator.config import (
    DEFAULT_TOKEN,
    INTEGRATIONS,
    STREAM_FRAMINGS,
    STREAM_META,
    EmulatorConfig,
    parse_day,
)
from truto_stream.emulator.faults import FaultSpecError, parse_faults
from truto_stream.emulator.scenario import (
    ScenarioError,
    config_from_mapping,
    load_scenario,
    parse_users,
)
from truto_stream.emulator.server import LISTENING_PREFIX, Emulator

__all__ = ["build_parser", "config_from_args", "main"]

_FAULT_HELP = (
    "fault rules for every account, comma separated: KIND[:ARG][@WHERE][xTIMES]. "
    "KIND: 500 502 504 remote429 remote500 remote502 remote504 echo reset cut stall "
    "malformed loop empty; ARG: byte offset (reset/cut/malformed), seconds (stall), vendor "
    "Retry-After (remote429), HTTP status (echo, default 400), page count (empty); "
    "WHERE: a probability per page (@0.05) or page indexes (@#3, @#3-5, @#3-); "
    "TIMES: failing attempts per selected page (default 1, '*' = always). "
    "E.g. '502@0.1,cut@#2x2,loop@#4'. See docs/emulator.md."
)


def _users(value: str) -> tuple[int, int]:
    try:
        lo, hi = parse_users(value)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"bad users range {value!r}")
    return lo, hi


def _day(value: str) -> str:
    try:
        parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _faults(value: str) -> str:
    try:
        parse_faults(value)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _retry_after(value: str) -> float | str:
    if value in ("window", "reset"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("seconds, 'window' or 'reset'") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return seconds


def _bandwidth(value: str) -> int:
    units = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    text = value.strip().lower().removesuffix("b/s").removesuffix("/s")
    factor = units.get(text[-1:], 1)
    if factor != 1:
        text = text[:-1]
    try:
        return int(float(text) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError("bytes per second, e.g. 5000000 or 5M") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option defaults to "not given": scenario, then defaults)."""
    d = EmulatorConfig()
    p = argparse.ArgumentParser(
        prog="truto-stream emulator",
        description=(
            "Run the local Truto emulator: GET /unified/usage-metering/users[/{id}], "
            "GET /unified/usage-metering/users[/{integration}]/meta/list, "
            "GET /integrated-account[/{id}], GET /_emulator/stats, POST /_emulator/reset. "
            f"Prints one line '{LISTENING_PREFIX}http://HOST:PORT' once listening."
        ),
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--version", action="version", version=f"truto-stream {__version__}")
    net = p.add_argument_group("server")
    net.add_argument("--host", help=f"interface to bind (default {d.host})")
    net.add_argument(
        "--port", type=int, metavar="PORT", help="TCP port; 0 picks a free port (default 0)"
    )
    net.add_argument(
        "--token", dest="tokens", action="append", metavar="TOKEN",
        help=f"an accepted API token (repeatable; default the dev token {DEFAULT_TOKEN!r})",
    )  # fmt: skip
    net.add_argument(
        "--scenario", metavar="FILE",
        help="JSON scenario: tenants, per-account sizes, statuses, blocked flag, per-account "
        "faults and any option below (command-line options override it)",
    )  # fmt: skip
    net.add_argument(
        "--no-uvloop", action="store_true", help="do not use uvloop even if importable"
    )
    data = p.add_argument_group("data")
    data.add_argument("--seed", type=int, help=f"seed for all data and faults (default {d.seed})")
    data.add_argument(
        "--tenants", type=int, metavar="N", help=f"number of tenants (default {d.tenants})"
    )
    data.add_argument(
        "--accounts", dest="accounts_per_integration", type=int, metavar="N",
        help=f"active accounts per integration (default {d.accounts_per_integration})",
    )  # fmt: skip
    data.add_argument(
        "--users", type=_users, metavar="N|MIN-MAX",
        help="users per account, fixed or a range drawn per account from the seed "
        f"(default {d.users[0]}-{d.users[1]}; up to millions, generated lazily)",
    )  # fmt: skip
    data.add_argument(
        "--integrations", type=lambda v: tuple(x for x in v.split(",") if x),
        help=f"comma-separated integrations (default {','.join(INTEGRATIONS)})",
    )  # fmt: skip
    data.add_argument(
        "--needs-reauth", dest="needs_reauth_accounts", type=int, metavar="N",
        help="extra needs_reauth accounts per integration (calls get a remote 401)",
    )  # fmt: skip
    data.add_argument(
        "--connecting", dest="connecting_accounts", type=int, metavar="N",
        help="extra connecting accounts per integration",
    )  # fmt: skip
    data.add_argument(
        "--blocked", dest="blocked_accounts", type=int, metavar="N",
        help="extra blocked (active, is_blocked) accounts per integration (calls get 503)",
    )  # fmt: skip
    data.add_argument(
        "--today", type=_day, metavar="YYYY-MM-DD",
        help="the emulator's today (default: the UTC date): a request without 'date' gets "
        "three days before it, a later 'date' is refused; set it for reproducible runs",
    )  # fmt: skip
    lat = p.add_argument_group("latency and bandwidth")
    lat.add_argument("--latency-ms", type=float, help="fixed latency per page, ms (default 0)")
    lat.add_argument(
        "--latency-jitter-ms", type=float, help="extra uniform random latency per page, ms"
    )
    lat.add_argument(
        "--admin-latency-ms", type=float,
        help="latency per /integrated-account answer (listing page or lookup), ms (default 0)",
    )  # fmt: skip
    lat.add_argument(
        "--bandwidth", dest="bandwidth_bps", type=_bandwidth, metavar="BYTES_PER_S",
        help="cap on body bytes per second per response, e.g. 5M (default unlimited)",
    )  # fmt: skip
    lim = p.add_argument_group("rate limits")
    lim.add_argument(
        "--rate-window-s", type=float,
        help=f"sliding window length in seconds (default {d.rate_window_s:g})",
    )  # fmt: skip
    lim.add_argument(
        "--token-limit", type=int,
        help=f"requests per window per token, 0 = off (default {d.token_limit})",
    )  # fmt: skip
    lim.add_argument(
        "--account-limit", type=int,
        help=f"requests per window per integrated account, 0 = off (default {d.account_limit})",
    )  # fmt: skip
    lim.add_argument(
        "--retry-after", type=_retry_after, metavar="SECONDS|window|reset",
        help="Retry-After on Truto's own 429: seconds (0 allowed), 'window' (the window "
        "length) or 'reset' (until a slot frees) (default 10)",
    )  # fmt: skip
    lim.add_argument(
        "--remote-retry-after-s", type=float,
        help=f"vendor Retry-After on remote429 faults (default {d.remote_retry_after_s:g})",
    )  # fmt: skip
    fmt = p.add_argument_group("formats")
    fmt.add_argument(
        "--stream-framing", choices=STREAM_FRAMINGS,
        help="truto_response_format=stream body: envelope (one envelope with every record), "
        "ndjson (one record per line), array (bare JSON array), page (one page's envelope "
        "with next_cursor) (default envelope)",
    )  # fmt: skip
    fmt.add_argument(
        "--stream-meta", choices=STREAM_META,
        help="envelope framing: metadata keys before or after 'result', or both "
        "(result_count before, cursors after) (default after)",
    )  # fmt: skip
    fmt.add_argument(
        "--stream-batch", type=int, metavar="N", help="records per chunked write (default 512)"
    )
    fmt.add_argument(
        "--partial-response", dest="is_partial_response", action="store_true",
        help="add is_partial_response: false to unified envelopes",
    )  # fmt: skip
    fmt.add_argument(
        "--large-page-records", type=int, metavar="N",
        help="unified pages with more records than this (a whole team in one page) are sent "
        f"chunked, batch by batch, instead of with Content-Length (default {d.large_page_records})",
    )  # fmt: skip
    fmt.add_argument(
        "--admin-limit", dest="admin_default_limit", type=int, metavar="N",
        help=f"default page size of GET /integrated-account (default {d.admin_default_limit})",
    )  # fmt: skip
    flt = p.add_argument_group("faults")
    flt.add_argument("--faults", type=_faults, metavar="SPEC", help=_FAULT_HELP)
    misc = p.add_argument_group("bookkeeping")
    misc.add_argument(
        "--no-stats", dest="stats", action="store_false",
        help="keep only the connection and response gauges in /_emulator/stats",
    )  # fmt: skip
    misc.add_argument(
        "--stats-timestamps", type=int, metavar="N",
        help="request timestamps kept per account in stats (default 1000)",
    )  # fmt: skip
    misc.add_argument(
        "--page-cache-mb", type=int, metavar="MB", help="rendered page cache size (default 64)"
    )
    misc.add_argument(
        "--shutdown-timeout-s", type=float, help="grace period for open connections on exit"
    )
    return p


def config_from_args(argv: Sequence[str]) -> tuple[EmulatorConfig, dict[str, Any]]:
    """Parse arguments into a config (scenario first, options on top) and extra flags."""
    ns = vars(build_parser().parse_args(list(argv)))
    extra = {"no_uvloop": bool(ns.pop("no_uvloop", False))}
    scenario = ns.pop("scenario", None)
    base = load_scenario(scenario) if scenario else EmulatorConfig()
    if "tokens" in ns:
        ns["tokens"] = tuple(ns["tokens"])
    return config_from_mapping({"options": ns}, base) if ns else base, extra


class _ListenError(Exception):
    """The server could not listen (port in use, address not available...)."""


def _listen_failure(config: EmulatorConfig, exc: OSError) -> str:
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return f"cannot listen on {config.host}:{config.port}: {reason}"


async def _serve(config: EmulatorConfig) -> None:
    emu = Emulator(config)
    try:
        await emu.start()
    except OSError as exc:
        raise _ListenError(_listen_failure(config, exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"{LISTENING_PREFIX}{emu.url}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str]) -> int:
    """Run the emulator until SIGINT/SIGTERM; returns the exit status."""
    try:
        config, extra = config_from_args(argv)
    except (ScenarioError, ValueError) as exc:
        print(f"truto-stream emulator: {exc}", file=sys.stderr)
        return 2
    runner: Any = asyncio.run
    if not extra["no_uvloop"]:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    try:
        with contextlib.suppress(KeyboardInterrupt):
            runner(_serve(config))
    except _ListenError as exc:
        print(f"truto-stream emulator: {exc}", file=sys.stderr)
        return 2
    return 0
