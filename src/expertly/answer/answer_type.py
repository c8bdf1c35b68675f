"""What a question asks for: a quantity or anything, and about which group.

"How long do I hold the button?" is answered by a duration, "What does a pack of filters
cost?" by a price. A reply to such a question that states no quantity answers something
else ("This is a standard operating temperature range for LoRaWAN devices."), and a source
sentence without one cannot be the answer ("Do not tighten the bolts fully yet." for "What
torque should the U-bolts be tightened to?"). The RAG route uses this to reject a reply
that gives no quantity and to pick, when it answers from a source sentence, one that holds
a quantity the question does not already give.

A question about "the non-birth parent" asks about the group the documents set apart from
"the birth parent": a sentence on the birth parent, however well it matches the question's
other words, answers for the wrong people (``about_the_other_group``).

The tests are deliberately narrow (a question form or a measure noun, listed below; the
prefix "non-"), so that a question they do not recognise is answered as before.
"""

from __future__ import annotations

import re

_HOW = re.compile(
    r"\bhow\s+(?:much|many|long|far|often|old|big|large|heavy|high|tall|wide|fast|soon|"
    r"early|late|frequently|quickly)\b",
    re.IGNORECASE,
)
_WHAT = re.compile(r"\b(?:what|which)\b(?P<rest>[^?.!]*)", re.IGNORECASE)
_SUPERLATIVE = re.compile(
    r"\bwhat(?:'s|’s|\s+is|\s+are|\s+was)\s+the\s+(?P<word>most|least|maximum|minimum|"
    r"latest|earliest|soonest|longest|shortest|highest|lowest)\b",
    re.IGNORECASE,
)
""""What's the most the company will pay...?", "What's the latest I can call in?": a
figure, and for the latest or earliest, a time, a date or a delay."""


