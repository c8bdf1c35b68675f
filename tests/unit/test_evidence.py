"""Source units, the per-sentence support check and the extractive fallback of the RAG route
(answer/units.py, answer/evidence.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from expertly.answer.citations import content_words
from expertly.answer.codes import unexcluded
from expertly.answer.evidence import (
    added_clauses,
    check_support,
    negated_words,
)
from expertly.answer.prompt import (
    ABSTAIN_TEXT,
    cut_repetition,
    cut_unfinished,
    unsupported_figures,
)
from expertly.answer.review import review
from expertly.answer.unheard import proper_names, unheard_of
from expertly.answer.units import (
    Unit,
    best_unit,
    extraction,
    extractive_answer,
    lead_units,
    lexical_coverage,
    listed_after,
    score_units,
    split_units,
    stems,
    unit_body,
    unit_context,
)
from expertly.config import AnswerSettings, RetrievalSettings
from expertly.embed.hashing import HashingEmbedder
from expertly.errors import ConfigError
from expertly.server.streaming import revision_note
from expertly.types import Chunk, Hit, Query, TraceStep
from tests.unit.helpers import fake_workspace, write_corpus

MANUAL = (
    "8.1 Error codes\n\n"
    "When a fault occurs, the ring flashes red. The table lists the codes.\n\n"
    "Code Meaning What to do\n\n"
    "E01 CO2 sensor not responding. Restart the monitor.\n"
    "E42 Particulate sensor fan stalled. Clean the air inlets and restart.\n\n"
    "sku: NIM-LG8-IN; product: gateway, indoor; list_price_eur: 689.00; warranty_years: 2\n"
)


def _hit(text: str, doc: str = "manual.pdf", start: int = 100) -> Hit:
    chunk = Chunk(id=f"{doc}#3", doc_id=doc, index=3, text=text, start=start,
                  end=start + len(text))  # fmt: skip
    return Hit(chunk=chunk, score=1.0, source=f"/docs/{doc}", title="Manual")


def test_units_are_sentences_records_stay_whole_and_headings_join_the_next_unit() -> None:
    units = [MANUAL[s:e] for s, e in split_units(MANUAL)]
    assert units[0] == "8.1 Error codes\n\nWhen a fault occurs, the ring flashes red."
    assert "The table lists the codes." in units
    assert "E42 Particulate sensor fan stalled." in units
    assert units[-1].startswith("sku: NIM-LG8-IN;") and units[-1].endswith("warranty_years: 2")
    assert all(len(u.split()) >= 4 for u in units)
    # spans are offsets into the text, in order and without overlap
    spans = split_units(MANUAL)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert split_units("") == [] and split_units("Two words") == [
        (0, 9)
    ]  # too short, but all there is


def test_lexical_coverage_weighs_codes_and_ignores_plurals() -> None:
    question = "What does error E42 mean on the monitors?"
    assert lexical_coverage(question, "E42 means the fan stalled.") > lexical_coverage(
        question, "Error codes are shown on the monitor."
    )
    assert lexical_coverage("passwords length", "a password") == 0.5
    assert lexical_coverage("the of", "anything") == 0.0


def test_a_figure_with_separators_is_one_word_and_ranges_match_however_written() -> None:
    assert content_words("last bus 22:40, fare 2.10, cap 1,700, 95.00 EUR") == {
        "last", "bus", "22:40", "fare", "2.1", "cap", "1700", "95", "eur"
    }  # fmt: skip
    # Route 22 is not the row of a bus leaving at 22:40.
    question = "Which depot runs route 22?"
    assert lexical_coverage(question, "route: 22; depot: Fernholt") > lexical_coverage(
        question, "route: 18; last: 22:40; depot: Elm Park"
    )
    # "Zones A to D" is the "zone: A-D" row, not the "zone: A" one.
    assert "a-d" in content_words("Zones A to D") & content_words("zone: A-D")
    assert "a-d" in content_words("bands A\u2013D")
    assert not {w for w in content_words("10:00-14:00 on 2024-12-02") if "-" in w}
    # "how much" and "how many" ask; they name nothing a source must hold.
    assert not content_words("How much? How many?")


def test_units_are_scored_against_the_question_codes_weighing_most() -> None:
    units = score_units("What does error code E42 mean?", [_hit(MANUAL)], HashingEmbedder(dim=256))
    best = max(units, key=lambda u: u.score)
    assert best.text.startswith("E42") and best.hit == 0
    assert MANUAL.index(best.text) == best.start and best.end == best.start + len(best.text)


def test_a_word_only_in_the_units_title_or_headings_counts_half() -> None:
    question = "manual calibration button"
    assert lexical_coverage(question, "hold the button") == pytest.approx(1 / 3)
    assert lexical_coverage(question, "hold the button", "Manual calibration") == pytest.approx(
        (1 + 0.5 * 2) / 3
    )
    # a word the unit holds counts once, whole, even when the context repeats it
    assert lexical_coverage(question, "button", "button") == pytest.approx(1 / 3)
    assert unit_context(_headed("x", "CO2 procedure", ("3 Procedure", "Manual"))) == (
        "CO2 procedure > 3 Procedure > Manual"
    )


def _headed(text: str, title: str, headings: tuple[str, ...] = (), doc: str = "a.pdf") -> Hit:
    chunk = Chunk(id=f"{doc}#1", doc_id=doc, index=1, text=text, start=0, end=len(text),
                  heading_path=headings)  # fmt: skip
    return Hit(chunk=chunk, score=1.0, source=f"/docs/{doc}", title=title)


def test_a_step_is_read_under_its_headings() -> None:
    """A numbered step says little of what it is about; its procedure's title and heading
    say the rest. Read bare, a sentence of the general manual that repeats the question's
    topic words outranks it."""
    question = "How long do I hold the button to start a manual CO2 calibration?"
    step = _headed(
        "Step 3 Press and hold the front button for 8 seconds, until the ring turns purple.",
        "Stratus CO2 calibration procedure",
        ("3 Manual calibration",),
        doc="procedure.txt",
    )
    manual = _headed(
        "The CO2 sensor corrects its calibration baseline automatically every week.",
        "Stratus user manual",
        ("6 Sensors",),
        doc="manual.pdf",
    )
    units = score_units(question, [manual, step], HashingEmbedder(dim=256))
    best = max(units, key=lambda u: u.score)
    assert best.hit == 1 and best.text.startswith("Step 3")
    # what the context changes: the same two read bare
    bare = [replace(h, title="", chunk=replace(h.chunk, heading_path=())) for h in (manual, step)]
    assert (
        max(score_units(question, bare, HashingEmbedder(dim=256)), key=lambda u: u.score).hit == 0
    )


def _units(text: str, question: str) -> list[Unit]:
    return score_units(question, [_hit(text)], HashingEmbedder(dim=64))


def test_supported_sentences_are_kept_and_invented_ones_dropped() -> None:
    question = "What does error E42 mean?"
    units = _units(MANUAL, question)
    reply = (
        "According to source [1], E42 means the particulate sensor fan stalled [1]. "
        "The monitor then sends an e-mail to the support team every 90 minutes [1]."
    )
    support = check_support(reply, question, units)
    assert (
        support.kept == "According to source [1], E42 means the particulate sensor fan stalled [1]."
    )
    assert support.dropped == (
        "The monitor then sends an e-mail to the support team every 90 minutes [1].",
    )


ADD_ONS = (
    "Add-on: Home Emergency Plus; Code: AO-21; Annual price: £79.99; "
    "Main limit: £1,500 per claim, including VAT; Excess: Nil\n"
    "Day: Saturday; Ellstead: 09:00 - 12:30; Holloway: 08:30 - 12:00\n"
    "Plan: Business; Region: EU; Billed monthly (per month): €38; "
    "Billed annually (per year): €380\n"
)


@pytest.mark.parametrize(
    ("question", "reply", "kept"),
    [
        (
            "What is the per-claim limit under Home Emergency Plus?",
            "The per-claim limit for Home Emergency Plus is £79.99.",
            False,  # the price cell, read for the limit
        ),
        (
            "What is the per-claim limit under Home Emergency Plus?",
            "The per-claim limit for Home Emergency Plus is £1,500.",
            True,
        ),
        ("What is the per-claim limit under Home Emergency Plus?", "It costs £79.99.", False),
        (
            "How much does Home Emergency Plus cost a year?",
            "The annual price of Home Emergency Plus is £79.99.",
            True,
        ),
        (
            "What does Business cost in the EU if billed annually?",
            "Business costs €38 a year in the EU if billed annually.",
            False,  # the monthly price: "billed" labels both cells
        ),
        (
            "What does Business cost in the EU if billed annually?",
            "Business costs €380 a year in the EU if billed annually.",
            True,
        ),
        ("When does Ellstead close on Saturday?", "Ellstead closes at 12:00 on Saturday.", False),
        ("When does Ellstead close on Saturday?", "Ellstead closes at 12:30 on Saturday.", True),
        (
            "What does Home Emergency Plus cost and cover?",
            "It costs £79.99 a year, with a limit of £1,500 per claim.",
            True,  # two figures: which word goes with which is not known
        ),
    ],
)
def test_a_figure_must_be_read_off_the_cell_the_sentence_speaks_of(
    question: str, reply: str, kept: bool
) -> None:
    units = _units(ADD_ONS, question)
    assert bool(check_support(reply, question, units).kept) is kept


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("Bus route 22 is operated by the Elm Park depot.", False),  # the "via" cell
        ("Bus route 22 is operated by the Oxley Moor depot.", True),
        ("Bus route 22 is operated by the Larkspur Hill depot.", False),
    ],
)
def test_a_name_must_be_read_off_the_cell_the_sentence_speaks_of(reply: str, kept: bool) -> None:
    question = "Which depot operates bus route 22?"
    row = "route: 22; mode: bus; from: Larkspur Hill; via: Elm Park; depot: Oxley Moor"
    units = _units(row, question)
    assert bool(check_support(reply, question, units).kept) is kept


def test_no_unit_answers_for_a_code_the_question_names_and_it_does_not() -> None:
    """Error codes one digit apart: the BF-410 row says nothing of a BF-411 no source
    names, however the reply words it."""
    rows = "Code: BF-410; Meaning: The bank's login details changed; Fix: Reconnect the feed"
    reply = "Error BF-410 means the bank's login details changed."
    asked = "Our bank feed shows error BF-411. What does that code mean?"
    assert check_support(reply, asked, _units(rows, asked)).kept == ""
    asked = "Our bank feed shows error BF-410. What does that code mean?"
    assert check_support(reply, asked, _units(rows, asked)).kept == reply


@pytest.mark.parametrize(
    ("text", "figure", "kept"),
    [
        ("Car allowance: G5 employees receive £4,800 a year and G6 employees £7,200 a year.",
         "£4,800", False),
        ("Car allowance: G5 employees receive £4,800 a year and G6 employees £7,200 a year.",
         "£7,200", True),
        ("Car allowance: £4,800 a year for G5 employees and £7,200 a year for G6 employees.",
         "£4,800", False),
        ("Car allowance: £4,800 a year for G5 employees and £7,200 a year for G6 employees.",
         "£7,200", True),
        # a record: each code owns the cells it labels, whatever figure opens the row
        ("column 1: Car allowance; G4: £3,900 a year; G5: £4,800 a year; G6: £7,200 a year",
         "£4,800", False),
        ("column 1: Car allowance; G4: £3,900 a year; G5: £4,800 a year; G6: £7,200 a year",
         "£7,200", True),
    ],
)  # fmt: skip
def test_a_figure_listed_for_a_sibling_code_answers_nothing_for_the_code_asked(
    text: str, figure: str, kept: bool
) -> None:
    question = "What is the annual car allowance for a G6 employee?"
    reply = f"The annual car allowance for a G6 employee is {figure} a year."
    assert bool(check_support(reply, question, _units(text, question)).kept) is kept


TIMETABLE = (
    "Trams run every 10 minutes on weekdays.\n"
    "The last trams leave Kestrel Central between 23:55 and 00:15 on weekdays.\n"
    "Night buses N4 and N14 run every 30 minutes on Friday and Saturday nights.\n"
)


def test_a_reply_speaking_of_what_no_source_mentions_is_dropped_whole() -> None:
    question = "Do the trams run on Christmas Day?"
    units = _units(TIMETABLE, question)
    unheard = unheard_of(question, units)
    assert unheard == {"christmas"}  # "Day" is a measure word, "run" the verb
    reply = (
        "According to source [1], the trams do not run on Christmas Day. "
        "The last trams leave Kestrel Central between 23:55 and 00:15 on weekdays [1]."
    )
    support = check_support(reply, question, units, unheard)
    assert support.kept == "" and len(support.dropped) == 2 and support.unheard == ("christmas",)
    # Unless told what no document uses, the check reads each sentence alone.
    assert check_support(reply, question, units).kept.endswith("on weekdays [1].")
    # Without the word no source holds, the same sentence is checked as any other.
    question = "When do the last trams leave Kestrel Central on weekdays?"
    units = _units(TIMETABLE, question)
    assert not unheard_of(question, units)
    support = check_support(reply.split(". ", 1)[1], question, units)
    assert "23:55" in support.kept


def test_a_figure_from_another_line_or_only_from_the_question_is_not_support() -> None:
    text = (
        "Gifts from business partners may be accepted up to EUR 50 per gift.\n\n"
        "Meals up to EUR 90 per person are reimbursed.\n\n"
        "A team lunch needs no approval at all.\n\nTrips abroad need a form."
    )
    question = "A supplier offers me a gift worth 80 euros. May I accept it?"
    units = _units(text, question)
    assert check_support("You may accept a gift worth 80 euros [1].", question, units).kept == ""
    wrong_line = check_support("Gifts may be accepted up to EUR 90 [1].", question, units)
    assert wrong_line.kept == "" and wrong_line.dropped
    right = check_support("Gifts may be accepted up to EUR 50 per gift [1].", question, units)
    assert right.kept and not right.dropped


def test_a_reply_that_only_restates_the_question_is_not_an_answer() -> None:
    question = "What is the minimum length for my company password?"
    units = _units("Passwords must have at least 14 characters.", question)
    assert (
        check_support("The minimum length for your company password [1].", question, units).kept
        == ""
    )
    assert check_support("It is 14 characters [1].", question, units).kept


def test_one_paraphrased_word_passes_only_beside_a_figure_the_source_holds() -> None:
    text = "Parental leave\n\nEmployees get 20 weeks of paid parental leave."
    question = "How many weeks of paid parental leave do employees get?"
    units = _units(text, question)
    reply = "According to source [1], 20 weeks of paid parental leave are available to employees."
    assert check_support(reply, question, units).kept == reply
    # the same paraphrase with a figure the source lacks, or two invented words, still fails
    assert check_support(reply.replace("20", "26"), question, units).kept == ""
    assert (
        check_support("Employees get 20 weeks, unpaid and transferable [1].", question, units).kept
        == ""
    )
    # without a figure of its own, one invented word is enough to reject a sentence
    manual = _units(MANUAL, "What does error E42 mean?")
    assert (
        check_support("E42 means overheating [1].", "What does error E42 mean?", manual).kept == ""
    )


def test_a_figure_only_the_question_gives_is_unsupported() -> None:
    hits = [_hit("Gifts are allowed up to EUR 50.")]
    assert unsupported_figures("You may accept a gift worth 80 euros [1].", hits) == ["80"]


def test_an_invented_code_is_unsupported_whole() -> None:
    hits = [_hit("E42 Particulate sensor fan stalled. Order the HX-100 fan.")]
    assert unsupported_figures("E15 means the HX100 fan stalled [1].", hits) == ["e15"]
    assert unsupported_figures("E42 means the fan stalled [1].", hits) == []


def test_a_looping_reply_is_cut_at_the_first_repeated_sentence() -> None:
    text = "The ring turns purple [1]. Hold it 8 s [2]. The ring turns purple [1]. Hold"
    assert cut_repetition(text) == "The ring turns purple [1]. Hold it 8 s [2]."
    assert cut_repetition("One. Two.") == "One. Two."


def test_a_rejected_draft_falls_back_to_the_best_source_sentence(tmp_path: Path) -> None:
    ws = fake_workspace(
        tmp_path,
        replies=["1], the HX-100 costs 1,299 EUR."],
        answer=AnswerSettings(fallback="extract", extract_min_score=0.0),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert not answer.abstained
    assert "149" in answer.text and "1,299" not in answer.text
    assert answer.citations and answer.citations[0].doc_id == "prices.csv"
    names = [s.name for s in answer.trace]
    assert names.index("verify") < names.index("extract")
    extract = next(s for s in answer.trace if s.name == "extract")
    assert "1,299" not in extract.detail["answer"] and extract.detail["coverage"] > 0
    ws.close()


def test_a_rejected_draft_abstains_when_the_best_sentence_matches_too_little(
    tmp_path: Path,
) -> None:
    ws = fake_workspace(
        tmp_path,
        replies=["1], the HX-100 costs 1,299 EUR."] * 2,
        # the default fallback, "extract"; the price row is a measured match (EUR for "cost")
        answer=AnswerSettings(extract_min_score=2.0, extract_figure_min_score=1.9),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert answer.abstained and answer.text == ABSTAIN_TEXT and not answer.citations
    extract = next(s for s in answer.trace if s.name == "extract")
    # the trace says which sentence was too weak, and by how much
    assert extract.detail["answer"] == "" and "149" in extract.detail["best"]
    assert extract.detail["score"] < extract.detail["min_score"] == 1.9
    assert extract.detail["figure"] is True
    # ... and the abstention points to where to read on, the price row first
    lead = answer.leads[0]
    assert lead.doc_id == "prices.csv" and "HX-100" in lead.quote and "149" in lead.quote
    assert lead.number == 1 + [h.chunk.id for h in answer.hits].index(lead.chunk_id)
    assert len(answer.leads) == 1  # no other unit names the HX-100
    ws.close()
    ws = fake_workspace(
        tmp_path / "off",
        replies=["1], the HX-100 costs 1,299 EUR."],
        answer=AnswerSettings(fallback="abstain"),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert answer.abstained and "extract" not in [s.name for s in answer.trace]
    ws.close()


def test_a_unit_alone_naming_the_questions_code_answers_from_the_figure_bar() -> None:
    question = "The monitor shows E42. What does that mean?"
    units = score_units(question, [_hit(MANUAL)], HashingEmbedder(dim=256))
    row = next(u for u in units if u.text.startswith("E42"))
    units = [replace(u, cosine=0.0, coverage=0.0) for u in units if u is not row]
    units.append(replace(row, cosine=0.6, coverage=0.4))  # score 0.8
    found = extraction(units, question, min_score=0.9, figure_min_score=0.7)
    assert found is not None and found.unit.text.startswith("E42")
    assert found.code and not found.figure and found.min_score == 0.7 and found.strong
    # A second unit naming the code (the same row under another heading): nothing is singled
    # out, and the unit must reach the bar of any other sentence.
    twin = replace(units[0], text="E42 also appears in the event log.")
    found = extraction([*units, twin], question, min_score=0.9, figure_min_score=0.7)
    assert found is not None and not found.code and found.min_score == 0.9 and not found.strong
    # A question naming no code singles out nothing.
    plain = extraction(units, "What does a stalled fan mean?", 0.9, 0.7)
    assert plain is not None and not plain.code


def test_the_extract_threshold_is_checked() -> None:
    with pytest.raises(ConfigError, match="extract_min_score"):
        AnswerSettings(extract_min_score=2.5)


def test_a_bare_heading_is_no_unit() -> None:
    title = "Cirrus WS-450 Outdoor Weather Station - Installation Guide"
    text = f"{title}\n\nThe enclosure is rated IP66 against dust and water jets."
    hit = _hit(text)
    hit = Hit(chunk=hit.chunk, score=1.0, source=hit.source, title=title)
    units = score_units("What IP rating does the Cirrus WS-450 have?", [hit], HashingEmbedder(64))
    assert [u.text for u in units] == ["The enclosure is rated IP66 against dust and water jets."]


def test_an_unsupported_sentence_is_dropped_from_a_real_answer(tmp_path: Path) -> None:
    reply = "1], employees get 20 weeks of paid parental leave. They also get a company car."
    ws = fake_workspace(tmp_path, replies=[reply])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("How many weeks of paid parental leave do employees get?")
    assert not answer.abstained
    assert "20 weeks" in answer.text and "car" not in answer.text
    support = next(s for s in answer.trace if s.name == "support")
    assert support.detail["dropped"] == ["They also get a company car."]
    assert answer.citations and answer.citations[0].doc_id == "leave.md"
    ws.close()


def test_an_extractive_answer_drops_headings_and_cites_before_the_full_stop() -> None:
    text = "Gifts\n\nReceiving gifts\n\nYou may accept gifts up to EUR 50 per gift."
    (unit,) = _units(text, "May I accept a gift?")
    assert unit.text.startswith("Gifts")  # the headings travel with the sentence ...
    assert (
        extractive_answer(unit) == "You may accept gifts up to EUR 50 per gift [1]."
    )  # ... not here
    (row,) = _units("sku: A-1; price: 5; unit: piece", "price of A-1?")
    assert extractive_answer(row) == "sku: A-1; price: 5; unit: piece [1]"
    # a lead quotes the same words: the chunk's headings are shown apart from it
    assert unit_body(unit) == "You may accept gifts up to EUR 50 per gift."


def test_with_the_support_check_only_the_sentence_with_an_unknown_figure_goes(
    tmp_path: Path,
) -> None:
    reply = "1], the HX-100 costs 149 EUR. It is sold in packs of 12."
    ws = fake_workspace(tmp_path, replies=[reply], answer=AnswerSettings(fallback="abstain"))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert not answer.abstained
    assert answer.text == "According to source [1], the HX-100 costs 149 EUR."
    verify = next(s for s in answer.trace if s.name == "verify")
    assert verify.detail["unsupported_figures"] == ["12"]
    support = next(s for s in answer.trace if s.name == "support")
    assert support.detail["dropped"] == ["It is sold in packs of 12."]
    ws.close()
    # Without the sentence check the figure withholds the whole answer.
    ws = fake_workspace(
        tmp_path / "off",
        replies=[reply],
        answer=AnswerSettings(fallback="abstain", support_check=False),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "off" / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert answer.abstained and answer.text == ABSTAIN_TEXT
    ws.close()


def test_a_figure_is_read_off_the_row_the_sentence_is_about() -> None:
    rows = (
        "site: Oslo; role: Assembly plant; country: Norway; staff: 64;\n"
        "site: Turku; role: Paint shop; country: Finland; staff: 17;\n"
        "site: Riga; role: Paint line; country: Latvia; staff: 35;"
    )
    question = "How many staff work at the Turku paint shop?"
    units = _units(rows, question)
    right = check_support("The Turku paint shop has a staff of 17 [1].", question, units)
    assert right.kept and not right.dropped
    # 35 is in the Riga row, which shares "staff" but not what the sentence is about
    wrong = check_support("The Turku paint shop has a staff of 35 [1].", question, units)
    assert wrong.kept == "" and wrong.dropped


def test_a_negated_sentence_needs_a_negation_in_its_source() -> None:
    text = "Refunds are made to the original payment method within 14 days of the return."
    question = "How are refunds paid?"
    units = _units(text, question)
    assert check_support(
        "Refunds are made to the original payment method [1].", question, units
    ).kept
    denied = check_support(
        "Refunds are not made to the original payment method [1].", question, units
    )
    assert denied.kept == "" and denied.dropped
    negative = _units("Refunds are never paid in cash.", question)
    assert check_support("Refunds are never paid in cash [1].", question, negative).kept


def test_a_negated_sentence_denies_only_what_its_source_denies() -> None:
    """ "does not give access to local museums" leans on a unit denying access to DVDs: the
    negation is there, but what it denies is not; the source says nothing of museums."""
    question = "Does a library card give me free passes to local museums?"
    units = _units(
        "A Visitor card lets you borrow up to 4 books at a time. It does not give access "
        "to DVDs, the e-library or inter-library loans.",
        question,
    )
    invented = "A library card does not give you access to local museums [1]."
    assert check_support(invented, question, units).kept == ""
    sourced = "A Visitor card does not give access to DVDs [1]."
    assert check_support(sourced, question, units).kept
    assert negated_words("It does not give access to DVDs, but books are fine.") == stems(
        "give access DVDs"
    )
    assert negated_words("Refunds are made in cash.") is None


def _scored(*texts_and_scores: tuple[str, float]) -> list[Unit]:
    """Units with a set match to the question (as cosine; coverage 0)."""
    return [Unit(0, 0, len(t), t, cosine=c) for t, c in texts_and_scores]


def test_a_unit_far_below_the_best_match_supports_no_sentence() -> None:
    question = "What restocking fee is charged on returns?"
    fee = "We charge a restocking fee of 15 % of the net invoice value."
    rma = "Returns without an RMA number cannot be accepted by the warehouse."
    reply = (
        "The restocking fee is 15 % of the net invoice value [1]. "
        "Returns without an RMA number cannot be accepted by the warehouse [1]."
    )
    # the RMA rule bears on the question almost as much as the fee: both sentences stay
    near = check_support(reply, question, _scored((fee, 0.9), (rma, 0.5)))
    assert near.kept == reply and not near.dropped
    # far below the best match it bears on something else, and supports nothing
    far = check_support(reply, question, _scored((fee, 0.9), (rma, 0.1)))
    assert far.kept == "The restocking fee is 15 % of the net invoice value [1]."
    dropped = "Returns without an RMA number cannot be accepted by the warehouse [1]."
    assert far.dropped == (dropped,)
    # the margin is relative: a weak best match still supports the answer
    weak = check_support(reply, question, _scored((fee, 0.2), (rma, 0.1)))
    assert weak.kept == reply


def test_a_restatement_must_hold_every_word_it_changes() -> None:
    question = "Is there an API for our measurement data?"
    api = _scored(
        ("The Cloud REST API version 2 is available at api.example.com/v2 for all subscriptions.",
         0.9),
        ("Each device sends its readings every minute.", 0.8),
    )  # fmt: skip
    first = "The Cloud REST API version 2 is available at api.example.com/v2 for all subscriptions."
    swapped = "The Cloud API version 2 is available at api.example.com/v2 for all devices."
    support = check_support(f"{first} {swapped}", question, api)
    # "devices" alone would pass the paraphrase allowance (4 of 5 new words known)
    assert check_support(swapped, question, api).kept == swapped
    assert support.kept == first and support.dropped == (swapped,)
    # a restatement whose change the same unit holds stays
    again = "The Cloud REST API version 2 is available for all subscriptions at api.example.com/v2."
    assert check_support(f"{first} {again}", question, api).kept == f"{first} {again}"
    # two parallel sentences are no restatement of each other
    plans = _scored(
        ("The Standard plan includes e-mail support on working days.", 0.9),
        ("The Priority plan adds phone support around the clock.", 0.9),
    )
    parallel = (
        "The Standard plan includes e-mail support on working days [1]. "
        "The Priority plan adds phone support around the clock [1]."
    )
    assert check_support(parallel, "What support do the plans include?", plans).kept == parallel


def test_a_figure_keeps_the_unit_of_measure_its_source_gives_it() -> None:
    question = "How long can the Cirrus WS-450 Pro run without sun?"
    row = _scored(("Autonomy without sun | WS-450 Standard 14 days | WS-450 Pro 10 days", 0.9))
    row = [replace(u, title="Cirrus WS-450 Weather Station") for u in row]  # names "Cirrus"
    wrong = "The Cirrus WS-450 Pro can run for 10 minutes without sun."
    right = "The Cirrus WS-450 Pro can run for 10 days without sun."
    # "minutes" alone would pass the paraphrase allowance for a sentence with a new figure
    assert check_support(wrong, question, row).dropped == (wrong,)
    assert check_support(right, question, row).kept == right
    # a measure word the unit holds elsewhere, or a figure the unit states bare, passes
    price = _scored(("Spare battery pack: EUR 949.00 per unit, shipped in 5 days.", 0.9))
    euros = "The spare battery pack costs 949 EUR."
    assert check_support(euros, "What does the spare battery pack cost?", price).kept == euros
    bare = _scored(("warranty_years: 2; product: indoor gateway; price_eur: 89;", 0.9))
    years = "The indoor gateway has a warranty of 2 years."
    assert check_support(years, "What is the warranty on the indoor gateway?", bare).kept == years
    # every measure the sentence gives a figure is checked, not just one of them
    leave = _scored(("Occasion: Volunteering; Paid leave: 2 days per year; Notes: charity", 0.9))
    question = "Do I get paid time off to do volunteer work?"
    mixed = "The company gives a 2-week paid leave of 2 days per year for volunteering."
    assert check_support(mixed, question, leave).dropped == (mixed,)
    days = "The company gives a paid leave of 2 days per year for volunteering."
    assert check_support(days, question, leave).kept == days


def test_a_reply_cut_by_the_token_limit_loses_its_unfinished_sentence() -> None:
    assert (
        cut_unfinished("It costs 149 EUR [1]. The limit is set to 500") == "It costs 149 EUR [1]."
    )
    assert cut_unfinished("It costs 149 EUR [1]") == "It costs 149 EUR [1]"
    assert cut_unfinished("Version 2.5 is out! And 3.0 is") == "Version 2.5 is out!"
    assert cut_unfinished("The limit is set to 500") == ""


def test_an_unfinished_last_sentence_is_never_checked_or_kept(tmp_path: Path) -> None:
    reply = "1], the HX-100 costs 149 EUR. It is sold in packs of 12 " + "word " * 300
    ws = fake_workspace(tmp_path, replies=[reply], answer=AnswerSettings(fallback="abstain"))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    assert answer.text == "According to source [1], the HX-100 costs 149 EUR."
    cut = next(s for s in answer.trace if s.name == "unfinished")
    assert cut.detail["cut"].startswith("It is sold in packs of 12 word")
    assert not any(s.name == "verify" for s in answer.trace)  # the cut 12 was never a claim
    ws.close()


def test_a_sentence_opening_with_a_pronoun_stays_with_the_one_before_it() -> None:
    text = "1. Hold the plate level.\n2. Mark the two holes. They are 83.5 mm apart.\n"
    units = [text[s:e] for s, e in split_units(text)]
    assert units == ["1. Hold the plate level.", "2. Mark the two holes. They are 83.5 mm apart."]
    # not across lines: a new line is a new statement
    lines = "Mark the two holes.\nThey are 83.5 mm apart."
    assert [lines[s:e] for s, e in split_units(lines)] == [
        "Mark the two holes.",
        "They are 83.5 mm apart.",
    ]


def test_an_extractive_answer_names_the_headings_it_sits_under() -> None:
    notes = _headed(
        "New\n\n- Support for WPA2-Enterprise (PEAP-MSCHAPv2) networks.",
        "Firmware release notes",
        ("Firmware release notes", "Releases", "3.1.0 - 10 June 2024", "New"),
    )
    (unit,) = score_units("WPA2-Enterprise?", [notes], HashingEmbedder(dim=64))
    assert unit.headings == ("Releases", "3.1.0 - 10 June 2024", "New")
    assert extractive_answer(unit) == (
        "3.1.0 - 10 June 2024 > New: Support for WPA2-Enterprise (PEAP-MSCHAPv2) networks [1]."
    )
    assert unit_context(notes) == "Firmware release notes > Releases > 3.1.0 - 10 June 2024 > New"


def test_a_figure_in_the_unit_of_measure_asked_for_lowers_the_bar(tmp_path: Path) -> None:
    """answer.extract_figure_min_score: the price row answers "What does it cost?" with
    a match that a sentence without a price would need more for."""
    settings = AnswerSettings(extract_min_score=2.0, extract_figure_min_score=0.5)
    ws = fake_workspace(tmp_path, replies=["1], the HX-100 costs 1,299 EUR."], answer=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("What does the HX-100 humidity sensor cost?")
    extract = next(s for s in answer.trace if s.name == "extract")
    assert not answer.abstained and "149" in answer.text
    assert extract.detail["figure"] is True and extract.detail["min_score"] == 0.5
    ws.close()
    # a question asking for no figure (nor naming a code) keeps answer.extract_min_score
    ws = fake_workspace(tmp_path / "b", replies=["1], the HX-100 is green."], answer=settings)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answer = ws.answerer().answer("Which product is the sensor for moisture?")
    extract = next(s for s in answer.trace if s.name == "extract")
    assert answer.abstained and extract.detail["figure"] is False
    assert extract.detail["min_score"] == 2.0
    ws.close()


def test_an_extractive_answer_drops_the_list_number_after_its_heading() -> None:
    item = _headed("1. Home office allowance: EUR 600 once.", "Remote work", ("Allowances",))
    (unit,) = score_units("home office allowance?", [item], HashingEmbedder(dim=64))
    assert extractive_answer(unit) == "Allowances: Home office allowance: EUR 600 once [1]."


def test_an_extracted_record_is_cited_once_whole(tmp_path: Path) -> None:
    """An abbreviation inside an extracted row ("ul. Bursztynowa") ends no sentence: the
    row keeps the one marker it was extracted with."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "offices.csv").write_text(
        "office,city,address,phone\nSupport centre,Gdansk,ul. Bursztynowa 5,+48 58 555 07 70\n",
        encoding="utf-8",
    )
    settings = AnswerSettings(extract_min_score=0.0)
    ws = fake_workspace(tmp_path, replies=["1], call 999."], answer=settings)
    ws.ingestor.ingest([docs])
    answer = ws.answerer().answer("What is the phone number of the support centre in Gdansk?")
    assert not answer.abstained and answer.text.count("[1]") == 1
    assert "ul. Bursztynowa" in answer.text and len(answer.citations) == 1
    ws.close()


