"""Load one file into a ``Document``: text, structure (segments), title and content hash.

``load_file`` picks the loader by suffix, enforces the size limits and turns every way a
file can be bad (unreadable, too large, empty, binary, wrongly encoded, corrupt, encrypted,
a zip bomb, not a regular file, changed while read) into a ``LoadError`` with a short
reason, so that ingest can report the file and go on with the others. Anything else
escaping from here is a bug (ingest still reports it for that file and goes on).

Only regular files are read: the file type is checked with ``stat`` first and the file is
opened with ``O_NONBLOCK``, so a FIFO or a device named ``x.txt`` cannot block ingest.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from expertly.errors import LoadError
from expertly.ingest.formats._build import FormatError, Parsed
from expertly.ingest.formats.docx import load_docx
from expertly.ingest.formats.html import load_html
from expertly.ingest.formats.markdown import load_markdown
from expertly.ingest.formats.pdf import load_pdf
from expertly.ingest.formats.tabular import load_csv, load_json, load_jsonl
from expertly.ingest.formats.text import load_txt
from expertly.ingest.names import safe_name
from expertly.types import Document

DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_CHARS = 5_000_000

Loader = Callable[[bytes], Parsed]

# suffix -> (format name, loader)
LOADERS: dict[str, tuple[str, Loader]] = {
    ".pdf": ("pdf", load_pdf),
    ".docx": ("docx", load_docx),
    ".html": ("html", load_html),
    ".htm": ("html", load_html),
    ".md": ("md", load_markdown),
    ".markdown": ("md", load_markdown),
    ".txt": ("txt", load_txt),
    ".csv": ("csv", load_csv),
    ".json": ("json", load_json),
    ".jsonl": ("jsonl", load_jsonl),
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(LOADERS)
# O_NONBLOCK: opening a FIFO for reading must not wait for a writer (POSIX only).
_OPEN_FLAGS = os.O_RDONLY | (os.O_NONBLOCK if hasattr(os, "O_NONBLOCK") else 0)
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass(frozen=True)
class Loaded:
    """A loaded document and, for text formats, the encoding its bytes were decoded with."""

    document: Document
    encoding: str = ""


def _size(n: float) -> str:
    """A byte count for messages: "123.4 MB" from 0.1 MB up, else bytes."""
    if n >= 0.1 * 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{int(n)} bytes"


def _limit(n: float) -> str:
    if n >= 2**20:
        return f"{round(n / 2**20, 2):g} MB"
    return f"{int(n)} bytes"


def _open(path: Path) -> BinaryIO:
    """Open for reading without blocking (a FIFO that slipped past ``stat`` returns at once)."""
    return os.fdopen(os.open(path, _OPEN_FLAGS), "rb")


def _check_regular(source: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise LoadError(source, "cannot read: it is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        raise LoadError(source, f"cannot read: {kind}; only regular files are read")


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``; type and size are checked with ``stat`` first.

    Raises:
        LoadError: not a regular file (a directory, FIFO, socket, device), missing,
            unreadable, over ``max_bytes``, or changed while it was being read.
    """
    source = safe_name(str(path))
    try:
        info = os.stat(path)
        _check_regular(source, info.st_mode)
        if info.st_size > max_bytes:
            raise LoadError(
                source,
                f"file is {_size(info.st_size)}, over the {_limit(max_bytes)} limit "
                "(ingest.max_file_mb)",
            )
        with _open(path) as fh:
            before = os.fstat(fh.fileno())
            _check_regular(source, before.st_mode)  # replaced between stat and open
            data = fh.read(max_bytes + 1)
            after = os.fstat(fh.fileno())
    except PermissionError as exc:
        raise LoadError(source, "cannot read: permission denied") from exc
    except FileNotFoundError as exc:
        raise LoadError(source, "cannot read: no such file") from exc
    except OSError as exc:
        raise LoadError(source, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # the file grew between stat and read
        raise LoadError(source, f"file is over the {_limit(max_bytes)} limit (ingest.max_file_mb)")
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != after.st_size:
        raise LoadError(
            source, "the file changed while it was being read: ingest it again once it is saved"
        )
    return data


def load_file(
    path: Path,
    *,
    doc_id: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
    metadata: Mapping[str, Any] | None = None,
) -> Document:
    """Read ``path`` into a ``Document`` with id ``doc_id`` (``read_file`` + ``load_bytes``).

    Raises:
        LoadError: the file cannot be loaded; ``reason`` says why in a few words.
    """
    path = Path(path)
    _loader_for(path)  # an unsupported type fails before the file is read
    return load_bytes(
        read_file(path, max_bytes), path, doc_id=doc_id, max_chars=max_chars, metadata=metadata
    )


def _loader_for(path: Path) -> tuple[str, Loader]:
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        shown = f"'{safe_name(suffix)}'" if suffix else "(none)"
        raise LoadError(
            safe_name(str(path)),
            f"unsupported file type {shown}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}",
        )
    return LOADERS[suffix]


def load_bytes(
    data: bytes,
    path: Path,
    *,
    doc_id: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    metadata: Mapping[str, Any] | None = None,
) -> Document:
    """Parse the bytes of the file ``path`` (its suffix picks the format) into a ``Document``.

    For callers that already hold the bytes. See ``parse_bytes``, which also says which
    encoding a text file was decoded with.

    Raises:
        LoadError: the bytes cannot be loaded; ``reason`` says why in a few words.
    """
    return parse_bytes(data, path, doc_id=doc_id, max_chars=max_chars, metadata=metadata).document


def parse_bytes(
    data: bytes,
    path: Path,
    *,
    doc_id: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    metadata: Mapping[str, Any] | None = None,
) -> Loaded:
    """Parse the bytes of the file ``path`` into a ``Document`` and the encoding used.

    The title is the document's own title (PDF/DOCX metadata, HTML ``<title>``, Markdown
    front matter), else its first heading, else the file name without suffix. ``metadata``
    is copied onto the document (it carries ``tenant``/``groups``). The source and the
    fallback title are ``names.safe_name`` forms of the path, so they can be stored.

    Raises:
        LoadError: the bytes cannot be loaded; ``reason`` says why in a few words.
    """
    path = Path(path)
    source = safe_name(str(path))
    fmt, loader = _loader_for(path)
    if not data:
        raise LoadError(source, "empty file")
    try:
        parsed = loader(data)
    except FormatError as exc:
        raise LoadError(source, exc.reason) from exc
    if not parsed.text.strip():
        raise LoadError(source, "no text (the file is empty or only whitespace)")
    if len(parsed.text) > max_chars:
        raise LoadError(
            source,
            f"extracted text has {len(parsed.text):,} characters, over the {max_chars:,} "
            "limit (ingest.max_text_chars)",
        )
    document = Document(
        id=doc_id,
        text=parsed.text,
        source=source,
        title=parsed.title or safe_name(path.stem),
        format=fmt,
        content_hash=hashlib.sha256(data).hexdigest(),
        segments=parsed.segments,
        metadata=dict(metadata or {}),
    )
    return Loaded(document, parsed.encoding)
