"""The command line's log options and JSON formatter, directly (sans-IO)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.cli.common import UsageError
from truto_stream.cli.logs import JsonFormatter, LogOptions, configure_logging, split_log_args

# Other arguments: anything but our options (values that merely look like options too).
OTHER = st.text(min_size=0, max_size=12).filter(
    lambda a: a.split("=", 1)[0] not in ("--log-format", "--log-file", "--log-level", "--")
)
OURS = st.sampled_from(
    [
        ["--log-format", "json"],
        ["--log-format=text"],
        ["--log-file", "x.log"],
        ["--log-file=-x"],
        ["--log-level", "debug"],
        ["--log-level=WARNING"],
    ]
)


@given(
    st.lists(st.one_of(OTHER.map(lambda a: (False, [a])), OURS.map(lambda o: (True, o)))),
    st.lists(OTHER),
)
def test_split_takes_ours_keeps_the_rest_in_order(
    pieces: list[tuple[bool, list[str]]], tail: list[str]
) -> None:
    argv = [arg for _, piece in pieces for arg in piece] + ["--", "--log-level", "ERROR", *tail]
    options, rest = split_log_args(argv)
    others = [piece[0] for ours, piece in pieces if not ours]
    assert rest == [*others, "--", "--log-level", "ERROR", *tail]  # nothing after --
    given_names = {piece[0].split("=")[0] for ours, piece in pieces if ours}
    assert options.enabled == bool(given_names)
    assert (options.level is not None) == ("--log-level" in given_names)
    assert options.level in (None, "DEBUG", "WARNING")  # never the ERROR after --
    assert (options.format is not None) == ("--log-format" in given_names)
    assert (options.file is not None) == ("--log-file" in given_names)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-format", "xml"], "invalid choice: 'xml'"),
        (["--log-format"], "expected one argument"),
        (["--log-file", "--log-level", "INFO"], "expected one argument"),
        (["--log-file="], "expected a file name"),
        (["--log-level", "loud"], "invalid choice: 'LOUD'"),
    ],
)
def test_bad_log_options_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split_log_args(["sweep", *argv])


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "truto_stream.fetch", logging.WARNING, __file__, 1, "a %s", ("b",), None
    )
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_fields() -> None:
    formatter = JsonFormatter()
    line = formatter.format(
        _record(event="retry", delay=0.25, states={"done": 1}, where=Path("/x"), note="two\nlines")
    )
    assert "\n" not in line  # one object per line, whatever the fields hold
    document = orjson.loads(line)
    assert document == {
        "ts": document["ts"],
        "level": "WARNING",
        "logger": "truto_stream.fetch",
        "message": "a b",
        "event": "retry",
        "delay": 0.25,
        "states": {"done": 1},
        "where": "/x",  # not JSON: written as text, not dropped
        "note": "two\nlines",
    }
    stamp = dt.datetime.fromisoformat(document["ts"])
    assert document["ts"].endswith("Z") and stamp.utcoffset() == dt.timedelta(0)
    assert abs(stamp.timestamp() - dt.datetime.now(dt.UTC).timestamp()) < 60


def test_json_lines_carry_an_exception_as_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    document = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in document["exc_info"]


def test_configure_off_touches_nothing() -> None:
    logger = logging.getLogger("truto_stream")
    handlers, level = list(logger.handlers), logger.level
    assert configure_logging(LogOptions()) is None
    assert (logger.handlers, logger.level) == (handlers, level)


def test_configure_a_file(tmp_path: Path) -> None:
    logger = logging.getLogger("truto_stream")
    level = logger.level
    handler = configure_logging(LogOptions(format="json", file=str(tmp_path / "l.log")))
    assert handler is not None
    try:
        assert logger.level == logging.INFO
        logging.getLogger("truto_stream.sweep").info("hello", extra={"event": "x"})
        logging.getLogger("truto_stream.sweep").debug("not at INFO")
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)
    (line,) = (tmp_path / "l.log").read_text().splitlines()
    assert orjson.loads(line)["event"] == "x"
