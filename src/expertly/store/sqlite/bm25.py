"""FTS5's BM25 computed with numpy over the postings copy (``sqlite.sparse``), exactly.

The score is ``fts5Bm25Function`` of SQLite's ``fts5_aux.c`` evaluated in the same order
of floating-point operations, so scores equal ``bm25_search``'s bit for bit and ties
break the same way (by rowid)::

    idf(phrase) = log((N - n + 0.5) / (n + 0.5)), 1e-6 when <= 0   (n: rows holding it)
    f = sum over columns of weight(column) x hits in the column
    score = sum over the query's phrases of
            idf x (f x (k1 + 1)) / (f + k1 x (1 - b + b x D / avgdl))

with k1 = 1.2, b = 0.75, D the row's tokens over all columns and avgdl the mean of D.

``Scorer.top`` scores every row holding a phrase (one ``np.bincount``), or, for queries
whose phrases hold many postings, first tries the rarest phrases' rows only and keeps
that answer when it provably is the same (``Scorer.pruned``). The PostgreSQL store ranks
with the same constants (``postgres.query.bm25_sql``).
"""

from __future__ import annotations

import math

import numpy as np

ScoredRows = list[tuple[int, float]]
"""(chunk rowid, positive BM25 score) best first, ties by rowid."""

Term = tuple[np.ndarray, np.ndarray, float]
"""One phrase of a query: the positions of the rows holding it (ascending), its weighted
frequency in each, and its idf."""

K1 = 1.2
B = 0.75
"""fts5Bm25Function's constants (fixed in SQLite's source)."""

PRUNE_MIN_POSTINGS = 50_000
"""Postings a query's phrases must hold together before the rarest-phrases-first search
(``Scorer.pruned``) is tried: below it, scoring every row is already cheap."""

PRUNE_COST = 8
"""Postings the full scoring reads per candidate the pruned search would score, per phrase,
at which both cost about the same (a binary search and a gather against a pass; measured
with benchmarks/sqlite_bm25.py)."""


def idf_of(rows: int, hits: int) -> float:
    """The idf of a phrase that ``hits`` of ``rows`` rows hold (1e-6 when <= 0)."""
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else 1e-6


def length_norms(lengths: np.ndarray, avgdl: float) -> np.ndarray:
    """The per-chunk half of the denominator, in fts5Bm25Function's order of operations."""
    return K1 * (1 - B + B * lengths / avgdl)


class Scorer:
    """BM25 over the rows of one synced copy.

    Args:
        norm: ``length_norms`` of every row, by position.
        rowids: the chunk rowid of every row, by position (ascending).
    """

    def __init__(self, norm: np.ndarray, rowids: np.ndarray) -> None:
        self.norm = norm
        self.rowids = rowids

    def top(self, terms: list[Term], k: int, allowed: np.ndarray | None) -> ScoredRows:
        """The ``k`` best rows for ``terms`` (in the query's phrase order, a phrase listed
        twice counted twice), among the positions ``allowed`` (None: every row)."""
        if len(terms) > 1 and sum(p.size for p, _, _ in terms) >= PRUNE_MIN_POSTINGS:
            found = self.pruned(terms, k, allowed)
            if found is not None:
                return found
        scores = np.bincount(
            np.concatenate([pos for pos, _, _ in terms]),
            weights=np.concatenate([self.impacts(t) for t in terms]),
            minlength=self.rowids.size,
        )
        matched = np.flatnonzero(scores)  # every match scores > 0 (idf >= 1e-6, f > 0)
        if allowed is not None:
            matched = matched[np.isin(matched, allowed, assume_unique=True)]
        return top_rows(matched, scores[matched], self.rowids, k)

    def impacts(self, term: Term) -> np.ndarray:
        """One phrase's share of the score of each row holding it, as fts5Bm25Function
        computes it: ``idf x (f x (k1 + 1)) / (f + k1 x (1 - b + b x D / avgdl))``."""
        pos, freq, idf = term
        f = freq.astype(np.float64)
        return idf * ((f * (K1 + 1.0)) / (f + self.norm[pos]))

    def pruned(self, terms: list[Term], k: int, allowed: np.ndarray | None) -> ScoredRows | None:
        """The top ``k`` scored from the rows of the rarest phrases only, when that is
        provably the top ``k`` of every row (MaxScore); None when it is not.

        A phrase adds less than ``idf x (k1 + 1)`` to any row (``f / (f + norm) < 1``).
        Rows holding one of the rarest phrases (the candidates) are scored exactly, every
        phrase included, each looked up in the sorted positions of the others; a row holding
        none of them scores less than the sum of the other phrases' bounds. When the k-th
        best candidate beats that sum, no other row can enter the top ``k``. Otherwise the
        next rarest phrase joins the candidates' source, until they would cost more than
        scoring every row (``PRUNE_COST``): then the caller does that. The sums run in
        phrase order, so the scores are those of the full computation bit for bit.
        """
        bounds = [idf * (K1 + 1.0) for _, _, idf in terms]
        rarest = sorted(range(len(terms)), key=lambda t: -bounds[t])
        # Each candidate costs a binary search in every phrase's positions: past this many
        # the full scoring (a pass over every posting) is the cheaper one.
        limit = sum(pos.size for pos, _, _ in terms) // (PRUNE_COST * len(terms))
        read = 0
        for used in range(1, len(terms)):
            read += terms[rarest[used - 1]][0].size
            if read > limit:
                return None
            candidates = np.unique(np.concatenate([terms[t][0] for t in rarest[:used]]))
            if allowed is not None:
                candidates = candidates[np.isin(candidates, allowed, assume_unique=True)]
            if candidates.size < k:
                continue
            scores = np.zeros(candidates.size, dtype=np.float64)
            for pos, freq, idf in terms:  # a term's positions ascend (see sparse._Postings)
                at = np.minimum(np.searchsorted(pos, candidates), pos.size - 1)
                held = pos[at] == candidates
                scores[held] += self.impacts((candidates[held], freq[at[held]], idf))
            kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
            rest = sum(bounds[t] for t in rarest[used:])
            if kth > rest * (1.0 + 1e-9):
                return top_rows(candidates, scores, self.rowids, k)
        return None


def top_rows(positions: np.ndarray, scores: np.ndarray, rowids: np.ndarray, k: int) -> ScoredRows:
    """The ``k`` best (rowid, score): score descending, ties by rowid as FTS5's
    ``ORDER BY bm25, rowid LIMIT k`` (``positions`` ascend with rowid)."""
    n = int(positions.size)
    if n > k:
        cut = scores[np.argpartition(-scores, k - 1)[k - 1]]  # the k-th best score
        better = scores > cut
        tied = np.flatnonzero(scores == cut)[: k - int(better.sum())]
        chosen = np.concatenate([np.flatnonzero(better), tied])
        positions, scores = positions[chosen], scores[chosen]
    order = np.lexsort((positions, -scores))
    return [(int(rowids[positions[j]]), float(scores[j])) for j in order]
