"""Questions that ask for a quantity, and what the RAG route does with them
(answer/answer_type.py, answer/measures.py, answer/groups.py, answer/units.py,
answer/evidence.py)."""

from __future__ import annotations

import pytest

from expertly.answer.answer_type import asks_for_quantity, expected_units
from expertly.answer.codes import codes, missing_codes
from expertly.answer.evidence import check_support
from expertly.answer.groups import about_the_other_group
from expertly.answer.measures import (
    MEASURE_UNITS,
    PHONE_NUMBER,
    TIME_OF_DAY,
    quantities_stated,
    states_measure,
)
from expertly.answer.review import review
from expertly.answer.units import Unit, best_unit, gives_figure, score_units
from expertly.config import AnswerSettings
from expertly.embed.hashing import HashingEmbedder
from expertly.server.streaming import revision_note
from expertly.types import Answer, Chunk, Hit, TraceStep


@pytest.mark.parametrize(
    "question",
    [
        "How long do I hold the button?",
        "How many days of leave do I get?",
        "how much does the gateway cost",
        "What torque should the U-bolts be tightened to?",
        "Which firmware version added WPA2-Enterprise?",
        "What is the operating temperature range of the gateway?",
        "What are the support hours on the Priority plan?",
        "A neighbour said the mobile library stops in the village. When does it come?",
        "By when does the proxy form have to be handed in?",
        "What does a BR-22V weigh?",
        "We are thinking of the Extended level. What would that cost us per year?",
        "What is the Saturday collection booking cut-off for an address in Zone 2?",
        "What was the fuel surcharge for pallets in April 2025?",
    ],
)
def test_questions_asking_for_a_figure(question: str) -> None:
    assert asks_for_quantity(question)


@pytest.mark.parametrize(
    "question",
    [
        "What does error E42 mean?",
        "Which plan includes phone support?",
        "How is salary data classified?",
        "Do I get paid time off for volunteering?",
        "What class of data is a customer list?",
        "Since when is the company certified?",
        "What happens when my card expires?",
        "When I renew a book, is the loan period the same?",
        "What do I need to bring to the appointment?",
        "What does the warranty cover?",
        "Does the Saturday cut-off apply to pallets?",
    ],
)
def test_questions_asking_for_something_else(question: str) -> None:
    assert not asks_for_quantity(question)


def test_quantities_stated_leave_out_those_of_the_question_and_count_number_words() -> None:
    question = "What does a pack of 20 filters cost?"
    assert quantities_stated("A pack of 20 filters costs EUR 149.00.", question) == {"149.00"}
    assert quantities_stated("A pack of 20 filters is sold by the unit.", question) == set()
    assert quantities_stated("They are replaced twice a year.", "How often?") == {"twice"}
    assert quantities_stated("Open 07:00-20:00 CET", "") == {"07", "00", "20"}
    assert quantities_stated("Needs firmware v2.1 and a CO2 sensor.", "") == set()  # codes


def _hit(text: str, headings: tuple[str, ...] = (), title: str = "Guide") -> Hit:
    chunk = Chunk(id="g#1", doc_id="guide.docx", index=1, text=text, start=0, end=len(text),
                  heading_path=headings)  # fmt: skip
    return Hit(chunk=chunk, score=1.0, source="/docs/guide.docx", title=title)


def _best(question: str, text: str) -> tuple[list[Unit], Unit | None]:
    """The units of one hit of ``text`` scored for ``question``, and the one to extract."""
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    return units, best_unit(units, question)


def test_a_reply_without_a_quantity_does_not_answer_a_question_asking_for_one() -> None:
    question = "What is the operating temperature range of the outdoor gateway?"
    text = "The outdoor gateway is a standard LoRaWAN gateway for outdoor use on masts."
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    reply = "The outdoor gateway is a standard LoRaWAN gateway for outdoor use."
    support = check_support(reply, question, units)
    assert support.kept == "" and support.dropped == (reply,)
    # the same reply to a question that asks for no quantity is kept
    assert check_support(reply, "Where is the outdoor gateway used?", units).kept == reply


