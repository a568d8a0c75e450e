"""Three unit archives for the transfer tests, each its own storage root with its own node
identity: f9 (grassroots, holds dossier 01-TCCB of fonds F09, unit qk7/f9, level 1, two
real sample pages), qk7 (the division above it) and top (central, above qk7). Each knows
the next one up as a receiver and the one below as a sender of its units."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import REPO, run_kho

CONFIG = """
default_principal = "chief"

[principals.chief]
clearance = 3
units = ["*"]
operator = true

[principals.clerk]
clearance = 0
units = ["qk7"]
"""
PAGES = ("nghi-quyet-chi-bo.png", "bao-cao-dan-van.jpg")
QUERY = "chi bộ"


def kho(home: Path, *args: str, check: int | None = 0):
    return run_kho(*args, home=home, check=check)


def register(home: Path, ident, units: list[str]) -> None:
    """A peer row in `home`'s catalog for the node `ident`, as `kho peers add` writes it."""
    from kho.core.catalog import Catalog
    from kho.core.models import Peer

    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session(write=True) as s:
            s.add(Peer(name=ident.name, organ_id=ident.organ_id, unit=ident.unit,
                       sign_key=ident.sign_key, seal_key=ident.seal_key,
                       fingerprint=ident.fingerprint, units=units))  # fmt: skip
    finally:
        catalog.close()


def set_peer(home: Path, name: str, **values) -> None:
    from sqlalchemy import update

    from kho.core.catalog import Catalog
    from kho.core.models import Peer

    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session(write=True) as s:
            s.execute(update(Peer).where(Peer.name == name).values(**values))
    finally:
        catalog.close()


def counts(home: Path) -> dict:
    """What an import changes: catalog rows and what search finds."""
    from sqlalchemy import func, select

    from kho.core import models
    from kho.core.catalog import Catalog

    tables = ("Fonds", "Dossier", "Document", "Page", "RecordOrigin", "Transfer", "Fixity")
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            rows = {
                getattr(models, t).__tablename__: s.scalar(
                    select(func.count()).select_from(getattr(models, t))
                )
                for t in tables
            }
        with catalog.session() as s:
            rows["statuses"] = sorted(s.scalars(select(models.Document.status)))
    finally:
        catalog.close()
    return {**rows, "hits": search(home, QUERY)}


def search(home: Path, query: str, as_name: str = "chief") -> list:
    found = json.loads(kho(home, "search", query, "--json", "--as", as_name).stdout)
    return sorted((h["doc_id"], h["page"], h["level"], h["unit"]) for h in found)


def audited(home: Path, action: str) -> list[dict]:
    lines = kho(home, "audit", "--action", action, "--json").stdout.splitlines()
    return [json.loads(line) for line in lines]


def repack(src: Path, dst: Path, change) -> Path:
    """The package `src` unpacked, changed by `change(transfer_folder)`, packed to `dst`."""
    work = dst.parent / (dst.name + ".work")
    with tarfile.open(src) as tar:
        tar.extractall(work, filter="data")
    change(work / "transfer")
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(work / "transfer", arcname="transfer")
    shutil.rmtree(work)
    return dst


def _home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir(mode=0o700)
    (home / "kho.toml").write_text(CONFIG, encoding="utf-8")
    return home


@pytest.fixture(scope="session", name="chain_template")
def chain_template_fixture(tmp_path_factory) -> Path:
    """f9 with its dossier, qk7 and top; made once, copied for each test."""
    from kho.exchange.identity import init_node

    root = tmp_path_factory.mktemp("chain")
    homes = {n: _home(root, n) for n in ("f9", "qk7", "top")}
    nodes = {
        "f9": init_node(homes["f9"], "f9", "000.00.00.F09", "qk7/f9"),
        "qk7": init_node(homes["qk7"], "qk7", "000.00.00.QK7", "qk7"),
        "top": init_node(homes["top"], "top", "000.00.00.TW", ""),
    }
    register(homes["f9"], nodes["qk7"].identity, [])
    register(homes["qk7"], nodes["f9"].identity, ["qk7/f9"])
    register(homes["qk7"], nodes["top"].identity, [])
    register(homes["top"], nodes["qk7"].identity, ["qk7"])
    scans = root / "scans" / "01-TCCB"
    scans.mkdir(parents=True)
    for name in PAGES:
        shutil.copy(REPO / "samples" / name, scans / name)
    f9 = homes["f9"]
    kho(f9, "fonds", "create", "F09", "--set", "name=Phông Trung đoàn 9",
        "--set", "organ_id=000.00.00.F09")  # fmt: skip
    kho(f9, "ingest", str(scans.parent), "--fonds", "F09", "--folder-dossiers",
        "--unit", "qk7/f9", "--level", "1", "--jobs", "1")  # fmt: skip
    return root


@pytest.fixture(name="chain")
def chain_fixture(chain_template, tmp_path) -> dict[str, Path]:
    """Fresh copies of the three storage roots (and the packages' folder `out`)."""
    homes = {}
    for name in ("f9", "qk7", "top"):
        homes[name] = tmp_path / name
        shutil.copytree(chain_template / name, homes[name])
    homes["out"] = tmp_path / "out"
    homes["out"].mkdir()
    return homes


def identity(home: Path):
    from kho.exchange.identity import load_identity

    return load_identity(home)


def doc_ids(home: Path) -> list[str]:
    return sorted({h[0] for h in search(home, QUERY)} | {h[0] for h in search(home, "đảng")})


def stamp() -> str:
    return datetime.now().strftime("%H%M%S%f")


def grow(home: Path, pages: int) -> int:
    """Make the first document of `home`'s dossier `pages` pages long, each a copy of its
    first page (text and image): a package big enough to watch an import at work."""
    from sqlalchemy import select, update

    from kho.core.catalog import Catalog
    from kho.core.models import Document, Page
    from kho.core.storage import Storage

    st, catalog = Storage(home), Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session(write=True) as s:
            doc = s.scalars(select(Document).order_by(Document.id)).first()
            first = s.get(Page, (doc.id, 1))
            cols = {c.key: getattr(first, c.key) for c in Page.__table__.columns}
            for n in range(doc.page_count + 1, pages + 1):
                s.add(Page(**{**cols, "page": n}))
                for src, dst in ((st.page_text_path(doc.id, 1), st.page_text_path(doc.id, n)),
                                 (st.page_image(doc.id, 1), st.page_image(doc.id, n))):  # fmt: skip
                    if src.is_file():
                        shutil.copyfile(src, dst)
            s.execute(update(Document).where(Document.id == doc.id).values(page_count=pages))
            return doc.id
    finally:
        catalog.close()


def transfer_statuses(home: Path) -> list[str]:
    """The received transfers' statuses, read straight from the SQLite catalog (fast)."""
    import sqlite3

    db = sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in db.execute("SELECT status FROM transfers WHERE direction = 'in'")]
    except sqlite3.OperationalError:  # locked for a moment by the import's write
        return []
    finally:
        db.close()
