"""Batched greedy generation for the transformers backend: many chats in one ``generate``.

The prompts are left-padded to one length (decoder-only models continue from the right
edge) with an attention mask that hides the padding; transformers derives each row's
positions from that mask, so in float32 a row's greedy reply is the one ``generate`` gives
for it alone. Rows finish on their own: at an end-of-sequence token, at a stop string, or
at ``max_tokens``. A finished row is filled with the pad token until every row is done; the
step at which each row finished is recorded as it happens, so token counts are exact and
padding is never counted. A tokenizer without a pad token (SmolLM2's) pads with its EOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from expertly.generate.stops import cut_at_stop
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate.local import TransformersLLM


def generate_batch(
    llm: TransformersLLM,
    chats: Sequence[Sequence[Message]],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> list[Completion]:
    """One ``Completion`` per chat, in order, from one padded ``model.generate`` call."""
    if not chats:
        return []
    prompts = [llm._prompt_ids(chat) for chat in chats]
    for ids in prompts:
        llm._check_room(len(ids), max_tokens)
    model, tok = llm._load()
    import torch

    eos = llm._eos_ids()
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
    width = max(len(ids) for ids in prompts)
    rows = [[pad] * (width - len(ids)) + ids for ids in prompts]
    mask = [[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts]
    config = llm._config(max_tokens, temperature)
    config.pad_token_id = pad
    ended: list[int | None] = [None] * len(prompts)  # new tokens of each row once it finished
    with llm.cpu_threads(), torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor(rows, device=model.device),
            attention_mask=torch.tensor(mask, device=model.device),
            generation_config=config,
            stopping_criteria=_row_criteria(tok, width, stop, set(eos), ended),
        )
    completions = []
    for i, ids in enumerate(prompts):
        count = ended[i]
        if count is None:  # still going when generation stopped: max_tokens reached
            count = out.shape[1] - width
        new = out[i, width : width + count].tolist()
        text, stopped = cut_at_stop(tok.decode(new, skip_special_tokens=True), stop)
        at_eos = bool(new) and new[-1] in eos
        finish = "length" if len(new) >= max_tokens and not (stopped or at_eos) else "stop"
        completions.append(Completion(text, len(ids), len(new), finish, llm.name))
    return completions


def _row_criteria(
    tok: Any, width: int, stop: Sequence[str], eos: set[int], ended: list[int | None]
) -> Any:
    """Stops each row at its first stop string or EOS, writing into ``ended`` how many new
    tokens the row had then (transformers pads it from that step on)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    stops = [s for s in stop if s]

    class _PerRow(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            new = input_ids.shape[1] - width
            for i in range(input_ids.shape[0]):
                if ended[i] is not None or new <= 0:
                    continue
                if int(input_ids[i, -1]) in eos:
                    ended[i] = new
                elif stops:
                    text = tok.decode(input_ids[i, width:], skip_special_tokens=True)
                    if cut_at_stop(text, stops)[1]:
                        ended[i] = new
            done = [n is not None for n in ended]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_PerRow()])
