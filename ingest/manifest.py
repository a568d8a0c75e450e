"""Per-file access and language from a manifest beside the scans.

A folder may hold `kho-manifest.csv` or `kho-manifest.json`; its rows name files relative to
that folder and set any of `level` (0-3), `unit`, `groups` and `lang` for them, over the
batch's defaults:

    file,level,unit,groups
    ho-so-01.tif,2,qk7/f9,ban-to-chuc;ban-can-bo

JSON: a list of objects with the same keys (`groups` a list or a ';'-separated string).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from kho.core.errors import IngestError
from kho.core.types import UnitError, normalize_unit

NAMES = ("kho-manifest.csv", "kho-manifest.json")
KEYS = ("file", "level", "unit", "groups", "lang")


def find_manifests(paths: Iterable[Path]) -> list[Path]:
    """Manifest files in the given folders (recursively) and beside the given files."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for name in NAMES:
                found.update(path.rglob(name))
        else:
            found.update(p for p in (path.parent / n for n in NAMES) if p.is_file())
    return sorted(p.resolve() for p in found)


def load_manifests(paths: Iterable[Path]) -> dict[Path, dict]:
    """Resolved file path -> overrides, from every manifest under `paths`."""
    overrides: dict[Path, dict] = {}
    for manifest in find_manifests(paths):
        for line, row in _rows(manifest):
            where = f"{manifest}:{line}"
            unknown = set(row) - set(KEYS)
            if unknown:
                raise IngestError(
                    f"{where}: unknown column(s) {', '.join(sorted(unknown))}; "
                    f"use {', '.join(KEYS)}"
                )
            name = str(row.get("file") or "").strip()
            if not name:
                raise IngestError(f"{where}: the 'file' column is empty")
            overrides[(manifest.parent / name).resolve()] = _values(row, where)
    return overrides


def _rows(manifest: Path):
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise IngestError(f"cannot read manifest {manifest}: {err}") from err
    if manifest.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise IngestError(f"{manifest}: invalid JSON at line {err.lineno}: {err.msg}") from err
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise IngestError(f"{manifest}: expected a JSON list of objects")
        return [(i + 1, r) for i, r in enumerate(data)]
    reader = csv.DictReader(text.splitlines())
    return [(i + 2, {k.strip(): v for k, v in r.items() if k}) for i, r in enumerate(reader)]


def _values(row: dict, where: str) -> dict:
    values: dict = {}
    level = row.get("level")
    if level not in (None, ""):
        try:
            values["level"] = int(level)
        except (TypeError, ValueError):
            values["level"] = -1
        if not 0 <= values["level"] <= 3:
            raise IngestError(f"{where}: level must be 0-3, got {level!r}")
    if row.get("unit") not in (None, ""):
        try:
            values["unit"] = normalize_unit(str(row["unit"]).strip())
        except UnitError as err:
            raise IngestError(f"{where}: {err}") from None
    groups = row.get("groups")
    if groups not in (None, ""):
        items = groups if isinstance(groups, list) else str(groups).split(";")
        values["groups"] = tuple(g.strip() for g in items if str(g).strip())
    if row.get("lang") not in (None, ""):
        values["lang"] = str(row["lang"]).strip()
    return values
