"""``truto-stream --version`` and ``truto-stream emulator --version``, as subprocesses."""

from __future__ import annotations

import importlib.metadata

import pytest

import truto_stream
from tests.cli.support import run_cli

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("argv", [["--version"], ["-V"], ["emulator", "--version"]])
async def test_version(argv: list[str]) -> None:
    result = await run_cli(*argv)
    assert result.code == 0, result.err
    version = importlib.metadata.version("truto-stream")
    assert version == truto_stream.__version__
    assert result.stdout.decode() == f"truto-stream {version}\n"