def words(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``: word lists written as prose."""
    return frozenset(text.split())


MEASURE_NOUNS = words(
    """
    price prices cost costs fee fees charge charges amount sum budget allowance discount
    discounts rate rates percentage share number count quantity total fare fares deposit
    deposits rent salary wage wages minimum maximum limit limits
    length width height depth thickness size weight mass distance diameter altitude torque voltage
    headroom clearance
    current power capacity temperature humidity pressure speed frequency range
    duration period time date year month day hour deadline age version port
    """
)
"""Nouns of a ``what``/``which`` question that ask for a figure ("What torque...", "Which
firmware version...", "What is the list price..."). Kept to measures and dates: "What
class..." or "Which plan..." is answered by a name."""
_NUMBER_WORDS = words(
    """
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred thousand million dozen half once twice daily weekly monthly
    yearly annually hourly
    """
)
FIGURE = re.compile(r"(?<![\w.,])(?<![^\W\d_]-)\d(?:[\d,.]*\d)?")
"""A figure, not the digits of a code ("EU868", "WS-450", "E42", "CO2", "v2.1"): no letter,
digit, point or comma right before it, nor a letter and a hyphen. Letters after it may be
its unit ("83.5mm"). The support check (``evidence``) reads figures with it too."""
_WORD = re.compile(r"[^\W\d_]+")
_ENUMERATION = re.compile(
    r"^\s*(?:(?:step\s+\d+|\d+[.)])\s+(?=[^\W\d_])|\d+(?:\.\d+)+\s+(?=(?-i:[A-Z])))",
    re.IGNORECASE | re.MULTILINE,
)
"""A list or section number opening a line ("4. Fit the bolts", "Step 3 Press", "4.2
Mounting", but not "3.2 kg"): a position, not a quantity."""


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
    if _SUPERLATIVE.search(question):
        return True
    if _WHAT.search(question) and _named_units(question):  # "... in Clark degrees?"
        return True
    there = _IS_THERE.search(question)
    if there and _CHARGES & {w.lower() for w in _WORD.findall(there.group("rest"))}:
        return True
    match = _WHAT.search(question)
    if match is None:
        return False
    nouns = [w.lower() for w in _WORD.findall(match.group("rest"))][:6]
    return any(w in MEASURE_NOUNS or (w[:-1] in MEASURE_NOUNS and w.endswith("s")) for w in nouns)


_IS_THERE = re.compile(
    r"\b(?:is|are)\s+there\s+(?P<rest>(?:a|an|any)\s+(?:[^\W\d_]+\s+)?[^\W\d_]+)",
    re.IGNORECASE,
)
_CHARGES = words("discount discounts fee fees charge charges cost costs price deposit refund")
""""Is there any discount ...?", "Is there a fee ...?": a yes that is an amount ("25% off
annual subscriptions"), as "What discount ...?" asks for. "Is there a maximum age ...?" is
left alone: a row of prices is no answer to it."""


def quantities_stated(text: str, question: str = "") -> set[str]:
    """The figures ("83.5", "07:00") and number words ("two", "weekly") of ``text`` that
    ``question`` does not give itself: "a pack of 20 filters costs EUR 149" states 149 when
    the question asked about the pack of 20. A list or section number opening a line is no
    quantity."""
    given = set(FIGURE.findall(question)) | _number_words(question)
    text = _ENUMERATION.sub("", text)
    return (set(FIGURE.findall(text)) | _number_words(text)) - given


def _number_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() in _NUMBER_WORDS}


_NON = re.compile(r"\bnon[-\s]?([^\W\d_]{3,})", re.IGNORECASE)


def about_the_other_group(text: str, question: str) -> bool:
    """Whether ``text`` speaks of X where ``question`` asks about non-X ("the birth parent
    receives 16 weeks" for "What does the non-birth parent get?"): it names X and never
    non-X; or the other way round, whether ``text`` names X only as set apart ("UK outside
    London", "non-members", "all sites except Oslo") where ``question`` asks about X
    ("a hotel in London", "members", "Oslo") without setting it apart."""
    for match in _NON.finditer(question):
        word = match.group(1).lower()
        named = re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)
        if named and not any(m.group(1).lower() == word for m in _NON.finditer(text)):
            return True
    apart = {m.group(1).lower() for m in (*_APART.finditer(question), *_DENIED.finditer(question))}
    set_apart = list(_APART.finditer(text))
    starts = {m.start(1) for m in set_apart}
    for match in set_apart:
        word = match.group(1).lower()
        if word in apart or not re.search(rf"\b{re.escape(word)}\b", question, re.IGNORECASE):
            continue
        mentions = re.finditer(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)
        if all(m.start() in starts for m in mentions):  # never named plainly
            return True
    return False


_APART = re.compile(
    r"(?:\b(?:outside(?:\s+of)?|non|except(?:\s+for)?|excluding|other\s+than|apart\s+from|"
    r"instead\s+of)|\(\s*not)[-\s]+(?:(?:the|a|an)\s+)?([^\W\d_]{3,})",
    re.IGNORECASE,
)
"""A group set apart: "outside London", "non-members", "except Oslo", "instead of a hotel",
"Loss (not theft)"."""
_DENIED = re.compile(r"\bnot\s+(?:(?:the|a|an)\s+)?([^\W\d_]{3,})", re.IGNORECASE)
"""What a question sets apart by denying it: "my road bike, not a folding one"."""


def _asks_latest(question: str) -> bool:
    match = _SUPERLATIVE.search(question)
    return match is not None and match.group("word").lower() in ("latest", "earliest", "soonest")


