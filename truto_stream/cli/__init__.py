"""The ``truto-stream`` command: a thin dispatcher to one module per sub-command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: truto-stream COMMAND [options]

commands:
  emulator   run the local Truto emulator (an HTTP server on loopback)

Run 'truto-stream COMMAND --help' for a command's options."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``truto-stream`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "emulator":
        from truto_stream.emulator.cli import main as emulator_main

        return emulator_main(rest)
    print(f"truto-stream: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
