"""Memory is bounded by configuration, not by the size of a stream."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.emulator.config import StreamFraming

ROOT = Path(__file__).resolve().parents[2]


def _peak_kib(url: str, account: str, mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.client.rss_probe", url, account, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.parametrize("framing", ["envelope", "ndjson"])
def test_a_large_stream_costs_what_a_small_one_does(framing: StreamFraming) -> None:
    # The million-user figure lives in benchmarks/; here 200k vs 2k users (~120 MB vs
    # ~1 MB of body) in a subprocess each, measuring peak RSS.
    accounts = (
        AccountSpec(integration="claude", tenant_id="t", users=2_000),
        AccountSpec(integration="claude", tenant_id="t", users=200_000),
    )
    config = EmulatorConfig(tokens=("test-token",), accounts=accounts, stream_framing=framing)
    small, large = (a.id for a in Dataset(config).accounts)
    with EmulatorProcess(config) as emu:
        small_count, small_kib = _peak_kib(emu.url, small, "stream")
        large_count, large_kib = _peak_kib(emu.url, large, "stream")
    assert (small_count, large_count) == (2_000, 200_000)
    assert large_kib - small_kib < 20 * 1024, (small_kib, large_kib)
    assert large_kib < 100 * 1024
