"""Every core of one machine: a sweep run by N shard processes, merged into one stream.

``ProcessSweep`` plans once, starts N processes (each sweeps its share of the accounts
with its share of the per-token budget), and yields their batches as NDJSON bytes; the
caller owns the sink and, with a checkpoint, commits each batch with the sink's position
as with ``client.sweep(..., commits="manual")``. ``truto-stream sweep --processes N``
is built on it.
"""

from truto_stream.processes._sweep import ProcessSweep, RawBatch, ShardProcessError

__all__ = ["ProcessSweep", "RawBatch", "ShardProcessError"]