def test_leads_only_come_with_an_abstention_over_relevant_sources(tmp_path: Path) -> None:
    ws = fake_workspace(tmp_path, replies=["1], employees get 20 weeks of paid parental leave."])
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answered = ws.answerer().answer("How many weeks of paid parental leave do employees get?")
    assert not answered.abstained and answered.leads == ()
    ws.close()
    for settings, wanted in (
        (AnswerSettings(leads=0, extract_min_score=2.0, extract_figure_min_score=2.0), 0),
        (AnswerSettings(leads=3, support_check=False, fallback="abstain"), 3),  # no check
    ):
        quiet = fake_workspace(
            tmp_path / f"leads{wanted}", ["The documents do not say."], answer=settings
        )
        quiet.ingestor.ingest([write_corpus(tmp_path / "docs")])
        told = quiet.answerer().answer("How many weeks of paid parental leave do employees get?")
        assert told.abstained and len(told.leads) == wanted
        quiet.close()
    with pytest.raises(ConfigError, match=r"answer\.leads"):
        AnswerSettings(leads=-1)
    strict = fake_workspace(tmp_path / "strict", retrieval=RetrievalSettings(min_relevance=0.99))
    strict.ingestor.ingest([write_corpus(tmp_path / "docs")])
    nothing = strict.answerer().answer("Who painted the Mona Lisa?")
    assert nothing.abstained and nothing.leads == ()  # retrieval found nothing relevant
    strict.close()


