"""Unheard words: what a question speaks of that its sources never mention.

"Do the trams run on Christmas Day?" over passages that never say "Christmas" has no
answer there, however well "trams run" matches; a 135M model answers it anyway ("the trams
do not run on Christmas Day"). ``unheard_of`` finds the words of the question's noun
phrases that no retrieved unit holds, the answerer keeps those no document of the
collection uses either, and ``evidence.check_support`` drops a reply that uses one
(``speaks_of``). ``proper_names`` picks those the question writes as names ("travelling to
*Sweden*"): no source sentence answers for a name no document uses, so an extract is
withheld too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from expertly.answer.answer_type import MEASURE_NOUNS, asking_sentences
from expertly.answer.measures import MONTHS, words
from expertly.answer.units import Unit, known, stems
from expertly.answer.weekdays import DAYS

_PHRASE_START = words(
    """a an the this that these those my your our their its his her any some no every each
    what which whose on in at for of with about from by during into after before over
    under without per"""
)
_TOKEN = re.compile(r"[^\W_][\w'-]*")
_INVERTED = words("do does did can could will would shall should must may might is are was were")
"""An auxiliary before the subject of a question: the subject's words end on the verb."""


def _named_things(question: str) -> set[str]:
    """The words (lower case) of ``question``'s noun phrases: the words after a determiner or a
    preposition ("to" before a capitalised word only: "to *Sweden*", not "to renew"), up to
    the next function word ("on *Christmas Day*", "keep a *ferret*", "what *notice
    period*"), measure words ("price", "cost") aside. A verb ("the most I
    can *spend*", "does the HX-100 *cost*") is no part of one, and a reply restating it in
    other words makes no claim about something else."""
    tokens = _TOKEN.findall(question)
    found: set[str] = set()
    for i, token in enumerate(tokens):
        # "to" opens a phrase only before a name ("travelling to Sweden"), not a verb
        named_after_to = (
            token.lower() == "to" and i + 1 < len(tokens) and tokens[i + 1][:1].isupper()
        )
        if token.lower() not in _PHRASE_START and not named_after_to:
            continue
        run: list[str] = []
        for word in tokens[i + 1 :]:
            if not stems(word) or word.lower() in _PHRASE_START:
                break
            run.append(word)
        if i and tokens[i - 1].lower() in _INVERTED and len(run) > 1:
            run.pop()  # "does the HX-100 sensor *cost*", "can the WS-450 Pro *run*"
        found |= {w for w in (word.lower() for word in run) if w not in MEASURE_NOUNS}
    return found


def proper_names(question: str, candidates: Collection[str]) -> set[str]:
    """The ``candidates`` (lower-case words of ``question``, see ``unheard_of``) that the
    question writes as names: capitalised inside a sentence ("travelling to *Sweden*",
    "on *Christmas* Day"), not as its first word, in the sentence that asks (one ending in
    "?", when one does). A name in the story around it sets the scene: "We're off to visit
    family in *Australia* for six weeks. What temperature must the heating be kept at?"
    asks nothing about Australia."""
    named: set[str] = set()
    for sentence in asking_sentences(question)[0]:
        tokens = _TOKEN.findall(sentence)
        named |= {w.lower() for w in tokens[1:] if w[:1].isupper() and not w.isupper()}
    return {c for c in candidates if c in named and c not in _CALENDAR}


_CALENDAR = frozenset((*DAYS, *MONTHS))
"""Capitalised words that name no thing a document must mention: "on a Thursday" is
answered by "Monday to Friday"."""


def unheard_of(question: str, units: Sequence[Unit]) -> set[str]:
    """The words of the question's noun phrases (``_named_things``, lower case) that no
    retrieved unit holds, under its title and headings included: what the sources at hand
    never speak of ("christmas" in "Do the trams run on Christmas Day?"). The answerer
    keeps those the whole collection never uses either (``RagAnswerer``)."""
    vocabulary: set[str] = set()
    for u in units:
        vocabulary |= stems(u.in_place)
    return {
        word
        for word in _named_things(question)
        if not all(known(w, vocabulary) for w in stems(word))
    }


def speaks_of(sentence: str, unheard: Collection[str]) -> bool:
    """Whether ``sentence`` uses one of the ``unheard`` words (``unheard_of``): a claim
    about what no source mentions is the model's, however well the sentence's other words
    match ("the trams do not run on Christmas Day")."""
    wanted = stems(" ".join(unheard))
    return any(_same_word(w, u) for w in stems(sentence) for u in wanted)


def _same_word(a: str, b: str) -> bool:
    """Whether two stems are one word: equal, or one a prefix of the other of at least 5
    letters ("christmas" and "christma"), stricter than ``units.known``, whose 3 letters would
    take "card" for "car"."""
    return a == b or (min(len(a), len(b)) >= 5 and (a.startswith(b) or b.startswith(a)))
