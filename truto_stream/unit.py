"""A unit of sweep work: one integrated account, plus the parameters that are its own.

A sweep is a list of units. Each is walked by one worker from its first page to its last,
and the checkpoint keeps its progress under :attr:`Unit.key`: an opaque string, stable
across runs, unique within a sweep. Today a unit is one integrated account (its key is the
account id); a plan may cut an account into several units, e.g. one per ``date``, each
with parameters of its own that are sent over the sweep's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Unit", "unit_key"]


def unit_key(
    account_id: str, *, date: str | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """The key of the unit ``(account_id, date, params)``.

    The account id alone when there is nothing else (so a unit per account keeps the key
    earlier checkpoints used), ``ACCOUNT@DATE`` with a date, and a short digest of the
    parameters after ``#`` when the unit has parameters of its own.
    """
    key = account_id if date is None else f"{account_id}@{date}"
    if params:
        text = orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS, default=str)
        key += "#" + hashlib.blake2b(text, digest_size=8).hexdigest()
    return key


@dataclass(frozen=True, slots=True)
class Unit:
    """One integrated account to walk, with its own parameters (merged over the sweep's).

    ``key`` identifies the unit in a checkpoint; ``date`` is the day the unit's records
    describe (``None`` for an integration without dates); ``integration`` and
    ``tenant_id`` are known when the account was discovered, for reports.
    """

    key: str
    account_id: str
    date: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    integration: str | None = None
    tenant_id: str | None = None

    @classmethod
    def of(
        cls,
        account_id: str,
        *,
        date: str | None = None,
        params: Mapping[str, Any] | None = None,
        integration: str | None = None,
        tenant_id: str | None = None,
    ) -> Unit:
        """A unit keyed by :func:`unit_key`."""
        if not isinstance(account_id, str) or not account_id:
            raise ValueError("a unit needs a non-empty account id")
        return cls(
            unit_key(account_id, date=date, params=params),
            account_id,
            date,
            dict(params or {}),
            integration,
            tenant_id,
        )

    def query(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The sweep's ``params`` with this unit's own on top (``date`` included)."""
        merged = {**params, **self.params}
        if self.date is not None:
            merged["date"] = self.date
        return merged
