"""``postgres.pruning.plans`` and ``Plan.holds`` on given statistics (no server).

That the plans' answers equal the full statement's on a real PostgreSQL is
``tests/integration/test_postgres_bm25_pruning.py``; here: which words each plan keeps,
its bound, and when no plan is worth a run.
"""

from __future__ import annotations

import math

import pytest

from expertly.store.postgres.pruning import COMMON_WEIGHT, Plan, Term, idf, plans
from expertly.store.sqlite.bm25 import K1

pytestmark = pytest.mark.unit

TOTAL = 1000


def one(*lexemes: str, single: bool | None = None) -> Term:
    return Term(lexemes, single=len(lexemes) == 1 if single is None else single)


def test_idf_is_fts5s() -> None:
    assert idf(10, TOTAL) == pytest.approx(math.log((1000 - 10 + 0.5) / 10.5))
    assert idf(501, TOTAL) < idf(500, TOTAL) == 0 < idf(499, TOTAL)  # half the chunks: 0


def test_a_question_of_common_words_has_no_plan() -> None:
    terms = {"the": one("the"), "of": one("of")}
    assert plans(terms, {"the": 990, "of": 700}, TOTAL, 10) == []


def test_common_words_are_left_out_with_a_bound_of_millionths() -> None:
    terms = {"the": one("the"), "zyxin": one("zyxin")}
    (plan,) = plans(terms, {"the": 990, "zyxin": 40}, TOTAL, 10)
    assert (plan.name, plan.words) == ("rare", ["zyxin"])
    assert plan.bound == pytest.approx((K1 + 1) * COMMON_WEIGHT)


def test_a_medium_word_is_left_out_only_under_the_rare_words_weight() -> None:
    terms = {"the": one("the"), "cell": one("cell"), "zyxin": one("zyxin")}
    chunks = {"the": 990, "cell": 300, "zyxin": 40}
    rare, common = plans(terms, chunks, TOTAL, 10)
    assert rare.words == ["zyxin"] and common.words == ["cell", "zyxin"]
    assert rare.bound == pytest.approx((K1 + 1) * (idf(300, TOTAL) + COMMON_WEIGHT))
    assert rare.bound <= idf(40, TOTAL)  # theta: zyxin's weight
    chunks["cell"] = 60  # idf 2.7: 2.2 x 2.7 > zyxin's 3.2, so "cell" is kept
    (plan,) = plans(terms, chunks, TOTAL, 10)
    assert plan.words == ["cell", "zyxin"] and plan.name == "rare"


def test_the_rare_words_reach_k_before_theta_is_taken() -> None:
    terms = {"the": one("the"), "cell": one("cell"), "zyxin": one("zyxin")}
    chunks = {"the": 990, "cell": 300, "zyxin": 4}
    # zyxin alone holds 4 chunks: a top 10 needs cell too, and theta is cell's weight.
    (plan,) = plans(terms, chunks, TOTAL, 10)
    assert plan.words == ["cell", "zyxin"]
    assert plans(terms, chunks, TOTAL, 4)[0].words == ["zyxin"]


def test_no_plan_when_the_kept_words_hold_fewer_than_k_chunks() -> None:
    terms = {"the": one("the"), "zyxin": one("zyxin")}
    assert plans(terms, {"the": 990, "zyxin": 9}, TOTAL, 10) == []
    assert len(plans(terms, {"the": 990, "zyxin": 10}, TOTAL, 10)) == 1


def test_words_no_chunk_holds_neither_select_nor_count() -> None:
    terms = {"the": one("the"), "zyxin": one("zyxin"), "nowhere": one("nowhere")}
    (plan,) = plans(terms, {"the": 990, "zyxin": 40}, TOTAL, 10)
    assert plan.words == ["zyxin"]
    assert plan.bound == pytest.approx((K1 + 1) * COMMON_WEIGHT)


def test_a_phrase_word_keeps_its_lexemes_in_the_bound() -> None:
    # "x_y" is the phrase x <-> y: a chunk holding x and y apart is not selected by it.
    terms = {"the": one("the"), "x_y": one("x", "y"), "run_runs": one("run", single=False)}
    chunks = {"the": 990, "x": 30, "y": 50, "run": 20}
    (plan,) = plans(terms, chunks, TOTAL, 10)
    assert plan.words == ["x_y", "run_runs"]
    weights = idf(30, TOTAL) + idf(50, TOTAL) + idf(20, TOTAL) + COMMON_WEIGHT
    assert plan.bound == pytest.approx((K1 + 1) * weights)


def test_two_words_of_one_stem_count_twice() -> None:
    terms = {"runs": one("run"), "running": one("run"), "the": one("the")}
    (plan,) = plans(terms, {"run": 40, "the": 990}, TOTAL, 10)
    # "runs" selects the same chunks as "running": the common plan would be the same run.
    assert (plan.name, plan.words) == ("rare", ["running"])
    assert plan.bound == pytest.approx((K1 + 1) * COMMON_WEIGHT)
    terms = {"the": one("the"), "of": one("of"), "a_the": one("the"), "zyxin": one("zyxin")}
    (plan,) = plans(terms, {"the": 990, "of": 700, "zyxin": 40}, TOTAL, 10)
    assert plan.bound == pytest.approx((K1 + 1) * 3 * COMMON_WEIGHT)  # qf 2 for "the"


def test_the_check_wants_k_rows_and_a_kth_score_strictly_above_the_bound() -> None:
    plan = Plan(words=["zyxin"], bound=2.0, name="rare")
    assert plan.holds([(1, 5.0), (2, 2.1)], 2)
    assert not plan.holds([(1, 5.0)], 2)
    assert not plan.holds([(1, 5.0), (2, 2.0)], 2)
    assert not plan.holds([(1, 5.0), (2, 2.0 + 1e-12)], 2)  # within the rounding slack
