"""Find the source files under the paths given to `kho ingest`, in a stable order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kho.core.errors import BadInputError, IngestError

from .sniff import EXTENSIONS, sniff, unsupported_reason

MANIFESTS = frozenset({"kho-manifest.csv", "kho-manifest.json"})


@dataclass(frozen=True)
class Found:
    """A file to ingest (`kind` set) or one skipped (`kind` None, `reason` says why).

    `kind` comes from the extension, or from the content for a file named explicitly
    without a known extension; `open_source` checks the content either way, so a
    misnamed or damaged file fails there with its reason recorded.
    """

    path: Path
    kind: str | None
    reason: str | None = None


def discover(paths: Iterable[Path]) -> Iterator[Found]:
    """Files under `paths` (files and folders, recursively, sorted by name).

    Hidden files and folders, unfinished `*.part` files and kho manifests inside folders
    are passed over silently. A symbolic link found in a folder is followed only when it
    leads inside the paths being ingested; one leading elsewhere is skipped and reported
    (a link must not pull in files, or escape the manifests, of another place). Raises
    IngestError at the call, before anything is walked, if a path does not exist.
    """
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise IngestError(f"no such file or folder: {', '.join(missing)}")
    return _found(roots)


def ingest_roots(paths: Iterable[Path]) -> list[Path]:
    """The resolved paths given to `kho ingest`: what a symbolic link may lead into."""
    return [Path(p).resolve() for p in paths]


def _found(roots: list[Path]) -> Iterator[Found]:
    seen: set[Path] = set()
    inside = ingest_roots(roots)
    for root in roots:
        if root.is_dir():
            yield from _walk(root, seen, inside)
        elif root.name not in MANIFESTS and _first_time(root, seen):
            yield _explicit(root)


def _first_time(path: Path, seen: set[Path]) -> bool:
    """True once per real file or folder, however it was reached (listed twice, symlinks)."""
    key = path.resolve()
    if key in seen:
        return False
    seen.add(key)
    return True


def _walk(folder: Path, seen: set[Path], inside: list[Path]) -> Iterator[Found]:
    if not _first_time(folder, seen):
        return  # a symlink loop or a folder listed twice
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        raise IngestError(f"cannot list folder {folder}: {err.strerror or err}") from err
    for entry in entries:
        if _passed_over(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            try:
                target = path.resolve()
            except (OSError, RuntimeError):  # a loop of links
                target = path
            if not target.exists():
                yield Found(path, None, "broken symbolic link")
                continue
            if not any(target.is_relative_to(r) for r in inside):
                yield Found(
                    path,
                    None,
                    f"symbolic link to {target}, outside the folders being ingested: skipped "
                    "(ingest that place itself, or copy the file in)",
                )
                continue
        if entry.is_dir():
            yield from _walk(path, seen, inside)
        elif entry.is_file():
            if _first_time(path, seen):
                kind = EXTENSIONS.get(path.suffix.lower())
                yield Found(path, kind, None if kind else unsupported_reason(path))


def _passed_over(name: str) -> bool:
    return name.startswith(".") or name.endswith(".part") or name in MANIFESTS


def _explicit(path: Path) -> Found:
    """A file named on the command line: taken by extension, or else by its content."""
    if not path.is_file():
        return Found(path, None, "not a regular file")
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind:
        return Found(path, kind)
    try:
        kind = sniff(path)
    except BadInputError as err:
        return Found(path, None, str(err))
    except OSError as err:
        return Found(path, None, f"cannot read file: {err.strerror or err}")
    return Found(path, kind, None if kind else unsupported_reason(path))
