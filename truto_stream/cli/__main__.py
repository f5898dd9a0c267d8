"""``python -m truto_stream.cli``: the same as the ``truto-stream`` console script."""

from __future__ import annotations

import sys

from truto_stream.cli import main

sys.exit(main())
