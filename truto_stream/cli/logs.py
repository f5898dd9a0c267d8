"""The command's log output: ``--log-format text|json``, ``--log-file PATH``, ``--log-level``.

Without any of the three, nothing is logged (the progress and summary on stderr are the
command's output, as before). With any of them, the ``truto_stream`` loggers write to
``--log-file`` (appended) or else to stderr, at ``--log-level`` (default ``INFO``: per
account start, finish, failure and skip, every retry and 429; ``DEBUG`` adds a line per
page). These options are the command's, not a sub-command's: they may appear anywhere
before a ``--``.

JSON lines come from :class:`JsonFormatter`, a small :class:`logging.Formatter` over
orjson (already a dependency): one object per line with ``ts``, ``level``, ``logger``,
``message`` and the event's fields as keys. A JSON-logging package would add a
dependency for these few lines.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from truto_stream.cli.common import CliParser, UsageError

__all__ = ["LOG_OPTIONS", "JsonFormatter", "LogOptions", "configure_logging", "split_log_args"]

#: The options this module takes out of the command line, wherever they are.
LOG_OPTIONS: Final = ("--log-format", "--log-file", "--log-level")
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: the rest came from ``extra=`` (the event's fields).
_STANDARD: Final = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, then every ``extra=`` field (and ``exc_info`` as text, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in document:
                document[key] = value
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        # default=str: a field orjson cannot encode is written as its text, never dropped.
        return orjson.dumps(document, default=str).decode()


def _iso(created: float) -> str:
    """``2026-11-20T09:30:00.123Z``: ISO 8601 in UTC, to the millisecond."""
    stamp = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


@dataclass(frozen=True)
class LogOptions:
    """The parsed log options; ``enabled`` when any was given."""

    format: str | None = None
    file: str | None = None
    level: str | None = None

    @property
    def enabled(self) -> bool:
        return any(value is not None for value in (self.format, self.file, self.level))


def _parser() -> CliParser:
    parser = CliParser(prog="truto-stream", add_help=False, allow_abbrev=False)
    parser.add_argument("--log-format", dest="format", choices=("text", "json"))
    parser.add_argument("--log-file", dest="file", metavar="PATH")
    parser.add_argument("--log-level", dest="level", type=str.upper, choices=LEVELS)
    return parser


def split_log_args(argv: Sequence[str]) -> tuple[LogOptions, list[str]]:
    """The log options in ``argv`` (before any ``--``), and ``argv`` without them.

    Raises :class:`~truto_stream.cli.common.UsageError` for a bad value or a missing one.
    """
    taken: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        name = arg.split("=", 1)[0]
        if name not in LOG_OPTIONS:
            rest.append(arg)
            continue
        taken.append(arg)
        if "=" not in arg and (value := next(args, None)) is not None:
            taken.append(value)  # argparse reports a missing one
    namespace = _parser().parse_args(taken)
    if namespace.file == "":
        raise UsageError("argument --log-file: expected a file name")
    return LogOptions(namespace.format, namespace.file, namespace.level), rest


def configure_logging(options: LogOptions) -> logging.Handler | None:
    """Send the ``truto_stream`` loggers' records where ``options`` say; None when off.

    Raises ``OSError`` when the log file cannot be opened.
    """
    if not options.enabled:
        return None
    handler: logging.Handler
    if options.file is not None:
        handler = logging.FileHandler(options.file, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if options.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_text_formatter())
    logger = logging.getLogger("truto_stream")
    logger.setLevel(options.level or "INFO")
    logger.addHandler(handler)
    return handler


def _text_formatter() -> logging.Formatter:
    # The same clock as the JSON lines: ISO 8601 in UTC, to the millisecond.
    formatter = logging.Formatter(TEXT_FORMAT)
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    return formatter
