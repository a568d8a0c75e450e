"""A killed `kho reindex` carries on where it stopped, on both index backends: the real CLI
in a subprocess, SIGKILLed once it reports progress, run again; the index it finishes is
the one a reindex from the start (`--restart`) builds."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import ES_LOGIN, es_client, es_env, run_kho

DOCUMENTS, PAGES = 150, 20  # 3,000 pages: the reindex saves its place every 1,000
CONFIG = 'default_principal = "chief"\n[principals.chief]\nclearance = 3\nunits = ["*"]\n'
PROGRESS = re.compile(r"reindex: (\d+)/(\d+) documents")
QUERIES = ("kế hoạch", "chi bo", "quyết định khen thưởng", "đảng viên")


def build_archive(home: Path, env: dict) -> None:
    """One born-digital PDF ingested for real, then DOCUMENTS documents of PAGES pages
    each, like it, filed straight into the catalog and the storage root in one go (their
    page texts from `synth.text`), the same every run."""
    from kho.core import catalog as cat
    from kho.core.catalog import Catalog
    from kho.core.storage import Storage
    from kho.core.types import PageText
    from kho.synth.pages import write_born_digital_pdf
    from kho.synth.text import CATEGORIES, document_text

    scans = home.parent / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "mau.pdf", [document_text("to_chuc_dang", 1)])
    run_kho("ingest", str(scans), "--batch", "mau", "-q", home=home, env=env)
    catalog, storage = Catalog(f"sqlite:///{home / 'catalog.sqlite'}"), Storage(home)
    model = catalog.indexed_documents()[0]
    columns = {c.name: getattr(model, c.name) for c in cat.Document.__table__.columns}
    with catalog.session(write=True) as s:
        for i in range(DOCUMENTS):
            doc_id = f"{i:04d}{uuid.UUID(int=i).hex}{'0' * 28}"
            s.add(cat.Document(**{**columns, "id": doc_id, "page_count": PAGES,
                                  "filename": f"ho-so-{i:04d}.pdf", "level": i % 4}))  # fmt: skip
            s.flush()
            for page in range(1, PAGES + 1):
                s.add(cat.Page(doc_id=doc_id, page=page, status=cat.DONE, source="text-layer"))
                text = document_text(CATEGORIES[(i + page) % len(CATEGORIES)], i * PAGES + page)
                path = storage.page_text_path(doc_id, page)
                path.parent.mkdir(exist_ok=True)
                data = PageText(text, 100.0, (), 1, 1, "text-layer").to_json()
                path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    catalog.close()


def kill_after_progress(home: Path, env: dict, *args: str) -> int:
    """Start `kho reindex`, SIGKILL it at its first progress line; the documents it had
    reported done."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KHO_") or k in ES_LOGIN}
    full.update({"KHO_HOME": str(home), **env})
    command = [sys.executable, "-m", "kho", "reindex", *args]
    proc = subprocess.Popen(
        command, env=full, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        for line in proc.stderr:
            if found := PROGRESS.search(line):
                proc.send_signal(signal.SIGKILL)
                done, total = map(int, found.groups())
                assert total == DOCUMENTS + 1 and done < total, line
                return done
        raise AssertionError(f"kho reindex ended (exit {proc.wait()}) before any progress")
    finally:
        proc.kill()
        proc.wait()


def index_state(home: Path, env: dict) -> dict:
    """What the index holds (page ids) and what searches answer, as the chief sees it."""
    if "KHO_ELASTICSEARCH_URL" in env:
        es = es_client(env["KHO_ELASTICSEARCH_URL"])
        from kho.index.elastic_query import DOCUMENTS_ONLY, PAGES_ONLY

        res = es.search(index=env["KHO_INDEX_NAME"], query=PAGES_ONLY, size=10_000,
                        source=False, sort=["uid"])  # fmt: skip
        ids = [h["_id"] for h in res["hits"]["hits"]]
        # every document's record is there too, one each, beside its pages
        records = es.search(index=env["KHO_INDEX_NAME"], query=DOCUMENTS_ONLY, size=10_000)
        assert sorted(h["_id"] for h in records["hits"]["hits"]) == sorted(
            {i.split(":")[0] for i in ids}
        )
    else:
        with sqlite3.connect(home / "index.sqlite") as db:
            ids = [
                f"{d}:{p}" for d, p in db.execute("SELECT doc_id, page FROM pages ORDER BY 1, 2")
            ]
    searches = {}
    for query in QUERIES:
        out = run_kho("search", query, "--json", "--limit", "50", home=home, env=env).stdout
        searches[query] = json.loads(out)
    return {"ids": ids, "searches": searches}


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)])
def archive(request, tmp_path):
    env: dict = {"KHO_CONFIG": str(tmp_path / "kho.toml")}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-test-{uuid.uuid4().hex[:10]}"
    (tmp_path / "kho.toml").write_text(CONFIG, encoding="utf-8")
    home = tmp_path / "home"
    build_archive(home, env)
    yield home, env
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


@pytest.mark.slow
def test_a_killed_reindex_carries_on_and_ends_as_a_clean_one(archive):
    home, env = archive
    reported = kill_after_progress(home, env)
    resumed = run_kho("reindex", home=home, env=env)
    at = re.search(r"continuing into .* at document (\d+) of (\d+)", resumed.stderr)
    assert at, resumed.stderr
    start, total = map(int, at.groups())
    assert reported < start <= total == DOCUMENTS + 1, resumed.stderr
    assert f"reindexed {(DOCUMENTS * PAGES) + 1} pages" in resumed.stdout
    assert not (home / "reindex.json").exists()
    finished = index_state(home, env)
    assert len(finished["ids"]) == DOCUMENTS * PAGES + 1
    assert all(finished["searches"].values()), finished["searches"]

    kill_after_progress(home, env)  # killed again, then started over
    clean = run_kho("reindex", "--restart", home=home, env=env)
    assert "continuing" not in clean.stderr and f"{DOCUMENTS + 1} documents into" in clean.stderr
    assert index_state(home, env) == finished
    if "KHO_ELASTICSEARCH_URL" in env:  # the version the second kill left unfinished is gone
        es = es_client(env["KHO_ELASTICSEARCH_URL"])
        assert len(es.indices.get(index=f"{env['KHO_INDEX_NAME']}-v*")) == 1
