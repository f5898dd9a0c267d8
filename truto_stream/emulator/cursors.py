"""Opaque, signed page cursors.

A cursor is URL-safe base64 (no padding) of a small JSON object: the account it belongs to,
the record offset, the page index and a truncated HMAC over those, keyed by the seed. A
client cannot forge one, and a cursor of another account is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import orjson

__all__ = ["CursorCodec", "CursorError", "CursorState"]


class CursorError(ValueError):
    """A cursor that was tampered with, is malformed, or belongs to another account."""


@dataclass(frozen=True)
class CursorState:
    """Where a cursor points: ``offset`` (first record) and ``page`` (0-based index)."""

    account_id: str
    offset: int
    page: int


class CursorCodec:
    """Encodes and checks cursors for one emulator instance (keyed by ``secret``)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"truto-emulator-cursor|" + secret).digest()

    def _sig(self, account_id: str, offset: int, page: int) -> str:
        msg = f"{account_id}|{offset}|{page}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:16]

    def encode(self, account_id: str, offset: int, page: int) -> str:
        """The cursor for the page starting at ``offset`` (page index ``page``)."""
        payload = {
            "a": account_id,
            "o": offset,
            "p": page,
            "s": self._sig(account_id, offset, page),
        }
        return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()

    def decode(self, token: str, account_id: str) -> CursorState:
        """Check and open ``token`` for ``account_id``; raises :class:`CursorError`."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = orjson.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise CursorError("malformed cursor") from exc
        if not isinstance(payload, dict):
            raise CursorError("malformed cursor")
        acc, offset, page, sig = (payload.get(k) for k in ("a", "o", "p", "s"))
        if not (
            isinstance(acc, str)
            and isinstance(offset, int)
            and isinstance(page, int)
            and isinstance(sig, str)
        ):
            raise CursorError("malformed cursor")
        if offset < 0 or page < 0:
            raise CursorError("malformed cursor")
        if not hmac.compare_digest(sig, self._sig(acc, offset, page)):
            raise CursorError("invalid cursor")
        if acc != account_id:
            raise CursorError("cursor belongs to another integrated account")
        return CursorState(acc, offset, page)
