"""Pure encodings the synthetic data is built from: bijections, id codes, timestamp text.

Nothing here knows about accounts or integrations; :mod:`.data` and the vendor classes
combine these pieces.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

__all__ = [
    "B58",
    "B62",
    "K32",
    "M32",
    "REF_DAY",
    "admin_time",
    "day_number",
    "day_text",
    "decode32",
    "encode32",
    "id_tail",
    "iso_utc",
    "mix32",
    "mix64",
    "unmix32",
    "unmix64",
]

M64 = (1 << 64) - 1
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_C0 = 0x9E3779B97F4A7C15
_C1_INV = pow(_C1, -1, 1 << 64)
_C2_INV = pow(_C2, -1, 1 << 64)


def mix64(x: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit integers (so ids never collide)."""
    z = (x + _C0) & M64
    z = ((z ^ (z >> 30)) * _C1) & M64
    z = ((z ^ (z >> 27)) * _C2) & M64
    return z ^ (z >> 31)


K32 = 0x045D9F3B
_K32_INV = pow(K32, -1, 1 << 32)
M32 = 0xFFFFFFFF


def mix32(x: int) -> int:
    """Two multiply-xorshift rounds: a cheap bijection on 32-bit integers.

    User ids are built from ``mix32(i ^ account salt)``, so ids never collide within an
    account and :meth:`Dataset.index_of` can invert them.
    """
    x = ((x ^ (x >> 16)) * K32) & M32
    x = ((x ^ (x >> 16)) * K32) & M32
    return x ^ (x >> 16)


def unmix32(x: int) -> int:
    """The inverse of :func:`mix32` (a 16-bit xorshift of a 32-bit value is an involution)."""
    x ^= x >> 16
    x = (x * _K32_INV) & M32
    x ^= x >> 16
    x = (x * _K32_INV) & M32
    return x ^ (x >> 16)


def _unshift(z: int, s: int) -> int:
    x = z
    for _ in range(64 // s + 1):
        x = z ^ (x >> s)
    return x & M64


def unmix64(z: int) -> int:
    """The inverse of :func:`mix64`."""
    z = _unshift(z, 31)
    z = (z * _C2_INV) & M64
    z = _unshift(z, 27)
    z = (z * _C1_INV) & M64
    z = _unshift(z, 30)
    return (z - _C0) & M64


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=4)
def _pairs(alphabet: str) -> list[str]:
    return [a + b for a in alphabet for b in alphabet]


def _enc11(v: int, alphabet: str) -> str:
    """Fixed-width (11 characters) big-endian encoding of a 64-bit value."""
    pairs = _pairs(alphabet)
    base2 = len(pairs)
    v, a = divmod(v, base2)
    v, b = divmod(v, base2)
    v, c = divmod(v, base2)
    v, d = divmod(v, base2)
    v, e = divmod(v, base2)
    return alphabet[v] + pairs[e] + pairs[d] + pairs[c] + pairs[b] + pairs[a]


def id_tail(h: int, alphabet: str) -> str:
    """18 characters of ``alphabet`` drawn from a 64-bit hash: the non-unique end of an id."""
    return (_enc11(h, alphabet) + _enc11(~h & M64, alphabet))[:18]


@lru_cache(maxsize=2)
def chunk_table(alphabet: str) -> tuple[str, ...]:
    """65,536 distinct 3-character codes: 16 bits of a 64-bit value per lookup."""
    n = len(alphabet)
    stride = 40503  # odd and coprime with n**3: spreads the codes over the whole space
    out = []
    for k in range(1 << 16):
        c = (k * stride) % (n**3)
        out.append(alphabet[c // (n * n)] + alphabet[(c // n) % n] + alphabet[c % n])
    return tuple(out)


@lru_cache(maxsize=2)
def _chunk_index(alphabet: str) -> dict[str, int]:
    return {code: k for k, code in enumerate(chunk_table(alphabet))}


def encode32(v: int, alphabet: str) -> str:
    """A 32-bit value as 6 characters of ``alphabet`` (injective)."""
    t = chunk_table(alphabet)
    return t[v >> 16] + t[v & 0xFFFF]


def decode32(s: str, alphabet: str) -> int:
    """The inverse of :func:`encode32` (``KeyError`` if ``s`` is not a valid code)."""
    idx = _chunk_index(alphabet)
    return (idx[s[0:3]] << 16) | idx[s[3:6]]


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
#: Fixed reference day (2026-06-30) of the date-independent timestamps, in days since 1970.
REF_DAY = (dt.date(2026, 6, 30) - dt.date(1970, 1, 1)).days


@lru_cache(maxsize=8192)
def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01 (the inverse of :func:`day_text`)."""
    return date.toordinal() - _EPOCH_ORDINAL


def iso_utc(ts: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.000Z`` for a Unix time in seconds."""
    day, secs = divmod(ts, 86400)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{day_text(day)}T{h:02d}:{m:02d}:{s:02d}.000Z"


def admin_time(ts: int) -> str:
    """Truto's admin timestamp form, ``YYYY-MM-DD HH:MM:SS``."""
    day, secs = divmod(ts, 86400)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{day_text(day)} {h:02d}:{m:02d}:{s:02d}"