def test_leads_speak_of_the_codes_asked_about_and_say_a_sentence_once() -> None:
    text = "The TX-200 costs EUR 89.\nThe TX-200 costs EUR 89.\nThe HX-100 costs EUR 149."
    units = _units(text, "Is the HX-100 waterproof?")
    assert [u.text for u in lead_units(units, "Is the HX-100 waterproof?", 2)] == [
        "The HX-100 costs EUR 149."
    ]
    leads = lead_units(units, "What do the loggers cost?", 2)
    assert sorted(u.text for u in leads) == [
        "The HX-100 costs EUR 149.",
        "The TX-200 costs EUR 89.",
    ]
    assert leads[0].score >= leads[1].score


def test_an_invented_relative_clause_sinks_its_true_sentence() -> None:
    question = "Is there staff parking at the Zurich office?"
    units = _units("In Zurich the reception is on the ground floor of Turbinenweg 7.", question)
    true = "The reception is on the ground floor of Turbinenweg 7 [1]."
    assert check_support(true, question, units).kept == true
    padded = true.replace(" [1].", ", which is in the corner of the car park area [1].")
    assert added_clauses(padded) == ["which is in the corner of the car park area"]
    support = check_support(padded, question, units)
    assert support.kept == "" and support.dropped == (padded,)
    kept = true.replace(" [1].", ", which is on Turbinenweg [1].")
    assert check_support(kept, question, units).kept == kept  # a clause its source holds


