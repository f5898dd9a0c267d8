"""``python -m benchmarks.columnar_ab``: ``python -m benchmarks.alternate --columnar``.

The columnar path against another library's, paired: kept under this name for the
command lines of earlier notes (see :mod:`benchmarks.alternate`).

::

    python -m benchmarks.columnar_ab --other-python /work/main/.venv/bin/python --rounds 9
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.alternate import main as _alternate
from benchmarks.alternate import paired

__all__ = ["main", "paired"]


def main(argv: Sequence[str] | None = None) -> None:
    _alternate(["--columnar", *(argv or [])])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
