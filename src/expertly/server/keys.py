"""API keys: created once, shown once, stored only as HMAC-SHA-256 under a server secret.

A workspace keeps ``server.secret`` (32 random bytes, mode 0600, written once) and
``keys.json`` (written atomically: a temporary file renamed over the old one). A key reads
``exp_<id>_<secret part>``; ``keys.json`` holds, per id, the HMAC of the whole key, its
tenant, groups, scopes and whether it is revoked. Whoever reads ``keys.json`` without the
secret cannot check a guessed key offline, and no key can be recovered from it.

This module uses the standard library only: ``expertly keys`` runs without the server extra.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from expertly.errors import ExpertlyError
from expertly.types import Principal

SCOPES = ("ask", "ingest", "admin")
"""``ask``: chat, search, embeddings, models; ``ingest``: the documents API; ``admin``:
both, and a key without a tenant sees every document."""

SECRET_FILE = "server.secret"
KEYS_FILE = "keys.json"
_KEY = re.compile(r"^exp_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may be a tenant or group: letters, digits, ``.``, ``_`` and ``-``,
    at most 64, starting with a letter or digit (a tenant also names an upload folder)."""
    return _NAME.match(name) is not None


@dataclass(frozen=True)
class KeyRecord:
    """What is stored about one key (never the key itself)."""

    id: str
    digest: str
    tenant: str | None
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    created: float
    revoked: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def principal(self) -> Principal | None:
        """Whom requests with this key act for; ``None`` (no filter) for an admin key
        without a tenant, which sees every document."""
        if self.tenant is None and "admin" in self.scopes:
            return None
        return Principal(id=f"key:{self.id}", tenant=self.tenant, groups=self.groups)


class KeyStore:
    """The keys of one workspace directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / KEYS_FILE
        self._loaded: tuple[tuple[int, int, int], dict[str, KeyRecord]] | None = None

    # ------------------------------------------------------------------ reading

    def records(self) -> dict[str, KeyRecord]:
        """Every key by id, re-read when the file changed (a revoke takes effect at once,
        in every server process: each checks the file before each request).

        The file is replaced, never edited in place, so a new inode, size or modification
        time tells a change, also two writes within one tick of the file system's clock."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._loaded is None or self._loaded[0] != version:
            self._loaded = (version, self._read())
        return self._loaded[1]

    def _read(self) -> dict[str, KeyRecord]:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))["keys"]
            return {
                r["id"]: KeyRecord(
                    id=r["id"],
                    digest=r["digest"],
                    tenant=r["tenant"],
                    groups=tuple(r["groups"]),
                    scopes=tuple(r["scopes"]),
                    created=float(r["created"]),
                    revoked=r.get("revoked"),
                )
                for r in rows
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise ExpertlyError(
                f"{self.path} is damaged ({exc}): restore it from a backup, or delete it and "
                "create new keys with `expertly keys create`."
            ) from None

    def has_active(self) -> bool:
        """Whether at least one key may be used (the server then requires keys)."""
        return any(r.active for r in self.records().values())

    def verify(self, key: str) -> KeyRecord | None:
        """The active record of ``key``, or None for an unknown, malformed or revoked key."""
        match = _KEY.match(key.strip())
        if match is None:
            return None
        record = self.records().get(match.group(1))
        if record is None or not record.active:
            return None
        digest = _digest(self._secret(create=False), key.strip())
        return record if hmac.compare_digest(digest, record.digest) else None

    # ------------------------------------------------------------------ writing

    def create(
        self, *, tenant: str | None, groups: tuple[str, ...], scopes: tuple[str, ...]
    ) -> tuple[str, KeyRecord]:
        """A new key (returned once, never stored) and its record."""
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise ExpertlyError(
                f"Unknown scope(s) {', '.join(unknown) or '(none given)'}: use --scopes with "
                f"some of {', '.join(SCOPES)}."
            )
        for name in (tenant, *groups):
            if name is not None and not is_valid_name(name):
                raise ExpertlyError(
                    f"{name!r} cannot be a tenant or group name: use letters, digits, '.', "
                    "'_' and '-' (at most 64 characters)."
                )
        if tenant is None and "admin" not in scopes:
            raise ExpertlyError(
                "A key without --tenant would read every tenant's documents: give --tenant, "
                "or add the admin scope if that is what you want."
            )
        key_id = secrets.token_hex(6)
        key = f"exp_{key_id}_{secrets.token_urlsafe(32)}"
        record = KeyRecord(
            id=key_id,
            digest=_digest(self._secret(create=True), key),
            tenant=tenant,
            groups=tuple(dict.fromkeys(groups)),
            scopes=tuple(dict.fromkeys(scopes)),
            created=time.time(),
        )
        self._write({**self.records(), key_id: record})
        return key, record

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark ``key_id`` revoked (kept in the list, refused from now on)."""
        records = self.records()
        if key_id not in records:
            raise ExpertlyError(f"No key with id {key_id!r}: see `expertly keys list`.")
        record = records[key_id]
        if record.active:
            record = KeyRecord(**{**asdict(record), "revoked": time.time()})
            self._write({**records, key_id: record})
        return record

    def _write(self, records: dict[str, KeyRecord]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        rows = [asdict(r) for r in records.values()]
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".keys-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": 1, "keys": rows}, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._loaded = None

    def _secret(self, *, create: bool) -> bytes:
        path = self.root / SECRET_FILE
        if not path.exists():
            if not create:
                raise ExpertlyError(
                    f"{path} is missing, so no key can be checked: create keys again with "
                    "`expertly keys create` (the old ones cannot be recovered)."
                )
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process wrote it first: use theirs
                return path.read_bytes()
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        return path.read_bytes()


def _digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()
