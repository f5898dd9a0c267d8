"""Fast byte rendering of users, pages and envelopes.

Each record is rendered from a per-(integration, excluded fields) ``%``-template filled
with :meth:`Dataset.facts`, which is several times faster than building the nested dict
and calling ``orjson.dumps``; the output is byte-for-byte what ``orjson.dumps`` gives for
:meth:`Dataset.user` (a test checks it). What a record shares with every record of its
slots on a date is merged into a slot table once, so that a batch joins only the
literals and a few per-record values. Rendered pages and stream batches also go through a
small LRU cache bounded in bytes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson

from truto_stream.emulator.codes import K32, M32, day_text
from truto_stream.emulator.data import SLOTS, Account, Dataset, day_salt
from truto_stream.emulator.vendors import MAX_GAP_DAYS, VENDORS

__all__ = ["UNIFIED_FIELDS", "PageCache", "Renderer"]

#: Unified fields per integration, in output order, with their value templates.
UNIFIED_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    name: vendor.unified_fields for name, vendor in VENDORS.items()
}

_PLACEHOLDER = re.compile(r"%\((id|email|num|name|lastday)\)s")
#: What slot tables are built from: e-mail slugs, id tails, the 16-bit code table (all by
#: identity slot), names (identity slot), activity gaps in days (activity slot).
_Ctx = tuple[list[bytes], list[bytes], list[bytes], list[bytes], list[int]]
#: Per-day inputs: the activity slot permutation key and ``lastday`` texts by gap.
_DayCtx = tuple[int, tuple[bytes, ...]]
_Batch = Callable[["_SlotTable", list[bytes], Account, int, int, bytes], bytes]
_NO_DAY: _DayCtx = (0, ())

#: The per-record values of each placeholder, as the generated loop names them (the rest of
#: a placeholder's value is the same for every record of a slot and sits in the table).
#: ``id`` with a prefix: the two 16-bit codes (the prefix and the tail are per slot).
_DYNAMIC = {
    "id": ("a", "b"),
    "email": ("n", "domain"),
    "num": ("num",),
    "name": (),
    "lastday": (),
}
#: How the loop computes each value from ``v`` (the mixed index) and ``i``.
_COMPUTE = {
    "a": "        a = t[v >> 16]\n",
    "b": "        b = t[v & 65535]\n",
    "n": "        n = b'%d' % i\n",
    "num": "        num = b'%d' % (base + i)\n",
}


def _dynamic(key: str, id_prefix: str | None) -> tuple[str, ...]:
    """The per-record values of placeholder ``key`` (a numeric id is the number)."""
    return ("num",) if key == "id" and id_prefix is None else _DYNAMIC[key]


@lru_cache(maxsize=64)
def _batcher(id_prefix: str | None, pattern: tuple[str, ...]) -> _Batch:
    """A loop specialised to one id scheme and placeholder order.

    It inlines :meth:`Dataset.unique` (same arithmetic; a test pins the output to
    ``orjson.dumps(dataset.user(...))``) and appends, per record, the separator, the slot's
    literal pieces and the few per-record values to one list joined once per batch: no
    bytes object per record, no per-record concatenation. Everything is bytes: no encode
    pass, and no widening of the whole batch to UCS-2 when one name has a character beyond
    Latin-1.
    """
    values = [v for key in pattern for v in _dynamic(key, id_prefix) if v != "domain"]
    items = ["sep", "L[0]"]
    literal = 1
    for key in pattern:
        dynamic = _dynamic(key, id_prefix)
        if dynamic:
            items += [*dynamic, f"L[{literal}]"]
            literal += 1
    src = (
        "def render(slots, t, acc, start, stop, sep):\n"
        "    table = slots.table\n"
        "    fill = slots.fill\n"
        "    out = []\n"
        "    extend = out.extend\n"
        "    base = acc.id_base\n"
        "    salt = acc.salt\n"
        "    salt2 = acc.salt2\n"
        "    domain = ('@' + acc.domain).encode()\n"
        "    for i in range(start, stop):\n"
        "        z = salt ^ i\n"
        f"        z = ((z ^ (z >> 16)) * {K32}) & {M32}\n"
        f"        z = ((z ^ (z >> 16)) * {K32}) & {M32}\n"
        "        v = z ^ (z >> 16)\n"
        f"        j0 = (v ^ salt2) & {SLOTS - 1}\n"
        "        L = table[j0]\n"
        "        if L is None:\n"
        "            L = fill(j0)\n"
        + "".join(_COMPUTE[name] for name in dict.fromkeys(values))
        + f"        extend(({', '.join(items)}))\n"
        "    if out:\n"
        "        out[0] = b''  # no separator before the first record\n"
        "    return b''.join(out)\n"
    )
    namespace: dict[str, Any] = {}
    exec(src, namespace)  # generated from fixed names and integers
    fn: _Batch = namespace["render"]
    return fn


class _SlotTable:
    """Per identity slot ``j0``, built on first use: the literal bytes around
    :func:`_batcher`'s per-record values.

    Everything of a record that depends only on its slots is merged here once: the pieces
    of its activity slot ``j0 ^ dsalt`` with the name, the ``lastday`` text, the e-mail
    slug and the id's prefix and tail. Slots are filled as records need them, so that one
    record (or a short page) costs no more than before.
    """

    __slots__ = ("_ctx", "_day", "_pattern", "_pieces", "_prefix", "table")

    def __init__(
        self,
        pieces: list[tuple[bytes, ...]],
        pattern: tuple[str, ...],
        id_prefix: str | None,
        ctx: _Ctx,
        day: _DayCtx,
    ) -> None:
        self._pieces = pieces
        self._pattern = pattern
        self._prefix = id_prefix.encode() if id_prefix is not None else None
        self._ctx = ctx
        self._day = day
        self.table: list[tuple[bytes, ...] | None] = [None] * SLOTS

    def fill(self, j0: int) -> tuple[bytes, ...]:
        """Build (and keep) slot ``j0``'s literals."""
        slugs, tails, _, names, gaps = self._ctx
        dsalt, dates = self._day
        j = j0 ^ dsalt
        p = self._pieces[j]
        literals: list[bytes] = []
        cur = p[0]
        for k, key in enumerate(self._pattern):
            if key == "id" and self._prefix is not None:
                literals.append(cur + self._prefix)
                cur = tails[j0]
            elif key == "email":
                literals.append(cur + slugs[j0])
                cur = b""
            elif key in ("id", "num"):
                literals.append(cur)
                cur = b""
            elif key == "name":
                cur += names[j0]
            else:  # lastday
                cur += dates[gaps[j]]
            cur += p[k + 1]
        literals.append(cur)
        slot = self.table[j0] = tuple(literals)
        return slot


