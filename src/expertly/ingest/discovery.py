"""Finding the files to ingest under a folder, without leaving it.

A folder is walked without following symbolic links that lead outside it: a link such as
``special/shadow.txt -> /etc/shadow`` would otherwise put a system file into the index,
and from there into search results and answers. Such links are reported as skipped with
the reason; ``follow_links`` (``expertly ingest --follow-links``) reads them, with each
real folder walked once so that a link cycle cannot loop. Links that stay inside the folder
are read like the files they point to (a linked folder is not walked twice).

Document ids are paths relative to the folder with forward slashes, in the escaped form of
``names.safe_name`` (a name that is not valid UTF-8 gets a reversible, storable id).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from expertly.ingest.names import safe_name


@dataclass(frozen=True)
class Skipped:
    """A path that discovery did not hand to the loaders, and why."""

    path: str  # shown form (``safe_name``)
    doc_id: str
    reason: str
    failed: bool = False  # True when it is an error (an unreadable folder), not a choice


@dataclass
class Discovered:
    """What a walk found: ``(path, doc_id)`` of the files to read, and what it skipped."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def matches(rel: str, patterns: Iterable[str]) -> bool:
    """Whether the relative path ``rel`` matches one of the glob ``patterns``."""
    # "**/x" must also match "x" at the top level.
    return any(
        fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(rel, p[3:]))
        for p in patterns
    )


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def discover(
    root: Path,
    include: Sequence[str],
    exclude: Sequence[str],
    *,
    follow_links: bool = False,
) -> Discovered:
    """Every file under ``root`` matching the globs, sorted (a folder's files before its
    subfolders); a single file's id is its name. ``root`` should be resolved."""
    found = Discovered()
    if not root.is_dir():
        found.files.append((root, safe_name(root.name)))
        return found
    real_root = os.path.realpath(root)
    seen = {real_root}
    stack: list[Path] = [root]
    while stack:
        folder = stack.pop()
        rel_folder = folder.relative_to(root).as_posix()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            shown = safe_name(rel_folder)
            found.skipped.append(
                Skipped(
                    safe_name(str(folder)),
                    shown,
                    f"cannot list this folder: {exc.strerror or exc}",
                    failed=True,
                )
            )
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            rel = path.relative_to(root).as_posix()
            try:
                is_dir = entry.is_dir()  # follows a link
                is_link = entry.is_symlink()
            except OSError:
                is_dir, is_link = False, False  # the loader reports what is wrong with it
            if is_dir:  # "x/" matches "**/.*" and "**/node_modules/**": prune it
                if matches(rel + "/", exclude):
                    continue
            elif matches(rel, exclude) or not matches(rel, include):
                continue
            if is_link:
                target = os.path.realpath(path)
                if not follow_links and not _inside(target, real_root):
                    found.skipped.append(
                        Skipped(
                            safe_name(str(path)),
                            safe_name(rel),
                            f"symbolic link to {safe_name(target)}, outside the ingested "
                            "folder: not followed (use --follow-links to read it)",
                        )
                    )
                    continue
                if is_dir and (target in seen or _inside(target, real_root)):
                    continue  # walked (or to be walked) through its real path
                if is_dir:
                    seen.add(target)
            if is_dir:
                subfolders.append(path)
            else:
                found.files.append((path, safe_name(rel)))
        stack.extend(reversed(subfolders))
    return found