MEASURE_UNITS: dict[str, frozenset[str]] = {
    kind: words(units)
    for kind, units in {
        "money": "eur euro euros usd chf gbp € $ £ ¥ ₹ dollar dollars franc francs % nok sek dkk "
        "kr krone kroner kronor isk pln czk huf jpy cny inr aud cad nzd sgd hkd zar yen",
        "temperature": "°c °f ° celsius fahrenheit degrees",
        "length": "mm cm m km ft feet inch inches metre metres meter meters",
        "area": "m2 m² sqm km2 ha hectares",
        "duration": "s sec second seconds min minute minutes h hour hours day days week weeks "
        "month months year years",
        "mass": "g kg gram grams kilogram kilograms lb lbs",
        "torque": "nm",
        "voltage": "v volt volts",
        "charge": "mah ah wh kwh",
        "loudness": "db dba decibel decibels",
        "text": "character characters char chars digit digits letter letters word words",
    }.items()
}
"""Units of measure by kind. A question that asks for a kind of measure is answered by a
figure in one of its units: an altitude in metres, a price in a currency (or a percentage:
a fee may be one)."""
_KIND_WORDS = {
    word: kind
    for kind, named in {
        "money": "price prices cost costs fee fees money allowance revenue salary spend fare "
        "fares deposit deposits rent wage wages",
        "temperature": "temperature",
        "area": "area square",
        "length": "altitude elevation distance diameter far apart thickness thick headroom "
        "clearance",
        "duration": "duration period",
        "mass": "weight heavy",
        "torque": "torque",
        "voltage": "voltage",
        "loudness": "loud",
    }.items()
    for word in named.split()
}
"""Question words that name the kind of measure asked for. Ambiguous ones stay out:
"length" is a password's characters as often as metres, "capacity" a count of devices as
often as mAh."""
_IN_UNIT = re.compile(
    r"\b(?:in|how\s+many|how\s+much)\s+(?:(?P<qualifier>[^\W\d_]+)\s+)?"
    r"(?P<unit>[^\W\d_]+|°\s?[CF])\b",
    re.IGNORECASE,
)
"""A question naming its unit of measure: "... in mAh?", "How many years...?", "... in
Clark degrees?" (one qualifying word allowed, not an article or a number: "in two weeks"
says when, not in what unit; nor a word naming a kind of measure: "square metres" are an
area, ``_KIND_WORDS``)."""
_NOT_QUALIFIERS = words("a an the one this that these those my our your their its")
_MEASURED = re.compile(
    r"(?:(?P<pre>EUR|USD|CHF|GBP|NOK|SEK|DKK|JPY|CNY|INR|AUD|CAD|€|\$|£|¥|₹)\s?)?"
    r"(?:\d(?:[\d,.]*\d)?|\b(?:"
    + "|".join(sorted(w for w in _NUMBER_WORDS if not w.endswith("ly") and w != "once"))
    + r")\b)\s?"
    r"(?P<post>°\s?[CF]|%|€|\$|£|[^\W\d_]+[23²]?)?(?:[\s-]+(?P<next>[^\W\d_]+))?",
    re.IGNORECASE,
)