_ID_CTX: dict[tuple[int, str], _Ctx] = {}


def _id_context_bytes(dataset: Dataset, integration: str) -> _Ctx:
    key = (dataset.seed, integration)
    ctx = _ID_CTX.get(key)
    if ctx is None:
        slugs, tails, table = dataset.id_context(integration)
        slots = [dataset.slot(integration, j) for j in range(SLOTS)]
        ctx = (
            [x.encode() for x in slugs],
            [x.encode() for x in tails],
            [x.encode() for x in table],
            [s["name"].encode() for s in slots],
            [s.get("gap", 0) for s in slots],
        )
        _ID_CTX[key] = ctx
        while len(_ID_CTX) > 16:
            _ID_CTX.pop(next(iter(_ID_CTX)))
    return ctx


@lru_cache(maxsize=256)
def _day_context(seed: int, day: int) -> _DayCtx:
    """The activity permutation key of ``day`` and its ``lastday`` texts by gap."""
    dates = tuple(day_text(day - gap).encode() for gap in range(MAX_GAP_DAYS + 1))
    return day_salt(seed, day), dates


#: (seed, integration, excluded) -> per-slot pieces and placeholder order, shared by all
#: renderers (slot data depends only on the seed and the integration).
_SLOT_TEMPLATES: dict[
    tuple[int, str, frozenset[str] | None], tuple[list[tuple[bytes, ...]], tuple[str, ...]]
] = {}
#: (seed, integration, excluded, day) -> slot table and its loop: a few megabytes each, so
#: only the most recently used few (a sweep asks for one date and one set of fields).
_SLOT_TABLES: OrderedDict[
    tuple[int, str, frozenset[str] | None, int | None], tuple[_SlotTable, _Batch]
] = OrderedDict()
_MAX_SLOT_TABLES = 4


