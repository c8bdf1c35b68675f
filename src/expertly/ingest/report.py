"""What an ingest run did to each file: added, updated, unchanged, removed, skipped or
failed, with the reason and, for text formats, the encoding the file was read with.
``IngestReport.to_dict`` is the ``expertly ingest --json`` output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["added", "updated", "unchanged", "failed", "skipped", "removed"]
_PLAIN_ENCODINGS = frozenset({"", "utf-8", "ascii"})


@dataclass(frozen=True)
class FileResult:
    """What happened to one file (or removed document)."""

    doc_id: str
    path: str
    status: Status
    chunks: int = 0
    reason: str = ""
    encoding: str = ""  # text formats: the encoding the file was decoded with


@dataclass
class IngestReport:
    """Summary of one ingest run; ``to_dict`` is the ``--json`` output."""

    results: list[FileResult] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_written: int = 0
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def legacy_encoded(self) -> list[FileResult]:
        """Files decoded from a detected encoding other than UTF-8 (worth a look)."""
        return [r for r in self.results if r.encoding not in _PLAIN_ENCODINGS]

    def to_dict(self) -> dict[str, Any]:
        statuses: tuple[Status, ...] = (
            "added",
            "updated",
            "unchanged",
            "removed",
            "skipped",
            "failed",
        )
        return {
            **{s: self.count(s) for s in statuses},
            "chunks_written": self.chunks_written,
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
            "failures": [{"path": r.path, "reason": r.reason} for r in self.failed],
            "skips": [{"path": r.path, "reason": r.reason} for r in self.skipped],
            "encodings": [{"path": r.path, "encoding": r.encoding} for r in self.legacy_encoded],
            "files": [asdict(r) for r in self.results],
        }
