"""Response bodies to records, without I/O (the sans-IO decoder).

Feed a body's bytes as they arrive, get records back, no ``await`` anywhere::

    decoder = BodyDecoder(content_type)
    for chunk in chunks:
        handle(decoder.feed(chunk))
    end = decoder.close()           # end.records (the last ones), end.members (next_cursor...)

or decode a body that is all there with :func:`decode_body`. The framing (envelope,
bare array, NDJSON, concatenated values; an envelope's ``result`` an array or a keyed
object) is detected from the content type and the first bytes. Every breach of
:class:`BodyLimits` and every broken body is a :class:`~truto_stream.errors.MalformedBody`
or :class:`~truto_stream.errors.TruncatedBody` that names a kind of fault and a byte
offset, never the body's content. Cost is linear in the body, bounded per chunk.
"""

from truto_stream._decode._json import DEFAULT_LIMITS, ORJSON_MAX_DEPTH, BodyLimits
from truto_stream._decode.body import BodyDecoder, Decoded, decode_body, decode_raw
from truto_stream._decode.framing import Framing, detect_framing

__all__ = [
    "DEFAULT_LIMITS",
    "ORJSON_MAX_DEPTH",
    "BodyDecoder",
    "BodyLimits",
    "Decoded",
    "Framing",
    "decode_body",
    "decode_raw",
    "detect_framing",
]
