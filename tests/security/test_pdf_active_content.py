"""A born-digital PDF with JavaScript, actions, XFA, RichMedia and embedded files, through the
real CLI: kho serves it rewritten without them, keeps the original byte for byte, and
ingests what it carries as documents of their own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pdfplumber
import pikepdf

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho
from .test_ingest_access import archive, documents, found

TEXT = "Thông báo lịch họp chi bộ tháng mười, lưu hành nội bộ."
ANNEX = "Phụ lục danh sách cán bộ được đề nghị khen thưởng\nTUYỆT MẬT"
ACTIVE_KEYS = {"/OpenAction", "/AA", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA"}
ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/URI", "/SubmitForm"}


def active_pdf(path: Path, annex: Path) -> None:
    """Every kind of active content a viewer may run, and two carried files."""
    write_born_digital_pdf(path.with_suffix(".base.pdf"), [TEXT])
    pdf = pikepdf.open(path.with_suffix(".base.pdf"))
    js = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert('x')"))
    pdf.Root.OpenAction = js
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=["run", js]))
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[], XFA=pdf.make_stream(b"<xdp:xdp/>"))
    page = pdf.pages[0]
    page.obj.AA = pikepdf.Dictionary(O=js)

    def annot(subtype: str, **extra) -> pikepdf.Dictionary:
        return pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name(subtype), Rect=[0, 0, 50, 50], **extra
        )

    note = pikepdf.AttachedFileSpec(pdf, b"ghi chu noi bo", filename="ghi-chu.txt")
    page.obj.Annots = pdf.make_indirect(
        [
            annot("/Link", A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI="http://x.invalid/")),
            annot("/Link", A=pikepdf.Dictionary(S=pikepdf.Name.Launch, F="cmd.exe")),
            annot("/Link", A=pikepdf.Dictionary(S=pikepdf.Name.SubmitForm, F="http://x/")),
            annot("/FileAttachment", FS=note.obj),
            annot("/RichMedia", RichMediaContent=pikepdf.Dictionary()),
        ]
    )
    pdf.attachments["phu-luc.pdf"] = pikepdf.AttachedFileSpec.from_filepath(pdf, annex)
    pdf.save(path)
    path.with_suffix(".base.pdf").unlink()


def active_content(path: Path) -> list[str]:
    """What of ACTIVE_KEYS / ACTIVE_ACTIONS / carried files a PDF still holds, anywhere."""
    left = []
    with pikepdf.open(path) as pdf:
        left += [f"{o.objgen}" for o in pdf.objects if isinstance(o, pikepdf.Stream)
                 and o.get("/Type") == "/EmbeddedFile"]  # fmt: skip
        seen, stack = set(), [pdf.trailer]
        while stack:
            obj = stack.pop()
            if isinstance(obj, pikepdf.Array):
                stack.extend(obj)
                continue
            if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                continue
            if obj.is_indirect:
                if obj.objgen in seen:
                    continue
                seen.add(obj.objgen)
            for key in obj.keys():
                if key in ACTIVE_KEYS or str(obj.get("/S", "")) in ACTIVE_ACTIONS:
                    left.append(key)
                if key not in ("/Parent", "/P"):
                    stack.append(obj[key])
            if str(obj.get("/Subtype", "")) in ("/FileAttachment", "/RichMedia"):
                left.append(str(obj["/Subtype"]))
    return left


def test_pdfs_are_served_without_active_content_and_carried_files_become_documents(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    annex = tmp_path / "phu-luc.pdf"
    write_born_digital_pdf(annex, [ANNEX])
    source = scans / "thong-bao.pdf"
    active_pdf(source, annex)
    assert active_content(source)  # the attack is in the file

    proc = run_kho("ingest", str(scans), "--batch", "active", "-q", home=home, env=env)

    docs = documents(home)
    parent, child = docs["thong-bao.pdf"], docs["phu-luc.pdf"]
    # the original is kept as it came
    stored = home / "originals" / parent.id[:2] / f"{parent.id}.pdf"
    assert stored.read_bytes() == source.read_bytes()
    # what kho serves (export, and the web's file download: the same searchable.pdf)
    served = tmp_path / "served.pdf"
    run_kho("export", parent.id, "--out", str(served), "--as", "admin", home=home, env=env)
    assert served.read_bytes() != source.read_bytes()
    assert active_content(served) == []
    with pdfplumber.open(served) as pdf:
        lines = pdf.pages[0].extract_text().splitlines()
    assert lines[-1].startswith("Bản sao sử dụng — cấp cho admin, ")  # a use copy's footer
    assert " ".join(" ".join(lines[:-1]).split()) == TEXT  # text layer intact
    # the carried PDF is a document of its own, a child of the PDF, its mark read
    assert child.meta["parent"] == parent.id and child.meta["attachment"] == "phu-luc.pdf"
    assert hashlib.sha256(annex.read_bytes()).hexdigest() == child.id
    assert child.level == 3 and parent.level == 3  # the PDF carrying it is as secret
    hits = run_kho("search", "danh sach can bo", "--json", "--as", "admin", home=home, env=env)
    assert {h["filename"] for h in json.loads(hits.stdout)} == {"phu-luc.pdf"}
    assert found(home, env, "lich hop chi bo", "admin") == {"thong-bao.pdf"}
    assert found(home, env, "lich hop chi bo", "clerk") == set()
    # a carried file kho cannot read is refused with a line, not silently dropped
    err = " ".join(proc.stderr.split())
    assert (
        f"skipped {source}#attachment-" in err and ":ghi-chu.txt: attachment 'ghi-chu.txt'" in err
    )
    log = (home / "logs" / "kho.log").read_text(encoding="utf-8")
    assert f"doc {parent.id[:12]}: active content left out of the served PDF" in log


def test_a_file_carried_by_a_marked_pdf_is_as_secret_as_the_pdf(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    annex = tmp_path / "danh-sach.pdf"
    write_born_digital_pdf(annex, ["Danh sách cán bộ dự kiến điều động"])
    base = tmp_path / "cover.pdf"
    write_born_digital_pdf(base, ["Công văn gửi kèm danh sách cán bộ\nTỐI MẬT"])
    with pikepdf.open(base) as pdf:
        pdf.attachments["danh-sach.pdf"] = pikepdf.AttachedFileSpec.from_filepath(pdf, annex)
        pdf.save(scans / "cong-van.pdf")

    run_kho("ingest", str(scans), "--batch", "cover", "-q", home=home, env=env)

    docs = documents(home)
    assert docs["cong-van.pdf"].level == 2
    assert docs["danh-sach.pdf"].level == 2  # carried by a TỐI MẬT letter: TỐI MẬT too
    assert docs["cong-van.pdf"].meta["attachments"] == [docs["danh-sach.pdf"].id]
    assert found(home, env, "dieu dong", "clerk") == set()
    assert found(home, env, "dieu dong", "admin") == {"danh-sach.pdf"}


def test_reindex_rewrites_a_served_pdf_still_copied_from_its_original(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    annex = tmp_path / "phu-luc.pdf"
    write_born_digital_pdf(annex, [ANNEX])
    source = scans / "thong-bao.pdf"
    active_pdf(source, annex)
    run_kho("ingest", str(scans), "--batch", "old", "-q", home=home, env=env)
    doc = documents(home)["thong-bao.pdf"]
    # an archive written before served PDFs were rewritten holds the original there
    (home / "docs" / doc.id / "searchable.pdf").write_bytes(source.read_bytes())

    run_kho("reindex", home=home, env=env)

    served = tmp_path / "served.pdf"
    run_kho("export", doc.id, "--out", str(served), "--as", "admin", home=home, env=env)
    assert active_content(served) == []
    stored = home / "originals" / doc.id[:2] / f"{doc.id}.pdf"
    assert stored.read_bytes() == source.read_bytes()