def test_the_extracted_unit_holds_a_quantity_when_the_question_asks_for_one() -> None:
    question = "What torque should the U-bolts be tightened to?"
    text = (
        "4. Fit the U-bolts. Do not tighten the U-bolts fully yet.\n5. Tighten the U-bolts to 8 Nm."
    )
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    best = best_unit(units, question)
    assert best is not None and best.text == "5. Tighten the U-bolts to 8 Nm."
    # a figure in the unit's headings counts: the release a line of release notes is under
    notes = _hit("New\n\n- Support for WPA2-Enterprise networks.", ("3.1.0 - 10 June 2024", "New"))
    question = "Which firmware version added WPA2-Enterprise?"
    (line,) = score_units(question, [notes], HashingEmbedder(dim=64))
    assert best_unit([line], question) == line
    assert best_unit([line], question + " Which plan?") == line
    (bare,) = score_units(question, [_hit("- Support for WPA2-Enterprise networks.")],
                          HashingEmbedder(dim=64))  # fmt: skip
    assert best_unit([bare], question) is None


def test_list_and_section_numbers_are_no_quantities() -> None:
    assert quantities_stated("4. Fit the U-bolts.\nStep 3 Press the button.\n4.2 Mounting") == set()
    assert quantities_stated("20 minutes later\n3.1.0 - 10 June") == {"20", "3.1.0", "10"}


def test_a_question_on_non_x_is_not_answered_by_a_sentence_on_x() -> None:
    question = "How many days of paid parental leave does the non-birth parent get?"
    assert about_the_other_group("The birth parent receives 16 weeks.", question)
    assert not about_the_other_group("The non-birth parent receives 20 days.", question)
    assert not about_the_other_group("The other parent receives 20 days.", question)
    assert not about_the_other_group("The birth parent receives 16 weeks.", "Who gets leave?")
    text = (
        "Birth parent\n\nThe birth parent receives 16 weeks of parental leave at full pay.\n"
        "Other parent\n\nThe other parent receives 20 working days of parental leave."
    )
    units, best = _best(question, text)
    assert best is not None and "20 working days" in best.text
    reply = "According to source [1], the birth parent receives 16 weeks of parental leave."
    support = check_support(reply, question, units)
    assert support.kept == "" and support.dropped == (reply,)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the battery capacity of the station in mAh?", "charge"),
        ("What is the maximum operating altitude of the gateway?", "length"),
        ("How far apart do I drill the two holes?", "length"),
        ("How much money do I get for my home office?", "money"),
        ("What does express delivery cost?", "money"),
        ("What notice period do I have to give?", "duration"),
        ("How loud is the fan, in decibels?", "loudness"),
        ("What is the headroom at the entrance to the underground car park?", "length"),
        ("What clearance does the van need under the bridge?", "length"),
    ],
)
def test_the_unit_of_measure_a_question_asks_for(question: str, kind: str) -> None:
    assert expected_units(question) == MEASURE_UNITS[kind]


def test_questions_naming_no_measure_expect_none() -> None:
    for question in (
        "How many employees work in Rotterdam?",
        "What is the minimum length of a password?",  # characters as often as metres
        "Which plan do I call support on?",
        "Do I work in Germany?",
    ):
        assert expected_units(question) == frozenset(), question
    assert expected_units("How long do I hold it?") >= {"seconds", "mm"}


