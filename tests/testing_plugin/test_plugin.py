"""The pytest plugin, used as a user would: from a throwaway project, in a pytest of its own.

Nothing here imports the project's tests: the throwaway project's files are written from
docs/testing.md and the strings below, and pytest runs them in a subprocess, with the
plugin found through its ``pytest11`` entry point (or given with ``-p``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def docs_example() -> str:
    text = (ROOT / "docs" / "testing.md").read_text()
    section = text.split("## Example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Testing your own service", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return README_JOB + match.group(1)


#: The service the README's three lines test: a synchronous job counting users.
README_JOB = """
import anyio
import pytest

from truto_stream import AccountQuery, Client


def my_sync_job(url, token):
    async def count():
        count = 0
        async with Client(token=token, base_url=url) as client:
            async with client.sweep("usage-metering", "users", accounts=AccountQuery()) as run:
                async for _, records in run.batches():
                    count += len(records)
        return count

    return anyio.run(count, backend="asyncio")

"""

MARKERS = """
import pytest

pytestmark = pytest.mark.truto_emulator(seed=3, integrations=("openai",), users=4)


def test_module_marker(truto_emulator):
    assert truto_emulator.config.seed == 3
    assert [a.integration for a in truto_emulator.accounts] == ["openai", "openai"]
    assert {a.user_count for a in truto_emulator.accounts} == {4}


@pytest.mark.truto_emulator(users=9, accounts=[
    {"integration": "claude", "tenant_id": "acme", "users": 7},
    {"integration": "cursor", "tenant_id": "b"},
])
def test_closest_marker_wins(truto_emulator):
    from truto_stream.emulator import AccountSpec  # here: test_0_inert runs first

    assert truto_emulator.config.seed == 3
    assert isinstance(truto_emulator.config.accounts[0], AccountSpec)
    assert [(a.integration, a.user_count) for a in truto_emulator.accounts] == [
        ("claude", 7), ("cursor", 100)
    ]


@pytest.mark.truto_emulator(users=(20, 20), framing="ndjson", tokens="my-token")
def test_shorthands(truto_emulator):
    assert truto_emulator.config.users == (20, 20)
    assert truto_emulator.config.stream_framing == "ndjson"
    assert truto_emulator.token == "my-token"


@pytest.mark.truto_emulator(not_an_option=1)
def test_unknown_option(truto_emulator):
    pass
"""

RETRIES = """
import pytest
from truto_stream import Client, RetryPolicy


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.truto_emulator(
    accounts=[{"integration": "openai", "tenant_id": "t", "users": 250}], faults="500@#0x2,cut@#2"
)
async def test_the_client_retries(truto_emulator):
    account = truto_emulator.accounts[0]
    policy = RetryPolicy(base_delay=0.001, max_delay=0.01)
    async with Client(token=truto_emulator.token, base_url=truto_emulator.url, retry=policy) as c:
        users = [u async for u in c.usage_metering.users(account.id)]
    assert users == list(truto_emulator.dataset.users(account.id))
    stats = truto_emulator.wait_idle()
    assert stats["faults_injected"] == {"500": 2, "cut": 1}
    assert stats["requests"]["by_account"][account.id] == 3 + 3
    truto_emulator.reset_stats()
    assert truto_emulator.stats["requests"]["total"] == 0
"""

INERT = """
import sys
import threading


def test_without_the_fixture(request):
    assert any(m.startswith("truto_emulator(") for m in request.config.getini("markers"))
    assert "truto_stream.emulator" not in sys.modules
    assert threading.active_count() == 1
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args, timeout=90)


def test_the_docs_example_and_markers_through_the_entry_point(pytester: pytest.Pytester) -> None:
    # Collected in this order: the suite's first test, before any emulator ran, sees no
    # trace of the plugin but its marker.
    pytester.makepyfile(
        test_0_inert=INERT,
        test_docs_example=docs_example(),
        test_readme_example=readme_example(),
        test_markers=MARKERS,
        test_retries=RETRIES,
    )
    result = _run(pytester)
    result.assert_outcomes(passed=10, errors=1)
    result.stdout.fnmatch_lines(["*test_unknown_option ERROR*", "*truto_emulator: *not_an_option*"])


def test_explicit_plugin_without_autoload(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_retries=RETRIES)
    result = _run(pytester, "-p", "truto_stream.testing", "-p", "anyio")
    result.assert_outcomes(passed=1)
