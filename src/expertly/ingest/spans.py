"""Where a text may be cut: segment clean-up, token cut points and character pieces.

Helpers of ``chunking``: ``normalise_segments`` turns a document's segments into sorted,
trimmed, non-overlapping spans; ``cut_end``/``last_in``/``first_in`` pick token cut points
(sentence end, else word start, else any token boundary); ``char_pieces`` cuts a span by
characters alone, for runs a tokenizer counts as few tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from expertly.types import Document, Segment

SENTENCE_END = re.compile(r"[.!?…。！？;][\"'”’»)\]]*\s+|\n\s*")
_SPACE = re.compile(r"\s+")


def normalise_segments(doc: Document) -> list[Segment]:
    """The document's segments, sorted, clipped, trimmed of surrounding whitespace and
    without overlaps; non-blank text that no segment covers becomes a paragraph.
    A document without segments is one paragraph."""
    text = doc.text
    fixed: list[Segment] = []
    pos = 0
    last: Segment | None = None
    for seg in sorted(doc.segments, key=lambda s: (s.start, s.end)):
        start, end = max(seg.start, pos, 0), min(seg.end, len(text))
        if start >= end:
            continue
        # uncovered text belongs to the section before it (text before any heading: none)
        gap = Segment(
            pos, start, "paragraph", last.heading_path if last else (), (last or seg).page
        )
        fixed.extend(_trimmed(text, gap))
        fixed.extend(
            _trimmed(text, Segment(start, end, seg.kind, seg.heading_path, seg.page, seg.level))
        )
        pos, last = end, seg
    tail = last or Segment(0, 0)
    fixed.extend(_trimmed(text, Segment(pos, len(text), "paragraph", tail.heading_path, tail.page)))
    return fixed


def _trimmed(text: str, seg: Segment) -> list[Segment]:
    """``seg`` without the whitespace at its ends (none if it is blank)."""
    piece = text[seg.start : seg.end]
    stripped = piece.strip()
    if not stripped:
        return []
    s = seg.start + (len(piece) - len(piece.lstrip()))
    return [Segment(s, s + len(stripped), seg.kind, seg.heading_path, seg.page, seg.level)]


def char_pieces(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Trimmed, non-empty spans of at most ``limit`` characters covering ``text[start:end]``,
    cut after the last sentence end or whitespace in each window's second half if any."""
    pieces: list[tuple[int, int]] = []
    i = start
    while i < end:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            break
        j = min(i + limit, end)
        if j < end:
            window = text[i:j]
            half = len(window) // 2
            cut = max(
                (m.end() for m in SENTENCE_END.finditer(window, half)),
                default=0,
            ) or max((m.start() for m in _SPACE.finditer(window, half)), default=0)
            if cut:
                j = i + cut
        b = j
        while b > i and text[b - 1].isspace():
            b -= 1
        pieces.append((i, b))
        i = j
    return pieces


def cut_end(
    i: int,
    budget: int,
    floor: int,
    n: int,
    sentences: list[int],
    words: list[int],
    cuts: list[int],
) -> int:
    """End token (exclusive) of a piece of at most ``budget`` tokens starting at ``i``: the
    last sentence start in the window's last two thirds, else the last word start in its
    second half, else the last allowed cut; never before ``floor`` (a piece must reach past
    the previous piece's end)."""
    limit = i + budget
    lo = max(floor, i + 1)
    return (
        last_in(sentences, max(lo, i + budget // 3), limit)
        or last_in(words, max(lo, i + budget // 2), limit)
        or last_in(cuts, lo, limit)
        or first_in(cuts, limit + 1, n)  # one character yields more than budget tokens
        or n
    )


def last_in(sorted_list: list[int], lo: int, hi: int) -> int:
    """Largest element in ``[lo, hi]``, or 0 when there is none."""
    k = bisect_right(sorted_list, hi)
    return sorted_list[k - 1] if k and sorted_list[k - 1] >= lo else 0


def first_in(sorted_list: list[int], lo: int, hi: int) -> int:
    """Smallest element in ``[lo, hi)``, or 0 when there is none."""
    k = bisect_left(sorted_list, lo)
    return sorted_list[k] if k < len(sorted_list) and sorted_list[k] < hi else 0
