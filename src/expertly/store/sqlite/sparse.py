"""An in-memory copy of the full-text index: FTS5's own BM25, scored with numpy.

FTS5's ``bm25()`` is computed row by row for every row that matches the query, so a query
made of common words costs tens of milliseconds at 100k chunks (it matches nearly all of
them). A store handle that searches more than once instead keeps the postings in numpy
arrays (for each term: the chunks holding it and its weighted frequency there) and the
token count of each chunk: a query of a few terms is then a few array gathers, one
``np.bincount`` and a partial sort.

Nothing is approximated. The tokens are FTS5's own (its tokenizer, called through apsw on
the same connection, over exactly the three columns ``SQLiteStore.upsert`` indexes), and
the score is ``fts5Bm25Function`` of SQLite's ``fts5_aux.c`` evaluated in the same order
of floating-point operations (``sqlite.bm25`` holds the formula and the scoring), so
scores equal ``bm25_search``'s bit for bit and ties break the same way (by rowid).
A phrase that is more than one token (``"x_y"`` is ``x`` then ``y``) needs positions,
which the copy does not keep: ``search`` then returns None and the caller asks FTS5.

The file stays the only truth, synced like ``sqlite.vectors.VectorCache``: at the start
of a search, inside its read transaction (``PRAGMA data_version``; rowids only grow, so
new chunks are those above the copy's largest rowid; removals show as a smaller chunk
count). Chunks added since the last full build sit in a small second posting list that
is merged into the main one when it grows; removed chunks are masked, and dropped from
the arrays once they are a quarter of them. Nothing is written to disk.

Memory: 8 bytes per (term, chunk) pair plus 25 bytes per chunk (32 MB at 100k chunks of
~60 tokens, 3.6M pairs), and the vocabulary as a dict of the distinct terms.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import apsw
import numpy as np

from expertly.store.sqlite.bm25 import ScoredRows, Scorer, Term, idf_of, length_norms
from expertly.store.sqlite.rowids import live_rowids, positions_of
from expertly.store.sqlite.schema import BM25_WEIGHTS, FTS_TOKENIZER

MERGE_MIN_POSTINGS = 65_536
"""The second posting list is merged into the main one beyond this many postings (or an
eighth of the main list, whichever is larger): a merge costs one pass over everything."""


INDEXED_COLUMNS_SQL = (
    "SELECT c.rowid, c.text, d.title,"
    " coalesce((SELECT group_concat(value, ' > ' ORDER BY key) FROM json_each(c.heading_path)),"
    " '') FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.rowid > ? ORDER BY c.rowid"
)
"""The three values ``SQLiteStore.upsert`` gives chunks_fts for each chunk above a rowid:
chunk text, document title and ``" > ".join(heading_path)`` (joined in SQL: cheaper than
decoding the JSON list in Python)."""


class _Postings:
    """Postings grouped by term id: ``rows[starts[t]:starts[t + 1]]`` hold term ``t``."""

    def __init__(self, terms: np.ndarray, rows: np.ndarray, freqs: np.ndarray, vocab: int):
        """``terms`` must be sorted (rows and freqs in the same order)."""
        self.rows = rows.astype(np.int32, copy=False)
        self.freqs = freqs.astype(np.float32, copy=False)  # sums of 1.0 and 0.5: exact
        counts = np.bincount(terms, minlength=vocab) if terms.size else np.zeros(vocab, np.int64)
        self.starts = np.zeros(vocab + 1, dtype=np.int64)
        np.cumsum(counts, out=self.starts[1:])

    @classmethod
    def empty(cls) -> _Postings:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none.astype(np.float32), 0)

    def __len__(self) -> int:
        return int(self.rows.size)

    def term(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(row positions, weighted frequencies) of ``term``; empty when unknown here."""
        if term + 1 >= self.starts.size:
            return self.rows[:0], self.freqs[:0]
        lo, hi = int(self.starts[term]), int(self.starts[term + 1])
        return self.rows[lo:hi], self.freqs[lo:hi]

    def terms(self) -> np.ndarray:
        """The term id of every posting (sorted)."""
        return np.repeat(np.arange(self.starts.size - 1, dtype=np.int64), np.diff(self.starts))


