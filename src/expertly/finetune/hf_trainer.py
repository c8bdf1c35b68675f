"""The transformers ``Trainer`` of a fine-tuning run: its arguments, callbacks, collator
and the packed-rows variant.

``build_trainer`` turns the settings and the device's choices (``Choices``) into a
``Trainer``; ``trainer.run_finetune`` drives it. Kept apart so that the run's bookkeeping
and the training loop's configuration can be read (and tested) separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune import datasets, device, loss, methods, packing
from expertly.finetune.callbacks import (
    ProgressFn,
    adalora_callback,
    loss_target_callback,
    progress_callback,
    time_limit_callback,
)
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.distributed import World

__all__ = ["Choices", "build_trainer", "collator", "has_cuda", "rows", "trainer_class"]


@dataclass(frozen=True)
class Choices:
    """What the device and the settings decided for the ``Trainer``."""

    precision: device.Precision
    optimizer: str
    packed: bool


def build_trainer(
    model: Any,
    tok: Any,
    run_dir: Path,
    s: FinetuneSettings,
    train: list[dict[str, list[int]]],
    val: list[datasets.Encoded],
    stopped: list[str],
    on_progress: ProgressFn | None,
    choices: Choices,
    world: World | None = None,
) -> Any:
    """A transformers ``Trainer`` configured from the settings, with our callbacks;
    ``train`` holds the rows to train on (``rows`` or ``packing.rows_for_trainer``).

    ``s.batch_size`` is the micro-batch of *one* process; in a run on several processes
    (``world``) the ``Trainer`` wraps the model in DDP and gives each process its share of
    every batch. ``use_cpu`` tells accelerate to train on CPU with gloo when there is no
    GPU (it would otherwise ignore the launcher's process group)."""
    import dataclasses

    try:
        from transformers import (
            EarlyStoppingCallback,
            PrinterCallback,
            Trainer,
            TrainingArguments,
        )
    except ImportError as exc:  # Trainer needs accelerate
        raise MissingDependencyError("accelerate", "finetune", "the training loop") from exc
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    extra: dict[str, Any] = {
        "warmup_ratio" if "warmup_ratio" in names else "warmup_steps": s.warmup_ratio
    }
    if s.gradient_checkpointing:  # renamed activation_checkpointing in transformers 5
        prefix = "activation" if "activation_checkpointing" in names else "gradient"
        extra[f"{prefix}_checkpointing"] = True
        extra[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    if s.group_by_length:  # transformers 5 names the sampler; 4.x had a flag
        if "train_sampling_strategy" in names:
            extra["train_sampling_strategy"] = "group_by_length"
        else:
            extra["group_by_length"] = True
    extra.update(choices.precision.training_arguments())  # bf16 / fp16 autocast flags
    if choices.precision.device == "cpu":  # else accelerate ignores a CPU process group
        extra["use_cpu"] = True
    has_val = bool(val)
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        learning_rate=s.learning_rate,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps if s.max_steps > 0 else -1,
        lr_scheduler_type=s.scheduler,
        weight_decay=s.weight_decay,
        logging_steps=1,
        eval_strategy="steps" if has_val else "no",
        eval_steps=s.eval_every,
        save_strategy="steps",
        save_steps=s.eval_every,
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=s.seed,
        data_seed=s.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        dataloader_pin_memory=has_cuda(),
        optim=choices.optimizer,
        ddp_timeout=round(s.dist_timeout_minutes * 60),
        **extra,
    )
    world = world or World()
    callbacks = [time_limit_callback(s.max_minutes, stopped, world)] if s.max_minutes > 0 else []
    if s.stop_at_loss > 0:
        callbacks.append(loss_target_callback(s.stop_at_loss, stopped))
    if s.method == "adalora":
        callbacks.append(adalora_callback(lambda total: methods.adalora_schedule(total, s)))
    if has_val and s.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=s.early_stopping_patience))
    if on_progress is not None:
        callbacks.append(progress_callback(on_progress))
    on_labels = s.head_on_labels and not loss.head_loss_problem(model, world.size)
    chosen = trainer_class(Trainer, packed=choices.packed, head_on_labels=on_labels)
    trainer = chosen(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=rows(val) if has_val else None,
        data_collator=collator(tok.pad_token_id, packed=choices.packed),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; we report progress
    return trainer


def evaluate_before_training(trainer: Any) -> float:
    """The validation loss before the first step (on every rank: a collective).

    The ``Trainer``'s ``evaluate`` prepares the model with accelerate in evaluation mode,
    which marks it prepared without wrapping it in ``DistributedDataParallel``; ``train``
    would then take the mark for its own preparation, never wrap the model, and each
    process would step on its own half of the batch with no gradient exchanged (measured:
    gradient norms 0.501 and 0.482 on the two processes at step 1 against 0.485 on one).
    The mark is therefore taken back, so that ``train`` prepares the model for training.
    """
    loss = float(trainer.evaluate()["eval_loss"])
    model = trainer.model
    if getattr(model, "_is_accelerate_prepared", False):
        model._is_accelerate_prepared = False
        prepared = trainer.accelerator._models
        prepared[:] = [m for m in prepared if m is not model]
    return loss


def has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def rows(encoded: list[datasets.Encoded]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]


def trainer_class(trainer: type, *, packed: bool, head_on_labels: bool) -> type:
    """A ``Trainer`` subclass: with ``head_on_labels`` (set where ``loss.head_loss_problem``
    finds none), its training loss applies the output layer only at labelled positions
    (``loss.head_loss``; evaluation, which wants the outputs, calls the model's forward);
    with ``packed``, it counts the tokens of packed batches, which carry no
    ``attention_mask`` (see ``packing``): the ``Trainer``'s own non-padding count would fall
    back to counting every slot, padding included, so this one counts the real tokens from
    the positions instead."""
    if packed and not hasattr(trainer, "_track_num_input_tokens"):
        raise ExpertlyError(
            "packing needs a transformers Trainer with _track_num_input_tokens (transformers "
            "5.x) to count the tokens of packed rows; upgrade transformers or turn packing off"
        )

    class ExpertlyTrainer(trainer):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if not head_on_labels or return_outputs:  # evaluation wants the outputs
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # the Trainer's own rule: the accumulated batch's label count only where the
            # model's forward would take it (else a per-batch mean the Trainer rescales)
            accepts = getattr(self, "model_accepts_loss_kwargs", False)
            with self.accelerator.autocast():  # what the prepared model's forward would use
                return loss.head_loss(model, inputs, num_items_in_batch if accepts else None)

        def _track_num_input_tokens(self, inputs: dict[str, Any]) -> None:
            if not packed or "position_ids" not in inputs or "attention_mask" in inputs:
                super()._track_num_input_tokens(inputs)
                return
            import torch

            count = torch.as_tensor(
                packing.real_tokens(inputs["position_ids"]), device=self.args.device
            )
            self.state.num_input_tokens_seen += self.accelerator.gather(count).sum().item()

    return ExpertlyTrainer


def collator(pad_id: int, *, packed: bool = False) -> Any:
    """Right-pads a batch: pad tokens get attention 0 and label -100. Packed rows (with
    ``position_ids``) go to ``packing.collator``, which gives no attention mask; the
    validation rows of a packed run are unpacked and padded here."""
    pack_collate = packing.collator(pad_id) if packed else None

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        if pack_collate is not None and "position_ids" in rows[0]:
            return pack_collate(rows)

        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, fill: int) -> Any:
            return torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows])

        mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        return {
            "input_ids": pad("input_ids", pad_id),
            "labels": pad("labels", datasets.IGNORE),
            "attention_mask": torch.tensor(mask),
        }

    return collate
