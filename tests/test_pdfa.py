"""Archival masters and use copies on real scans ingested by the real CLI: every master and
use copy passes veraPDF's PDF/A-2b profile; a master holds the original's pixels (colour as
scanned, lossless, at its size and dpi) and its text where the words are on the original,
a tilted and turned copy too; `kho export` and the web download give a marked use copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytesseract
import pytest
from PIL import Image

from kho.synth.pages import degrade, render_page, write_png

from .conftest import REPO, run_kho

pytestmark = pytest.mark.slow
REALPAGES = Path("/work/shared/realpages/images")
VERAPDF = Path(sys.prefix) / "share" / "kho" / "verapdf" / "verapdf"
USE_COPY_NS = "http://ns.kho.local/use-copy/1.0/"
SKEW = 3.5  # degrees counter-clockwise a tilted copy is tilted by, before its quarter turn
STAMPED = (  # words found once each, so each one's place can be checked
    "Quyết định về việc khen thưởng tập thể Chi bộ Đại đội 3 năm 2024.\n"
    "Căn cứ Điều lệ Đảng Cộng sản Việt Nam và Quy định thi hành Điều lệ;\n"
    "Xét đề nghị của Ban Tổ chức Đảng ủy Trung đoàn, Thường vụ quyết định:\n"
    "Khen thưởng tập thể hoàn thành xuất sắc nhiệm vụ trong công tác xây dựng"
)


def need_verapdf() -> Path:
    if VERAPDF.exists():
        return VERAPDF
    msg = f"veraPDF is not installed at {VERAPDF}: run scripts/setup (needs Java and Maven)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def verapdf(*pdfs: Path) -> dict[str, list[str]]:
    """veraPDF's PDF/A-2b verdict on each file: the failed rules' clauses ([] = compliant)."""
    proc = subprocess.run(
        [str(need_verapdf()), "--flavour", "2b", "--format", "mrr", *map(str, pdfs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = ET.fromstring(proc.stdout)
    verdicts = {}
    for job in report.iter("job"):
        name = job.find("item/name").text
        found = job.find("validationReport")
        assert found is not None, f"veraPDF could not read {name}: {proc.stdout[-2000:]}"
        failed = [
            f"{r.get('clause')}-{r.get('testNumber')}: {r.findtext('description')}"
            for r in found.iter("rule")
            if r.get("status") == "failed"
        ]
        assert (found.get("isCompliant") == "true") == (not failed)
        verdicts[name] = failed
    assert len(verdicts) == len(pdfs), proc.stderr
    return verdicts


def tilt_matrix(width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Where tilting a page SKEW degrees onto a larger canvas (cv2's convention) takes its
    points, and the canvas size."""
    m = cv2.getRotationMatrix2D((width / 2, height / 2), SKEW, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w, new_h = (
        int(np.ceil(width * cos + height * sin)),
        int(np.ceil(height * cos + width * sin)),
    )
    m[0, 2] += (new_w - width) / 2
    m[1, 2] += (new_h - height) / 2
    return m, new_w, new_h


def tilted(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page tilted SKEW degrees, then turned a quarter clockwise (a crooked sideways
    feed); and the 3x3 matrix that takes its points there."""
    m, new_w, new_h = tilt_matrix(img.shape[1], img.shape[0])
    white = (255,) * 3 if img.ndim == 3 else 255
    out = cv2.warpAffine(img, m, (new_w, new_h), borderValue=white)
    out = np.ascontiguousarray(np.rot90(out, k=-1))
    turn = np.array([[0.0, -1.0, new_h], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # (h - y, x)
    return out, turn @ np.vstack([m, [0.0, 0.0, 1.0]])


def truth_words(path: Path) -> dict[str, tuple[float, float, float]]:
    """Words tesseract reads surely on a straight original (read apart from kho's cleanup),
    each found once: text -> centre x, centre y, height in the original's pixels."""
    with Image.open(path) as im:
        data = pytesseract.image_to_data(im.convert("L"), lang="vie", output_type="dict")
    seen: dict[str, list] = {}
    for i, text in enumerate(data["text"]):
        if len(text) >= 4 and float(data["conf"][i]) >= 80:
            box = data["left"][i], data["top"][i], data["width"][i], data["height"][i]
            seen.setdefault(text, []).append(box)
    return {
        t: (x + w / 2, y + h / 2, h) for t, boxes in seen.items() if len(boxes) == 1
        for x, y, w, h in boxes
    }  # fmt: skip


def master_words(pdf: Path) -> dict[str, list[tuple[float, float]]]:
    """Words pdftotext finds on page 1, each with its centres in the page image's pixels."""
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with pikepdf.open(pdf) as doc:
        page = doc.pages[0]
        rotate = int(page.obj.get("/Rotate", 0)) % 360
        _, _, width, height = (float(v) for v in page.mediabox)
        image = image_of(page)
        px_w, px_h = int(image.Width), int(image.Height)
    found: dict[str, list[tuple[float, float]]] = {}
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                         r"([^<]*)</word>", out):  # fmt: skip
        x, y = (float(m[1]) + float(m[3])) / 2, (float(m[2]) + float(m[4])) / 2
        # pdftotext measures the page as shown (turned by /Rotate): back to the page's own
        x, y = {0: (x, y), 90: (y, height - x), 180: (width - x, height - y),
                270: (width - y, x)}[rotate]  # fmt: skip
        found.setdefault(m[5], []).append((x * px_w / width, y * px_h / height))
    return found


def placed_share(pdf: Path, truth: dict, to_scan: np.ndarray) -> tuple[float, int]:
    """Share of the true words (moved onto the scan by `to_scan`) that the master's text has
    within half a line of where they are; and how many were compared."""
    found = master_words(pdf)
    near = compared = 0
    for text, (x, y, h) in truth.items():
        if text not in found:
            continue
        compared += 1
        sx, sy, _ = to_scan @ np.array([x, y, 1.0])
        near += any(np.hypot(px - sx, py - sy) <= max(0.5 * h, 6) for px, py in found[text])
    return near / max(compared, 1), compared


def documents(home: Path, status: str = "indexed") -> dict[str, str]:
    """File name -> id of the documents in the catalog with `status`."""
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return dict(db.execute("SELECT filename, id FROM documents WHERE status = ?", (status,)))


def colour_page(real: list[Path]) -> Path | None:
    """A real page scanned in colour, if the real pages are here."""
    for path in real:
        with Image.open(path) as im:
            if im.mode == "RGB":
                return path
    return None


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pdfa")
    scans = root / "scans"
    shutil.copytree(REPO / "samples", scans)
    page = render_page(STAMPED, height_in=4)
    stamped = degrade(page.image, seed=3, stamp=True)  # colour: a red seal over the text
    write_png(scans / "stamped.png", stamped, page.dpi)
    write_png(scans / "stamped-tilted.png", tilted(stamped)[0], page.dpi)
    real = sorted(REALPAGES.glob("*.png")) if REALPAGES.is_dir() else []
    for path in real:
        shutil.copy(path, scans / path.name)
    if (colour := colour_page(real)) is not None:
        with Image.open(colour) as im:
            write_png(scans / "real-tilted.png", tilted(np.array(im.convert("RGB")))[0], 300)
    # odd inputs: a 1-bit G4 TIFF, a CMYK JPEG, a 16-bit gray PNG, a truncated PNG
    with Image.open(REPO / "samples" / "nghi-quyet-chi-bo.png") as im:
        gray = im.convert("L")
    bilevel = gray.point(lambda v: 255 if v > 128 else 0).convert("1")
    bilevel.save(scans / "odd-1bit.tif", compression="group4", dpi=(300, 300))
    cmyk = Image.fromarray(np.ascontiguousarray(stamped[:, :, ::-1])).convert("CMYK")
    cmyk.save(scans / "odd-cmyk.jpg", dpi=(300, 300))
    wide = np.array(gray).astype(np.uint16) * 257
    Image.fromarray(wide).save(scans / "odd-16bit.png", dpi=(300, 300))
    whole = (scans / "stamped.png").read_bytes()
    (scans / "odd-truncated.png").write_bytes(whole[: len(whole) // 2])
    config = root / "kho.toml"
    config.write_text('[principals."Trần Thị Thu"]\nclearance = 3\nunits = ["*"]\n', "utf-8")
    home, env = root / "home", {"KHO_CONFIG": str(config), "KHO_PRINCIPAL": "Trần Thị Thu"}
    proc = run_kho("ingest", str(scans), "--batch", "pdfa", "-q", "--jobs", "2", home=home,
                   env=env, check=None)  # fmt: skip
    return {"home": home, "env": env, "docs": documents(home), "scans": scans, "root": root,
            "real": real, "ingest": proc}  # fmt: skip


def master_of(archive, name: str) -> Path:
    return archive["home"] / "docs" / archive["docs"][name] / "master.pdf"


def image_of(page: pikepdf.Page) -> pikepdf.Stream:
    """The image a page draws (a master's page draws one: the scan)."""
    return next(v for v in page.Resources.XObject.values() if v.Subtype == "/Image")


def first_image(pdf: pikepdf.Pdf) -> pikepdf.PdfImage:
    return pikepdf.PdfImage(image_of(pdf.pages[0]))


def test_masters_pass_pdfa_2b_and_hold_the_original_pixels(archive):
    scans, docs = archive["scans"], archive["docs"]
    born_digital = "thong-bao-tuyen-truyen.pdf"
    assert born_digital in docs and not master_of(archive, born_digital).exists()
    names = sorted(n for n in docs if n != born_digital)
    assert len(names) >= 10 + len(archive["real"])
    verdicts = verapdf(*(master_of(archive, n) for n in names))
    assert all(v == [] for v in verdicts.values()), {k: v for k, v in verdicts.items() if v}
    for name in (n for n in names if not n.endswith(".pdf")):
        with Image.open(scans / name) as im, pikepdf.open(master_of(archive, name)) as pdf:
            assert len(pdf.pages) == getattr(im, "n_frames", 1), name
            dpi = round(im.info.get("dpi", (300, 300))[0])
            image = first_image(pdf)
            assert (image.width, image.height) == im.size, name  # the original's pixels
            size = [im.size[0] * 72 / dpi, im.size[1] * 72 / dpi]  # printed at 100%
            assert [float(v) for v in pdf.pages[0].mediabox][2:] == pytest.approx(size, 0.001)
            kept = np.array(image.as_pil_image().convert("RGB"))
            if im.mode in ("RGB", "L", "1") and im.format != "JPEG":  # lossless, as scanned
                assert np.array_equal(kept, np.array(im.convert("RGB"))), name
            if im.mode == "RGB" and not np.array_equal(kept[..., 0], kept[..., 2]):
                assert image.colorspace == "/DeviceRGB", name  # colour stays colour
    with pikepdf.open(master_of(archive, "stamped.png")) as pdf:
        assert first_image(pdf).colorspace == "/DeviceRGB"  # the red seal stays red
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert meta["dc:identifier"] == f"sha256:{docs['stamped.png']}"
        assert meta["dc:language"] == {"vi"} and str(pdf.docinfo["/Title"]) == meta["dc:title"]
        assert "/Encrypt" not in pdf.trailer and "/OpenAction" not in pdf.Root
    with pikepdf.open(master_of(archive, "bao-cao-dan-van.jpg")) as pdf:
        jpeg = image_of(pdf.pages[0]).read_raw_bytes()
        assert jpeg == (scans / "bao-cao-dan-van.jpg").read_bytes()  # no second encoding
    with pikepdf.open(master_of(archive, "quyet-dinh-chinh-sach.pdf")) as pdf:
        assert first_image(pdf).width >= 2000  # a scanned PDF's page at its image's dpi


def test_odd_scans_get_a_valid_master_or_one_clear_line(archive):
    with pikepdf.open(master_of(archive, "odd-1bit.tif")) as pdf:
        assert first_image(pdf).bits_per_component == 1  # black and white stays 1 bit
    with pikepdf.open(master_of(archive, "odd-cmyk.jpg")) as pdf:
        image = first_image(pdf)  # PDF/A with an sRGB intent takes no CMYK: RGB pixels
        assert image.colorspace == "/DeviceRGB" and image.filters == ["/FlateDecode"]
    with pikepdf.open(master_of(archive, "odd-16bit.png")) as pdf:
        assert first_image(pdf).colorspace == "/DeviceGray"
    # (veraPDF passed all three above.) A truncated file fails with its line, no master
    err = " ".join(archive["ingest"].stderr.split())
    assert archive["ingest"].returncode == 1
    assert re.search(r"odd-truncated\.png: corrupt PNG", err), err
    failed = documents(archive["home"], "failed")
    assert set(failed) == {"odd-truncated.png"}
    assert not (archive["home"] / "docs" / failed["odd-truncated.png"] / "master.pdf").exists()


def placement_cases(archive) -> list[tuple[str, str, np.ndarray]]:
    """(master's file, straight original read for the truth, original -> that scan)."""
    scans = archive["scans"]
    with Image.open(scans / "stamped.png") as im:
        to_tilted = tilted(np.zeros((im.height, im.width), np.uint8))[1]
    cases = [("stamped.png", "stamped.png", np.eye(3)), ("stamped-tilted.png", "stamped.png",
             to_tilted)]  # fmt: skip
    if (colour := colour_page(archive["real"])) is not None:
        with Image.open(colour) as im:
            to_tilted = tilted(np.zeros((im.height, im.width), np.uint8))[1]
        cases += [(colour.name, colour.name, np.eye(3)), ("real-tilted.png", colour.name,
                  to_tilted)]  # fmt: skip
    return cases


def test_master_text_lies_on_the_words_of_the_original(archive):
    for name, straight, to_scan in placement_cases(archive):
        truth = truth_words(archive["scans"] / straight)
        share, compared = placed_share(master_of(archive, name), truth, to_scan)
        assert compared >= 10 and share >= 0.9, (name, share, compared)
        if name.endswith("tilted.png"):  # where the cleaned page has them is elsewhere
            assert placed_share(master_of(archive, name), truth, np.eye(3))[0] < 0.2
        stored = json.loads((master_of(archive, name).parent / "page-00001.json").read_text())
        with Image.open(archive["scans"] / name) as im:
            assert (stored["alignment"]["width"], stored["alignment"]["height"]) == im.size


def test_a_page_stored_without_its_alignment_is_placed_from_its_turn_and_skew(archive, tmp_path):
    from kho.archive.master import scans
    from kho.archive.pdfa import write_master_pdf
    from kho.core.settings import Limits
    from kho.core.types import PageText

    home = archive["home"]
    for name, straight, to_scan in placement_cases(archive)[1::2]:  # the tilted ones
        doc_id = archive["docs"][name]
        data = json.loads((home / "docs" / doc_id / "page-00001.json").read_text())
        del data["alignment"]  # as pages were stored before it was recorded
        text = PageText.from_json(data)
        assert text.alignment is None and text.rotation == 270 and text.skew != 0
        out = tmp_path / f"{name}.pdf"
        original = next(home.glob(f"originals/*/{doc_id}.*"))
        with open(out, "wb") as f:
            write_master_pdf([text], scans(original, [1], Limits()), {"title": name}, f)
        share, compared = placed_share(out, truth_words(archive["scans"] / straight), to_scan)
        assert compared >= 10 and share >= 0.9, (name, share, compared)


def footer_of(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    return [line for line in text.splitlines() if line.startswith("Bản sao sử dụng")]


def check_use_copy(copy: Path, pages: int, recipient: str) -> None:
    footers = footer_of(copy)
    assert len(footers) == pages
    assert re.fullmatch(
        rf"Bản sao sử dụng — cấp cho {recipient}, \d\d/\d\d/\d{{4}} \d\d:\d\d — "
        "không thay bản gốc lưu trữ",
        footers[0],
    ), footers[0]
    with pikepdf.open(copy) as pdf:
        meta = pdf.open_metadata()
        meta.register_xml_namespace(USE_COPY_NS, "khocopy")
        assert meta[f"{{{USE_COPY_NS}}}recipient"] == recipient
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d",
                            meta[f"{{{USE_COPY_NS}}}issued"])  # fmt: skip


def export_audits(archive) -> list[dict]:
    out = run_kho("audit", "--json", "--limit", "1000", home=archive["home"], env=archive["env"])
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_kho_export_gives_a_marked_use_copy_never_the_master(archive, tmp_path):
    home, env, docs = archive["home"], archive["env"], archive["docs"]
    copies = []
    for name in ("stamped-tilted.png", "ho-so-can-bo.tif", "thong-bao-tuyen-truyen.pdf"):
        master = master_of(archive, name)
        before = master.read_bytes() if master.exists() else None
        out = tmp_path / f"{name}.pdf"
        run_kho("export", docs[name], "--format", "pdf", "--out", str(out), home=home, env=env)
        with pikepdf.open(out) as pdf:
            pages = len(pdf.pages)
        check_use_copy(out, pages, "Trần Thị Thu")
        if before is not None:
            assert out.read_bytes() != before and master.read_bytes() == before
            copies.append(out)
            # the copy holds the master's pages: the original pixels, the text on them
            with pikepdf.open(out) as copy, pikepdf.open(master) as kept:
                assert first_image(copy).read_bytes() == first_image(kept).read_bytes()
    verdicts = verapdf(*copies)
    assert all(v == [] for v in verdicts.values()), verdicts
    name, straight, to_scan = placement_cases(archive)[1]
    share, _ = placed_share(copies[0], truth_words(archive["scans"] / straight), to_scan)
    assert share >= 0.9
    exports = [e for e in export_audits(archive) if e["action"] == "export"]
    assert {e["detail"]["doc_id"] for e in exports if e["detail"].get("use_copy")} >= {
        docs["stamped-tilted.png"],
        docs["thong-bao-tuyen-truyen.pdf"],
    }


def test_web_download_is_a_marked_use_copy(archive, tmp_path):
    home, env, docs = archive["home"], archive["env"], archive["docs"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("KHO_")},
            "KHO_HOME": str(home),
            **env,
        },  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    doc = docs["stamped.png"]
    wanted = {"doc_id": doc, "format": "pdf", "use_copy": True}

    def audited() -> bool:
        files = [e["detail"] for e in export_audits(archive) if e["action"] == "file"]
        return any(wanted.items() <= d.items() for d in files)

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/doc/{doc}/pdf") as r:
                    data, disposition = r.read(), r.headers["Content-Disposition"]
                break
            except OSError as err:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode()[-2000:]) from err
                time.sleep(0.3)
        while not audited() and time.monotonic() < deadline:  # written once the send ends
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "attachment" in disposition and "stamped.pdf" in disposition
    copy = tmp_path / "download.pdf"
    copy.write_bytes(data)
    check_use_copy(copy, 1, "Trần Thị Thu")
    assert data != master_of(archive, "stamped.png").read_bytes()
    assert verapdf(copy) == {str(copy): []}
    assert audited()


def test_a_dossier_of_scans_exports_as_one_pdfa_use_copy(archive, tmp_path):
    """Cover, mục lục and the masters' pages in one PDF that veraPDF passes, marked as the
    use copy of its recipient on every page."""
    home, env, docs = archive["home"], archive["env"], archive["docs"]

    def kho(*args):
        return run_kho(*args, home=home, env=env)

    kho("fonds", "create", "G09", "--set", "name=Phông Cục Chính trị")
    kho("dossier", "create", "G09", "01-PDFA", "--set", "file_catalog=2024")
    scans = ("stamped.png", "ho-so-can-bo.tif", "odd-1bit.tif", "real-tilted.png")
    for n, name in enumerate(n for n in scans if n in docs):
        kho("doc", "move", docs[name], "--dossier", "01-PDFA", "--fonds", "G09",
            "--ordinal", str(n + 1))  # fmt: skip
    out = tmp_path / "dossier.pdf"
    kho("dossier", "export", "01-PDFA", "--fonds", "G09", "--format", "pdf", "--out", str(out))
    with pikepdf.open(out) as pdf:
        pages = len(pdf.pages)
    assert pages >= 2 + len([n for n in scans if n in docs])
    check_use_copy(out, pages, "Trần Thị Thu")
    assert verapdf(out) == {str(out): []}
