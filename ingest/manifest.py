"""Per-file access and language from a manifest beside the scans.

A folder may hold `kho-manifest.csv` or `kho-manifest.json`; its rows name files under that
folder (relative paths, no `..`, nothing outside it even through a symbolic link) and set
any of `level` (a whole number 0-3), `unit`, `groups` and `lang` for them, over the batch's
defaults, and their place in the archive: `fonds` (the code of a fonds that exists),
`dossier` (the dossier's notation in that fonds, created if new) and `ordinal` (the
document's number in its dossier, 1 up):

    file,level,unit,groups,fonds,dossier,ordinal
    ho-so-01.tif,2,qk7/f9,ban-to-chuc;ban-can-bo,G09,01-TCCB,1

Any other column names a document field of `core.archival` (kho's name or its Annex VI
tag: `issued_date` or `IssuedDate`, `subject`, `code_number`...): its value is checked as
the field's (a date that does not exist refuses the row) and set as confirmed, as if a
person had typed it with `kho doc edit`.

JSON: a list of objects with the same keys (`groups` a list or a ';'-separated string).

A manifest never guesses. A file named by a bad row (a level that is not a whole number
0-3, an unknown column, the same file in two rows or two manifests) is refused with that
row's reason, and every file under an unreadable manifest is refused: none of them is
ingested with a default that might be looser than the one meant. A row naming a file
outside its folder, or no file at all, is reported on its own.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kho.core.archival import FieldError, parse_value, spec_of
from kho.core.types import UnitError, normalize_unit

NAMES = ("kho-manifest.csv", "kho-manifest.json")
KEYS = ("file", "level", "unit", "groups", "lang", "fonds", "dossier", "ordinal")
_LEVEL_RE = re.compile(r"^\s*[0-3]\s*$")


@dataclass
class Manifests:
    """What the manifests of a batch say: overrides per file, refusals, row problems."""

    overrides: dict[Path, dict] = field(default_factory=dict)  # resolved file -> values
    refused: dict[Path, str] = field(default_factory=dict)  # resolved file -> reason
    unreadable: dict[Path, str] = field(default_factory=dict)  # folder -> reason
    problems: list[tuple[str, str]] = field(default_factory=list)  # (manifest:line, reason)
    misplaced: int = 0  # files whose fonds, dossier or ordinal could not take them

    def rule_for(self, path: Path) -> dict | str:
        """The overrides for a file (resolved path), or the reason it must not be ingested."""
        for folder, reason in self.unreadable.items():
            if path.is_relative_to(folder):
                return reason
        if path in self.refused:
            return self.refused[path]
        return self.overrides.get(path, {})

    @property
    def errors(self) -> int:
        """How many rows or manifests were wrong (the operator must fix them)."""
        return len(self.problems) + len(self.refused) + len(self.unreadable) + self.misplaced


def manifests_governing(files: Iterable[Path], roots: Iterable[Path]) -> list[Path]:
    """Manifest files that may name any of `files` (resolved paths): those in each file's
    folder and its parents, up to the ingest root (resolved) that holds it."""
    roots = list(roots)
    found: set[Path] = set()
    looked: set[Path] = set()
    for path in files:
        holders = [r for r in roots if r != path and path.is_relative_to(r)]
        top = min(holders, key=lambda r: len(r.parts)) if holders else path.parent
        folder = path.parent
        while folder not in looked:
            looked.add(folder)
            found.update(p for p in (folder / n for n in NAMES) if p.is_file())
            if folder == top or folder == folder.parent or not folder.is_relative_to(top):
                break
            folder = folder.parent
    return sorted(found)


def load_manifests(manifests: Iterable[Path]) -> Manifests:
    """Read every manifest; one file, one row: duplicates refuse the file."""
    result = Manifests()
    claims: dict[Path, list[tuple[str, dict | str]]] = {}
    for manifest in manifests:
        folder = manifest.parent.resolve()
        try:
            rows = _rows(manifest)
        except ValueError as err:
            result.unreadable[folder] = f"{manifest}: {err}; fix it and run the batch again"
            continue
        for line, row in rows:
            where = f"{manifest}:{line}"
            name = str(row.get("file") or "").strip()
            target = _target(folder, name)
            if isinstance(target, str):
                result.problems.append((where, target))
                continue
            claims.setdefault(target, []).append((where, _values(row, where)))
    for target, listed in claims.items():
        if len(listed) > 1:
            wheres = ", ".join(w for w, _ in listed)
            result.refused[target] = (
                f"{wheres}: the file is listed more than once; keep one row for it"
            )
        elif isinstance(listed[0][1], str):
            result.refused[target] = listed[0][1]
        else:
            result.overrides[target] = listed[0][1]
    return result


def _target(folder: Path, name: str) -> Path | str:
    """The resolved file a row names, or why it names none under `folder`."""
    if not name:
        return "the 'file' column is empty"
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        return (
            f"{name!r} is outside the manifest's folder: a manifest names only files "
            "under its own folder (relative paths, no '..')"
        )
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder):
        return f"{name!r} leads outside the manifest's folder (symbolic link to {target})"
    if not target.exists():
        return f"{name!r}: no such file under {folder}"
    return target


def _rows(manifest: Path) -> list[tuple[int, dict]]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read manifest: {err}") from err
    if manifest.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid JSON at line {err.lineno}: {err.msg}") from err
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("expected a JSON list of objects")
        return [(i + 1, r) for i, r in enumerate(data)]
    try:
        reader = csv.DictReader(text.splitlines(), restkey="")
        return [(i + 2, {(k or "").strip(): v for k, v in r.items()}) for i, r in enumerate(reader)]
    except csv.Error as err:
        raise ValueError(f"invalid CSV: {err}") from err


def _values(row: dict, where: str) -> dict | str:
    """The overrides a row sets, or the reason its file is refused."""
    fields, unknown = {}, set()
    for key in set(row) - set(KEYS):
        try:
            spec = spec_of("document", key) if key else None
        except FieldError:
            spec = None
        if spec is None or spec.name == "level":
            unknown.add(key)
            continue
        try:
            parse_value(spec, row[key])
        except FieldError as err:
            return f"{where}: {err}"
        if row[key] not in (None, ""):
            fields[spec.name] = str(row[key])
    if unknown:
        names = ", ".join(sorted(repr(k) if k else "(extra cells)" for k in unknown))
        return (
            f"{where}: unknown column(s) {names}; use {', '.join(KEYS)} or a document field "
            "(kho doc show lists them)"
        )
    values: dict = {"fields": tuple(sorted(fields.items()))} if fields else {}
    level = row.get("level")
    if level not in (None, ""):
        whole = isinstance(level, int) and not isinstance(level, bool)
        if not (whole or (isinstance(level, str) and _LEVEL_RE.match(level))) or not (
            0 <= int(level) <= 3
        ):
            return f"{where}: level must be 0-3 (a whole number), got {level!r}"
        values["level"] = int(level)
    ordinal = row.get("ordinal")
    if ordinal not in (None, ""):
        text = str(ordinal).strip()
        if isinstance(ordinal, bool) or not text.isdigit() or int(text) < 1:
            return f"{where}: ordinal must be a whole number from 1, got {ordinal!r}"
        values["ordinal"] = int(text)
    for key in ("unit", "lang", "fonds", "dossier"):
        value = row.get(key)
        if value not in (None, ""):
            if not isinstance(value, str):
                return f"{where}: {key} must be text, got {value!r}"
            if key != "unit":
                values[key] = value.strip()
                continue
            try:
                values[key] = normalize_unit(value.strip())
            except UnitError as err:
                return f"{where}: {err}"
    groups = row.get("groups")
    if groups not in (None, ""):
        items = groups if isinstance(groups, list) else str(groups).split(";")
        if not all(isinstance(g, str) for g in items):
            return f"{where}: groups must be names, got {groups!r}"
        values["groups"] = tuple(g.strip() for g in items if g.strip())
    return values
