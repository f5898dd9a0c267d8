"""The integrations the emulator serves, one class each (see :class:`Vendor`).

Adding an integration means writing one :class:`Vendor` subclass and listing it here.
"""

from __future__ import annotations

from truto_stream.emulator.vendors.base import MAX_GAP_DAYS, CursorStyle, LimitRule, Vendor
from truto_stream.emulator.vendors.claude import Claude
from truto_stream.emulator.vendors.cursor import Cursor
from truto_stream.emulator.vendors.openai import OpenAICodex

__all__ = [
    "INTEGRATIONS",
    "MAX_GAP_DAYS",
    "VENDORS",
    "CursorStyle",
    "LimitRule",
    "Vendor",
    "vendor_for",
]

#: Integration name -> its vendor, in the emulator's default order.
VENDORS: dict[str, Vendor] = {v.name: v for v in (Claude(), OpenAICodex(), Cursor())}
#: Every integration name the emulator knows.
INTEGRATIONS: tuple[str, ...] = tuple(VENDORS)


def vendor_for(integration: str) -> Vendor:
    """The vendor of an integration name (``KeyError`` if unknown)."""
    return VENDORS[integration]
