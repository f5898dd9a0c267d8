"""What every sub-command shares: usage errors, the token, the base URL, MODEL/RESOURCE.

The token is read from ``--token`` or ``$TRUTO_API_TOKEN`` and handed to the client only;
nothing here prints it, and usage messages never include option values that could hold it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final, NoReturn

from truto_stream.cli.params import ParamError, parse_params

__all__ = [
    "DEFAULT_BASE_URL",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "TOKEN_ENV",
    "CliParser",
    "UsageError",
    "add_connection_args",
    "add_param_args",
    "eprint",
    "parse_param_args",
    "parse_resource",
    "resolve_token",
    "usage_exit",
]

DEFAULT_BASE_URL: Final = "https://api.truto.one"
TOKEN_ENV: Final = "TRUTO_API_TOKEN"

#: Exit statuses (documented in docs/cli.md).
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_SIGINT: Final = 130
EXIT_SIGTERM: Final = 143


class UsageError(Exception):
    """The command line cannot be run as given (exit status 2)."""


class CliParser(argparse.ArgumentParser):
    """``argparse`` that raises :class:`UsageError` instead of exiting, so callers decide."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def eprint(*parts: object) -> None:
    """Print to stderr (diagnostics and progress never go to stdout)."""
    print(*parts, file=sys.stderr, flush=True)


def usage_exit(parser: argparse.ArgumentParser, error: UsageError) -> int:
    """Print ``error`` with the command's usage line on stderr; return exit status 2."""
    sys.stderr.write(parser.format_usage())
    eprint(f"{parser.prog}: error: {error}")
    return EXIT_USAGE


def parse_resource(value: str) -> tuple[str, str]:
    """``usage-metering/users`` -> ``("usage-metering", "users")``."""
    model, sep, resource = value.strip().strip("/").partition("/")
    if not sep or not model or not resource or "/" in resource:
        raise UsageError(f"expected MODEL/RESOURCE (e.g. usage-metering/users), got {value!r}")
    return model, resource


def resolve_token(given: str | None) -> str:
    """The API token from ``--token`` or ``$TRUTO_API_TOKEN``; a usage error when neither."""
    token = given if given is not None else os.environ.get(TOKEN_ENV)
    if not token or not token.strip():
        raise UsageError(f"no API token: pass --token TOKEN or set ${TOKEN_ENV}")
    return token.strip()


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """``--base-url`` and ``--token``."""
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help=f"Truto API base URL (default {DEFAULT_BASE_URL}; http only on loopback)",
    )
    parser.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help=f"API token (default ${TOKEN_ENV}; prefer the variable: argv is visible to ps)",
    )


def add_param_args(parser: argparse.ArgumentParser) -> None:
    """``--param KEY=VALUE`` (repeatable) and ``--mode``."""
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query parameter, repeatable; bracket syntax: truto_exclude_fields[]=emails, "
        "remote_query[k]=v",
    )
    parser.add_argument(
        "--mode",
        choices=("paged", "stream"),
        default="paged",
        help="paged: follow next_cursor; stream: truto_response_format=stream (default paged)",
    )


def parse_param_args(items: list[str]) -> dict[str, object]:
    """``--param`` values as the nested dict the client encodes (usage error if malformed)."""
    try:
        return parse_params(items)
    except ParamError as exc:
        raise UsageError(str(exc)) from None
