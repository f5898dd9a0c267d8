"""The ``truto-stream`` command: a thin dispatcher to one module per sub-command.

Sub-commands are imported only when used, so ``truto-stream emulator`` does not load the
client and ``--help`` stays fast. The options every command shares (``--version``, and
the log options of :mod:`truto_stream.cli.logs`) are taken here.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable, Sequence

from truto_stream._version import __version__
from truto_stream.cli.common import EXIT_USAGE, UsageError
from truto_stream.cli.logs import configure_logging, split_log_args

USAGE = """usage: truto-stream [--version] COMMAND [options] [--log-format text|json]
                    [--log-file PATH] [--log-level DEBUG|INFO|WARNING|ERROR]

commands:
  sweep      sweep MODEL/RESOURCE across many integrated accounts into one output
  load       sweep MODEL/RESOURCE into a dlt destination (default DuckDB: truto.duckdb)
  list       list MODEL/RESOURCE of one integrated account (one page, or --all)
  accounts   list the integrated accounts (table or ndjson)
  demo       run a sweep against the embedded emulator, with progress and a summary
  emulator   run the local Truto emulator (an HTTP server on loopback)

options of every command (anywhere on the line):
  --version                  print the version and exit
  --log-format text|json     log events (per account, retries, 429s) in this format
                             (default text)
  --log-file PATH            append the log there (default stderr, when any log option
                             is given; no log at all without one)
  --log-level LEVEL          DEBUG (adds a line per page), INFO (default), WARNING, ERROR

Run 'truto-stream COMMAND --help' for a command's options."""

#: command -> module whose ``main(argv) -> int`` runs it.
COMMANDS: dict[str, str] = {
    "sweep": "truto_stream.cli.sweep",
    "load": "truto_stream.cli.load",
    "list": "truto_stream.cli.listing",
    "accounts": "truto_stream.cli.accounts",
    "demo": "truto_stream.cli.demo",
    "emulator": "truto_stream.emulator.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``truto-stream`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-V", "--version"):
        print(f"truto-stream {__version__}")
        return 0
    try:
        log_options, args = split_log_args(args)
    except UsageError as exc:
        print(f"truto-stream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    module = COMMANDS.get(command)
    if module is None:
        print(f"truto-stream: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        configure_logging(log_options)
    except OSError as exc:
        print(
            f"truto-stream: cannot open the log file {exc.filename!r}: {exc.strerror}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        run: Callable[[Sequence[str]], int] = importlib.import_module(module).main
        _tune_gc()
        return run(rest)
    except KeyboardInterrupt:
        # Ctrl-C before a command installed its own handler (e.g. while importing).
        print("\ninterrupted", file=sys.stderr)
        return 130


def _tune_gc() -> None:
    """Tune the garbage collector for this process (the command owns it; the library never
    touches a caller's collector).

    A sweep allocates millions of short-lived objects, and CPython's default first
    threshold (700) makes the collector traverse them over and over: measured with
    ``python -m benchmarks.profile``, about a third of a sweep's CPU. Everything imported
    so far is frozen out of the collector's way, and young collections run less often;
    memory stays bounded (a few more MB of young objects at most).
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


if __name__ == "__main__":
    sys.exit(main())
