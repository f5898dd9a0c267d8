"""``python -m truto_stream.emulator [options]``."""

from __future__ import annotations

import sys

from truto_stream.emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
