"""The fine-tuning route: JSONL datasets, LoRA / full training with PEFT and transformers.

``datasets`` reads and validates training data (chat, instruction and completion JSONL),
``config`` holds the documented training settings and per-method presets, ``trainer`` runs
the transformers ``Trainer`` and writes a run directory. torch, transformers and peft are
imported inside functions only, so importing this package stays cheap.
"""
