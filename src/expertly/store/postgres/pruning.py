"""Which words of a question select BM25's candidates: MaxScore-style pruning, kept exact.

The ranking (``query.bm25_sql``) scores every chunk that matches ANY query word. A common
word ("the", "of", "is") is in most chunks, so a question holding one makes the statement
unnest and score nearly the whole index (about 0.9 s at 100k chunks), although such a
word weighs almost nothing: its idf is <= 0, so its weight is 1e-6.

A word's contribution to a chunk's score is below ``ub = weight x (k1 + 1)`` (the tf part
``f (k1 + 1) / (f + k1 (1 - b + b D / avgdl))`` stays under ``k1 + 1`` because
``1 - b > 0``), weight being ``qf x idf`` of each of its lexemes (``qf x 1e-6`` when idf
<= 0). So the candidates may come from a few "essential" words alone: a chunk that holds
none of them scores less than ``bound``, the sum of ``ub`` over the query's other lexemes.
If the run over the essential words' chunks returns k rows and the k-th scores strictly
more than ``bound``, no chunk left out could enter the top k, nor tie with its last row:
the answer is exactly the full statement's (same rows, scores and order; every candidate
is still scored with ALL the query's lexemes). Otherwise the caller tries the next plan,
and at last the full statement.

Plans, tried in this order:

    rare    the words that carry the score: the rarest words until their chunks (the sum
            of their ``n``) reach k, which puts the k-th score near ``theta``, the weight
            of the last of them (a chunk holding it once, of average length, scores that);
            then the other words, by increasing ``ub``, are left out while ``bound`` stays
            <= ``theta``. A filter or long chunks can make its check fail; its run is
            cheap since its words are rare.
    common  every word but those whose lexemes all have idf <= 0 (in half of the chunks
            or more): ``bound`` is a few millionths, so it fails only when fewer than k
            allowed chunks hold another word.

A plan is run only if it selects fewer chunks than the full statement, could reach k rows
(its words' ``n`` sum to k or more, unfiltered) and selects other chunks than the plan
before it (two words of one stem select the same). A question whose words are all common
has no plan: the full statement ranks (nearly) every chunk, as before the pruning.

A lexeme counts as selected only if a word that is that one lexeme at one position
selects the candidates: ``x_y`` (the phrase ``x <-> y``) misses a chunk holding ``x`` and
``y`` apart, so ``x`` and ``y`` stay in ``bound``. The statistics are read in the
search's transaction (``REPEATABLE READ``), the snapshot the ranking runs in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expertly.store.postgres.schema import ts_config
from expertly.store.sqlite.bm25 import K1

COMMON_WEIGHT = 1e-6
"""The weight of a term whose idf is <= 0, as in FTS5's ``bm25()``."""

BOUND_SLACK = 1e-9
"""Relative margin on ``bound`` in the exactness check, for rounding: PostgreSQL's ``ln``
and sum against Python's. A left-out chunk's tf part is below k1 + 1 by far more."""


@dataclass(frozen=True)
class Term:
    """One word of the question as the index sees it."""

    lexemes: tuple[str, ...]
    """``to_tsvector`` of the word: its lexemes, each once."""
    single: bool
    """One lexeme at one position: its tsquery matches exactly the chunks holding it."""


@dataclass(frozen=True)
class Plan:
    """A run over a part of the question's words, and the check that makes it exact."""

    words: list[str]
    """The words whose tsquery selects the candidates."""
    bound: float
    """More than any chunk that matches none of ``words`` can score."""
    name: str
    """``rare`` or ``common`` (see the module's docstring)."""

    def holds(self, rows: Sequence[tuple[int, float]], k: int) -> bool:
        """Whether ``rows`` (this run's top k, best first) are the full statement's."""
        return len(rows) == k and rows[-1][1] > self.bound * (1 + BOUND_SLACK)


