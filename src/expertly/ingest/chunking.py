"""Structure-aware chunking: documents → retrievable spans of at most ``max_tokens`` tokens.

How a document is cut, in order of preference:

1. **Sections** are the units: a heading with the blocks under it, on one page. Blocks of a
   section are packed together until ``max_tokens``; different sections go to different
   chunks, so a chunk stays on one topic and carries one heading path.
2. **Tiny sections** (fewer than ``min_tokens``, e.g. a heading directly followed by a
   subheading) are carried into the next section of the same parent, or else appended to
   the previous chunk, so there are no lone-heading chunks when that can be avoided. Pages
   are never merged: a chunk's page number must stay exact for citations.
3. **Long blocks** are cut at sentence ends where possible, else between words, else between
   tokens, with ``overlap_tokens`` repeated between consecutive pieces. Table rows are
   never cut unless one row alone is too long.

Every chunk is a contiguous span: ``chunk.text == doc.text[chunk.start:chunk.end]``, and its
``token_count`` is exact, so none exceeds ``max_tokens`` by the counter: each block is
tokenized once (in a batch) and, for an *additive* counter (see ``tokens``), a chunk of
whole blocks is the sum of their counts; any other chunk is re-counted as one text and cut
again if it is over. Long blocks are cut with the token offsets of that single pass.
Sentence ends include ";" so that a long table row is cut between its fields.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from expertly.config import ChunkingSettings
from expertly.ingest.spans import (
    SENTENCE_END,
    char_pieces,
    cut_end,
    first_in,
    normalise_segments,
)
from expertly.ingest.tokens import TokenCounter, count_many, is_additive
from expertly.types import Chunk, Document, Segment

_MAX_FIT_ROUNDS = 12
CHARS_PER_TOKEN = 8  # default character bound: max_tokens x this (normal prose: ~4-6)


@dataclass(frozen=True)
class _Unit:
    """A span to pack: a whole segment or a piece of a long one."""

    start: int
    end: int
    tokens: int
    seg: Segment
    whole: bool = True  # False for a piece of a cut segment (its count is approximate)


def _mergeable(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether a tiny section with path ``a`` may share a chunk with the section at ``b``:
    the same top-level section, and ``b`` is a sibling or descendant of ``a``."""
    return a[:1] == b[:1] and b[: max(len(a) - 1, 0)] == a[:-1]


def _common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    first = paths[0]
    size = len(first)
    for path in paths[1:]:
        size = min(size, len(path))
        for k in range(size):
            if path[k] != first[k]:
                size = k
                break
    return first[:size]


