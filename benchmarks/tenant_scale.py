"""``python -m benchmarks.tenant_scale``: the tenant-scale scenario (7) alone.

The same as ``python -m benchmarks --only tenant-scale``; every other option passes
through, e.g.::

    python -m benchmarks.tenant_scale                      # default sizes (issue's x 0.05)
    python -m benchmarks.tenant_scale --tenant-scale 1     # the sizes of issue #15
    python -m benchmarks.tenant_scale --rounds 1 --smoke   # seconds, to see it run
    python -m benchmarks.tenant_scale --ours-python before=/work/bench-before/.venv/bin/python
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from benchmarks.harness import main as harness_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run scenario 7 with the harness (``--only`` is set here)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return harness_main(["--only", "tenant-scale", *args])


if __name__ == "__main__":
    raise SystemExit(main())
