"""The fixed columns of each known unified resource, and the field projection (``fields=``).

A known resource (``usage-metering/users``) has a fixed column set: ``integrated_account_id``,
then ``date`` (in a sweep over dates), then every field of its model
(:class:`~truto_stream.models.User`) in declaration order, so the columns never depend on
which records arrive first. Each column carries its Python annotation, from which
:mod:`truto_stream.arrow` derives the one Arrow schema that the Arrow batches, the Parquet
output, the dlt source and the Ray source all use. This module needs no pyarrow (csv uses it
too).

A :class:`Projection` keeps only some fields of each record (``id`` always): it asks the
server to leave the others out (``truto_exclude_fields[]``, for a known model, whose field
set is known) and drops them locally too, since a server may ignore the parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, get_type_hints

from truto_stream.errors import ConfigurationError
from truto_stream.models import User

__all__ = [
    "ACCOUNT_COLUMN",
    "DATE_COLUMN",
    "EXCLUDE_PARAM",
    "JSON_COLUMNS",
    "Projection",
    "as_projection",
    "known_model",
    "model_columns",
    "model_fields",
]

#: The column every output record gets: the integrated account it came from.
ACCOUNT_COLUMN: Final = "integrated_account_id"
#: The column a sweep over dates adds to every record: the day it describes (null for an
#: integration without dates, swept once).
DATE_COLUMN: Final = "date"
#: Fields whose shape differs per vendor: kept as JSON text in tabular outputs.
JSON_COLUMNS: Final = frozenset({"remote_data"})
#: Truto's parameter for fields the server should leave out of each record.
EXCLUDE_PARAM: Final = "truto_exclude_fields"
#: The field every projection keeps: the record's identity (resume and merge keys use it).
ID_FIELD: Final = "id"

_MODELS: dict[tuple[str, str], type[Any]] = {("usage-metering", "users"): User}


def known_model(model: str, resource: str) -> type[Any] | None:
    """The TypedDict describing ``model/resource`` records, or ``None`` if unknown."""
    return _MODELS.get((model, resource))


def model_fields(typed_dict: type[Any]) -> dict[str, Any]:
    """``{field: annotation}`` of a model, in declaration order."""
    return get_type_hints(typed_dict)


def model_columns(
    typed_dict: type[Any], *, dated: bool = False, fields: Projection | None = None
) -> dict[str, Any]:
    """``{column: annotation}`` for a model's records as outputs write them.

    The account column first, then the date column (``dated``: a sweep over dates), then
    the model's fields (only the projected ones, in the model's order, with ``fields``).
    """
    hints = model_fields(typed_dict)
    if fields is not None:
        hints = {name: hint for name, hint in hints.items() if name in fields.keep}
    return {ACCOUNT_COLUMN: str, **({DATE_COLUMN: str} if dated else {}), **hints}


@dataclass(frozen=True)
class Projection:
    """Keep only ``fields`` of each record (``id`` is always kept).

    ``Projection.of(["name", "emails"])`` or ``Projection.parse("id,name,emails")``.
    """

    fields: tuple[str, ...]

    @classmethod
    def of(cls, fields: Iterable[str] | str) -> Projection:
        """A projection of ``fields`` (a list, or one comma-separated string)."""
        names = fields.split(",") if isinstance(fields, str) else list(fields)
        cleaned = [name.strip() for name in names]
        if any(not isinstance(name, str) or not name for name in cleaned):
            raise ConfigurationError("fields must be non-empty field names")
        return cls(tuple(dict.fromkeys([ID_FIELD, *cleaned])))

    @property
    def keep(self) -> frozenset[str]:
        return frozenset(self.fields)

    def check(self, typed_dict: type[Any] | None) -> None:
        """Refuse a field the model does not have (a typo would silently give nulls)."""
        if typed_dict is None:
            return
        known = model_fields(typed_dict)
        unknown = [name for name in self.fields if name not in known]
        if unknown:
            raise ConfigurationError(
                f"unknown field(s) {', '.join(unknown)}; this resource has: {', '.join(known)}"
            )

    def excluded(self, typed_dict: type[Any] | None) -> list[str]:
        """The model's fields not kept: what the server is asked to leave out."""
        if typed_dict is None:
            return []
        return [name for name in model_fields(typed_dict) if name not in self.keep]

    def query(self, params: Mapping[str, Any], typed_dict: type[Any] | None) -> dict[str, Any]:
        """``params`` with ``truto_exclude_fields`` extended by :meth:`excluded`.

        A known model's excluded fields are not sent at all (fewer bytes on the wire); the
        caller's own exclusions are kept. An unknown model sends nothing more.
        """
        query = dict(params)
        excluded = self.excluded(typed_dict)
        if not excluded:
            return query
        given = query.get(EXCLUDE_PARAM)
        mine = [given] if isinstance(given, str) else list(given or [])
        query[EXCLUDE_PARAM] = list(dict.fromkeys([*mine, *excluded]))
        return query

    def apply(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each record with only the kept fields (absent ones stay absent)."""
        keep = self.fields
        return [{k: r[k] for k in keep if k in r} for r in records]


def as_projection(
    fields: Projection | Iterable[str] | str | None, typed_dict: type[Any] | None
) -> Projection | None:
    """``fields`` (names, a comma-separated string or a projection) checked against the
    model (``None``: no projection)."""
    if fields is None:
        return None
    projection = fields if isinstance(fields, Projection) else Projection.of(fields)
    projection.check(typed_dict)
    return projection
