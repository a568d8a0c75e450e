"""Backup sets: independent copies of the archive on other media, checked and restorable.

    DIR/kho-backup.json              what this folder is (format, version)
    DIR/objects/ab/<sha256>          every file once, named by its content
    DIR/snapshots/<utc time>.json    one per run: the catalog dump's object, every stored
                                     path -> sha256/size, kho's version, counts, and the
                                     manifest's own digest

A run copies only the objects the set lacks (incremental). Each target of `create_backup`
is a set of its own: nothing in one refers to another. Everything is written through
`core.storage.atomic_file` with the private policy, whatever the archive's own policy is:
only the account that made a set can read it.

What is not in a set: the keys and passwords under the storage root (`cursor.key`,
`web.key`, the config with its principals and password hashes), the search index (rebuilt
by `kho reindex`) and the logs. Only `STORED` folders are walked.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from kho.archive.fixity import ORIGINAL, is_temporary, kind_of
from kho.core.dump import dump_catalog, load_catalog
from kho.core.errors import ExitCode, KhoError, StorageError, UsageError
from kho.core.fixity import fixity_by_path
from kho.core.permissions import PRIVATE, FilePolicy, check_mode
from kho.core.storage import CHUNK, atomic_file, sha256_file

MARKER = "kho-backup.json"
SET_FORMAT, SNAPSHOT_FORMAT, VERSION = "kho-backup-set", "kho-backup-snapshot", 1
STORED = ("originals", "docs", "models")  # what a set holds of the storage root
HOME_LEFTOVERS = {"logs"}  # what kho's own start-up makes in an empty storage root
Progress = Callable[[str, int, int], None]  # (what, done, total)


class BackupError(KhoError):
    """A backup set that does not hold what its snapshots name (exit 1, as a failed check)."""

    exit_code = ExitCode.files_failed


def _quiet(_what: str, _done: int, _total: int) -> None:
    pass


def _digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class BackupSet:
    """One backup set, a folder on its own medium."""

    def __init__(self, root: Path, policy: FilePolicy = PRIVATE):
        self.root = Path(root)
        self.policy = policy

    def object_path(self, sha: str) -> Path:
        return self.root / "objects" / sha[:2] / sha

    def has(self, sha: str, size: int) -> bool:
        path = self.object_path(sha)
        return path.is_file() and path.stat().st_size == size

    def open_for_writing(self) -> None:
        """Make the set (private) or check an existing one; UsageError for a folder that
        holds other things, ConfigError for a set others can read."""
        marker = self.root / MARKER
        if self.root.exists() and not marker.is_file() and any(self.root.iterdir()):
            raise UsageError(f"{self.root} is not a kho backup set and not empty: give another DIR")
        self.policy.make_dirs(self.root)
        check_mode(self.root, self.policy, "backup set")
        if not marker.is_file():
            self.write_json(marker, {"format": SET_FORMAT, "version": VERSION})

    def check_readable(self) -> None:
        if not (self.root / MARKER).is_file():
            raise UsageError(f"{self.root} is not a kho backup set (no {MARKER})")

    def write_json(self, path: Path, obj: dict) -> None:
        data = json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        with atomic_file(path, self.policy) as f:
            f.write(data + b"\n")

    def put(self, src: Path, sha: str) -> bool:
        """Copy `src` in as object `sha` unless the set has it (an object of another size is
        copied again); True if copied. A file that no longer hashes to `sha` while copied is
        refused (StorageError)."""
        target = self.object_path(sha)
        if self.has(sha, src.stat().st_size):
            return False
        h = hashlib.sha256()
        try:
            with open(src, "rb") as source, atomic_file(target, self.policy) as f:
                while chunk := source.read(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
                if h.hexdigest() != sha:
                    raise StorageError(f"{src} changed while it was copied: run the backup again")
        except FileNotFoundError:
            raise StorageError(
                f"{src} vanished while it was copied: run the backup again"
            ) from None
        return True

    def snapshot_ids(self) -> list[str]:
        folder = self.root / "snapshots"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def read_snapshot(self, snap_id: str) -> dict:
        """A snapshot's manifest; BackupError if it is missing, unreadable or changed."""
        path = self.root / "snapshots" / f"{snap_id}.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(self.snapshot_ids()[-3:]) or "none"
            raise UsageError(f"no snapshot {snap_id} in {self.root} (latest: {known})") from None
        except (OSError, ValueError) as err:
            raise BackupError(f"snapshot {snap_id} cannot be read: {err}") from None
        if not isinstance(manifest, dict) or manifest.get("digest") != _digest(manifest):
            raise BackupError(f"snapshot {snap_id}'s manifest was changed (its digest fails)")
        return manifest

    def latest(self) -> str:
        ids = self.snapshot_ids()
        if not ids:
            raise UsageError(f"{self.root} holds no snapshot: run kho backup create {self.root}")
        return ids[-1]