def test_a_measure_is_a_figure_with_its_unit_before_or_after_it_or_in_a_records_key() -> None:
    money, length = MEASURE_UNITS["money"], MEASURE_UNITS["length"]
    assert states_measure("a one-off payment of EUR 600 towards a desk", money)
    assert states_measure("a restocking fee of 15% of the net value", money)
    assert states_measure("sku: HX-100; price_eur: 149", money)
    assert states_measure("They are 83.5 mm apart.", length)
    assert states_measure("within 5 business days", MEASURE_UNITS["duration"])
    assert states_measure("from -20 to 60 °C", MEASURE_UNITS["temperature"])
    assert not states_measure("an eight-channel gateway for the EU868 band", length)
    assert not states_measure("sku: HX-100; price_eur: 149", length)
    assert not states_measure("4.2 Mounting\n3. Drill the holes.", length)


def test_no_unit_without_the_measure_asked_for_is_extracted() -> None:
    question = "What is the maximum operating altitude of the gateway?"
    text = (
        "The gateway is an eight-channel LoRaWAN gateway for the EU868 band.\n"
        "sku: GW-8; product: gateway; list_price_eur: 689.00; warranty_years: 2"
    )
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    assert len(units) == 2 and best_unit(units, question) is None
    assert not gives_figure(units[0], question)
    price = "What does the gateway cost?"
    best = best_unit(score_units(price, [_hit(text)], HashingEmbedder(dim=64)), price)
    assert best is not None and "689.00" in best.text and gives_figure(best, price)


def test_the_digits_of_a_code_are_no_quantity() -> None:
    assert quantities_stated("Radio: LoRaWAN EU868, class A; model WS-450; error E42") == set()
    assert quantities_stated("a 20 W panel, 83.5mm wide, -20 °C") == {"20", "83.5"}


def test_no_unit_silent_on_a_code_the_question_names_is_extracted() -> None:
    """The Stratus manual's transmit power answers nothing about the Cirrus WS-450; a unit
    names a code through its title and headings too."""
    question = "What is the maximum transmit power of the Cirrus WS-450's radio?"
    stratus = _hit("Maximum transmit power: Wi-Fi 18 dBm, LoRaWAN 14 dBm.", (), "Stratus AQ-200")
    units = score_units(question, [stratus], HashingEmbedder(dim=64))
    assert best_unit(units, question) is None
    cirrus = _hit("Maximum transmit power: LoRaWAN 14 dBm.", ("Radio",), "Cirrus WS450 manual")
    units = score_units(question, [stratus, cirrus], HashingEmbedder(dim=64))
    best = best_unit(units, question)
    assert best is not None and best.hit == 1
    assert codes("E42, CO2 and the WS-450's PM2.5 at 3.1.0") == {"e42", "co2", "ws450", "pm2"}


def test_areas_and_how_quickly() -> None:
    assert expected_units("How many square metres can one monitor cover?") == MEASURE_UNITS["area"]
    assert states_measure("a room of up to 80 m2", MEASURE_UNITS["area"])
    assert asks_for_quantity("How quickly should support respond?")


def test_a_code_is_named_whatever_its_punctuation() -> None:
    question = "How long do I hold the button in a manual CO2 calibration?"
    step = _hit("Step 3 Hold the button for 8 seconds.", (), "stratus-co2-calibration-procedure")
    (unit,) = score_units(question, [step], HashingEmbedder(dim=64))
    assert best_unit([unit], question) == unit


def test_a_sentence_naming_a_code_needs_a_unit_naming_it() -> None:
    question = "What is the maximum transmit power of the Cirrus WS-450's LoRaWAN radio?"
    stratus = _hit("Maximum transmit power: Wi-Fi 18 dBm, LoRaWAN 14 dBm.", (), "Stratus AQ-200")
    units = score_units(question, [stratus], HashingEmbedder(dim=64))
    reply = "The maximum transmit power of the Cirrus WS-450's LoRaWAN radio is 14 dBm."
    assert check_support(reply, question, units).kept == ""
    cirrus = _hit("Maximum transmit power: LoRaWAN 14 dBm.", (), "Cirrus WS-450 manual")
    units = score_units(question, [cirrus], HashingEmbedder(dim=64))
    assert check_support(reply, question, units).kept == reply