class Chunker:
    """Cuts documents into chunks of at most ``max_tokens`` tokens of ``counter``."""

    def __init__(
        self,
        counter: TokenCounter,
        *,
        max_tokens: int = 200,
        overlap_tokens: int = 30,
        min_tokens: int = 24,
        rows_per_chunk: int = 0,
        max_chars: int = 0,
    ) -> None:
        # ChunkingSettings holds the one copy of the rules (it raises ConfigError).
        ChunkingSettings(
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            min_tokens=min_tokens,
            rows_per_chunk=rows_per_chunk,
            max_chars=max_chars,
        )
        self.counter = counter
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.min_tokens = min_tokens
        self.rows_per_chunk = rows_per_chunk
        self.max_chars = max_chars or CHARS_PER_TOKEN * max_tokens
        # An additive counter's sums are exact for whole segments: no need to re-count.
        self._additive = is_additive(counter)

    @classmethod
    def from_settings(cls, counter: TokenCounter, settings: ChunkingSettings) -> Chunker:
        """A chunker with the ``[chunking]`` settings (already validated by the dataclass)."""
        return cls(
            counter,
            max_tokens=settings.max_tokens,
            overlap_tokens=settings.overlap_tokens,
            min_tokens=settings.min_tokens,
            rows_per_chunk=settings.rows_per_chunk,
            max_chars=settings.max_chars,
        )

    # -- public ---------------------------------------------------------------------------

    def chunk(self, doc: Document) -> list[Chunk]:
        """Cut ``doc`` into chunks; ids are ``f"{doc.id}#{i}"`` in document order."""
        segs = normalise_segments(doc)
        if not segs:
            return []
        counts = count_many(self.counter, [doc.text[s.start : s.end] for s in segs])
        units = [_Unit(s.start, s.end, n, s) for s, n in zip(segs, counts, strict=True)]
        groups = self._group(doc.text, units)
        exact = [self._additive and all(u.whole for u in g) for g in groups]
        recount = iter(
            count_many(
                self.counter,
                [
                    doc.text[g[0].start : g[-1].end]
                    for g, ok in zip(groups, exact, strict=True)
                    if not ok
                ],
            )
        )
        spans: list[tuple[int, int, int, list[_Unit]]] = []
        for group, ok in zip(groups, exact, strict=True):
            total = sum(u.tokens for u in group) if ok else next(recount)
            for span in self._fit(doc.text, group, total):
                # Re-cut overlapping pieces can nest; keep the larger of two nested spans.
                if spans and spans[-1][0] <= span[0] and span[1] <= spans[-1][1]:
                    continue
                while spans and span[0] <= spans[-1][0] and spans[-1][1] <= span[1]:
                    spans.pop()
                spans.append(span)
        spans = self._bound_chars(doc.text, spans)
        chunks: list[Chunk] = []
        for index, (start, end, tokens, units) in enumerate(spans):
            body = [u.seg.heading_path for u in units if u.seg.kind != "heading"]
            path = _common_prefix(body or [u.seg.heading_path for u in units])
            page = next((u.seg.page for u in units if u.seg.page is not None), None)
            chunks.append(
                Chunk(
                    id=f"{doc.id}#{index}",
                    doc_id=doc.id,
                    index=index,
                    text=doc.text[start:end],
                    start=start,
                    end=end,
                    heading_path=path,
                    page=page,
                    token_count=tokens,
                    metadata=doc.metadata,
                )
            )
        return chunks

    # -- sections and packing -------------------------------------------------------------

    @staticmethod
    def _sections(units: list[_Unit]) -> list[list[_Unit]]:
        """Runs of units sharing heading path and page; each heading opens a new run."""
        sections: list[list[_Unit]] = []
        for u in units:
            prev = sections[-1][-1].seg if sections else None
            if (
                prev is None
                or u.seg.kind == "heading"
                or (u.seg.heading_path, u.seg.page) != (prev.heading_path, prev.page)
            ):
                sections.append([u])
            else:
                sections[-1].append(u)
        return sections

    def _group(self, text: str, units: list[_Unit]) -> list[list[_Unit]]:
        groups: list[list[_Unit]] = []
        carry: list[_Unit] = []
        for section in self._sections(units):
            head = section[0].seg
            if carry and not (
                carry[-1].seg.page == head.page
                and _mergeable(carry[-1].seg.heading_path, head.heading_path)
            ):
                self._emit_carry(groups, carry)
                carry = []
            if carry and (
                sum(u.tokens for u in carry) + section[0].tokens > self.max_tokens
                and any(u.seg.kind != "heading" for u in carry)
            ):  # the carry cannot share a chunk with this section's start
                self._emit_carry(groups, carry)
                carry = []
            packed = self._pack(text, section, carry)
            if len(packed) == 1 and sum(u.tokens for u in packed[0]) < self.min_tokens:
                carry = packed[0]
            else:
                groups.extend(packed)
                carry = []
        if carry:
            self._emit_carry(groups, carry)
        return groups

    def _emit_carry(self, groups: list[list[_Unit]], carry: list[_Unit]) -> None:
        """A tiny section no later section could take: append it to the previous chunk when
        that is in the same parent section, on the same page, and has room; else alone."""
        if groups:
            prev = groups[-1]
            last, first = prev[-1].seg, carry[0].seg
            room = sum(u.tokens for u in prev) + sum(u.tokens for u in carry) <= self.max_tokens
            if (
                room
                and last.page == first.page
                and _mergeable(last.heading_path, first.heading_path)
            ):
                prev.extend(carry)
                return
        groups.append(carry)

    def _pack(self, text: str, units: list[_Unit], initial: list[_Unit]) -> list[list[_Unit]]:
        """Greedily pack ``units`` (after ``initial``) into groups of at most max tokens."""
        limit = self.max_tokens
        groups: list[list[_Unit]] = []
        cur = list(initial)
        used = sum(u.tokens for u in cur)
        cap = self.rows_per_chunk
        for u in units:
            full_of_rows = (
                cap > 0 and u.seg.kind == "row" and sum(x.seg.kind == "row" for x in cur) >= cap
            )
            if used + u.tokens <= limit and not full_of_rows:
                cur.append(u)
                used += u.tokens
                continue
            lone_heading = bool(cur) and all(x.seg.kind == "heading" for x in cur)
            if u.tokens <= limit and (u.seg.kind == "row" or not lone_heading):
                if cur:
                    groups.append(cur)
                cur, used = [u], u.tokens
                continue
            # Cut u: it is too long alone, or a heading must not be left on its own.
            room = limit - used
            useful = max(self.min_tokens, self.max_tokens // 4, 1)  # room worth a fragment
            if (cur and not (lone_heading or room >= useful)) or room < 1:
                if cur:
                    groups.append(cur)
                cur, used, room = [], 0, limit
            pieces = self._split(text, u, room)
            cur.append(pieces[0])
            if len(pieces) > 1:
                groups.append(cur)
                groups.extend([p] for p in pieces[1:-1])
                cur, used = [pieces[-1]], pieces[-1].tokens
            else:
                used += pieces[0].tokens
        if cur:
            groups.append(cur)
        return groups

    # -- cutting long spans ---------------------------------------------------------------

    def _split(
        self, text: str, u: _Unit, first_budget: int, budget_rest: int | None = None
    ) -> list[_Unit]:
        """Cut ``u`` into overlapping pieces: the first of ``first_budget`` tokens at most,
        the others of ``budget_rest`` (default ``max_tokens``); prefer sentence ends, then
        word starts, then any token boundary."""
        rest = max(1, budget_rest or self.max_tokens)
        body = text[u.start : u.end]
        offs = self.counter.offsets(body)
        n = len(offs)
        if n == 0:
            return [u]
        starts = [s for s, _ in offs]
        # Token indices a cut may fall on: not inside a character that yields several tokens
        # (a normaliser can decompose one character, e.g. a Hangul syllable, into several).
        cuts = [k for k in range(1, n) if offs[k][0] >= offs[k - 1][1]]
        words = [k for k in cuts if offs[k][0] > offs[k - 1][1]]
        ends = {bisect_left(starts, m.end()) for m in SENTENCE_END.finditer(body)}
        sentences = sorted(ends.intersection(cuts))
        pieces: list[_Unit] = []
        i, budget, done = 0, max(1, first_budget), 0  # done: end of the previous piece
        while i < n:
            j = n if i + budget >= n else cut_end(i, budget, done + 1, n, sentences, words, cuts)
            piece = body[offs[i][0] : offs[j - 1][1]]
            lead = len(piece) - len(piece.lstrip())
            if piece.strip():  # a counter may have whitespace tokens: keep spans trimmed
                a = u.start + offs[i][0] + lead
                pieces.append(_Unit(a, a + len(piece.strip()), j - i, u.seg, whole=False))
            if j >= n:
                break
            overlap = min(self.overlap_tokens, (j - i) // 2)
            nxt = j
            if overlap:  # the repeated part begins at a sentence, else a word, start
                lo = max(j - overlap, i + 1)
                nxt = (
                    first_in(sentences, lo, j)
                    or first_in(words, lo, j)
                    or first_in(cuts, lo, j)
                    or j
                )
            i, budget, done = nxt, rest, j
        return pieces

    def _fit(
        self, text: str, group: list[_Unit], tokens: int | None = None
    ) -> list[tuple[int, int, int, list[_Unit]]]:
        """``(start, end, tokens, units)`` of a packed group whose joined text counts
        ``tokens`` (counted here when None), cut again if over ``max_tokens``: packing sums
        per-block counts, and a tokenizer may count joined text or a cut piece differently.
        Cuts go between blocks first, then inside a block."""
        start, end = group[0].start, group[-1].end
        if tokens is None:
            tokens = self.counter.count(text[start:end])
        if tokens <= self.max_tokens:
            return [(start, end, tokens, group)]
        out: list[tuple[int, int, int, list[_Unit]]] = []
        if len(group) > 1:
            sub: list[_Unit] = []
            for u in group:
                if sub and self.counter.count(text[sub[0].start : u.end]) > self.max_tokens:
                    out.extend(self._fit(text, sub))
                    sub = []
                sub.append(u)
            out.extend(self._fit(text, sub))
            return out
        unit = group[0]
        budget = self.max_tokens
        for _ in range(_MAX_FIT_ROUNDS):
            pieces = self._split(text, unit, budget, budget)
            counted = count_many(self.counter, [text[p.start : p.end] for p in pieces])
            excess = max(counted) - self.max_tokens
            if excess <= 0 or budget == 1:
                break
            budget = max(1, min(budget - excess, budget - 1))
        return [(p.start, p.end, n, group) for p, n in zip(pieces, counted, strict=True)]

    # -- the character bound --------------------------------------------------------------

    def _bound_chars(
        self, text: str, spans: list[tuple[int, int, int, list[_Unit]]]
    ) -> list[tuple[int, int, int, list[_Unit]]]:
        """Cut spans longer than ``max_chars`` characters into pieces that are not.

        A tokenizer may count a long run without spaces (a PDF's raw operators, base64, a
        minified line) as a handful of tokens, so a token bound alone lets such a chunk grow
        to megabytes. Pieces end at a sentence end or a space where there is one in the
        window's second half, else the run is hard-split; each piece is re-counted and cut
        again by tokens if a cut word made it count more than ``max_tokens``.
        """
        if all(end - start <= self.max_chars for start, end, _, _ in spans):
            return spans
        out: list[tuple[int, int, int, list[_Unit]]] = []
        for start, end, tokens, units in spans:
            if end - start <= self.max_chars:
                out.append((start, end, tokens, units))
                continue
            pieces = char_pieces(text, start, end, self.max_chars)
            counts = count_many(self.counter, [text[a:b] for a, b in pieces])
            for (a, b), n in zip(pieces, counts, strict=True):
                if n <= self.max_tokens:
                    out.append((a, b, n, units))
                else:  # token cuts only shorten a piece: the character bound still holds
                    piece = _Unit(a, b, n, units[0].seg, whole=False)
                    out.extend((x, y, k, units) for x, y, k, _ in self._fit(text, [piece], n))
        return out
