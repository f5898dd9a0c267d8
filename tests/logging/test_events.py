"""The library's log events over real HTTP: what each says, and never the token."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import EmulatorFactory, echo_forms
from truto_stream import Client, RetryPolicy
from truto_stream.cli.logs import JsonFormatter, _text_formatter
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

#: Distinctive, with characters that URL-encoding changes.
TOKEN = "log-SECRET/tok+en=91c4"
RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, max_retry_after=0.2)


class Collect(logging.Handler):
    """Keeps every record, and each record rendered as a text line and a JSON line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.rendered: list[str] = []
        self._text, self._json = _text_formatter(), JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.rendered += [self._text.format(record), self._json.format(record), repr(vars(record))]

    def events(self, event: str, account_id: str | None = None) -> list[Any]:
        """The records of ``event`` (of ``account_id``); ``Any``: their fields are extras."""
        return [
            r
            for r in self.records
            if getattr(r, "event", None) == event
            and (account_id is None or getattr(r, "account_id", None) == account_id)
        ]


@pytest.fixture
def logs() -> Iterator[Collect]:
    logger = logging.getLogger("truto_stream")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def assert_no_token(logs: Collect) -> None:
    assert logs.records
    for text in logs.rendered:
        for form in echo_forms(TOKEN):
            assert form not in text, (form, text)


async def sweep(emu: Any, **options: Any) -> Any:
    accounts = [a.id for a in emu.dataset.accounts]
    options.setdefault("retry", RETRY)
    async with Client(token=TOKEN, base_url=emu.url, **options) as client:
        async with client.sweep("usage-metering", "users", accounts=accounts) as run:
            async for _ in run.batches():
                pass
    return run.report


async def test_unit_events_retries_429s_and_failures(
    emulator: EmulatorFactory, logs: Collect
) -> None:
    specs = {
        "healthy": "",
        "retried": "502@#1",
        "throttled": "remote429:0.05@#0",
        "echoed-then-healed": "echo:502@#0",
        "echoed-and-failed": "echo@#0",
    }
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id=name, users=150, faults=faults or None)
        for name, faults in specs.items()
    )
    emu = await emulator(accounts=accounts, tokens=(TOKEN,))
    ids = {spec.tenant_id: acc.id for spec, acc in zip(accounts, emu.dataset.accounts, strict=True)}
    report = await sweep(emu)
    assert report.count("done") == 4 and report.count("failed") == 1

    for name in ("healthy", "retried", "throttled", "echoed-then-healed"):
        (start,) = logs.events("unit.start", ids[name])
        assert start.unit == ids[name] and not hasattr(start, "date")
        assert (start.levelname, start.resumed, start.path) == (
            "INFO",
            False,
            "/unified/usage-metering/users",
        )
        (finish,) = logs.events("unit.finish", ids[name])
        assert finish.levelname == "INFO"
        assert (finish.records, finish.pages) == (150, 2)  # openai: 100 per page
        assert finish.requests == finish.pages + finish.retries  # a 429 is a retry too
        assert finish.seconds >= 0
        pages = logs.events("page", ids[name])
        assert [(p.page, p.records, p.levelname) for p in pages] == [
            (0, 100, "DEBUG"),
            (1, 50, "DEBUG"),
        ]
    assert not logs.events("retry", ids["healthy"]) and not logs.events("rate_limited")[1:]

    (retry,) = logs.events("retry", ids["retried"])
    assert (retry.levelname, retry.status, retry.error_type) == ("WARNING", 502, "ServerError")
    assert (retry.attempt, retry.max_attempts) == (1, 4)
    assert 0 <= retry.delay <= 0.01
    assert "retrying in" in retry.getMessage() and "attempt 2 of 4" in retry.getMessage()

    (throttled,) = logs.events("rate_limited", ids["throttled"])
    assert (throttled.status, throttled.retry_after, throttled.capped) == (429, 0.05, False)
    assert throttled.remote is True
    assert 0.05 <= throttled.wait <= 0.05 + RETRY.retry_after_jitter
    assert "rate limited from the vendor" in throttled.getMessage()

    (echo_retry,) = logs.events("retry", ids["echoed-then-healed"])
    assert echo_retry.status == 502

    (failed,) = logs.events("unit.failed", ids["echoed-and-failed"])
    assert (failed.levelname, failed.error_type, failed.status) == ("ERROR", "BadRequest", 400)
    assert not logs.events("unit.finish", ids["echoed-and-failed"])

    (opened,) = logs.events("sweep.start")
    assert (opened.accounts, opened.concurrency, opened.checkpoint) == ("5 given", 64, False)
    (closed,) = logs.events("sweep.finish")
    assert closed.states["done"] == 4 and closed.states["failed"] == 1
    assert closed.totals["records"] == 600
    # Each record names where it was logged from (the library's function, not a helper).
    assert {r.module for r in logs.records} <= {"_fetch", "sweep"}
    assert_no_token(logs)


