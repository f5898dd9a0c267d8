"""A local Truto emulator: an aiohttp server keeping Truto's unified-API contract.

Serves ``GET /unified/usage-metering/users`` (every ``truto_response_format``, stream
framings, cursors, per-day data, rate limits, faults), its ``meta/list`` query schemas,
``GET /integrated-account[/{id}]`` and the
``/_emulator/stats`` and ``/_emulator/reset`` controls, over seeded synthetic data.
See docs/emulator.md.
"""

from truto_stream.emulator.config import DEFAULT_TOKEN, AccountSpec, EmulatorConfig
from truto_stream.emulator.data import Account, Dataset
from truto_stream.emulator.faults import FaultRule, FaultSpecError, parse_faults
from truto_stream.emulator.scenario import load_scenario
from truto_stream.emulator.server import Emulator, EmulatorProcess

__all__ = [
    "DEFAULT_TOKEN",
    "Account",
    "AccountSpec",
    "Dataset",
    "Emulator",
    "EmulatorConfig",
    "EmulatorProcess",
    "FaultRule",
    "FaultSpecError",
    "load_scenario",
    "parse_faults",
]