# create -------------------------------------------------------------------------------------
@dataclass
class Survey:
    """The storage root's files as hashed for this run."""

    files: dict[str, dict] = field(default_factory=dict)  # path -> {"sha256", "size"}
    alarms: dict[str, str] = field(default_factory=dict)  # path -> the digest it should have


@dataclass(frozen=True)
class CreateResult:
    target: Path
    snapshot: str = ""
    copied: int = 0
    copied_bytes: int = 0
    present: int = 0
    kept: int = 0  # changed files whose good copy the set already had
    left_out: tuple[str, ...] = ()  # changed files the set has no good copy of
    error: str = ""


def stored_paths(home: Path) -> list[Path]:
    """Every file under the storage root's `STORED` folders, in path order."""
    found = []
    for top in STORED:
        folder = home / top
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if p.is_file() and not is_temporary(p)]
    return sorted(found)


def survey(catalog, home: Path, progress: Progress = _quiet) -> Survey:
    """Hash every stored file; one that no longer matches its fixity record (an original:
    its id) is an alarm, with the digest it should have."""
    recorded = fixity_by_path(catalog)
    paths = stored_paths(home)
    result = Survey()
    for i, path in enumerate(paths, start=1):
        rel = path.relative_to(home).as_posix()
        sha = sha256_file(path)
        result.files[rel] = {"sha256": sha, "size": path.stat().st_size}
        expected = path.name.split(".")[0] if kind_of(rel) == ORIGINAL else None
        if expected is None and rel in recorded:
            expected = recorded[rel].sha256
        if expected and expected != sha:
            result.alarms[rel] = expected
        progress("hashing", i, len(paths))
    return result


def create_backup(
    catalog, home: Path, targets: Iterable[Path], progress: Progress = _quiet
) -> list[CreateResult]:
    """One snapshot in each target set: the catalog dumped once, the storage root hashed
    once, each set given the objects it lacks. A target that fails is reported and the
    others go on."""
    sets, results = [], []
    for target in targets:
        bset = BackupSet(target)
        try:
            bset.open_for_writing()
            sets.append(bset)
        except KhoError as err:
            results.append(CreateResult(Path(target), error=str(err)))
    if not sets:
        return results
    snap_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    progress("catalog", 0, 1)
    catalog_info = _dump_into(catalog, sets[0], snap_id)
    progress("catalog", 1, 1)
    found = survey(catalog, home, progress)
    for bset in sets:
        try:
            results.append(_fill(bset, home, snap_id, catalog_info, found, sets[0], progress))
        except (KhoError, OSError) as err:
            results.append(CreateResult(bset.root, error=str(err)))
    return results


def _dump_into(catalog, bset: BackupSet, snap_id: str) -> dict:
    """Dump the catalog (gzip'd JSON lines) as an object of `bset`; what the manifest says
    of it."""
    tmp = bset.root / "tmp" / f"catalog-{snap_id}.jsonl.gz"
    with atomic_file(tmp, bset.policy) as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            rows = dump_catalog(catalog.engine, gz)
    sha, size = sha256_file(tmp), tmp.stat().st_size
    target = bset.object_path(sha)
    if target.is_file():
        tmp.unlink()
    else:
        bset.policy.make_dirs(target.parent)
        os.replace(tmp, target)
    from kho.migrations import head_revision

    return {
        "object": sha,
        "size": size,
        "backend": catalog.engine.dialect.name,
        "revision": head_revision(),
        "rows": rows,
    }


def _fill(bset, home, snap_id, catalog_info, found: Survey, first, progress) -> CreateResult:
    """Copy into `bset` what it lacks and write its snapshot."""
    if bset is not first:
        bset.put(first.object_path(catalog_info["object"]), catalog_info["object"])
    files, copied, copied_bytes, present, kept, left_out = {}, 0, 0, 0, 0, []
    for i, (rel, info) in enumerate(sorted(found.files.items()), start=1):
        progress(f"copying to {bset.root}", i, len(found.files))
        good = found.alarms.get(rel)
        if good is not None:  # never back up a changed file over its good copy
            if bset.object_path(good).is_file():
                files[rel] = {"sha256": good, "size": bset.object_path(good).stat().st_size}
                kept += 1
            else:
                left_out.append(rel)
            continue
        files[rel] = info
        if bset.put(home / rel, info["sha256"]):
            copied += 1
            copied_bytes += info["size"]
        else:
            present += 1
    rows = catalog_info["rows"]
    manifest = {
        "format": SNAPSHOT_FORMAT,
        "version": VERSION,
        "id": snap_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kho_version": version("kho"),
        "source": str(home),
        "catalog": catalog_info,
        "files": files,
        "left_out": left_out,
        "counts": {
            "files": len(files),
            "bytes": sum(f["size"] for f in files.values()),
            "documents": rows.get("documents", 0),
            "pages": rows.get("pages", 0),
            "audit_rows": rows.get("audit_log", 0),
        },
    }
    manifest["digest"] = _digest(manifest)
    bset.write_json(bset.root / "snapshots" / f"{snap_id}.json", manifest)
    return CreateResult(bset.root, snap_id, copied, copied_bytes, present, kept, tuple(left_out))


