"""Groups a question sets apart, and sentences about the other group.

A question about "the non-birth parent" asks about the group the documents set apart from
"the birth parent": a sentence on the birth parent, however well it matches the question's
other words, answers for the wrong people. The other way round, "UK outside London" or
"all sites except Oslo" does not answer for London or Oslo. The RAG route (``units``,
``evidence``) sets such sentences aside.
"""

from __future__ import annotations

import re

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
