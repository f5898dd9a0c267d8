"""Fast byte rendering of users, pages and envelopes.

Each record is rendered from a per-(integration, excluded fields) ``%``-template filled
with :meth:`Dataset.facts`, which is several times faster than building the nested dict
and calling ``orjson.dumps``; the output is byte-for-byte what ``orjson.dumps`` gives for
:meth:`Dataset.user` (a test checks it). Rendered pages also go through a small LRU cache
bounded in bytes.
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
#: Per-slot tables the joiner reads: e-mail slugs, id tails, the 16-bit code table (all by
#: identity slot), names (identity slot), activity gaps in days (activity slot).
_Ctx = tuple[list[bytes], list[bytes], list[bytes], list[bytes], list[int]]
#: Per-day inputs: the activity slot permutation key and ``lastday`` texts by gap.
_DayCtx = tuple[int, tuple[bytes, ...]]
_Joiner = Callable[
    [list[tuple[bytes, ...]], _Ctx, Account, int, int, int, tuple[bytes, ...]], list[bytes]
]
_NO_DAY: _DayCtx = (0, ())

#: How the generated loop spells each placeholder's value.
_VALUES = {
    "id": "uid",
    "email": "email",
    "num": "b'%d' % (base + i)",
    "name": "names[j0]",
    "lastday": "lastday",
}


@lru_cache(maxsize=64)
def _joiner(id_prefix: str | None, pattern: tuple[str, ...]) -> _Joiner:
    """A loop specialised to one id scheme and placeholder order.

    It inlines :meth:`Dataset.unique` and :meth:`Dataset.activity_slot` (same arithmetic;
    a test pins the output to ``orjson.dumps(dataset.user(...))``) and joins literal
    pieces with the values, which is about 4x faster than ``%``-formatting a long template
    per record. Everything is bytes: no encode pass, and no widening of the whole batch to
    UCS-2 when one name has a character beyond Latin-1.
    """
    items = []
    for n, key in enumerate(pattern):
        items += [f"p[{n}]", _VALUES[key]]
    items.append(f"p[{len(pattern)}]")
    if id_prefix is None:
        uid = "        uid = b'%d' % (base + i)\n"
    else:
        uid = f"        uid = {id_prefix.encode()!r} + t[v >> 16] + t[v & 65535] + tails[j0]\n"
    lastday = "        lastday = dates[gaps[j]]\n" if "lastday" in pattern else ""
    src = (
        "def render(pieces, ctx, acc, start, stop, dsalt, dates):\n"
        "    slugs, tails, t, names, gaps = ctx\n"
        "    out = []\n"
        "    append = out.append\n"
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
        "        j = j0 ^ dsalt\n"
        + uid
        + "        email = slugs[j0] + b'%d' % i + domain\n"
        + lastday
        + "        p = pieces[j]\n"
        f"        append(b''.join(({', '.join(items)},)))\n"
        "    return out\n"
    )
    namespace: dict[str, Any] = {}
    exec(src, namespace)  # generated from fixed names, integers and a vendor's id prefix
    fn: _Joiner = namespace["render"]
    return fn


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


#: (seed, integration, excluded) -> per-slot pieces and joiner, shared by all renderers
#: (slot data depends only on the seed and the integration).
_SLOT_TEMPLATES: dict[
    tuple[int, str, frozenset[str] | None], tuple[list[tuple[bytes, ...]], _Joiner]
] = {}


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
    ) -> tuple[list[tuple[bytes, ...]], _Joiner]:
        """Per-slot literal pieces (UTF-8) around ``id``/``email``/``num``, and their joiner.

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
            entry = (pieces, _joiner(vendor.id_prefix, pattern))
            _SLOT_TEMPLATES[key] = entry
            while len(_SLOT_TEMPLATES) > 48:  # bounded: oldest first
                _SLOT_TEMPLATES.pop(next(iter(_SLOT_TEMPLATES)))
        return entry

    def _day(self, acc: Account, date: str | None) -> _DayCtx:
        day = self.dataset.day_of(acc, date)
        return _NO_DAY if day is None else _day_context(self.dataset.seed, day)

    def _render(
        self,
        acc: Account,
        start: int,
        stop: int,
        excluded: frozenset[str] | None,
        sep: str,
        date: str | None,
    ) -> bytes:
        pieces, join = self.slot_templates(acc.integration, excluded)
        ctx = _id_context_bytes(self.dataset, acc.integration)
        dsalt, dates = self._day(acc, date)
        return sep.encode().join(join(pieces, ctx, acc, start, stop, dsalt, dates))

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
        body = self.cache.get(key)
        if body is None:
            body = self._render(acc, start, stop, excluded, ",", date)
            self.cache.put(key, body)
        return body

    def remote_records(
        self, acc: Account, start: int, stop: int, sep: str = ",", *, date: str | None = None
    ) -> bytes:
        """Vendor-shaped rows ``start .. stop-1`` joined by ``sep`` (cached)."""
        key = ("r", acc.id, start, stop, sep, date)
        body = self.cache.get(key)
        if body is None:
            body = self._render(acc, start, stop, None, sep, date)
            self.cache.put(key, body)
        return body

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
