"""Column sets for tabular outputs (csv, parquet), taken from the unified models.

A known resource (``usage-metering/users``) has a fixed column set: ``integrated_account_id``
then every field of :class:`~truto_stream.models.User`, in declaration order, so the columns
never depend on which records arrive first. Each column also carries its Python type (from
the TypedDict annotations), from which :mod:`truto_stream.cli.parquet` derives an Arrow
schema. An unknown resource gets its columns from its first record.
"""

from __future__ import annotations

from typing import Any, Final, get_type_hints

from truto_stream.models import User

__all__ = ["ACCOUNT_COLUMN", "DATE_COLUMN", "JSON_COLUMNS", "known_model", "model_columns"]

#: The column the command adds to every record.
ACCOUNT_COLUMN: Final = "integrated_account_id"
#: The column a sweep over dates adds to every record: the day it describes (null for an
#: integration without dates, swept once).
DATE_COLUMN: Final = "date"

#: Fields whose shape differs per vendor: kept as JSON text in tabular outputs.
JSON_COLUMNS: Final = frozenset({"remote_data"})

_MODELS: dict[tuple[str, str], type[Any]] = {("usage-metering", "users"): User}


def known_model(model: str, resource: str) -> type[Any] | None:
    """The TypedDict describing ``model/resource`` records, or ``None`` if unknown."""
    return _MODELS.get((model, resource))


def model_columns(typed_dict: type[Any], *, dated: bool = False) -> dict[str, Any]:
    """``{column: annotation}`` for a TypedDict, with the account column first (then the
    date column, for a sweep over dates)."""
    hints = get_type_hints(typed_dict)
    return {ACCOUNT_COLUMN: str, **({DATE_COLUMN: str} if dated else {}), **hints}