def test_the_figure_bar_is_checked_like_the_other() -> None:
    from expertly.config import AnswerSettings
    from expertly.errors import ConfigError

    with pytest.raises(ConfigError, match="extract_figure_min_score must be between 0 and 2"):
        AnswerSettings(extract_figure_min_score=2.5)


def test_a_reply_restating_the_question_or_announcing_nothing_is_no_answer() -> None:
    question = (
        "Since the clocks went back, the 24-hour trend page just shows an empty chart. "
        "Which firmware fixes it?"
    )
    text = "Fixed: The 24-hour trend page showed an empty chart after a daylight saving change."
    units = score_units(question, [_hit(text, ("3.1.4",))], HashingEmbedder(dim=64))
    restated = "According to source [1], the 24-hour trend page was just empty."
    assert check_support(restated, question, units).kept == ""  # its only figure is asked
    announced = "According to source [1], the fix is:"
    support = check_support(announced, question, units)
    assert support.kept == "" and support.dropped == (announced,)
    told = "The 24-hour trend page showed an empty chart after a daylight saving change [1]."
    assert check_support(told, question, units).kept == told  # "daylight saving" is new


def test_how_many_of_a_unit_asks_for_that_unit() -> None:
    assert expected_units("How many years does the sensor last?") == {"year", "years"}
    assert expected_units("How many kg can the mast carry?") == {"kg", "kilogram", "kilograms"}
    assert expected_units("How many days do I have?") == {"day", "days"}
    assert expected_units("How many minutes does it take?") == {"min", "minute", "minutes"}
    assert states_measure("Leave it powered for 20 min.", expected_units("How many minutes?"))
    step = "Changed: the baseline correction window was extended from 7 to 8 days."
    assert not states_measure(step, expected_units("How many years does the sensor last?"))
    assert states_measure("a 2-year warranty", expected_units("How many years of warranty?"))


def test_a_what_question_naming_its_unit_asks_for_a_figure_in_it() -> None:
    question = "The dishwasher wants the hardness in Clark degrees. What setting do I use?"
    assert asks_for_quantity(question) and "degrees" in expected_units(question)
    assert states_measure("Clark degrees: 16.0 °Clark", expected_units(question))
    assert expected_units("What is the price in US dollars?") >= {"usd", "dollars"}
    assert expected_units("How many working days does it take?") == {"day", "days"}
    # A yes/no question naming a currency asks for none, and "in two weeks" says when.
    assert not asks_for_quantity("Can I pay in euros?")
    assert not asks_for_quantity("What happens in two weeks?")
    assert not expected_units("What happens in a week?")


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("What time does the Ellstead surgery close on Saturdays?", TIME_OF_DAY),
        ("What are the opening hours of the depot?", TIME_OF_DAY),
        ("I'm at home. What number do I dial to reach the IT helpdesk?", PHONE_NUMBER),
        ("What number do I text to get live departures?", PHONE_NUMBER),
        ("Which phone number do I call?", PHONE_NUMBER),
    ],
)
def test_a_time_of_day_or_a_phone_number(question: str, wanted: str) -> None:
    """A closing time is not answered by the phone number of the same row, nor a phone
    number by a price: each is a measure of its own."""
    assert asks_for_quantity(question)
    assert expected_units(question) == frozenset({wanted})


def test_what_a_time_of_day_and_a_phone_number_look_like() -> None:
    clock, phone = frozenset({TIME_OF_DAY}), frozenset({PHONE_NUMBER})
    for text in ("Saturday: 09:00 - 12:30", "we close at 5 pm", "open until 8.30 p.m.", "noon"):
        assert states_measure(text, clock), text
    for text in ("Appointments: 01632 960300", "valid_from: 2026-01-01", "within 2 hours"):
        assert not states_measure(text, clock), text
    for text in (
        "Appointments and enquiries: 01632 960300",
        "+41 44 555 21 00 from outside",
        "the helpdesk stays on internal extension 2100",
        "Text the six-digit stop code to 81550 (standard network rate).",
    ):
        assert states_measure(text, phone), text
    for text in ("valid_from: 2026-01-01", "call-out charge GBP 150", "we ring you within 2 hours"):
        assert not states_measure(text, phone), text


