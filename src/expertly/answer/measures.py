"""Figures and their units of measure: which figures a text states, in which units, and
what kind of measure a question names.

"83.5 mm" is a length, "EUR 149" a price, "5 business days" a duration, "12:30" a time of
day, "+41 44 555 21 00" a telephone number. ``answer_type`` decides which of these a question
asks for; the RAG route (``units``, ``evidence``) reads them here: whether a source sentence
or a reply states a figure in the unit asked for (``states_measure``), and which figures it
gives that the question does not (``quantities_stated``).
"""

from __future__ import annotations

import re


def words(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``: word lists written as prose."""
    return frozenset(text.split())


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


WORD = re.compile(r"[^\W\d_]+")


_ENUMERATION = re.compile(
    r"^\s*(?:(?:step\s+\d+|\d+[.)])\s+(?=[^\W\d_])|\d+(?:\.\d+)+\s+(?=(?-i:[A-Z])))",
    re.IGNORECASE | re.MULTILINE,
)
"""A list or section number opening a line ("4. Fit the bolts", "Step 3 Press", "4.2
Mounting", but not "3.2 kg"): a position, not a quantity."""


def quantities_stated(text: str, question: str = "") -> set[str]:
    """The figures ("83.5", "07:00") and number words ("two", "weekly") of ``text`` that
    ``question`` does not give itself: "a pack of 20 filters costs EUR 149" states 149 when
    the question asked about the pack of 20. A list or section number opening a line is no
    quantity."""
    given = set(FIGURE.findall(question)) | _number_words(question)
    text = _ENUMERATION.sub("", text)
    return (set(FIGURE.findall(text)) | _number_words(text)) - given


def _number_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text) if w.lower() in _NUMBER_WORDS}


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


KIND_WORDS = {
    word: kind
    for kind, named in {
        "money": "price prices cost costs fee fees money allowance revenue salary spend fare "
        "fares deposit deposits rent wage wages surcharge surcharges",
        "temperature": "temperature",
        "area": "area square",
        "length": "altitude elevation distance diameter far apart thickness thick headroom "
        "clearance",
        "duration": "duration period",
        "mass": "weight weigh weighs heavy",
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
area, ``KIND_WORDS``)."""


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


def named_units(question: str) -> frozenset[str]:
    """The units of measure ``question`` names with "in ..." (every unit of that kind:
    "in Clark degrees" takes a figure in degrees or °C) or "how many/much ..." (that unit
    only: "how many years" is not answered in days); empty when it names none."""
    for match in _IN_UNIT.finditer(question):
        qualifier = (match.group("qualifier") or "").lower()
        candidates = [qualifier] if qualifier else []  # "how many years of ...": years
        if not ({qualifier} & (_NUMBER_WORDS | _NOT_QUALIFIERS) or qualifier in KIND_WORDS):
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
