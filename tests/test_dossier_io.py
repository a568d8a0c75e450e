"""kho dossier export (xml, csv, pdf), package and verify, through the real CLI on real pages
(the bundled samples, and a real scan from /work/shared/realpages when there), on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pdfplumber
import pikepdf
import pytest

from kho.synth.scratch import scratch_pg_database

from .conftest import REPO, need_service, run_kho

SAMPLES = REPO / "samples"
REAL = Path("/work/shared/realpages/images/qn-51qd-p1.png")
NS = {"k": "urn:kho:archive:dossier:1"}
METS = {"mets": "http://www.loc.gov/METS/", "xlink": "http://www.w3.org/1999/xlink",
        "premis": "http://www.loc.gov/premis/v3"}  # fmt: skip
CONFIG = """
default_principal = "chief"

[principals.chief]
clearance = 3
units = ["*"]

[principals.clerk]
clearance = 1
units = ["qk7"]
"""
# the documents of dossier 01-TCCB, their fields as a person set them, in issue-date order
FIELDS = [
    ("bao-cao-dan-van.jpg", "12", "BC-ĐTN", "2024-01-15", "Báo cáo",
     "Kết quả công tác dân vận quý I năm 2024", "Đoàn Thanh niên Quân khu 7"),
    ("nghi-quyet-chi-bo.png", "05", "NQ/CB", "2024-03-05", "Nghị quyết",
     "Về việc lãnh đạo thực hiện nhiệm vụ chính trị", "Chi bộ Phòng Tổ chức"),
    ("real.png", "51", "QĐ-UBND", "2024-06-20", "Quyết định",
     "Phê duyệt kế hoạch đào tạo, bồi dưỡng cán bộ", "Ủy ban nhân dân tỉnh"),
]  # fmt: skip
# 02-MIXED, unit qk7: the clerk (qk7) sees the first document, not the second (unit qk9)
MIXED = ["ket-luan-kiem-tra.png", "quyet-dinh-chinh-sach.pdf"]
MANIFEST = (
    "file,level,unit,groups\nket-luan-kiem-tra.png,0,qk7,\nquyet-dinh-chinh-sach.pdf,0,qk9,\n"
)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_archive(root: Path, env: dict, *, real: bool = REAL.is_file()) -> dict:
    """Fonds G09 with dossiers 01-TCCB (documents whose fields a person set) and 02-MIXED
    (one document of unit qk7, one of qk9), ingested by folder."""
    home = root / "home"
    home.mkdir()
    (home / "kho.toml").write_text(CONFIG, encoding="utf-8")
    scans = root / "scans"
    (scans / "01-TCCB").mkdir(parents=True)
    (scans / "02-MIXED").mkdir()
    fields = [f for f in FIELDS if real or f[0] != "real.png"]
    for f in fields:
        src = REAL if f[0] == "real.png" else SAMPLES / f[0]
        shutil.copy(src, scans / "01-TCCB" / f[0])
    for name in MIXED:
        shutil.copy(SAMPLES / name, scans / "02-MIXED" / name)
    (scans / "02-MIXED" / "kho-manifest.csv").write_text(MANIFEST, encoding="utf-8")

    def kho(*args, check=0):
        return run_kho(*args, home=home, env=env, check=check)

    kho("fonds", "create", "G09", "--set", "name=Phông Cục Chính trị",
        "--set", "organ_id=000.00.00.G09")  # fmt: skip
    kho("ingest", str(scans), "--fonds", "G09", "--folder-dossiers", "--jobs", "1")
    kho("dossier", "edit", "01-TCCB", "--fonds", "G09", "--set", "file_catalog=2024",
        "--set", "title=Hồ sơ về công tác tổ chức cán bộ năm 2024")  # fmt: skip
    kho("dossier", "edit", "02-MIXED", "--fonds", "G09", "--set", "unit=qk7")
    ids = []
    for name, number, notation, issued, type_name, subject, organ in fields:
        doc_id = sha(scans / "01-TCCB" / name)
        ids.append(doc_id)
        kho("doc", "edit", doc_id, "--set", f"code_number={number}",
            "--set", f"code_notation={notation}", "--set", f"issued_date={issued}",
            "--set", f"type_name={type_name}", "--set", f"subject={subject}",
            "--set", f"organ_name={organ}")  # fmt: skip
    mixed = [sha(scans / "02-MIXED" / n) for n in MIXED]
    for n, doc_id in enumerate(mixed, start=1):
        kho("doc", "edit", doc_id, "--set", f"doc_ordinal={n}")
    return {"home": home, "env": env, "kho": kho, "ids": ids, "fields": fields, "mixed": mixed}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archive(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"dossier-{request.param}")
    if request.param == "sqlite":
        yield build_archive(root, {})
        return
    server = need_service("PostgreSQL", "KHO_DATABASE_URL")
    with scratch_pg_database(server) as db:
        yield build_archive(root, {"KHO_DATABASE_URL": db})


def audit_rows(a: dict, action: str) -> list[dict]:
    out = a["kho"]("audit", "--action", action, "--json", "--limit", "100").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def export(a: dict, tmp_path: Path, fmt: str, *extra: str) -> Path:
    out = tmp_path / f"export.{fmt}"
    a["kho"]("dossier", "export", "01-TCCB", "--fonds", "G09", "--format", fmt,
             "--out", str(out), *extra)  # fmt: skip
    return out


DOC_TAGS = [
    "DocOrdinal", "TypeName", "CodeNumber", "CodeNotation", "IssuedDate", "OrganName",
    "Subject", "Language", "PageAmount", "SignerInfo", "Priority", "SecurityLevel", "To",
    "Description", "DeclassifyDate",
]  # fmt: skip


def test_xml_export_holds_the_annex_vi_tags_in_the_dossiers_order(archive, tmp_path):
    raw = export(archive, tmp_path, "xml").read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(raw)
    assert root.tag == "{urn:kho:archive:dossier:1}DossierExport"
    assert root.findtext("k:Fonds/k:FondsCode", namespaces=NS) == "G09"
    assert root.findtext("k:Fonds/k:FondsName", namespaces=NS) == "Phông Cục Chính trị"
    dossier = root.find("k:Dossier", NS)
    assert dossier.findtext("k:FileCode", namespaces=NS) == "000.00.00.G09.2024.01-TCCB"
    assert dossier.findtext("k:Title", namespaces=NS) == "Hồ sơ về công tác tổ chức cán bộ năm 2024"
    assert dossier.findtext("k:DocTotal", namespaces=NS) == str(len(archive["ids"]))
    assert dossier.findtext("k:StartDate", namespaces=NS) == "2024-01-15"
    docs = dossier.findall("k:Documents/k:Document", NS)
    assert [d.get("id") for d in docs] == archive["ids"]
    for n, (doc, f) in enumerate(zip(docs, archive["fields"], strict=True), start=1):
        assert [c.tag.split("}")[1] for c in doc] == DOC_TAGS
        assert [c.tag.split("}")[1] for c in doc.find("k:SignerInfo", NS)] == [
            "Position", "FullName"]  # fmt: skip
        assert doc.findtext("k:DocOrdinal", namespaces=NS) == str(n)
        assert doc.findtext("k:CodeNotation", namespaces=NS) == f[2]
        assert doc.findtext("k:IssuedDate", namespaces=NS) == f[3]
        assert doc.findtext("k:Subject", namespaces=NS) == f[5]
    (row,) = [r for r in audit_rows(archive, "export") if r["detail"]["format"] == "xml"][:1]
    assert row["detail"]["dossier"] == "000.00.00.G09.2024.01-TCCB"
    assert row["detail"]["documents"] == archive["ids"]


def test_csv_export_is_the_list_of_documents_readable_by_spreadsheets(archive, tmp_path):
    raw = export(archive, tmp_path, "csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["STT", "Số/ký hiệu", "Ngày tháng", "Tên loại và trích yếu nội dung",
                       "Tác giả", "Tờ/trang", "Ghi chú"]  # fmt: skip
    assert len(rows) == 1 + len(archive["fields"])
    for n, (row, f) in enumerate(zip(rows[1:], archive["fields"], strict=True), start=1):
        y, m, d = f[3].split("-")
        assert row[:5] == [str(n), f"{f[1]}/{f[2]}", f"{d}/{m}/{y}", f"{f[4]} — {f[5]}", f[6]]
        assert row[5] == str(n)  # one page each: tờ 1, 2, 3


def _fonts(pdf: pikepdf.Pdf):
    for page in pdf.pages:
        for font in page.Resources.get("/Font", {}).values():
            yield from font.get("/DescendantFonts", [font])


def test_pdf_export_has_cover_list_and_every_page_pdfa_properties(archive, tmp_path):
    path = export(archive, tmp_path, "pdf")
    n_docs = len(archive["ids"])
    with pikepdf.open(path) as pdf:
        assert not pdf.is_encrypted
        assert len(pdf.pages) == 2 + n_docs  # cover, mục lục, one page per document
        for font in _fonts(pdf):
            desc = font.get("/FontDescriptor")
            assert desc is not None and any(k in desc for k in ("/FontFile", "/FontFile2",
                                                                 "/FontFile3")), font  # fmt: skip
        (intent,) = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and str(intent.OutputConditionIdentifier).startswith("sRGB")
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert meta["dc:title"].startswith("000.00.00.G09.2024.01-TCCB")
        assert "/OpenAction" not in pdf.Root
        assert all("/AA" not in p.obj for p in pdf.pages)
        with pdf.open_outline() as outline:
            marks = [(item.title, item.destination[0].objgen) for item in outline.root]
        pages = [p.objgen for p in pdf.pages]
    assert [pages.index(g) for _, g in marks] == list(range(2 + n_docs))
    assert [t for t, _ in marks][2:] == [f"{n}. {f[4]} — {f[5]}"
                                         for n, f in enumerate(archive["fields"], 1)]  # fmt: skip
    with pdfplumber.open(path) as pdf:
        cover = pdf.pages[0].extract_text()
        listing = pdf.pages[1].extract_text()
    assert "Hồ sơ về công tác tổ chức cán bộ năm 2024" in cover
    assert "MỤC LỤC VĂN BẢN" in listing
    words = set(listing.split())  # cells wrap: each word of each field, its marks intact
    for n, f in enumerate(archive["fields"], start=1):
        y, m, d = f[3].split("-")
        expected = [str(n), f"{f[1]}/{f[2]}", f"{d}/{m}/{y}", *f"{f[4]} — {f[5]} {f[6]}".split()]
        assert set(expected) <= words, set(expected) - words


def test_an_export_never_replaces_a_file(archive, tmp_path):
    out = tmp_path / "taken.xml"
    out.write_bytes(b"mine")
    proc = archive["kho"]("dossier", "export", "01-TCCB", "--fonds", "G09", "--format", "xml",
                          "--out", str(out), check=2)  # fmt: skip
    assert "exists" in proc.stderr and out.read_bytes() == b"mine"


def test_hidden_document_is_left_out_of_the_export_and_the_package_refused(archive, tmp_path):
    kho, (public, secret) = archive["kho"], archive["mixed"]
    out = tmp_path / "mixed.xml"
    kho("dossier", "export", "02-MIXED", "--fonds", "G09", "--format", "xml", "--out", str(out),
        "--as", "clerk")  # fmt: skip
    ids = [d.get("id") for d in ET.parse(out).getroot().iterfind(".//k:Document", NS)]
    assert ids == [public]
    assert secret not in out.read_text(encoding="utf-8")
    as_chief = tmp_path / "chief.xml"
    kho("dossier", "export", "02-MIXED", "--fonds", "G09", "--format", "xml", "--out",
        str(as_chief))  # fmt: skip
    assert len(ET.parse(as_chief).getroot().findall(".//k:Document", NS)) == 2
    bag = tmp_path / "bag"
    proc = kho("dossier", "package", "02-MIXED", "--fonds", "G09", "--out", str(bag),
               "--as", "clerk", check=3)  # fmt: skip
    assert "documents you may not see" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not bag.exists() and set(tmp_path.iterdir()) == {out, as_chief}


@pytest.fixture(scope="module")
def package(archive, tmp_path_factory) -> Path:
    bag = tmp_path_factory.mktemp("bag") / "01-TCCB"
    archive["kho"]("dossier", "package", "01-TCCB", "--fonds", "G09", "--out", str(bag))
    return bag


def test_package_is_a_valid_bag_with_mets_premis_and_alto(archive, package):
    proc = archive["kho"]("dossier", "verify", str(package))
    assert proc.stdout.strip().endswith("valid")
    assert (package / "manifest-sha512.txt").is_file()
    assert (package / "tagmanifest-sha512.txt").is_file()
    for doc_id, f in zip(archive["ids"], archive["fields"], strict=True):
        ext = f[0].rsplit(".", 1)[1]
        stored = archive["home"] / "originals" / doc_id[:2] / f"{doc_id}.{ext}"
        assert (package / "data/originals" / f"{doc_id}.{ext}").read_bytes() == stored.read_bytes()
    root = ET.parse(package / "data/metadata/mets.xml").getroot()
    groups = {g.get("USE"): g for g in root.iterfind(".//mets:fileGrp", METS)}
    assert set(groups) == {"ORIGINAL", "PDF", "ALTO", "METADATA"}
    assert {f.get("CHECKSUMTYPE") for f in root.iterfind(".//mets:file", METS)} == {"SHA-512"}
    docs = root.findall("mets:structMap/mets:div/mets:div[@TYPE='document']", METS)
    assert [d.get("ORDER") for d in docs] == [str(n) for n in range(1, len(archive["ids"]) + 1)]
    for div in docs:
        (page,) = div.findall("mets:div[@TYPE='page']", METS)  # one page each
        alto_id = page.find("mets:fptr", METS).get("FILEID")
        href = groups["ALTO"].find(f"mets:file[@ID='{alto_id}']/mets:FLocat", METS)
        alto = ET.parse(package / "data/metadata" / href.get(f"{{{METS['xlink']}}}href"))
        assert alto.getroot().tag.endswith("alto") and alto.getroot().iter()
    types = [e.text for e in root.iterfind(".//premis:eventType", METS)]
    for kind in ("ingestion", "modification", "transcription", "metadata modification",
                 "fixity check", "validation"):  # fmt: skip
        assert types.count(kind) >= len(archive["ids"]), kind
    details = " ".join(e.text for e in root.iterfind(".//premis:eventDetail", METS))
    assert "tesseract 5" in details and "Kết quả công tác dân vận" in details
    agents = {e.text for e in root.iterfind(".//premis:agentName", METS)}
    assert "chief" in agents and "Phông Cục Chính trị" in agents
    (row,) = audit_rows(archive, "package")[:1]
    assert row["detail"]["documents"] == archive["ids"]


def tampered(package: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(package, copy)
    return copy


def verify_fails(archive, bag: Path) -> str:
    proc = archive["kho"]("dossier", "verify", str(bag), check=1)
    return proc.stdout


def test_verify_names_a_changed_byte(archive, package, tmp_path):
    bag = tampered(package, tmp_path)
    target = next((bag / "data/originals").iterdir())
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    out = verify_fails(archive, bag)
    assert f"data/originals/{target.name}" in out and "SHA-512 differs" in out


def test_verify_names_a_removed_file(archive, package, tmp_path):
    bag = tampered(package, tmp_path)
    target = next((bag / "data/alto").rglob("page-00001.xml"))
    target.unlink()
    out = verify_fails(archive, bag)
    rel = target.relative_to(bag).as_posix()
    assert f"{rel}: named by METS but missing" in out


def test_verify_names_an_unlisted_file(archive, package, tmp_path):
    bag = tampered(package, tmp_path)
    (bag / "data/pdf/extra.pdf").write_bytes(b"%PDF-1.7 not listed")
    out = verify_fails(archive, bag)
    assert "data/pdf/extra.pdf: in the bag but not named by METS" in out


def test_verify_names_an_edited_mets(archive, package, tmp_path):
    bag = tampered(package, tmp_path)
    mets = bag / "data/metadata/mets.xml"
    mets.write_text(mets.read_text(encoding="utf-8").replace("Phông Cục", "Phông Cuc"), "utf-8")
    out = verify_fails(archive, bag)
    assert "data/metadata/mets.xml" in out


def test_package_into_a_folder_with_files_is_refused(archive, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = archive["kho"]("dossier", "package", "01-TCCB", "--fonds", "G09", "--out",
                          str(tmp_path), check=2)  # fmt: skip
    assert "not an empty folder" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_documents_master_is_used_when_it_has_one(archive, tmp_path):
    from reportlab.pdfgen.canvas import Canvas

    from kho.archive.fonts import reportlab_fonts

    public, secret = archive["mixed"]
    master = archive["home"] / "docs" / public / "master.pdf"
    canvas = Canvas(str(master), initialFontName=reportlab_fonts()[0])
    canvas.drawString(72, 720, "BẢN GỐC MÀU của kết luận kiểm tra")
    canvas.save()
    out = tmp_path / "mixed.pdf"
    archive["kho"]("dossier", "export", "02-MIXED", "--fonds", "G09", "--format", "pdf",
                   "--out", str(out))  # fmt: skip
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 2 + 2
        assert "BẢN GỐC MÀU của kết luận kiểm tra" in pdf.pages[2].extract_text()
    bag = tmp_path / "bag"
    archive["kho"]("dossier", "package", "02-MIXED", "--fonds", "G09", "--out", str(bag))
    assert digest(bag / "data/pdf" / f"001-{public}.pdf") == digest(master)
    other = archive["home"] / "docs" / secret  # its own master (a scan), else searchable
    own = other / "master.pdf" if (other / "master.pdf").exists() else other / "searchable.pdf"
    assert digest(bag / "data/pdf" / f"002-{secret}.pdf") == digest(own)
