"""``python -m benchmarks``: run the benchmark scenarios (see benchmarks.harness)."""

from benchmarks.harness import main

raise SystemExit(main())
