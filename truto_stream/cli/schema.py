"""Column sets for tabular outputs (csv, parquet): :mod:`truto_stream.schema`, re-exported.

The fixed columns of each known resource live in :mod:`truto_stream.schema` (and their
Arrow schema in :mod:`truto_stream.arrow`), one place for every output.
"""

from __future__ import annotations

from truto_stream.schema import (
    ACCOUNT_COLUMN,
    DATE_COLUMN,
    JSON_COLUMNS,
    known_model,
    model_columns,
)

__all__ = ["ACCOUNT_COLUMN", "DATE_COLUMN", "JSON_COLUMNS", "known_model", "model_columns"]
