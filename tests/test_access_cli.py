"""Access control through the real CLI, on both index backends: manifests, principals,
`--as`, hidden documents on every door (search, show, export), and `kho reindex`."""

from __future__ import annotations

import json
import uuid

import pytest

from kho.synth.pages import write_born_digital_pdf

from .conftest import es_client, es_env, run_kho

# Born-digital PDFs: their text layer is read, no OCR, so the test is quick.
DOCS = {
    "public.pdf": (
        "Kế hoạch tuyên truyền kỷ niệm ngày thành lập quân đội, lưu hành rộng rãi.",
        0,
        "qk7",
        "",
    ),
    "secret-f9.pdf": (
        "Báo cáo tình hình chính trị nội bộ Sư đoàn 9, tài liệu mật.",
        2,
        "qk7/f9",
        "",
    ),
    "secret-qk9.pdf": (
        "Báo cáo tình hình chính trị nội bộ Quân khu 9, tài liệu mật.",
        2,
        "qk9",
        "",
    ),
    "shared.pdf": (
        "Báo cáo tình hình chính trị nội bộ chia sẻ cho ban tổ chức.",
        1,
        "qk9",
        "ban-to-chuc",
    ),
}
CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["qk7"]

[principals.f9]
clearance = 2
units = ["qk7/f9"]
groups = ["ban-to-chuc"]

[principals.qk9]
clearance = 3
units = ["qk9"]
"""


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)])
def archive(request, tmp_path) -> dict:
    env = {"KHO_CONFIG": str(tmp_path / "kho.toml")}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-test-{uuid.uuid4().hex[:10]}"
    (tmp_path / "kho.toml").write_text(CONFIG, encoding="utf-8")
    scans = tmp_path / "scans"
    scans.mkdir()
    rows = ["file,level,unit,groups"]
    for name, (text, level, unit, groups) in DOCS.items():
        write_born_digital_pdf(scans / name, [text])
        rows.append(f"{name},{level},{unit},{groups}")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    run_kho("ingest", str(scans), "--batch", "acl", "-q", home=home, env=env)
    yield {"home": home, "env": env, "scans": scans}
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def files(archive, query: str, *args: str) -> set[str]:
    proc = run_kho("search", query, "--json", *args, home=archive["home"], env=archive["env"])
    return {h["filename"] for h in json.loads(proc.stdout)}


def test_each_principal_sees_exactly_what_it_may(archive):
    query = "chinh tri noi bo"  # typed without diacritics
    assert files(archive, query) == set()  # clerk: clearance 0 in qk7
    assert files(archive, "tuyen truyen") == {"public.pdf"}
    assert files(archive, query, "--as", "f9") == {"secret-f9.pdf", "shared.pdf"}
    assert files(archive, query, "--as", "qk9") == {"secret-qk9.pdf", "shared.pdf"}
    assert files(archive, query, "--as", "qk9", "--unit", "qk9") == {"secret-qk9.pdf", "shared.pdf"}
    unknown = run_kho(
        "search", query, "--as", "nobody", home=archive["home"], env=archive["env"], check=5
    )
    assert "unknown principal 'nobody'" in unknown.stderr


def test_hidden_documents_are_not_found_by_any_door(archive):
    home, env = archive["home"], archive["env"]
    hit = json.loads(
        run_kho("search", "Sư đoàn 9", "--json", "--as", "f9", home=home, env=env).stdout
    )[0]
    doc = hit["doc_id"]
    run_kho("show", doc, "--as", "f9", home=home, env=env)
    for args in (
        ["show", doc],
        ["show", doc, "--as", "qk9"],
        ["export", doc, "--format", "txt", "--out", str(home / "x.txt")],
    ):
        proc = run_kho(*args, home=home, env=env, check=3)
        assert "no document" in proc.stderr
    assert not (home / "x.txt").exists()
    # the audit trail: who searched, read and was refused what, through the CLI
    out = run_kho("audit", "--json", "--limit", "100", home=home, env=env).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    seen = [(r["actor"], r["action"], r["detail"].get("doc_id")) for r in reversed(rows)]
    assert seen[-4:] == [
        ("f9", "view", doc),
        ("clerk", "denied", doc),
        ("qk9", "denied", doc),
        ("clerk", "denied", doc),
    ]
    search = next(r for r in rows if r["action"] == "search")
    assert search["actor"] == "f9" and search["detail"]["query"] == "Sư đoàn 9"
    assert search["detail"]["shown"] == [doc] and search["detail"]["via"] == "cli"
    assert all(r["detail"]["os_user"] for r in rows)


def test_reindex_gives_the_same_answers(archive):
    before = files(archive, "bao cao", "--as", "qk9")
    proc = run_kho("reindex", home=archive["home"], env=archive["env"])
    assert "reindexed 4 pages" in proc.stdout
    assert files(archive, "bao cao", "--as", "qk9") == before == {"secret-qk9.pdf", "shared.pdf"}


def test_bad_manifest_stops_before_any_work(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "a.pdf", ["Thông báo về việc tổ chức hội nghị đảng viên."])
    (scans / "kho-manifest.csv").write_text("file,level\na.pdf,7\n", encoding="utf-8")
    proc = run_kho("ingest", str(scans), home=tmp_path / "home", check=2)
    assert "kho-manifest.csv:2: level must be 0-3" in proc.stderr
    assert not (tmp_path / "home" / "originals").exists()


def test_review_queue_lists_only_visible_documents(archive):
    from kho.core.catalog import Catalog

    home, env = archive["home"], archive["env"]
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:
        from sqlalchemy import update

        from kho.core.catalog import Document

        s.execute(update(Document).values(review="pending"))  # the classifier was unsure of all
    catalog.close()

    def queue(*args: str) -> set[str]:
        out = run_kho("review", "list", "--json", *args, home=home, env=env).stdout
        return {d["filename"] for d in json.loads(out)}

    assert queue() == {"public.pdf"}  # clerk, the default principal
    assert queue("--as", "f9") == {"secret-f9.pdf", "shared.pdf"}
    assert queue("--as", "qk9") == {"secret-qk9.pdf", "shared.pdf"}
    assert len(queue("--as", "qk9", "--limit", "1")) == 1
