"""The training loss computed only where there is something to learn.

A chat example's labels are -100 on every token but the assistant's (``datasets``), and
padding adds more: on the sample style data about two thirds of the positions carry no
label. A causal LM's forward still runs its output layer over every position, a
``hidden × vocabulary`` matrix product (576 × 49,152 for SmolLM2-135M, about a fifth of
the model's multiply-adds per token) and a softmax over 49,152 logits per position, and the
backward pass does both again; all of that is thrown away at the unlabelled positions.
``head_loss`` runs the model's decoder, keeps the hidden states of the labelled positions
and applies the output layer and the cross-entropy to those alone: the same loss and the
same gradients (to float rounding), for less work.

It takes the model apart (decoder, then output layer), so it applies only where that is
the whole forward: the architectures in ``PLAIN_HEADS`` (no logit soft-capping or scaling
after the head), fully fine-tuned or under a LoRA-type adapter (prefix tuning feeds the
decoder a cache, AdaLoRA adds a regulariser to the loss), on one process (DDP synchronises
gradients from its own forward). ``head_loss_problem`` says why it does not apply; the run
decides once, before training, and then calls the model as usual.
"""

from __future__ import annotations

from typing import Any

PLAIN_HEADS = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "smollm3", "olmo2"})
"""``config.model_type``s whose causal-LM forward is decoder → output layer → logits, with
nothing in between."""
IGNORE = -100


def causal_lm(model: Any) -> Any:
    """The ``…ForCausalLM`` inside ``model`` (a PEFT wrapper's base model, or itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def head_loss_problem(model: Any, processes: int = 1) -> str | None:
    """Why ``head_loss`` cannot stand in for ``model``'s own forward in a run on
    ``processes`` processes, or None when it can."""
    if processes > 1:  # the Trainer scales the loss for DDP's average in its compute_loss,
        # and DDP prepares its gradient reduction in the wrapper's forward
        return "several processes: DDP synchronises from the model's own forward"
    config = getattr(model, "peft_config", None)
    if config:
        active = config[getattr(model, "active_adapter", "default")]
        kind = str(getattr(active.peft_type, "value", active.peft_type))
        if kind != "LORA":
            return f"adapter {kind} changes the forward pass"
    lm = causal_lm(model)
    model_type = getattr(getattr(lm, "config", None), "model_type", None)
    if model_type not in PLAIN_HEADS:
        return f"model type {model_type!r} is not one whose head is known to be plain"
    if lm.get_output_embeddings() is None or not hasattr(lm, "get_decoder"):
        return "the model exposes no decoder and output layer"
    return None


def head_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """The causal-LM loss of ``inputs`` (``input_ids``, ``labels``, optionally
    ``attention_mask`` and ``position_ids``) with the output layer applied only at the
    positions whose next token has a label. Summed and divided by ``num_items_in_batch``
    when the ``Trainer`` gives it (gradient accumulation), else averaged over the labels,
    as transformers' own loss does."""
    import torch

    lm = causal_lm(model)
    labels = inputs["labels"]
    passed = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache")}
    hidden = lm.get_decoder()(**passed, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
    if num_items_in_batch is None:
        return torch.nn.functional.cross_entropy(logits, targets[keep])
    total = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch
