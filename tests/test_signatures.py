"""Signed PDFs: the signing overlay and the /Sig dictionaries are metadata, and a scan whose
only text layer is the overlay is still OCR'd."""

from __future__ import annotations

import hashlib
import json

import pikepdf
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from kho.ingest.signatures import read_signatures
from kho.synth.admin import generate_document
from kho.synth.pages import DEJAVU_SANS, _pil, render_page, write_born_digital_pdf

from .conftest import run_kho

OVERLAY = [
    "Ký bởi: Ủy ban nhân dân",
    "tỉnh Quảng Ngãi",
    "Email: ubnd@quangngai.gov.vn",
    "Thời gian ký: 04.02.2025 15:38:27 +07:00",
]


def write_signed_scan(path) -> str:
    """A scanned page (an image, no text of its own) with a signing overlay stamped on it:
    a small seal image and the overlay's lines of PDF text. Returns the page's text."""
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU_SANS)))
    page = render_page(generate_document("can_bo", seed=3).text, dpi=200)
    h, w = page.image.shape[:2]
    size = (w * 72 / 200, h * 72 / 200)
    pdf = canvas.Canvas(str(path), pagesize=size, invariant=1)
    pdf.drawImage(ImageReader(_pil(page.image)), 0, 0, width=size[0], height=size[1])
    pdf.setFillColorRGB(0.8, 0.1, 0.1)
    pdf.circle(size[0] - 190, 60, 18, fill=1)  # the seal
    text = pdf.beginText(size[0] - 165, 75)
    text.setFont("DejaVuSans", 6, 7)
    for line in OVERLAY:
        text.textLine(line)
    pdf.drawText(text)
    pdf.showPage()
    pdf.save()
    return page.text


def add_signature_field(path) -> None:
    """A /Sig form field whose value is a signature dictionary, as signing tools write."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        sig = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Sig,
                Filter=pikepdf.Name("/Adobe.PPKLite"),
                SubFilter=pikepdf.Name("/adbe.pkcs7.detached"),
                Name=pikepdf.String("Trần Hoàng Tuấn"),
                M=pikepdf.String("D:20250204153827+07'00'"),
                Reason=pikepdf.String("Phê duyệt"),
                Location=pikepdf.String("Quảng Ngãi"),
                Contents=pikepdf.String(b"\0" * 64),
                ByteRange=pikepdf.Array([0, 0, 0, 0]),
            )
        )
        widget = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                FT=pikepdf.Name.Sig,
                T=pikepdf.String("Signature1"),
                V=sig,
                Rect=pikepdf.Array([0, 0, 0, 0]),
                F=132,
                P=pdf.pages[0].obj,
            )
        )
        pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([widget]))
        pdf.Root.AcroForm = pdf.make_indirect(
            pikepdf.Dictionary(Fields=pikepdf.Array([widget]), SigFlags=3)
        )
        pdf.save(path)


def test_signature_dictionary_and_overlay_are_read(tmp_path):
    signed = tmp_path / "signed.pdf"
    write_born_digital_pdf(signed, ["Quyết định về việc thử nghiệm ký số văn bản hành chính."])
    add_signature_field(signed)
    (sig,) = read_signatures(signed)
    assert (sig.signer, sig.time, sig.location, sig.reason, sig.source) == (
        "Trần Hoàng Tuấn", "2025-02-04T15:38:27+07:00", "Quảng Ngãi", "Phê duyệt", "sig-field",
    )  # fmt: skip
    scan = tmp_path / "scan.pdf"
    write_signed_scan(scan)
    (overlay,) = read_signatures(scan)
    assert overlay.signer == "Ủy ban nhân dân tỉnh Quảng Ngãi"
    assert overlay.email == "ubnd@quangngai.gov.vn"
    assert overlay.time == "2025-02-04T15:38:27+07:00"


def test_a_scan_with_only_the_overlay_is_ocrd_and_keeps_its_signature(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    truth = write_signed_scan(scans / "quyet-dinh.pdf")
    write_born_digital_pdf(scans / "ky-so.pdf", ["Thông báo về việc thử nghiệm ký số văn bản."])
    add_signature_field(scans / "ky-so.pdf")
    home = tmp_path / "home"
    run_kho("ingest", str(scans), "--batch", "b1", "--lang", "vie", home=home)
    exported = {}
    for name in ("quyet-dinh.pdf", "ky-so.pdf"):
        doc_id = hashlib.sha256((scans / name).read_bytes()).hexdigest()  # a document's id
        out = tmp_path / f"{name}.json"
        run_kho("export", doc_id, "--format", "json", "--out", str(out), home=home)
        exported[name] = json.loads(out.read_text("utf-8"))
    scan = exported["quyet-dinh.pdf"]
    page = scan["pages"][0]
    assert page["source"] == "ocr", page["text"][:200]  # the overlay is not the page's text
    assert "Ký bởi" not in page["text"]
    assert truth.split("\n")[0].split()[0] in page["text"]
    (sig,) = scan["meta"]["signatures"]
    assert sig == {
        "signer": "Ủy ban nhân dân tỉnh Quảng Ngãi",
        "organization": "Ủy ban nhân dân tỉnh Quảng Ngãi",
        "email": "ubnd@quangngai.gov.vn",
        "time": "2025-02-04T15:38:27+07:00",
        "source": "overlay",
    }
    signed = exported["ky-so.pdf"]
    assert signed["pages"][0]["source"] == "text-layer"
    assert [s["signer"] for s in signed["meta"]["signatures"]] == ["Trần Hoàng Tuấn"]
