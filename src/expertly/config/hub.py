"""The environment the model libraries run in: offline, and quiet where quiet is harmless.

expertly never downloads from a model hub at run time (DESIGN.md), so every backend that
loads a model calls ``offline_hub()`` first; the CLI calls ``quiet_libraries()`` once, since
it shows progress and advice of its own. These are the one definition of those variables.

Importing sentence-transformers imports transformers' trainer utilities, which import peft
when it is installed, which imports bitsandbytes, whose CPU back end looks up its optional
kernel package through the ``kernels`` hub client (on CPUs with AVX512-BF16). Offline, that
client logs "Skipping publisher trust check for 'kernels-community/...'" on every start: the
check cannot run offline and the kernel, if present, comes from the local cache, so the
message says nothing the user can act on. ``offline_hub`` drops exactly that message.
"""

from __future__ import annotations

import logging
import os

HUB_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""Variables that keep huggingface_hub and transformers to local files."""

QUIET = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}
"""Variables that stop the libraries' own progress bars, advisories and fork warnings."""

_TRUST_CHECK = "Skipping publisher trust check"


class _DropOfflineTrustNotice(logging.Filter):
    """Drops the kernels hub client's offline trust-check notice, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TRUST_CHECK)


_FILTER = _DropOfflineTrustNotice()


def offline_hub() -> None:
    """Keep model loading to local files (unless the user set these variables otherwise)."""
    for name, value in HUB_OFFLINE.items():
        os.environ.setdefault(name, value)
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        logger = logging.getLogger("kernels._internals.hf_hub")
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def quiet_libraries() -> None:
    """Offline, and without the libraries' own progress bars and advisories (the CLI)."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    offline_hub()
    # bitsandbytes (QLoRA) warns on import about an optional CPU kernel package it lacks.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
