"""``expertly.embed.st``: the one loader of sentence-transformers models, and its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from expertly.embed.st import load_cross_encoder, load_sentence_transformer
from expertly.errors import MissingDependencyError, ModelNotFoundError
from expertly.retrieve.rerankers import MaxSimReranker


@pytest.mark.parametrize("loader", [load_sentence_transformer, load_cross_encoder])
def test_a_folder_without_a_model_is_named_with_the_purpose(tmp_path: Path, loader: object) -> None:
    (tmp_path / "README.md").write_text("not a model", encoding="utf-8")
    for folder in (tmp_path, tmp_path / "absent"):
        with pytest.raises(ModelNotFoundError, match=r"no config.json.*needed for testing"):
            loader(folder, purpose="testing")  # type: ignore[operator]


def test_missing_package_names_it_and_the_purpose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"sentence-transformers.*MaxSim reranking"):
        MaxSimReranker(str(tmp_path)).load()
