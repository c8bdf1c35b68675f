"""The currency an amount is stated in, so that an answer keeps its source's.

A 135M model reading "price_gbp: 185.00" answers "185.00 euros": the figure is the
source's, so the figure check passes it, and "euros" is one word among many for the word
check. ``currency_conflict`` catches it: an amount the answer names a currency for, which
the source gives in another, contradicts the source. The currency of an amount is the one
written right before or after it ("€185", "185.00 euros", "EUR 185", "£ 12.50") or, in a
record, the one its key names ("price_gbp: 185.00", "fee_eur = 20"). An amount either side
states bare is no conflict: nothing says which currency is meant.
"""

from __future__ import annotations

import re

_GROUPS = {
    "EUR": ("€", "eur", "euro", "euros"),
    "GBP": ("£", "gbp", "pound", "pounds", "sterling"),
    "USD": ("$", "usd", "us$", "dollar", "dollars"),
    "CHF": ("chf", "franc", "francs"),
    "NOK": ("nok", "norwegian krone", "norwegian kroner"),
    "SEK": ("sek", "swedish krona", "swedish kronor"),
    "DKK": ("dkk", "danish krone", "danish kroner"),
    "JPY": ("jpy", "¥", "yen"),
}
_NAMES = {name: code for code, names in _GROUPS.items() for name in names}
_NAME = "|".join(sorted((re.escape(n) for n in _NAMES), key=len, reverse=True))
_AMOUNT = r"\d(?:[\d,.]*\d)?"
_BEFORE = re.compile(rf"(?<![\w$€£])({_NAME})\s?({_AMOUNT})", re.IGNORECASE)
_AFTER = re.compile(rf"(?<![\w.,])({_AMOUNT})\s?({_NAME})(?![\w$€£])", re.IGNORECASE)
_KEYED = re.compile(rf"\b([^\W\d][\w ]*?)\s*[:=]\s*({_AMOUNT})")


def _amount(value: str) -> str:
    """``value`` normalised as the support check normalises figures: "1,700.00" → "1700"."""
    value = value.replace(",", "")
    return value.rstrip("0").rstrip(".") if "." in value else value


def currencies(text: str) -> dict[str, set[str]]:
    """Each amount of ``text`` (normalised) with the currency codes it is stated in."""
    found: dict[str, set[str]] = {}
    for name, value in _BEFORE.findall(text):
        found.setdefault(_amount(value), set()).add(_NAMES[name.lower()])
    for value, name in _AFTER.findall(text):
        found.setdefault(_amount(value), set()).add(_NAMES[name.lower()])
    for key, value in _KEYED.findall(text):
        for part in re.split(r"[_\W]+", key.lower()):
            if part in _NAMES and len(part) == 3:  # "price_gbp", not "euro_zone_note"
                found.setdefault(_amount(value), set()).add(_NAMES[part])
    return found


def currency_conflict(sentence: str, source: str) -> bool:
    """Whether ``sentence`` states an amount in a currency where ``source`` gives the same
    amount in another one, and never in that one."""
    theirs = currencies(source)
    return any(
        mine and theirs.get(value) and not mine & theirs[value]
        for value, mine in currencies(sentence).items()
    )