def test_an_extracted_sentence_ending_on_a_colon_takes_its_list_along() -> None:
    """ "we will reimburse a taxi home:" answers nothing without the amounts listed below."""
    text = (
        "If the last bus of the day is cancelled, we will reimburse a taxi home:\n\n"
        "- up to EUR 45 per party for a journey ending within Zones A, B or C;\n"
        "- up to EUR 60 per party for a journey ending in Zone D.\n\n"
        "Keep the taxi receipt and claim within 14 days."
    )
    question = "The last bus was cancelled and I took a taxi home. Can I get the fare back?"
    units = _units(text, question)
    head = next(u for u in units if u.text.endswith("home:"))
    assert [unit_body(u) for u in listed_after(head, units)] == [
        "up to EUR 45 per party for a journey ending within Zones A, B or C;",
        "up to EUR 60 per party for a journey ending in Zone D.",
    ]
    assert extractive_answer(head, listed_after(head, units)) == (
        "If the last bus of the day is cancelled, we will reimburse a taxi home: up to EUR 45"
        " per party for a journey ending within Zones A, B or C; up to EUR 60 per party for a"
        " journey ending in Zone D [1]."
    )
    last = units[-1]
    assert listed_after(last, units) == []  # no colon, no list
    best = replace(head, cosine=5.0)  # the head matches best: the fallback answers with it
    found = extraction([best if u is head else u for u in units], question, 0.9, 0.9)
    assert found is not None and found.unit == best and "EUR 60 per party" in found.text


