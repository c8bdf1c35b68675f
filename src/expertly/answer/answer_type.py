"""What a question asks for: a quantity or anything, and which sentences of it ask.

"How long do I hold the button?" is answered by a duration, "What does a pack of filters
cost?" by a price. A reply to such a question that states no quantity answers something
else ("This is a standard operating temperature range for LoRaWAN devices."), and a source
sentence without one cannot be the answer ("Do not tighten the bolts fully yet." for "What
torque should the U-bolts be tightened to?"). The RAG route uses this to reject a reply
that gives no quantity and to pick, when it answers from a source sentence, one that holds
a quantity the question does not already give.

The units of measure themselves, and reading figures out of a text, are in ``measures``;
the groups a question sets apart ("the non-birth parent") in ``groups``.

The tests are deliberately narrow (a question form or a measure noun, listed below), so
that a question they do not recognise is answered as before.
"""

from __future__ import annotations

import re

from expertly.answer.codes import asks_for_code
from expertly.answer.measures import (
    DATE,
    KIND_WORDS,
    MEASURE_UNITS,
    PHONE_NUMBER,
    TIME_OF_DAY,
    WORD,
    named_units,
    words,
)

_HOW = re.compile(
    r"\bhow\s+(?:much|many|long|far|often|old|big|large|heavy|high|tall|wide|fast|soon|"
    r"early|late|frequently|quickly)\b",
    re.IGNORECASE,
)


_WHAT = re.compile(r"\b(?:what|which)\b(?P<rest>[^?.!]*)", re.IGNORECASE)


_CUT_OFF = re.compile(r"\bcut[\s-]off\b", re.IGNORECASE)
""""cut-off" and "cut off", one noun: "What is the Saturday booking cut-off...?" asks a time."""


_SUPERLATIVE = re.compile(
    r"\bwhat(?:'s|’s|\s+is|\s+are|\s+was)\s+the\s+(?P<word>most|least|maximum|minimum|"
    r"latest|earliest|soonest|longest|shortest|highest|lowest)\b",
    re.IGNORECASE,
)
""""What's the most the company will pay...?", "What's the latest I can call in?": a
figure, and for the latest or earliest, a time, a date or a delay."""


MEASURE_NOUNS = words(
    """
    price prices cost costs fee fees charge charges surcharge surcharges amount sum budget
    allowance discount
    discounts rate rates percentage share number count quantity total fare fares deposit
    deposits rent salary wage wages minimum maximum limit limits
    length width height depth thickness size weight mass distance diameter altitude torque voltage
    headroom clearance
    current power capacity temperature humidity pressure speed frequency range
    duration period time date year month day hour deadline cutoff cutoffs age version port
    """
)
"""Nouns of a ``what``/``which`` question that ask for a figure ("What torque...", "Which
firmware version...", "What is the list price..."). Kept to measures and dates: "What
class..." or "Which plan..." is answered by a name."""


_WITHOUT = re.compile(r"\b[^\W\d_]+-free\b", re.IGNORECASE)
""""rent-free", "toll-free", "interest-free": without the thing, no amount of it asked."""


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n")


def asking_sentences(question: str) -> tuple[list[str], list[str]]:
    """``question``'s sentences that ask (ending in "?") and the others, the story around
    them: "We're off to Australia for six weeks." sets the scene of "What temperature must
    the heating stay at?". A message with no question mark asks in all its sentences."""
    sentences = [s for s in _SENTENCE_BREAK.split(question) if s.strip()]
    asking = [s for s in sentences if s.rstrip().endswith("?")]
    if not asking:
        return sentences, []
    return asking, [s for s in sentences if not s.rstrip().endswith("?")]


def asks_for_quantity(question: str) -> bool:
    """Whether ``question`` asks for a figure: "how much/many/long/far/often...", or a
    ``what``/``which`` question about a measure ("What torque...", "Which version...",
    "What is the price of...", "Is there any discount...?"), or when a place opens or
    closes, or a ``what``/``which``
    question names the unit of measure of its answer ("... in Clark degrees? What setting
    should I use?"; "Can I pay in euros?" asks no figure)."""
    question = _WITHOUT.sub(" ", question)
    if any(p.search(question) for p in (_HOW, _ASKS_TIME, _ASKS_DELAY, _ASKS_WHEN)):
        return True
    if _SUPERLATIVE.search(question) or _WHAT_VERB.search(question):
        return True
    if _WHAT.search(question) and named_units(question):  # "... in Clark degrees?"
        return True
    there = _IS_THERE.search(question)
    if there and _CHARGES & {w.lower() for w in WORD.findall(there.group("rest"))}:
        return True
    match = _WHAT.search(_CUT_OFF.sub("cutoff", question))
    if match is None:
        return False
    nouns = [w.lower() for w in WORD.findall(match.group("rest"))][:6]
    return any(w in MEASURE_NOUNS or (w[:-1] in MEASURE_NOUNS and w.endswith("s")) for w in nouns)


