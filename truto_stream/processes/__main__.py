"""``python -m truto_stream.processes``: a shard process (started by ProcessSweep only)."""

from truto_stream.processes._child import main

main()