def test_a_reply_about_what_no_document_mentions_is_withheld(tmp_path: Path) -> None:
    """End to end: the answerer narrows the question's words that the retrieved passages
    lack to those no document uses (a BM25 search each), and the reply that speaks of one
    is dropped whole."""
    reply = "1], everyone gets 28 days of vacation on Christmas Eve. Vacation is per calendar year."
    ws = fake_workspace(tmp_path, replies=[reply], answer=AnswerSettings(fallback="abstain"))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    answerer = ws.answerer()
    answer = answerer.answer("How many vacation days do we get over the Christmas Eve?")
    assert answer.abstained
    support = next(s for s in answer.trace if s.name == "support")
    assert support.detail["unheard"] == ["christmas"]  # "eve" passes as in "everyone"
    assert revision_note(answer) == (
        "withdrawn: the draft speaks of what no document mentions (christmas)"
    )
    # A word another document uses stays open to the support check: "passwords" is in
    # security.txt, which the leave question does not retrieve first.
    inner: Any = getattr(answerer, "inner", answerer)  # the RagAnswerer behind the cache
    asked = SimpleNamespace(principal=None, unheard=frozenset({"christmas", "passwords"}))
    assert inner._unmentioned(asked, "Passwords expire at Christmas.") == {"christmas"}
    # only the words the reply uses are searched for
    searched: list[str] = []
    search = inner.retriever.store.search

    def counted(query: Query, k: int) -> Any:
        searched.append(query.text)
        return search(query, k)

    inner.retriever.store.search = counted
    assert inner._unmentioned(asked, "Passwords expire yearly.") == frozenset()
    assert searched == ["passwords"]
    ws.close()


