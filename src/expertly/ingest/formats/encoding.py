"""Decoding text files: UTF-8 and BOM-marked Unicode first, legacy encodings detected.

Users' archives hold many files written in a legacy code page (cp1252, Latin-1, cp1251...).
They are decoded with the encoding that charset-normalizer detects, and the guess is
reported, so a wrong guess can be seen and the file converted. Only binary data (a NUL
byte, mostly control characters, or bytes no encoding explains) is refused.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from expertly.ingest.formats._build import FormatError

_SNIFF_BYTES = 8192
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Detectors often tie between code pages that decode a short Western text identically
# (cp1250, cp1252, mac_roman...); the commonest one is then the clearest name to report.
_PREFERRED = "cp1252"


@dataclass(frozen=True)
class Decoded:
    """A text file's characters and the encoding they were read with."""

    text: str
    encoding: str


def decode_text(data: bytes) -> Decoded:
    """Decode a text file: a BOM names the encoding, else UTF-8, else the detected one.

    Raises ``FormatError`` for binary data (a NUL byte or more than 30 % control bytes in
    the first 8 KB, or bytes that no encoding explains) and for a BOM-marked file whose
    body is not valid in the encoding its BOM names.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            name = codec.removesuffix("-sig")
            try:
                return Decoded(data[len(bom) :].decode(name), codec)
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"not valid {name.upper()} (byte {exc.start + len(bom)}) although it "
                    "starts with that encoding's byte-order mark: convert the file to UTF-8"
                ) from exc
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise FormatError("binary data, not text (a NUL byte in the first 8 KB)")
    control = sum(1 for b in head if (b < 32 and b not in (9, 10, 12, 13)) or b == 127)
    if head and control > 0.3 * len(head):
        raise FormatError("binary data, not text (mostly control characters)")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    return _detect(data, utf8_error)


def _detect(data: bytes, utf8_error: int) -> Decoded:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise FormatError(
            f"binary data or an unknown text encoding (not UTF-8 from byte {utf8_error}, and "
            "no known encoding fits): convert the file to UTF-8"
        )
    best = matches[0]
    text = str(best)
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    try:
        preferred = data.decode(_PREFERRED)
    except UnicodeDecodeError:
        preferred = None
    if preferred is not None and any(str(m) == preferred for m in tied):
        return Decoded(preferred, _PREFERRED)
    return Decoded(text, best.encoding)
