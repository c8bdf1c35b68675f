"""The HNSW index's files beside the SQLite file: written atomically, checked when read.

Two files sit next to the index file ``<name>``:

* ``<name>.hnsw``: the graph and vectors as hnswlib writes them (``save_index``);
* ``<name>.hnsw.meta``: one line of JSON (the header), then the covered chunk rowids as
  little-endian int64. The header records what the graph covers and how to check it:
  the library and its version, dim, M, ef_construction, the number of covered rowids,
  the largest rowid the file had assigned (``sqlite_sequence``), the graph file's size
  and CRC-32, and the rowids' CRC-32.

hnswlib writes its file in place, so a process killed while saving leaves a truncated
file that hnswlib may refuse (or, worse, half read). Hence each file is written to a
temporary name in the same folder, flushed to disk (``fsync``), then renamed over the old
one (``os.replace``, atomic), graph first, header last, and the folder is synced. The
header names the graph's checksum, so a crash between the two renames, a torn copy or a
foreign file is caught when reading: ``read`` raises ``UnusableIndex`` with the reason
and the caller rebuilds from the SQLite file, which stays the only source of truth.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
"""Version of the header layout; another value is rebuilt, never guessed at."""

_READ_BLOCK = 1 << 22


class UnusableIndex(Exception):
    """The saved index is missing, unreadable or does not fit the SQLite file: rebuild it.

    Internal to the SQLite store: it never reaches the user, who sees a rebuilt index (and
    a log line with the reason). ``missing`` tells a first build from a rejected file."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


@dataclass(frozen=True)
class Header:
    """What a saved graph covers and how to check that the bytes are the ones saved."""

    library: str
    dim: int
    m: int
    ef_construction: int
    count: int
    last_rowid: int
    index_bytes: int
    index_crc32: int
    rowids_crc32: int
    format: int = FORMAT


def paths(store_path: Path) -> tuple[Path, Path]:
    """The graph file and the header file of the index file ``store_path``."""
    return Path(f"{store_path}.hnsw"), Path(f"{store_path}.hnsw.meta")


def crc32_file(path: Path) -> int:
    """CRC-32 of a file, read in blocks (a 100k x 384 graph is about 160 MB)."""
    crc = 0
    with path.open("rb") as f:
        while block := f.read(_READ_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


def write(
    store_path: Path, save_graph: Callable[[str], None], header: dict[str, Any], rowids: np.ndarray
) -> Header:
    """Save the graph (``save_graph(path)`` writes it) and its header atomically.

    ``header`` holds every ``Header`` field but the three the files themselves give
    (``index_bytes``, ``index_crc32``, ``rowids_crc32``). Returns the header written.
    """
    graph, meta = paths(store_path)
    folder = graph.parent
    tmp_graph = _temporary(folder, graph.name)
    try:
        save_graph(str(tmp_graph))
        _fsync(tmp_graph)
        raw = np.ascontiguousarray(rowids, dtype="<i8").tobytes()
        done = Header(
            **header,
            index_bytes=tmp_graph.stat().st_size,
            index_crc32=crc32_file(tmp_graph),
            rowids_crc32=zlib.crc32(raw),
        )
        os.replace(tmp_graph, graph)
    finally:
        with contextlib.suppress(FileNotFoundError):  # already renamed: nothing to clean
            tmp_graph.unlink()
    tmp_meta = _temporary(folder, meta.name)
    try:
        with tmp_meta.open("wb") as f:
            f.write(json.dumps(asdict(done), sort_keys=True).encode() + b"\n" + raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_meta, meta)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_meta.unlink()
    _fsync(folder)  # makes the renames durable (a folder's entries are its data)
    return done


def read(store_path: Path) -> tuple[Header, np.ndarray]:
    """The saved header and covered rowids, after checking both files' checksums.

    Raises ``UnusableIndex`` (with the reason) when either file is missing, torn or
    foreign; the graph itself is then loaded by the caller from ``paths(store_path)[0]``.
    """
    graph, meta = paths(store_path)
    if not meta.is_file() or not graph.is_file():
        raise UnusableIndex(f"no saved index ({graph.name} and {meta.name})", missing=True)
    try:
        data = meta.read_bytes()
        size, crc = graph.stat().st_size, crc32_file(graph)
    except OSError as e:  # e.g. no permission to read: rebuilt, and the log says why
        raise UnusableIndex(f"cannot read it ({e})") from e
    line, _, raw = data.partition(b"\n")
    try:
        fields = json.loads(line)
        header = Header(**fields)
    except (ValueError, TypeError) as e:  # JSON garbage, or fields of another layout
        raise UnusableIndex(f"{meta.name} is not a header this version writes ({e})") from e
    if header.format != FORMAT:
        raise UnusableIndex(f"{meta.name} has format {header.format}, expected {FORMAT}")
    if zlib.crc32(raw) != header.rowids_crc32 or len(raw) != 8 * header.count:
        raise UnusableIndex(f"{meta.name} is torn (its rowids do not match their checksum)")
    if size != header.index_bytes or crc != header.index_crc32:
        raise UnusableIndex(f"{graph.name} does not match the checksum of {meta.name}")
    return header, np.frombuffer(raw, dtype="<i8").astype(np.int64)


def remove_leftovers(store_path: Path) -> None:
    """Delete temporary files that a killed save left (their writer is no longer running)."""
    graph, meta = paths(store_path)
    for prefix in (graph.name, meta.name):
        for tmp in graph.parent.glob(f"{prefix}.tmp-*"):
            pid = tmp.name.rsplit("-", 2)[-2]
            if pid.isdigit() and not _running(int(pid)):
                with contextlib.suppress(FileNotFoundError):  # another process removed it
                    tmp.unlink()


def _temporary(folder: Path, name: str) -> Path:
    """A fresh temporary name beside the target: ``<name>.tmp-<pid>-<random>``."""
    fd, tmp = tempfile.mkstemp(prefix=f"{name}.tmp-{os.getpid()}-", dir=folder)
    os.close(fd)
    return Path(tmp)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