class SparseCache:
    """FTS5's postings of one index in memory, keyed by chunk rowid (kept sorted)."""

    def __init__(self) -> None:
        name, *args = FTS_TOKENIZER.split()
        self._tokenizer_spec = (name, args)
        self._tokenizer_of: tuple[apsw.Connection, Any] | None = None
        self.rowids = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0, dtype=np.float64)
        """Tokens of each chunk over all columns (D), by position."""
        self.live = np.zeros(0, dtype=bool)
        """False for a removed chunk whose postings are still in the arrays."""
        self.vocab: dict[str, int] = {}
        self._main = _Postings.empty()
        self._delta = _Postings.empty()
        self._delta_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._norm = np.zeros(0, dtype=np.float64)
        self._live_count = 0
        self._dead_count = 0
        self._total_tokens = 0.0
        self.loaded = False
        self._version: int | None = None
        self._stale = True

    def __len__(self) -> int:
        """Live chunks in the copy."""
        return self._live_count

    def postings(self) -> int:
        """(term, chunk) pairs held, removed chunks' included until they are dropped."""
        return len(self._main) + len(self._delta)

    def nbytes(self) -> int:
        """Bytes held in arrays (the vocabulary dict comes on top)."""
        arrays = [self.rowids, self.lengths, self.live, self._norm]
        for postings in (self._main, self._delta):
            arrays += [postings.rows, postings.freqs, postings.starts]
        return sum(a.nbytes for a in arrays)

    def invalidate(self) -> None:
        """This handle committed a write: sync before the next search."""
        self._stale = True

    # ------------------------------------------------------------------------ sync

    def sync(self, conn: apsw.Connection) -> None:
        """Bring the copy to the snapshot of ``conn``'s open read transaction.

        Call it before any other read of that transaction (see ``VectorCache.sync``).
        """
        version = int(conn.execute("PRAGMA data_version").get)
        if self.loaded and not self._stale and version == self._version:
            return
        last = int(self.rowids[-1]) if self.rowids.size else 0
        added = conn.execute(INDEXED_COLUMNS_SQL, (last,)).fetchall()
        count = int(conn.execute("SELECT count(*) FROM chunks").get)
        if count != self._live_count + len(added):
            self._remove(~np.isin(self.rowids, live_rowids(conn), assume_unique=True) & self.live)
        if added:
            self._add(conn, added)
        self._norm = length_norms(self.lengths, self._avgdl())
        self._version, self._stale, self.loaded = version, False, True

    def _avgdl(self) -> float:
        # fts5Bm25GetData: (double)nToken / (double)nRow over the live rows.
        return self._total_tokens / self._live_count if self._live_count else 1.0

    def _remove(self, dead: np.ndarray) -> None:
        """Mask the chunks at positions ``dead``; drop them once they are a quarter."""
        if not dead.any():
            return
        self.live[dead] = False
        self._live_count -= int(dead.sum())
        self._dead_count += int(dead.sum())
        self._total_tokens -= float(self.lengths[dead].sum())
        if 4 * self._dead_count > self.rowids.size:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the arrays without the removed chunks (positions shift down)."""
        keep = self.live
        new_position = np.cumsum(keep) - 1
        terms, rows, freqs = self._all_postings()
        alive = keep[rows]
        self.rowids, self.lengths = self.rowids[keep], self.lengths[keep]
        self.live = np.ones(self.rowids.size, dtype=bool)
        self._dead_count = 0
        self._main = _Postings(
            terms[alive], new_position[rows[alive]], freqs[alive], len(self.vocab)
        )
        self._delta, self._delta_parts = _Postings.empty(), []

    def _all_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Main and second list together, sorted by term (timsort merges the two runs)."""
        terms = np.concatenate([self._main.terms(), self._delta.terms()])
        rows = np.concatenate([self._main.rows, self._delta.rows])
        freqs = np.concatenate([self._main.freqs, self._delta.freqs])
        order = np.argsort(terms, kind="stable")
        return terms[order], rows[order], freqs[order]

    def _add(self, conn: apsw.Connection, added: list[Any]) -> None:
        """Tokenize the new chunks' three columns and append their postings."""
        tokenizer = self._tokenizer(conn)
        memo: dict[str, list[str]] = {}  # titles and heading paths repeat across chunks

        def shared(text: str) -> list[str]:
            found = memo.get(text)
            if found is None:
                found = memo[text] = _tokens(tokenizer, text, apsw.FTS5_TOKENIZE_DOCUMENT)
            return found

        columns: list[list[str]] = []
        for _, text, title, headings in added:
            # The exact values upsert wrote into chunks_fts(text, title, headings).
            columns.append(_tokens(tokenizer, str(text), apsw.FTS5_TOKENIZE_DOCUMENT))
            columns.append(shared(str(title)))
            columns.append(shared(str(headings)))
        m, base = len(added), int(self.rowids.size)
        sizes = np.fromiter(map(len, columns), dtype=np.int64, count=len(columns))
        tokens = list(itertools.chain.from_iterable(columns))
        for term in dict.fromkeys(tokens):
            if term not in self.vocab:
                self.vocab[term] = len(self.vocab)
        ids = np.fromiter(map(self.vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        row_of = np.repeat(np.repeat(np.arange(m, dtype=np.int64), 3), sizes)
        weight_of = np.repeat(np.tile(np.asarray(BM25_WEIGHTS, dtype=np.float64), m), sizes)
        # One posting per (term, chunk): sort by term then chunk, sum the column weights.
        key = ids * m + row_of
        order = np.argsort(key)
        key = key[order]
        first = np.flatnonzero(np.diff(key, prepend=-1))
        freqs = np.add.reduceat(weight_of[order], first) if key.size else weight_of
        terms, rows = key[first] // m, key[first] % m + base
        self.rowids = np.concatenate(
            [self.rowids, np.fromiter((r[0] for r in added), np.int64, count=m)]
        )
        lengths = sizes.reshape(m, 3).sum(axis=1).astype(np.float64)
        self.lengths = np.concatenate([self.lengths, lengths])
        self.live = np.concatenate([self.live, np.ones(m, dtype=bool)])
        self._live_count += m
        self._total_tokens += float(lengths.sum())
        if not len(self._main):
            self._main = _Postings(terms, rows, freqs, len(self.vocab))
            return
        self._delta_parts.append((terms, rows, freqs))
        parts = self._delta_parts
        if len(parts) > 1:  # keep the second list sorted by term
            merged = [np.concatenate([p[j] for p in parts]) for j in range(3)]
            order = np.argsort(merged[0], kind="stable")
            parts[:] = [(merged[0][order], merged[1][order], merged[2][order])]
        self._delta = _Postings(*parts[0], len(self.vocab))
        if len(self._delta) > max(MERGE_MIN_POSTINGS, len(self._main) // 8):
            self._main = _Postings(*self._all_postings(), len(self.vocab))
            self._delta, self._delta_parts = _Postings.empty(), []

    def _tokenizer(self, conn: apsw.Connection) -> Any:
        """FTS5's tokenizer of the chunks_fts table, from ``conn`` (kept per connection)."""
        if self._tokenizer_of is None or self._tokenizer_of[0] is not conn:
            name, args = self._tokenizer_spec
            self._tokenizer_of = (conn, conn.fts5_tokenizer(name, args))
        return self._tokenizer_of[1]

    # ---------------------------------------------------------------------- search

    def positions(self, allowed: np.ndarray) -> np.ndarray:
        """Positions of the chunk rowids ``allowed`` (sorted; unknown ones dropped)."""
        return positions_of(self.rowids, allowed)

    def search(
        self, conn: apsw.Connection, phrases: Sequence[str], k: int, allowed: np.ndarray | None
    ) -> ScoredRows | None:
        """The ``k`` best chunks for the OR of ``phrases`` (``query_phrases``'s words).

        ``allowed`` restricts the result to those positions (``positions``), or None for
        every chunk; as with FTS5 the statistics (N, avgdl, idf) stay those of the whole
        index. None when a phrase is several tokens: the caller must ask FTS5.
        """
        tokenizer = self._tokenizer(conn)
        query_tokens = [_tokens(tokenizer, p, apsw.FTS5_TOKENIZE_QUERY) for p in phrases]
        if any(len(tokens) > 1 for tokens in query_tokens):
            return None
        n_rows = self._live_count
        if not n_rows or k < 1:
            return []
        masked = self._dead_count > 0
        terms: list[Term] = []
        # In phrase order, as fts5Bm25Function sums them; a phrase listed twice counts twice.
        for tokens in query_tokens:
            term = self.vocab.get(tokens[0]) if tokens else None
            if term is None:
                continue  # no row holds it: it adds nothing (0 hits)
            rows = [self._main.term(term), self._delta.term(term)]
            pos = np.concatenate([r for r, _ in rows])
            freq = np.concatenate([f for _, f in rows])
            if masked:
                alive = self.live[pos]
                pos, freq = pos[alive], freq[alive]
            hits = int(pos.size)
            if not hits:
                continue
            terms.append((pos, freq, idf_of(n_rows, hits)))
        if not terms:
            return []
        return Scorer(self._norm, self.rowids).top(terms, k, allowed)


def _tokens(tokenizer: Any, text: str, flags: int) -> list[str]:
    """FTS5's tokens of ``text`` (``flags``: document or query), without offsets."""
    tokens: list[str] = tokenizer(
        text.encode(), flags, None, include_offsets=False, include_colocated=False
    )
    return tokens