async def test_a_capped_429_says_so(emulator: EmulatorFactory, logs: Collect) -> None:
    accounts = (
        AccountSpec(integration="claude", tenant_id="t", users=20, faults="remote429:30@#0"),
    )
    emu = await emulator(accounts=accounts, tokens=(TOKEN,))
    policy = RetryPolicy(max_attempts=3, max_retry_after=0.05, retry_after_jitter=0.0)
    report = await sweep(emu, retry=policy, rate_limits=None)
    assert report.ok
    (event,) = logs.events("rate_limited")
    assert (event.retry_after, event.capped, event.wait) == (30.0, True, 0.05)
    assert "(Retry-After 30 s capped by max_retry_after)" in event.getMessage()
    assert_no_token(logs)


async def test_discovery_skips_are_logged(emulator: EmulatorFactory, logs: Collect) -> None:
    from truto_stream import AccountQuery

    accounts = (
        AccountSpec(integration="claude", tenant_id="t", users=5),
        AccountSpec(integration="claude", tenant_id="t", users=5, status="needs_reauth"),
        AccountSpec(integration="cursor", tenant_id="t", users=5, is_blocked=True),
    )
    emu = await emulator(accounts=accounts, tokens=(TOKEN,))
    async with Client(token=TOKEN, base_url=emu.url, retry=RETRY) as client:
        async with client.sweep(
            "usage-metering", "users", accounts=AccountQuery(tenant_id="t")
        ) as run:
            async for _ in run.batches():
                pass
    skipped = {r.account_id: r.reason for r in logs.events("unit.skipped")}
    assert skipped == {
        emu.dataset.accounts[1].id: "account status is 'needs_reauth'",
        emu.dataset.accounts[2].id: "account is blocked",
    }
    blocked = logs.events("unit.skipped", emu.dataset.accounts[2].id)[0]
    assert (blocked.unit, blocked.integration, blocked.tenant_id) == (
        emu.dataset.accounts[2].id,
        "cursor",
        "t",
    )
    (started,) = logs.events("unit.start")
    assert (started.account_id, started.integration) == (emu.dataset.accounts[0].id, "claude")
    (opened,) = logs.events("sweep.start")
    assert opened.accounts == "discovered (tenant_id=t)"
    assert_no_token(logs)


_QUIET = """
import logging, sys
import anyio
from truto_stream import Client, RetryPolicy
from truto_stream.emulator import AccountSpec, Emulator, EmulatorConfig

async def main():
    specs = (AccountSpec("openai", "t", 120, faults="502@#0"),
             AccountSpec("openai", "t", 20, faults="echo@#0"))
    async with Emulator(EmulatorConfig(accounts=specs)) as emu:
        ids = [a.id for a in emu.dataset.accounts]
        async with Client(base_url=emu.url, token="truto-emulator-dev-token",
                          retry=RetryPolicy(base_delay=0.001)) as client:
            async with client.sweep("usage-metering", "users", accounts=ids) as run:
                async for _ in run.batches():
                    pass
    assert run.report.count("failed") == 1 and run.report.to_dict()["totals"]["retries"] == 1
    root = logging.getLogger()
    assert not root.handlers, root.handlers
    assert [type(h).__name__ for h in logging.getLogger("truto_stream").handlers] == [
        "NullHandler"
    ]
    print("ok")

anyio.run(main, backend="asyncio")
"""


def test_the_library_is_quiet_by_default() -> None:
    # A failed account and a retry (WARNING and ERROR events) print nothing to an
    # application that configured no logging: no handler of ours, no last-resort output.
    done = subprocess.run(
        [sys.executable, "-c", _QUIET], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")
