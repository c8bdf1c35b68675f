"""`expertly serve` behind LangChain's OpenAI classes, with the real SmolLM2 and MiniLM.

``ChatOpenAI`` answers and streams through the RAG route (greedy: the streamed chunks join
to the same text); it keeps OpenAI's fields only, so the ``expertly`` extension with the
citations is reached through the ``openai`` client it wraps (``root_client``).
``OpenAIEmbeddings`` works with ``check_embedding_ctx_length=False`` (text is sent); its
default sends tiktoken token ids, which the server refuses with a 400 naming that fix.

LlamaIndex's ``OpenAILike`` is not tested: installing it would downgrade the ``openai``
package below the version expertly's tests use (see docs/server.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import QUESTION

pytest.importorskip(
    "langchain_openai", reason="needs LangChain's client: pip install langchain-openai"
)

from langchain_openai import ChatOpenAI, OpenAIEmbeddings


@pytest.fixture(scope="module")
def chat(server: str) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{server}/v1",
        api_key="unused-on-loopback",  # type: ignore[arg-type]
        model="expertly-rag",
        temperature=0,
        max_completion_tokens=60,
        max_retries=0,
    )


@pytest.mark.slow
def test_chat_openai_invokes_and_streams_the_rag_route(chat: ChatOpenAI) -> None:
    reply = chat.invoke(QUESTION)
    text = str(reply.content)
    assert "20" in text, text
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0
    # LangChain keeps OpenAI's fields only: the extension does not reach its message ...
    assert "expertly" not in reply.response_metadata
    assert "expertly" not in reply.additional_kwargs
    # ... but the openai client it wraps returns it, citations included
    raw = chat.root_client.chat.completions.create(
        model="expertly-rag",
        messages=[{"role": "user", "content": QUESTION}],
        max_completion_tokens=60,
        temperature=0,
    )
    assert raw.choices[0].message.content == text
    citations = (raw.model_extra or {})["expertly"]["citations"]
    assert citations and citations[0]["doc_id"] == "leave.md"

    pieces = [str(chunk.content) for chunk in chat.stream(QUESTION)]
    assert len([p for p in pieces if p]) > 1  # generated piece by piece
    assert "".join(pieces) == text


class _Ids:
    """What tiktoken's encoding does for LangChain, without downloading one: text → ids."""

    def encode_ordinary(self, text: str) -> list[int]:
        return [ord(c) % 50_000 for c in text]

    def encode(self, text: str, **kw: Any) -> list[int]:
        return self.encode_ordinary(text)


@pytest.mark.slow
def test_openai_embeddings_text_works_and_token_ids_are_refused_by_name(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai
    import tiktoken

    options: dict[str, Any] = {
        "base_url": f"{server}/v1",
        "api_key": "unused-on-loopback",
        "model": "expertly-embed",
        "max_retries": 0,
    }
    embeddings = OpenAIEmbeddings(check_embedding_ctx_length=False, **options)
    vectors = embeddings.embed_documents(["parental leave", "API tokens"])
    assert [len(v) for v in vectors] == [384, 384]
    assert len(embeddings.embed_query(QUESTION)) == 384

    # LangChain's default tokenizes with tiktoken (which downloads its encodings: not
    # offline) and sends the token ids; with an encoding at hand, that is what arrives
    def no_model(name: str) -> Any:
        raise KeyError(name)

    monkeypatch.setattr(tiktoken, "encoding_for_model", no_model)
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: _Ids())
    default = OpenAIEmbeddings(**options)
    with pytest.raises(openai.BadRequestError, match="check_embedding_ctx_length=False") as error:
        default.embed_documents(["parental leave"])
    assert error.value.status_code == 400
    body = error.value.body
    assert isinstance(body, dict) and body["param"] == "input"
    assert body["code"] == "unsupported_parameter"