def test_a_closing_time_is_not_answered_by_a_phone_number() -> None:
    question = "What time does the Ellstead surgery close on Saturdays?"
    contacts = _hit("Clinic: Ellstead Surgery; Address: 2 Mill Row; Phone: 01632 960200")
    hours = _hit("Day: Saturday; Ellstead: 09:00 - 12:30; Harrowby: 08:00 - 17:00", (), "Hours")
    units = score_units(question, [contacts, hours], HashingEmbedder(dim=64))
    best = best_unit(units, question)
    assert best is not None and best.hit == 1
    assert not gives_figure(next(u for u in units if u.hit == 0), question)


def test_how_quickly_asks_for_a_duration_which_words_may_give() -> None:
    question = "How quickly is standard software installed after approval?"
    duration = MEASURE_UNITS["duration"]
    assert expected_units(question) == duration
    assert states_measure("It is installed automatically within one hour.", duration)
    assert not states_measure("Availability target: 99.5 %", duration)


def test_is_there_any_discount_asks_for_a_figure() -> None:
    assert asks_for_quantity("We're a charity. Is there any discount for us?")
    assert asks_for_quantity("Is there a fee for a replacement card?")
    assert not asks_for_quantity("Is there a bus I can catch?")  # no measure
    assert not asks_for_quantity("Is there a maximum age for a bicycle to be insured?")


@pytest.mark.parametrize(
    "question",
    [
        "Within what time does the insurer send its final response to a complaint?",
        "In what time must I return the claim form?",
        "What is the time limit for reporting a theft?",
        "What timescale applies to a refund?",
        "How far back does the audit log go on the Business plan?",
    ],
)
def test_within_what_time_asks_for_a_delay_not_a_time_of_day(question: str) -> None:
    """ "Within what time ...?" is answered by "within 8 weeks of receiving your complaint",
    which no clock time in the same passage answers."""
    assert asks_for_quantity(question)
    assert expected_units(question) == MEASURE_UNITS["duration"]
    assert expected_units("What time does the office open?") == frozenset({TIME_OF_DAY})


def test_a_reply_without_the_measure_asked_for_does_not_answer() -> None:
    """A closing time is a time of day: "30 minutes before the end of consulting hours"
    gives a figure, but not the one asked for."""
    question = "What time does the Ellstead surgery close on Saturdays?"
    text = (
        "The Ellstead surgery closes 30 minutes before the end of consulting hours for stock "
        "checks.\nDay: Saturday; Ellstead: 09:00 - 12:30"
    )
    units = score_units(question, [_hit(text)], HashingEmbedder(dim=64))
    reply = "The Ellstead surgery closes 30 minutes before the end of consulting hours."
    assert check_support(reply, question, units).kept == ""
    right = "On Saturdays the Ellstead surgery is open 09:00 - 12:30."
    assert check_support(right, question, units).kept == right


def test_a_reply_stating_another_figure_than_the_best_source_row_gives_way_to_it() -> None:
    """The reply passes the support check on the weekday row, but the question asks about
    Saturdays and the Saturday row, which clears the extraction bar, says 14:00."""
    question = "When is the Lost Property Office open on Saturdays?"
    text = (
        "Days: Monday to Friday; Lost Property Office opening hours: 10:00-18:00\n"
        "Day: Saturday; Lost Property Office opening hours: 10:00-14:00"
    )
    hit = _hit(text, (), "Lost Property Office")
    units = score_units(question, [hit], HashingEmbedder(dim=64))
    settings = AnswerSettings(extract_min_score=0.0, extract_figure_min_score=0.0)
    wrong = "According to source [1], the Lost Property Office is open from 10:00 to 18:00."
    trace: list[TraceStep] = []
    out = review(wrong, "stop", question, [hit], units, settings, trace)
    assert [t.name for t in trace] == ["contradicted"]
    assert not out.abstained and "10:00-14:00" in out.text and "18:00" not in out.text
    right = "According to source [1], on Saturdays it is open from 10:00 to 14:00."
    trace = []
    out = review(right, "stop", question, [hit], units, settings, trace)
    assert out.text == right and trace == []
    strict = AnswerSettings(extract_min_score=2.0, extract_figure_min_score=2.0)
    out = review(wrong, "stop", question, [hit], units, strict, trace)  # no row clears the bar
    assert out.text == wrong and trace == []