class PageCache:
    """An LRU of rendered byte strings, bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        """The cached value, refreshed as most recently used."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], value: bytes, *, evict: bool = True) -> None:
        """Store ``value``, evicting the least recently used entries over budget.

        ``evict=False`` stores it only if it fits beside what is there: a stream swept
        round after round that is larger than the cache then keeps the part that fits,
        where evicting would drop every entry just before it is asked for again.
        """
        if len(value) > self.max_bytes - (0 if evict else self._size):
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old)
        self._items[key] = value
        self._size += len(value)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)

    def through(
        self, key: tuple[Any, ...], render: Callable[[], bytes], *, evict: bool = True
    ) -> bytes:
        """The cached value of ``key``, else ``render()``'s, stored (see :meth:`put`)."""
        value = self.get(key)
        if value is None:
            value = render()
            self.put(key, value, evict=evict)
        return value

    def clear(self) -> None:
        """Drop everything."""
        self._items.clear()
        self._size = 0


class Renderer:
    """Renders users of a :class:`Dataset` straight to JSON bytes."""

    def __init__(self, dataset: Dataset, cache_bytes: int = 64 << 20) -> None:
        self.dataset = dataset
        self.cache = PageCache(cache_bytes)

    def template(self, integration: str, excluded: frozenset[str]) -> str:
        """The ``%``-template of one unified record without the ``excluded`` fields."""
        return VENDORS[integration].record_template(excluded)

    def slot_templates(
        self, integration: str, excluded: frozenset[str] | None
    ) -> tuple[list[tuple[bytes, ...]], tuple[str, ...]]:
        """Per-slot literal pieces (UTF-8) around the placeholders, and their order.

        ``excluded=None`` gives the vendor row (``remote_data``) templates.
        """
        vendor = VENDORS[integration]
        if excluded is not None:
            excluded = vendor.known_fields(excluded)
        key = (self.dataset.seed, integration, excluded)
        entry = _SLOT_TEMPLATES.get(key)
        if entry is None:
            base = vendor.remote_template if excluded is None else vendor.record_template(excluded)
            slot = self.dataset.slot
            keep = {name: f"%({name})s" for name in vendor.placeholders}
            pieces: list[tuple[bytes, ...]] = []
            pattern: tuple[str, ...] = ()
            for j in range(SLOTS):
                filled = base % {**slot(integration, j), **keep}
                split = _PLACEHOLDER.split(filled)
                pieces.append(tuple(x.encode() for x in split[0::2]))
                pattern = tuple(split[1::2])
            entry = (pieces, pattern)
            _SLOT_TEMPLATES[key] = entry
            while len(_SLOT_TEMPLATES) > 48:  # bounded: oldest first
                _SLOT_TEMPLATES.pop(next(iter(_SLOT_TEMPLATES)))
        return entry

    def _slot_table(
        self, integration: str, excluded: frozenset[str] | None, day: int | None
    ) -> tuple[_SlotTable, _Batch]:
        """The slot table of these fields on ``day`` (``None``: a vendor without dates),
        and the loop that renders records with it."""
        vendor = VENDORS[integration]
        if excluded is not None:
            excluded = vendor.known_fields(excluded)
        key = (self.dataset.seed, integration, excluded, day)
        entry = _SLOT_TABLES.get(key)
        if entry is None:
            pieces, pattern = self.slot_templates(integration, excluded)
            ctx = _id_context_bytes(self.dataset, integration)
            days = _NO_DAY if day is None else _day_context(self.dataset.seed, day)
            table = _SlotTable(pieces, pattern, vendor.id_prefix, ctx, days)
            entry = (table, _batcher(vendor.id_prefix, pattern))
            _SLOT_TABLES[key] = entry
            while len(_SLOT_TABLES) > _MAX_SLOT_TABLES:
                _SLOT_TABLES.popitem(last=False)
        else:
            _SLOT_TABLES.move_to_end(key)
        return entry

    def _render(
        self,
        acc: Account,
        start: int,
        stop: int,
        excluded: frozenset[str] | None,
        sep: str,
        date: str | None,
    ) -> bytes:
        day = self.dataset.day_of(acc, date)
        table, render = self._slot_table(acc.integration, excluded, day)
        codes = _id_context_bytes(self.dataset, acc.integration)[2]
        return render(table, codes, acc, start, stop, sep.encode())

    def record(
        self,
        acc: Account,
        i: int,
        excluded: frozenset[str] = frozenset(),
        *,
        date: str | None = None,
    ) -> bytes:
        """One unified record (on ``date``, for integrations that take one)."""
        return self._render(acc, i, i + 1, excluded, "", date)

    def records(
        self,
        acc: Account,
        start: int,
        stop: int,
        excluded: frozenset[str] = frozenset(),
        sep: str = ",",
        *,
        date: str | None = None,
    ) -> bytes:
        """Unified records ``start .. stop-1`` joined by ``sep``."""
        return self._render(acc, start, stop, excluded, sep, date)

    def cached_records(
        self,
        acc: Account,
        start: int,
        stop: int,
        excluded: frozenset[str],
        *,
        date: str | None = None,
    ) -> bytes:
        """:meth:`records` with ``,`` through the page cache."""
        key = ("u", acc.id, start, stop, excluded, date)
        return self.cache.through(key, lambda: self._render(acc, start, stop, excluded, ",", date))

    def remote_records(
        self, acc: Account, start: int, stop: int, sep: str = ",", *, date: str | None = None
    ) -> bytes:
        """Vendor-shaped rows ``start .. stop-1`` joined by ``sep`` (cached)."""
        key = ("r", acc.id, start, stop, sep, date)
        return self.cache.through(key, lambda: self._render(acc, start, stop, None, sep, date))

    def keyed_records(
        self,
        acc: Account,
        start: int,
        stop: int,
        excluded: frozenset[str],
        key_by: str,
        *,
        date: str | None = None,
    ) -> bytes:
        """``"key":record`` pairs for ``truto_key_by`` (records lacking the field skipped)."""
        day = self.dataset.day_of(acc, date)
        out: dict[str, Any] = {}
        for i in range(start, stop):
            user = self.dataset._user(acc, i, day)
            if key_by not in user:
                continue
            key = user[key_by]
            for name in excluded:
                user.pop(name, None)
            out[key if isinstance(key, str) else orjson.dumps(key).decode()] = user
        return orjson.dumps(out)[1:-1]

    # ---- envelopes -----------------------------------------------------------------

    @staticmethod
    def meta(next_cursor: str | None, count: int, partial: bool | None) -> bytes:
        """The envelope keys after ``result``, without braces: ``"next_cursor":...``."""
        body = (
            b'"next_cursor":'
            + orjson.dumps(next_cursor)
            + b',"prev_cursor":null,"result_count":'
            + str(count).encode()
        )
        if partial is not None:
            body += b',"is_partial_response":' + (b"true" if partial else b"false")
        return body

    def envelope(
        self,
        records: bytes,
        next_cursor: str | None,
        count: int,
        *,
        keyed: bool = False,
        partial: bool | None = None,
    ) -> bytes:
        """``{"result":[...],"next_cursor":...,"prev_cursor":null,"result_count":N}``."""
        opening, closing = (b'{"result":{', b"},") if keyed else (b'{"result":[', b"],")
        return opening + records + closing + self.meta(next_cursor, count, partial) + b"}"

    def raw_page(
        self,
        acc: Account,
        start: int,
        stop: int,
        vendor_next: str | None,
        *,
        date: str | None = None,
    ) -> bytes:
        """The vendor's own page body for users ``start .. stop-1``."""
        rows = self.remote_records(acc, start, stop, date=date)
        first = self.dataset.unique(acc, start)[1] if stop > start else None
        last = self.dataset.unique(acc, stop - 1)[1] if stop > start else None
        return acc.vendor.raw_page(rows, first, last, vendor_next)