def asks_for_value(question: str) -> bool:
    """Whether ``question`` asks for a figure (``asks_for_quantity``) or for a form or code
    (``codes.asks_for_code``): its answer is a value of the thing it names, not a yes or a
    no ("Does BA-OS-022 fit the BR-22V?")."""
    return bool(question) and (asks_for_quantity(question) or asks_for_code(question))


_WHAT_VERB = re.compile(
    r"\bwhat\s+(?:does|do|did|will|would|should|could|can|might)\b[^?.!]*?"
    r"\b(?:cost|costs|weigh|weighs|pay|charge)\b",
    re.IGNORECASE,
)
""""What does a BR-22V weigh?", "What would that cost us per year?", "What do I pay for
...?": a measure asked with its verb, not its noun."""
_IS_THERE = re.compile(
    r"\b(?:is|are)\s+there\s+(?P<rest>(?:a|an|any)\s+(?:[^\W\d_]+\s+)?[^\W\d_]+)",
    re.IGNORECASE,
)


_CHARGES = words("discount discounts fee fees charge charges cost costs price deposit refund")
""""Is there any discount ...?", "Is there a fee ...?": a yes that is an amount ("25% off
annual subscriptions"), as "What discount ...?" asks for. "Is there a maximum age ...?" is
left alone: a row of prices is no answer to it."""


def _asks_latest(question: str) -> bool:
    match = _SUPERLATIVE.search(question)
    return match is not None and match.group("word").lower() in ("latest", "earliest", "soonest")


_ASKS_TIME = re.compile(
    r"\b(?:what|which)\s+time\b|\b(?:opening|closing)\s+(?:time|hour)s?\b", re.IGNORECASE
)


_ASKS_DELAY = re.compile(
    r"\b(?:within|in|after)\s+what\s+(?:time|period)\b(?!\s*zone)|"
    r"\btime[\s-]*(?:limit|frame|scale)s?\b|\btime(?:frame|scale)s?\b|\bhow\s+far\s+back\b",
    re.IGNORECASE,
)
""""Within what time ...?", "What is the time limit ...?", "How far back ...?": a delay,
not a time of day or a length ("within 8 weeks of receiving your complaint")."""


_ASKS_WHEN = re.compile(
    r"\bwhen\b[^?.!]*\b(?:open|opens|close|closes|shut|shuts)\b|"
    r"(?:^|[.?!]\s+)(?:(?:by|until|till)\s+)?when\s+(?:does|do|did|is|are|was|will|would|can|"
    r"could|should|must|has|have)\b",
    re.IGNORECASE,
)
""""When is ... open / does ... close?": a time of day for a place ("on Saturdays"), a date
or a delay for a period ("when do nominations close?"); so does a question opening with
"When does/is/will..." ("When does the mobile library come?", "By when must the form be
in?"). A "when" clause inside a sentence ("What happens when my card expires?") asks no
time."""


_ASKS_PHONE = re.compile(
    r"\b(?:phone|telephone|mobile|contact)\s+number\b|"
    r"\b(?:what|which)\s+number\b[^?.!]*\b(?:dial|ring|call|phone|text|contact)\b",
    re.IGNORECASE,
)


_HOW_QUICKLY = re.compile(r"\bhow\s+(?:quickly|soon)\b", re.IGNORECASE)


def expected_units(question: str) -> frozenset[str]:
    """The units of measure an answer to ``question`` must use (lower case), or an empty
    set when it names no kind of measure: "... in mAh?" asks for a charge (mAh, Ah, Wh),
    "How many years...?" for years (a figure in days answers another question), "What is
    the maximum operating altitude...?" for a length, "How long...?" for a duration, a
    length or a count of characters (a password), "How quickly...?" and "Within what
    time...?" for a duration, "What time...?" for a time of day (``TIME_OF_DAY``), "What
    number do I dial...?" for a telephone number (``PHONE_NUMBER``)."""
    question = _WITHOUT.sub(" ", question)
    if _ASKS_PHONE.search(question):
        return frozenset({PHONE_NUMBER})
    if _ASKS_DELAY.search(question):
        return MEASURE_UNITS["duration"]
    if _ASKS_TIME.search(question):
        return frozenset({TIME_OF_DAY})
    if _ASKS_WHEN.search(question) or _asks_latest(question):
        return frozenset({TIME_OF_DAY, DATE}) | MEASURE_UNITS["duration"]
    if _HOW_QUICKLY.search(question):
        return MEASURE_UNITS["duration"]
    named = named_units(question)
    if named:
        return named
    if re.search(r"\bhow\s+long\b", question, re.IGNORECASE):
        return MEASURE_UNITS["duration"] | MEASURE_UNITS["length"] | MEASURE_UNITS["text"]
    for word in WORD.findall(question):
        kind = KIND_WORDS.get(word.lower())
        if kind:
            return MEASURE_UNITS[kind]
    return frozenset()