def test_a_reply_taking_its_figures_from_the_line_of_the_best_source_sentence_stands() -> None:
    """Two sentences of one line are one statement: the reply gives the first's 60 minutes
    and the second's 2 hours, and the second sentence matched the question best."""
    question = "How long is a member's session on a public computer, per day?"
    text = (
        "2.1 A session lasts 60 minutes. Members may use the public computers for up to "
        "2 hours in total each day.\nGuests get one session of 45 minutes."
    )
    hit = _hit(text, ("Session limits",))
    units = score_units(question, [hit], HashingEmbedder(dim=64))
    settings = AnswerSettings(extract_min_score=0.0, extract_figure_min_score=0.0)
    reply = (
        "A member's session lasts 60 minutes. Members may use the public computers for up "
        "to 2 hours in total each day [1]."
    )
    trace: list[TraceStep] = []
    out = review(reply, "stop", question, [hit], units, settings, trace)
    assert out.text == reply and "contradicted" not in [t.name for t in trace]


def test_a_streamed_draft_replaced_by_the_row_it_contradicts_says_why() -> None:
    step = TraceStep("contradicted", {"draft": "open from 10:00 to 18:00", "answer": "14:00"})
    answer = Answer(
        "When is it open on Saturdays?", "Day: Saturday; 10:00-14:00 [1]", trace=(step,)
    )
    assert "another figure than the source passage" in revision_note(answer)


def test_limits_thicknesses_fares_deposits_and_rents_are_figures() -> None:
    question = "What is the minimum wheel flange thickness allowed for a tram in service?"
    assert asks_for_quantity(question)
    assert expected_units(question) == MEASURE_UNITS["length"]
    for question in ("What fare do I pay for zone C?", "What deposit is taken for a hall?"):
        assert asks_for_quantity(question) and expected_units(question) == MEASURE_UNITS["money"]
    assert expected_units("Which rent applies to a two-bedroom flat?") == MEASURE_UNITS["money"]


def test_a_lettered_name_is_a_code_the_answer_must_name() -> None:
    """The A-exam row answers nothing about the B-exam, though every other word is shared."""
    assert codes("a B-exam, an X-ray, zones A-B, an e-mail") == {"bexam", "xray"}
    question = "How often does a tram need a B-exam?"
    text = (
        "Exam: A-exam; Interval: 7 days or 3,500 km; Duration: 3 hours\n"
        "Exam: B-exam; Interval: 28 days or 14,000 km; Duration: 8 hours"
    )
    units, best = _best(question, text)
    assert best is not None and "28 days" in best.text
    reply = "According to source [1], a tram needs a B-exam every 7 days."
    assert check_support(reply, question, units).kept == ""  # 7 days is the A-exam's


def test_a_price_is_no_time_of_day_and_x_free_asks_no_amount_of_x() -> None:
    clock = frozenset({TIME_OF_DAY})
    assert not states_measure("item: Community hall hire; amount_gbp: 15.00; per hour", clock)
    assert states_measure("open until 10.30am", clock) and states_measure("08:30 - 16:00", clock)
    question = "Which weeks of the year are rent-free?"
    assert expected_units(question) == frozenset()  # "rent-free" asks for no rent
    assert expected_units("How much is the rent for a flat?") == MEASURE_UNITS["money"]


