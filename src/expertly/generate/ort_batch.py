"""Batched generation for the onnx backend: several chats decoded together, each exact.

The prompts go into one ONNX Runtime GenAI generator, one row each, padded on the *right*
with the model's pad token (SmolLM2's is its end-of-sequence token, id 2). The runtime
(0.18) masks a row's trailing pad tokens, and the decoder's attention keeps each row's own
length, so every row sees exactly its own prompt at its own positions: a row's greedy reply
is the one ``OnnxLLM.generate`` gives for the chat alone. Measured on the 15 example
questions' RAG prompts (116–492 tokens, 96 new tokens each, batches of 8): 15 of 15 replies
identical, token for token. Left padding, the layout transformers needs, is not exact here
(the runtime takes leading pad tokens for prompt), so it is not used.

Only *trailing* pad tokens are masked, so a prompt that itself ends with the pad token
cannot share a batch: such a chat (none that the chat template makes: it ends with the
assistant turn's opening) is generated alone, as are all chats of a batch of one, and all
chats of a model whose ``genai_config.json`` names no pad token.

Rows finish on their own — at an end-of-sequence token, at a stop string, or at
``max_tokens`` — and their tokens are counted as they arrive, so counts are exact. A finished
row keeps its place in the batch until the last row ends (the runtime cannot drop a row),
which costs compute but changes no other row's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from expertly.generate.ort import OnnxLLM, _finish, _Run
from expertly.generate.stops import cut_at_stop
from expertly.types import Completion, Message


def generate_batch(
    llm: OnnxLLM,
    chats: Sequence[Sequence[Message]],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> list[Completion]:
    """One ``Completion`` per chat, in order: those that can share a batch decoded together,
    the others (see the module docstring) one by one with ``generate``."""
    prompts = [llm._prompt(chat, max_tokens) for chat in chats]  # every window checked first
    llm._load()  # reads the pad token
    pad = llm._pad  # None: the model's config names no pad token, so every chat goes alone
    together = [i for i, ids in enumerate(prompts) if pad is not None and ids[-1] != pad]
    out: dict[int, Completion] = {}
    if len(together) < 2:
        together = []
    for i, chat in enumerate(chats):
        if i not in together:
            out[i] = llm.generate(chat, max_tokens=max_tokens, temperature=temperature, stop=stop)
    if together:
        runs = _decode_together(llm, [prompts[i] for i in together], max_tokens, temperature, stop)
        for i, run in zip(together, runs, strict=True):
            text, _ = cut_at_stop(llm._decode(run.new), stop)
            finish = _finish(run, max_tokens)
            out[i] = Completion(text, len(prompts[i]), len(run.new), finish, llm.name)
    return [out[i] for i in range(len(chats))]


def _decode_together(
    llm: OnnxLLM,
    prompts: list[list[int]],
    max_tokens: int,
    temperature: float,
    stop: Sequence[str],
) -> list[_Run]:
    """Each prompt's new tokens and why it ended, from one right-padded generator."""
    gen = llm._batch_generator(prompts, max_tokens, temperature)
    stops = [s for s in stop if s]
    runs = [_Run([]) for _ in prompts]
    live = set(range(len(prompts)))
    while live and not gen.is_done():
        gen.generate_next_token()
        tokens = gen.get_next_tokens()
        for row in sorted(live):
            run = runs[row]
            token = int(tokens[row])
            run.new.append(token)
            run.ended = token in llm._eos
            run.stopped = bool(stops) and cut_at_stop(llm._decode(run.new), stops)[1]
            if run.ended or run.stopped or len(run.new) >= max_tokens:
                live.discard(row)
    return runs