# verify -------------------------------------------------------------------------------------
@dataclass
class SetReport:
    snapshots: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def verify_set(
    root: Path, snap_ids: list[str] | None = None, progress: Progress = _quiet
) -> SetReport:
    """Re-hash every object the snapshots (default: all) name; each missing or changed one,
    and each manifest that fails its digest, is a problem line."""
    bset = BackupSet(root)
    bset.check_readable()
    report = SetReport()
    wanted: dict[str, tuple[int, str, str]] = {}  # sha -> (size, snapshot, what names it)
    for snap_id in snap_ids if snap_ids is not None else bset.snapshot_ids():
        try:
            manifest = bset.read_snapshot(snap_id)
        except BackupError as err:
            report.problems.append(str(err))
            continue
        report.snapshots.append(snap_id)
        cat_obj = manifest["catalog"]
        wanted.setdefault(cat_obj["object"], (cat_obj["size"], snap_id, "the catalog dump"))
        for rel, info in manifest["files"].items():
            wanted.setdefault(info["sha256"], (info["size"], snap_id, rel))
    for i, (sha, (size, snap_id, what)) in enumerate(sorted(wanted.items()), start=1):
        progress("verifying", i, len(wanted))
        path = bset.object_path(sha)
        if not path.is_file():
            report.problems.append(f"missing object {sha[:16]}... ({what}, snapshot {snap_id})")
            continue
        actual = sha256_file(path)
        report.objects += 1
        report.bytes += path.stat().st_size
        if actual != sha or path.stat().st_size != size:
            report.problems.append(
                f"changed object {path.relative_to(bset.root)} ({what}, snapshot {snap_id}): "
                f"now sha256 {actual[:16]}..."
            )
    return report


# restore ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Restored:
    snapshot: str
    files: int
    bytes: int
    rows: dict[str, int]


def check_empty_home(home: Path) -> None:
    """UsageError unless `home` is missing or holds nothing but what kho's start-up makes."""
    if home.exists() and not home.is_dir():
        raise UsageError(f"{home} is not a folder: restore into a new, empty storage root")
    extra = (
        sorted(p.name for p in home.iterdir() if p.name not in HOME_LEFTOVERS)
        if home.exists()
        else []
    )
    if extra:
        raise UsageError(
            f"{home} is not empty ({', '.join(extra[:3])}...): "
            "restore into a new, empty storage root"
        )


def restore_backup(
    root: Path,
    home: Path,
    database_url: str,
    policy: FilePolicy,
    snap_id: str | None = None,
    progress: Progress = _quiet,
) -> Restored:
    """Restore a snapshot (default: the latest) into an empty storage root and an empty
    catalog (`database_url`: SQLite under `home`, or an empty PostgreSQL database). Refuses
    a set that does not verify and a target that is not empty, before writing anything."""
    from kho.core.catalog import Catalog
    from kho.core.dump import empty_catalog

    bset = BackupSet(root)
    bset.check_readable()
    snap_id = snap_id or bset.latest()
    report = verify_set(root, [snap_id], progress)
    if report.problems:
        raise BackupError(
            f"backup set {root} does not verify ({len(report.problems)} problems, first: "
            f"{report.problems[0]}): restore from another set"
        )
    manifest = bset.read_snapshot(snap_id)
    check_empty_home(home)
    policy.make_dirs(home)
    catalog = Catalog(database_url)
    try:
        if not empty_catalog(catalog.engine):
            raise UsageError(
                f"the catalog {catalog.safe_url} is not empty: restore into an empty database"
            )
        files = manifest["files"]
        for i, (rel, info) in enumerate(sorted(files.items()), start=1):
            progress("restoring files", i, len(files))
            _restore_file(bset, info["sha256"], home / rel, policy)
        dump = bset.object_path(manifest["catalog"]["object"])
        with gzip.open(dump, "rb") as lines:
            total = sum(manifest["catalog"]["rows"].values())
            done = [0]

            def on_rows(n: int) -> None:
                done[0] += n
                progress("restoring catalog", done[0], total)

            rows = load_catalog(catalog.engine, lines, on_rows)
    finally:
        catalog.close()
    size = sum(info["size"] for info in files.values())
    return Restored(snap_id, len(files), size, rows)


def _restore_file(bset: BackupSet, sha: str, target: Path, policy: FilePolicy) -> None:
    h = hashlib.sha256()
    with open(bset.object_path(sha), "rb") as source, atomic_file(target, policy) as f:
        while chunk := source.read(CHUNK):
            h.update(chunk)
            f.write(chunk)
        if h.hexdigest() != sha:
            raise BackupError(f"object {sha[:16]}... changed while restored: restore again")