def test_when_something_opens_or_closes_is_a_time_a_date_or_a_delay() -> None:
    """A place opens at a time of day; nominations close on a date or some days before."""
    question = "When is the Lost Property Office open on Saturdays?"
    assert asks_for_quantity(question)
    wanted = expected_units("When do nominations for the Board close?")
    assert wanted == expected_units(question) and TIME_OF_DAY in wanted
    assert states_measure("Saturday: 10:00-14:00", wanted)
    assert states_measure("Nominations close on 14 March.", wanted)
    assert states_measure("Nominations close 28 days before the AGM.", wanted)
    assert not states_measure("Call 01632 960999.", wanted)
    assert not states_measure("A deposit of GBP 150.", wanted)


def test_a_records_unit_field_names_the_measure_of_its_figures() -> None:
    """A CSV with a ``unit`` column: "rate: 55.00; unit: GBP per night" gives an amount
    of money, as "amount_gbp: 55.00" would."""
    money = expected_units("What is the overnight meal allowance for a G5 employee?")
    assert states_measure("category: meal; rate: 55.00; unit: GBP per night", money)
    assert not states_measure("category: mileage; rate: 0.45; unit: miles", money)
    assert not states_measure("unit: GBP; notes: none", money)  # no figure at all


def test_a_range_of_codes_names_each_code_in_it() -> None:
    assert not missing_codes({"g5"}, "grade: G1-G6; rate: 45.00")
    assert missing_codes({"g5"}, "grade: G1-G4; rate: 45.00") == {"g5"}
    assert not missing_codes({"it06"}, "Use forms IT-05 to IT-07.")
    question = "What is the hotel cap for a G5 employee in Oslo?"
    assert best_unit(
        [
            Unit(0, 0, 0, "grade: G1-G4; city: Oslo; cap: NOK 1500", cosine=0.9),
            Unit(0, 0, 0, "grade: G5-G6; city: Oslo; cap: NOK 1900", cosine=0.5),
        ],
        question,
    ) == Unit(0, 0, 0, "grade: G5-G6; city: Oslo; cap: NOK 1900", cosine=0.5)


def test_the_most_and_the_latest_ask_for_a_figure() -> None:
    assert asks_for_quantity("What's the most the company will pay for my hotel each night?")
    assert asks_for_quantity("What is the latest I can call in sick?")
    assert TIME_OF_DAY in expected_units("I feel ill. What's the latest I can let them know?")


@pytest.mark.parametrize(
    ("text", "question", "other"),
    [
        ("site: UK outside London; rate: 110.00", "What is the hotel cap in London?", True),
        ("site: London; rate: 160.00", "What is the hotel cap in London?", False),
        (
            "Staff outside London get 20; staff in London get 25.",
            "What do London staff get?",
            False,
        ),
        ("Non-members pay £5.", "What do members pay?", True),
        ("Non-members pay £5.", "What do non-members pay?", False),
        ("All sites except Oslo close at 17:00.", "When does Oslo close?", True),
        ("Stay with family instead of a hotel: EUR 40.", "The most I can spend on a hotel?", True),
        ("CL-6 Loss (not theft) of possessions", "Which form is for theft of possessions?", True),
        ("CL-3A Theft of possessions away from home", "Which form is for theft away?", False),
        ("Cover does not include theft.", "Does my cover include theft?", False),
        (
            "Non-folding bikes are allowed on trams.",
            "My road bike, not a folding one: allowed?",
            False,
        ),
    ],
)
def test_a_text_naming_a_group_only_as_set_apart_speaks_of_the_other_group(
    text: str, question: str, other: bool
) -> None:
    assert about_the_other_group(text, question) is other


def test_nordic_and_other_currencies_are_money() -> None:
    money = MEASURE_UNITS["money"]
    for text in ("cap: NOK 1,900 per night", "costs 780 NOK", "rate: 350; unit: SEK per day"):
        assert states_measure(text, money), text