def test_a_word_no_document_uses_is_matched_whole_not_as_a_prefix() -> None:
    question = "Can I park my car at the depot?"
    units = _units("Show your KestrelCard to the driver.\n", question)
    reply = "You need a card to park at the depot [1]."
    assert check_support(reply, question, units, {"car"}).unheard == ()  # "card" is no car
    assert check_support("Cars may park there [1].", question, units, {"car"}).unheard == ("car",)


def test_a_two_part_duration_is_stated_whole_or_not_at_all() -> None:
    """ "4 hours" is no paraphrase of "4 hours 15 minutes": the limit is another."""
    question = "How long can a bus driver drive before they have to take a break?"
    units = _units(
        "Bus drivers: you must not drive for more than 4 hours 15 minutes without a break of "
        "at least 30 minutes.",
        question,
    )
    cut = "Bus drivers must not drive for more than 4 hours without a break [1]."
    assert check_support(cut, question, units).kept == ""
    whole = "Bus drivers must not drive for more than 4 hours 15 minutes without a break [1]."
    assert check_support(whole, question, units).kept == whole


def test_no_source_sentence_answers_for_a_name_no_document_uses(tmp_path: Path) -> None:
    """ "...travelling to Sweden?" where no document names Sweden: the Norway row is no
    answer, so the extractive fallback is skipped; a weekday is no such name."""
    question = "What is the meal allowance for staff travelling to Sweden?"
    assert proper_names(question, {"sweden", "staff"}) == {"sweden"}
    assert proper_names("Can I go on a Thursday in May?", {"thursday", "may"}) == set()
    story = "We're off to Australia for six weeks. What temperature must the heating stay at?"
    assert proper_names(story, {"australia", "heating"}) == set()  # the scene, not the ask
    assert proper_names("I'm a G6. Can I claim in Sweden? Or Oslo.", {"sweden", "oslo"}) == {
        "sweden"
    }
    units = _units("Meal allowance, staff travelling in Norway: NOK 780 per night.", question)
    assert unheard_of(question, units) >= {"sweden"}  # "to" before a name opens a phrase
    assert "renew" not in unheard_of("Do I need to renew it?", units)
    trace: list[TraceStep] = []
    settings = AnswerSettings(extract_min_score=0.0, extract_figure_min_score=0.0)
    hits = [_hit("Meal allowance, staff travelling in Norway: NOK 780 per night.")]
    open_ = review(ABSTAIN_TEXT, "stop", question, hits, units, settings, [])
    assert not open_.abstained  # without the name check, the Norway row answers
    reviewed = review(
        ABSTAIN_TEXT, "stop", question, hits, units, settings, trace, None, (), {"sweden"}
    )
    assert reviewed.abstained
    assert trace[-1] == TraceStep("unnamed", {"names": ["sweden"], "extract": "skipped"})


