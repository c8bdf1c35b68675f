"""The fingerprint of what an index answers from: its documents, the settings, the code.

The answer cache (``Workspace.answer_cache``) keys its entries by it, so that a cached
answer is never served once a document is added, changed or removed, a setting changes,
or expertly is upgraded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache

from expertly.config import Settings


def fingerprint(hashes: Mapping[str, str], settings: Settings) -> str:
    """A digest of the documents' ``hashes`` (doc_id → content_hash), ``settings`` and
    the installed expertly version."""
    digest = hashlib.sha256()
    for doc_id, content_hash in sorted(hashes.items()):
        digest.update(f"{doc_id}\0{content_hash}\n".encode())
    digest.update(json.dumps(dataclasses.asdict(settings), default=str).encode())
    digest.update(code_version().encode())  # an upgrade may answer differently
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The installed expertly version (read once per process: it scans package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("expertly")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "source"
