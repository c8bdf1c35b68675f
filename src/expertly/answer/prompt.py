"""What the RAG route says to the model and how it reads the reply: the system prompts,
the numbered sources, the answer's opening words, and the checks on the reply's text
(abstention, repeated sentences, figures the sources do not hold)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from expertly.answer.citations import MARKER
from expertly.answer.codes import codes, missing_codes
from expertly.answer.evidence import figures
from expertly.types import Hit, Message

ABSTAIN_TEXT = "The documents do not say."
STOP = ("\n\n",)  # the answer ends at its first blank line

SYSTEM_PROMPT = (
    "You are a careful assistant for a company's documents. Answer the question using only "
    "the numbered sources. Quote the exact figures, names and codes from the sources. After "
    "each fact, cite its source number in square brackets, like [1]. Keep the answer short. "
    f"If the sources do not contain the answer, reply exactly: {ABSTAIN_TEXT}"
)

# Small local models follow a short instruction plus an answer opening ("prefill") far better:
# measured with SmolLM2-135M, the long prompt above made it cite almost never and abstain on
# answerable questions; this one with the prefill cited and answered most of them.
SHORT_SYSTEM_PROMPT = (
    "Answer the question using the sources. Quote exact figures and names. "
    "Cite the source number in square brackets, like [1]."
)

_ABSTAIN_PATTERNS = re.compile(
    r"(documents?|sources?) (do|does) not (say|contain|mention|provide)|"
    r"not (mentioned|provided|stated) in the (documents?|sources?)",
    re.IGNORECASE,
)


def format_source(number: int, hit: Hit) -> str:
    """One numbered source as the model sees it: title, location, then the chunk text."""
    chunk = hit.chunk
    where = [hit.title or chunk.doc_id]
    if chunk.heading_path:
        where.append(" > ".join(chunk.heading_path))
    if chunk.page is not None:
        where.append(f"page {chunk.page}")
    return f"[{number}] ({'; '.join(where)})\n{chunk.text.strip()}"


def build_messages(
    question: str, hits: Sequence[Hit], system: str, prefill: str = ""
) -> list[Message]:
    """System prompt, the numbered sources and the question, and the answer's opening words."""
    sources = "\n\n".join(format_source(i, h) for i, h in enumerate(hits, start=1))
    user = f"Sources:\n\n{sources}\n\nQuestion: {question}"
    messages = [Message("system", system), Message("user", user)]
    if prefill:
        messages.append(Message("assistant", prefill))
    return messages


def unsupported_figures(answer: str, hits: Sequence[Hit]) -> list[str]:
    """Numbers and codes the answer states that none of its sources contains (citation
    markers aside). A figure only the question gives counts too: "you may accept a gift
    worth 80 euros" is what a small model says when the source's limit is 50. A code ("E15",
    "HX-200") is checked whole, lower case without hyphens, not by its digits."""
    bare = MARKER.sub(" ", answer)
    stated = figures(bare)
    known: set[str] = set()
    for hit in hits:
        known |= figures(hit.chunk.text) | figures(hit.title)
    sources = " ".join(" ".join((h.title, *h.chunk.heading_path, h.chunk.text)) for h in hits)
    return sorted(stated - known) + sorted(missing_codes(codes(bare), sources))


def is_abstention(text: str) -> bool:
    return bool(_ABSTAIN_PATTERNS.search(text))


def cut_repetition(text: str) -> str:
    """``text`` up to the first sentence that repeats an earlier one (small models loop)."""
    seen: set[str] = set()
    for match in _SENTENCE_END.finditer(text):
        sentence = " ".join(MARKER.sub(" ", match.group(0)).split()).lower()
        if sentence and sentence in seen:
            return text[: match.start()].rstrip()
        seen.add(sentence)
    return text


_SENTENCE_END = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+(?:[.!?]+|$)")
_COMPLETE = re.compile(r"(?:[.!?][\"')\]]*|\[\d+(?:\s*[,;]\s*\d+)*\])\s*$")


def cut_unfinished(text: str) -> str:
    """``text`` up to the end of its last finished sentence (a full stop, question or
    exclamation mark, or a citation marker, ends one): a reply stopped by the token limit
    ends mid-sentence, and a cut claim cannot be checked ("the limit is set to 500" may
    have gone on "...0 a day"). ``''`` when no sentence was finished."""
    end = 0
    for match in _SENTENCE_END.finditer(text):
        if _COMPLETE.search(match.group(0)):
            end = match.end()
    return text[:end].rstrip()
