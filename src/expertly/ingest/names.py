"""Safe, reversible names for files whose names are not plain UTF-8 text.

On POSIX a file name is bytes; Python shows the bytes that are not valid UTF-8 as lone
surrogates (``"bad_\\udcff.txt"``), which SQLite, JSON and the embedding cache cannot
encode. Such names are percent-escaped (``"bad_%FF.txt"``) wherever ingest stores or shows
them: document ids, sources, titles, citations and ``--sync``. Control characters and
``%`` itself are escaped too, so the escape is reversible (``raw_name``) and shows on one
line. A name that needs none of this is used unchanged.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_NEEDS_ESCAPE = re.compile(r"[%\x00-\x1f\x7f\ud800-\udfff]")


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape)
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def safe_name(name: str) -> str:
    """``name`` with undecodable bytes, control characters and ``%`` percent-escaped.

    The result encodes to UTF-8 and ``raw_name(safe_name(n)) == os.fsencode(n)``.
    """
    if not _NEEDS_ESCAPE.search(name):
        return name
    return _NEEDS_ESCAPE.sub(lambda m: _escape(m.group()), name)


def raw_name(safe: str) -> bytes:
    """The file name's bytes back from ``safe_name`` (pass them to ``open``/``os.fsdecode``)."""
    return unquote_to_bytes(safe)