def test_a_code_named_only_as_left_out_gives_no_value_for_it() -> None:
    """A parts row for the BR-22 that says "Not for BR-22V" prices nothing for a BR-22V;
    it still answers a yes/no question about the BR-22V ("No: not for BR-22V")."""
    row = (
        "part_no: BA-OS-022; description: Oil separator element; fits_models: BR-22; "
        "price_gbp: 139.00; notes: Not for BR-22V"
    )
    reply = "An oil separator element for the BR-22V costs £139.00."
    asked = "What does a replacement oil separator element for the BR-22V cost?"
    assert check_support(reply, asked, _units(row, asked)).kept == ""
    assert best_unit(_units(row, asked), asked) is None
    for_the_22 = "What does a replacement oil separator element for the BR-22 cost?"
    assert best_unit(_units(row, for_the_22), for_the_22) is not None
    fits = "Does the BA-OS-022 oil separator element fit the BR-22V?"
    assert best_unit(_units(row, fits), fits) is not None


def test_unexcluded_drops_codes_named_after_not_for_except_or_excluding() -> None:
    assert unexcluded("notes: Not for BR-22V") == "notes: Not for "
    assert "BR-15" not in unexcluded("all models except the BR-15 and BR-22")
    assert "BR-22" not in unexcluded("all models except the BR-15 and BR-22")
    assert unexcluded("Fits BR-22 (not suitable for outdoor use)") == (
        "Fits BR-22 (not suitable for outdoor use)"
    )
    assert "WS-450" not in unexcluded("Not compatible with WS-450 or WS-460.")


def test_a_figure_read_off_the_number_of_a_name_supports_no_measure() -> None:
    faq = (
        "You can ask for your complaint to go to Stage 2 within 6 weeks of our Stage 1 "
        "response. Stage 2 complaints are reviewed by the Chief Officer."
    )
    question = "How long have I got to take my complaint to Stage 2?"
    units = _units(faq, question)
    wrong = "You can ask for your complaint to go to Stage 2 within 2 weeks of Stage 1 response."
    right = "You can ask for your complaint to go to Stage 2 within 6 weeks of our response."
    assert check_support(wrong, question, units).kept == ""
    assert check_support(right, question, units).kept == right
    # a figure the unit gives as a measure too still supports it
    zone = "Zone 2 parcels take 2 days."
    assert check_support("Zone 2 parcels take 2 days.", "Zone 2?", _units(zone, "Zone 2?")).kept
