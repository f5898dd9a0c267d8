"""The runtime a client lends its lists and sweeps: producers and the error-group policy."""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from truto_stream import Client, ConfigurationError, MalformedBody, TransportError
from truto_stream._runtime import Runtime, single_error
from truto_stream._streams import ChannelSender

pytestmark = pytest.mark.anyio

#: Nothing listens here: these tests never send a request.
UNUSED_URL = "http://127.0.0.1:9"


@asynccontextmanager
async def runtime(**options: float | None) -> AsyncIterator[Runtime]:
    async with Client(token="t", base_url=UNUSED_URL, **options) as client:  # type: ignore[arg-type]
        yield client._runtime


# --- single_error: one policy for exception groups ------------------------------------------


def test_single_error_passes_plain_errors_through() -> None:
    err = MalformedBody("gone")
    assert single_error(err) is err


def test_single_error_unwraps_nested_groups_of_one() -> None:
    err = MalformedBody("gone")
    group = ExceptionGroup("outer", [ExceptionGroup("inner", [err])])
    assert single_error(group) is err
    assert not getattr(err, "__notes__", [])


def test_single_error_keeps_the_first_and_notes_the_others() -> None:
    first, second, third = MalformedBody("a"), TransportError("b"), ValueError("c")
    group = ExceptionGroup("g", [first, ExceptionGroup("h", [second, third])])
    assert single_error(group) is first
    assert first.__notes__ == [
        "raised at the same time: TransportError: b",
        "raised at the same time: ValueError: c",
    ]


def test_single_error_an_interrupt_wins() -> None:
    err, stop = ValueError("a"), KeyboardInterrupt()
    assert single_error(BaseExceptionGroup("g", [err, stop])) is stop
    assert stop.__notes__ == ["raised at the same time: ValueError: a"]


# --- producers -------------------------------------------------------------------------------


async def test_items_then_the_producers_error_in_order() -> None:
    async def produce(send: ChannelSender[int]) -> None:
        for i in range(5):
            await send.send(i)
        async with anyio.create_task_group() as tg:  # a group of one: raised as itself
            tg.start_soon(_raise, MalformedBody("no such page"))

    async with runtime() as rt:
        producer = await rt.start(produce, buffer=2, name="truto_stream test")
        got = []
        with pytest.raises(MalformedBody, match="no such page"):
            while (item := await producer.next()) is not None:
                got.append(item)
        assert got == [0, 1, 2, 3, 4]
        await producer.stop()


async def _raise(exc: Exception) -> None:
    raise exc


async def test_stop_cancels_and_waits_for_the_producer() -> None:
    released = anyio.Event()

    async def produce(send: ChannelSender[int]) -> None:
        try:
            await send.send(1)
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)  # releasing a connection takes a moment
            released.set()

    async with runtime() as rt:
        producer = await rt.start(produce, buffer=1, name="truto_stream test")
        assert await producer.next() == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await producer.stop()
        assert released.is_set()


async def test_a_producer_that_overruns_stop_timeout_is_reported_loudly() -> None:
    finished = anyio.Event()

    async def produce(send: ChannelSender[int]) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.5)  # stuck: ignores the cancellation for a while
            finished.set()

    async with runtime(stop_timeout=0.05) as rt:
        producer = await rt.start(produce, buffer=1, name="truto_stream stuck walk")
        started = time.monotonic()
        with pytest.warns(RuntimeWarning, match=r"truto_stream stuck walk did not stop within"):
            await producer.stop()
        assert time.monotonic() - started < 0.4
        assert not finished.is_set()
    # Closing the client waited for it: nothing outlives the client.
    assert finished.is_set()


async def test_no_stop_timeout_waits_as_long_as_it_takes() -> None:
    async def produce(send: ChannelSender[int]) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.2)

    async with runtime(stop_timeout=None) as rt:
        producer = await rt.start(produce, buffer=1, name="truto_stream test")
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await producer.stop()
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_stop_timeout_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigurationError, match="stop_timeout"):
        Client(token="t", base_url=UNUSED_URL, stop_timeout=bad)


async def test_start_needs_an_open_client() -> None:
    client = Client(token="t", base_url=UNUSED_URL)

    async def produce(send: ChannelSender[int]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="not open"):
        await client._runtime.start(produce, buffer=1, name="x")