TIME_OF_DAY = "<time of day>"
PHONE_NUMBER = "<phone number>"
"""Pseudo-units of ``expected_units``: a question asking "What time...?" or when a place
opens or closes is answered by a time of day ("12:30", "5 pm"), one asking "What number do
I dial...?" by a telephone number, never by another figure of the same row (a phone number
for a closing time, a price for a phone number)."""
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
DATE = "<date>"
_MONTHS = "january february march april may june july august september october november december"
MONTHS = tuple(_MONTHS.split())
_MONTH = "(?:" + _MONTHS.replace(" ", "|") + ")"
_ISO = r"\b\d{4}-\d{2}-\d{2}\b"
_DATE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b|"
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|{_ISO}|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b",
    re.IGNORECASE,
)
_ASKS_PHONE = re.compile(
    r"\b(?:phone|telephone|mobile|contact)\s+number\b|"
    r"\b(?:what|which)\s+number\b[^?.!]*\b(?:dial|ring|call|phone|text|contact)\b",
    re.IGNORECASE,
)
_HOW_QUICKLY = re.compile(r"\bhow\s+(?:quickly|soon)\b", re.IGNORECASE)
_CLOCK = re.compile(
    r"(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?![\d:])|"
    r"\b(?:1[0-2]|0?[1-9])(?:[:.][0-5]\d)?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)|\b(?:noon|midday|midnight)\b",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w.,])\+?\(?\d[\d()]*(?:[ -]\(?\d[\d()]*){1,5}(?![\w.,]*\d)|(?<![\w.,])0\d{6,}"
)


_ISO_DATE = re.compile(_ISO)
_DIALLED = re.compile(
    r"\b(?:text|sms|dial|ring|call|phone|extension|ext\.?)\b[^.;:]{0,60}?(?<![\w.,])\d{4,}(?![\w.,]*\d)",
    re.IGNORECASE,
)


def _is_phone(text: str) -> bool:
    """Whether ``text`` holds a telephone number: 7 or more digits in groups ("01632
    960999", "+41 44 555 21 00"), or a shorter one named as dialled, texted or an extension
    ("text your stop code to 81550", "extension 2100")."""
    if _DIALLED.search(text):
        return True
    undated = _ISO_DATE.sub(" ", text)
    return any(sum(c.isdigit() for c in m.group(0)) >= 7 for m in _PHONE.finditer(undated))


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
    named = _named_units(question)
    if named:
        return named
    if re.search(r"\bhow\s+long\b", question, re.IGNORECASE):
        return MEASURE_UNITS["duration"] | MEASURE_UNITS["length"] | MEASURE_UNITS["text"]
    for word in _WORD.findall(question):
        kind = _KIND_WORDS.get(word.lower())
        if kind:
            return MEASURE_UNITS[kind]
    return frozenset()


def _named_units(question: str) -> frozenset[str]:
    """The units of measure ``question`` names with "in ..." (every unit of that kind:
    "in Clark degrees" takes a figure in degrees or °C) or "how many/much ..." (that unit
    only: "how many years" is not answered in days); empty when it names none."""
    for match in _IN_UNIT.finditer(question):
        qualifier = (match.group("qualifier") or "").lower()
        candidates = [qualifier] if qualifier else []  # "how many years of ...": years
        if not ({qualifier} & (_NUMBER_WORDS | _NOT_QUALIFIERS) or qualifier in _KIND_WORDS):
            candidates.append(match.group("unit").lower().replace(" ", ""))
        for unit in candidates:
            for units in MEASURE_UNITS.values():
                if unit in units and len(unit) > 1:
                    if match.group(0).lower().startswith("how"):  # "how many years": years
                        return _same_unit(unit) & units
                    return units
    return frozenset()


_SAME_UNITS = [
    words(names)
    for names in (
        "s sec second seconds",
        "min minute minutes",
        "h hour hours",
        "m metre metres meter meters",
        "g gram grams",
        "kg kilogram kilograms",
        "lb lbs",
        "ft feet",
        "inch inches",
    )
]
"""Names of one unit of measure, where it has more than its singular and plural."""


def _same_unit(unit: str) -> frozenset[str]:
    """``unit``'s names: its singular and plural, and its symbol ("minutes": min)."""
    for names in _SAME_UNITS:
        if unit in names:
            return names
    return frozenset({unit, unit.removesuffix("s"), unit + "s"})


_KEYED = re.compile(r"([^\W\d][\w ]*?)\s*[:=]\s*[-+]?\d")
_UNIT_FIELD = re.compile(
    r"(?:^|;)\s*(?:units?|currency|uom|unit[ _]of[ _]measure)\s*:\s*([^;]+)", re.IGNORECASE
)
"""A record's field naming the unit of its figures: "rate: 55.00; unit: GBP per night"."""


def states_measure(text: str, units: frozenset[str]) -> bool:
    """Whether ``text`` gives a figure in one of ``units``: "EUR 600", "83.5 mm", "60 °C",
    "5 business days" (the unit may follow one other word), or a record's value whose key
    names the unit ("price_eur: 149", "lead_time_days: 10") or whose ``unit`` field does
    ("rate: 55.00; unit: GBP per night"), or, for the pseudo-units, a
    time of day ("12:30", "5 pm") or a telephone number."""
    if TIME_OF_DAY in units and _CLOCK.search(text):
        return True
    if DATE in units and _DATE.search(text):
        return True
    if PHONE_NUMBER in units and _is_phone(text):
        return True
    for match in _MEASURED.finditer(_ENUMERATION.sub("", text)):
        found = (match.group(g) for g in ("pre", "post", "next"))
        if any(f and f.lower().replace(" ", "") in units for f in found):
            return True
    if any(
        part in units
        for key in _KEYED.findall(text)
        for part in re.split(r"[_\W]+", key.lower())
        if len(part) > 1
    ):
        return True
    return bool(_KEYED.search(text)) and any(
        word.lower() in units
        for value in _UNIT_FIELD.findall(text)
        for word in re.findall(r"[^\W\d_]+|[€$£%]", value)
    )
