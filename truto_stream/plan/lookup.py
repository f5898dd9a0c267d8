"""Sans-IO half of looking accounts up by id in batches (``GET /integrated-account?id[in]=``).

A batch lookup asks for many ids in one request; a server that does not know the
``id[in]`` filter (it answers with other accounts, or refuses the request) must not
mislead the plan, so only records whose ``id`` was asked for are read, and what a batch
did not answer is looked up one id at a time (``GET /integrated-account/{id}``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "LOOKUP_BATCH",
    "LOOKUP_QUERY_CHARS",
    "BatchAnswer",
    "batch_params",
    "group_ids",
    "read_batch",
]

#: The most accounts looked up in one ``GET /integrated-account?id[in]=...`` request
#: (1: one request per account, as before batches).
LOOKUP_BATCH = 100

#: The most characters the encoded ids of one batch take in its URL: the request line
#: stays well under the 8 KB many servers and proxies accept (100 UUIDs take ~3,900).
LOOKUP_QUERY_CHARS: Final = 4096

_SEPARATOR_CHARS: Final = len(quote(",", safe=""))


@dataclass(frozen=True)
class BatchAnswer:
    """What a batch lookup's answer says.

    ``found``: the records of ids asked for, by id (the first one of each id).
    ``filter_ignored``: the answer holds records not asked for (or is no listing at all):
    the server does not know ``id[in]``, so later ids are better looked up one at a time.
    """

    found: dict[str, Mapping[str, Any]]
    filter_ignored: bool


def group_ids(ids: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Split ``ids`` into batch queries (each of 2 ids or more, within
    :data:`LOOKUP_QUERY_CHARS`) and the ids to look up one at a time.

    An id holding a comma cannot be told apart in ``id[in]``: it is looked up alone, as
    is an id left without a partner.
    """
    groups: list[list[str]] = []
    singles: list[str] = []
    group: list[str] = []
    chars = 0
    for account_id in ids:
        if "," in account_id:
            singles.append(account_id)
            continue
        cost = len(quote(account_id, safe="")) + _SEPARATOR_CHARS
        if group and chars + cost > LOOKUP_QUERY_CHARS:
            _close(group, groups, singles)
            group, chars = [], 0
        group.append(account_id)
        chars += cost
    _close(group, groups, singles)
    return groups, singles


def _close(group: list[str], groups: list[list[str]], singles: list[str]) -> None:
    if len(group) > 1:
        groups.append(group)
    else:
        singles.extend(group)  # one id: its own lookup costs the same request


def batch_params(ids: Sequence[str]) -> dict[str, Any]:
    """The query of one batch lookup: the ids, and a page that holds them all."""
    return {"id[in]": ",".join(ids), "limit": len(ids)}


def read_batch(body: Any, asked: Collection[str]) -> BatchAnswer:
    """The records of ``body`` (a listing envelope) whose ``id`` is one of ``asked``.

    ``next_cursor`` is never followed: a page that does not hold an id asked for leaves
    it to its own lookup.
    """
    result = body.get("result") if isinstance(body, Mapping) else None
    if not isinstance(result, list):
        return BatchAnswer({}, filter_ignored=True)
    found: dict[str, Mapping[str, Any]] = {}
    ignored = False
    for record in result:
        account_id = record.get("id") if isinstance(record, Mapping) else None
        if isinstance(account_id, str) and account_id in asked:
            found.setdefault(account_id, record)
        else:
            ignored = True
    return BatchAnswer(found, ignored)