def read_terms(conn: Any, s: str, words: list[str]) -> tuple[dict[str, Term], dict[str, int], int]:
    """(word → ``Term``, lexeme → chunks holding it, chunk count) in one statement.

    A lexeme no chunk holds is absent from the second mapping (``term_stats`` keeps no
    zero rows). A word without lexemes is absent from the first: it matches nothing.
    """
    rows = conn.execute(
        f"""SELECT q.word, t.lexeme, cardinality(t.positions), st.chunks, cs.chunks
            FROM {s}.corpus_stats cs, unnest(%s::text[]) WITH ORDINALITY AS q(word, i),
                 unnest(to_tsvector({ts_config(s)}, q.word)) AS t
                 LEFT JOIN {s}.term_stats st ON st.term = t.lexeme
            ORDER BY q.i, t.lexeme""",
        (words,),
    ).fetchall()
    found: dict[str, list[tuple[str, int]]] = {}
    chunks: dict[str, int] = {}
    total = 0
    for word, lexeme, positions, n, n_chunks in rows:
        found.setdefault(str(word), []).append((str(lexeme), int(positions)))
        if n is not None:
            chunks[str(lexeme)] = int(n)
        total = int(n_chunks)
    terms = {}
    for word, parts in found.items():
        single = len(parts) == 1 and parts[0][1] == 1
        terms[word] = Term(tuple(sorted(lexeme for lexeme, _ in parts)), single=single)
    return terms, chunks, total


def idf(n: int, total: int) -> float:
    """BM25's idf of a lexeme held by ``n`` of ``total`` chunks (``query.bm25_sql``)."""
    return math.log((total - n + 0.5) / (n + 0.5))


def plans(terms: Mapping[str, Term], chunks: Mapping[str, int], total: int, k: int) -> list[Plan]:
    """The pruned runs worth trying before the full statement, in order (maybe none).

    ``terms``, ``chunks`` and ``total`` are ``read_terms``'s; which plans are kept: see the
    module's docstring.
    """
    qf = Counter(lexeme for term in terms.values() for lexeme in term.lexemes)
    idfs = {lexeme: idf(chunks[lexeme], total) for lexeme in qf if lexeme in chunks}
    weight = {lx: qf[lx] * (v if v > 0 else COMMON_WEIGHT) for lx, v in idfs.items()}
    # A word matches something only if every lexeme of it is in some chunk.
    matching = {w: t for w, t in terms.items() if all(lx in chunks for lx in t.lexemes)}
    ub = {w: (K1 + 1) * sum(weight[lx] for lx in t.lexemes) for w, t in matching.items()}

    def plan(keep: list[str], name: str) -> Plan:
        selected = {matching[w].lexemes[0] for w in keep if matching[w].single}
        bound = (K1 + 1) * sum(v for lx, v in weight.items() if lx not in selected)
        return Plan(words=keep, bound=bound, name=name)

    found: list[Plan] = []
    rare = _rare(matching, chunks, ub, k)
    if rare:
        theta = ub[rare[-1]] / (K1 + 1)  # a chunk holding it once, of average length
        dropped: set[str] = set()
        for word in sorted(set(matching) - set(rare), key=lambda w: (ub[w], w)):
            if plan(_ordered(matching, dropped | {word}), "rare").bound > theta:
                break
            dropped.add(word)
        found.append(plan(_ordered(matching, dropped), "rare"))
    common = [w for w, t in matching.items() if any(idfs[lx] > 0 for lx in t.lexemes)]
    found.append(plan(common, "common"))
    useful: list[Plan] = []
    seen: set[frozenset[Term]] = {frozenset(matching.values())}  # the full statement's
    for candidate in found:
        selects = frozenset(matching[w] for w in candidate.words)  # words of one stem: one
        # Fewer than k chunks hold its words: it cannot return k rows, its check would fail.
        reach = sum(min(chunks[lx] for lx in term.lexemes) for term in selects)
        if selects and selects not in seen and reach >= k:
            useful.append(candidate)
        seen.add(selects)
    return useful


def _rare(
    matching: Mapping[str, Term], chunks: Mapping[str, int], ub: Mapping[str, float], k: int
) -> list[str]:
    """The rarest words (largest ``ub`` first) until the chunks they select could be k."""
    picked: list[str] = []
    selected = 0
    for word in sorted(matching, key=lambda w: (-ub[w], w)):
        picked.append(word)
        selected += min(chunks[lx] for lx in matching[word].lexemes)
        if selected >= k:
            return picked
    return []


def _ordered(matching: Mapping[str, Term], dropped: set[str]) -> list[str]:
    """The words of ``matching`` but ``dropped``, in the question's order."""
    return [w for w in matching if w not in dropped]
