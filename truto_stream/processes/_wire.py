"""The pipe between a shard process and its parent: length-prefixed frames (sans-IO).

A frame is two big-endian 32-bit lengths, a header (JSON: the kind of frame and its
metadata, e.g. unit progress) and a payload (a batch's records as NDJSON lines, ready for
the output: the parent never parses them). Both ends are our own code, so a frame is
trusted; the lengths still bound what the parent reads before it has a whole frame.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Mapping
from typing import Any, Final

import orjson

from truto_stream._lines import prefixed, with_date
from truto_stream.checkpoint import UnitProgress

__all__ = ["PREFIX", "decode_progress", "encode_frame", "encode_progress", "ndjson_lines"]

#: Header length, payload length.
PREFIX: Final = struct.Struct(">II")


def encode_frame(header: Mapping[str, Any], payload: bytes = b"") -> bytes:
    """One frame: the prefix, the header as JSON, the payload."""
    head = orjson.dumps(header)
    return PREFIX.pack(len(head), len(payload)) + head + payload


def encode_progress(rows: list[UnitProgress]) -> list[dict[str, Any]]:
    """Unit progress as JSON data (it is absolute state: the latest row of a unit wins)."""
    return [dataclasses.asdict(row) for row in rows]


def decode_progress(rows: list[dict[str, Any]]) -> list[UnitProgress]:
    return [UnitProgress(**row) for row in rows]


def ndjson_lines(account_id: str, records: list[Any], *, date: str | None, dated: bool) -> bytes:
    """The records (dicts, or their JSON texts) as NDJSON, each with
    ``integrated_account_id`` first (and ``date``): :mod:`truto_stream._lines`."""
    if not records:
        return b""
    if dated:
        records = with_date(records, date)
    return b"\n".join([*prefixed(account_id, records), b""])
