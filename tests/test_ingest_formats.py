"""Format readers: sniffing by content, page counts, pixels, dpi, and every way a file is bad.

All inputs are made here: images with PIL, a born-digital PDF with reportlab (Vietnamese
text in DejaVu Sans), a scanned-style PDF from PIL, broken files by cutting real ones.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, TiffImagePlugin

from kho.core.errors import BadInputError, IngestError, LimitExceededError
from kho.core.settings import Limits
from kho.ingest.discover import Found, discover
from kho.ingest.formats import ImageFile, PdfFile, TiffFile, open_source
from kho.ingest.sniff import sniff

LIMITS = Limits(render_dpi=100)  # small renders keep the tests fast
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
VIETNAMESE = "Quyết định về công tác Đảng"
BOX = (50, 60, 150, 140)  # a black box on every test page: left, top, right, bottom


def page(mode: str = "L", size: tuple[int, int] = (400, 300), ink=0) -> Image.Image:
    """A white page with a dark box at BOX."""
    paper = {"1": 1, "L": 255, "RGB": (255, 255, 255), "CMYK": (0, 0, 0, 0)}[mode]
    img = Image.new(mode, size, paper)
    ImageDraw.Draw(img).rectangle(BOX, fill=ink)
    return img


def assert_box(pixels: np.ndarray, ink: int = 0) -> None:
    """Dark inside BOX, white paper outside it."""
    gray = pixels if pixels.ndim == 2 else pixels.min(axis=2)
    left, top, right, bottom = BOX
    assert gray.dtype == np.uint8
    assert abs(int(np.median(gray[top + 5 : bottom - 5, left + 5 : right - 5])) - ink) <= 3
    assert gray[:, right + 10 :].min() >= 250


def save(img: Image.Image, path: Path, **params) -> Path:
    img.save(path, **params)
    return path


def open_ok(path: Path, limits: Limits = LIMITS):
    return open_source(path, limits)


def cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def born_digital_pdf(path: Path) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU)))
    pdf = canvas.Canvas(str(path), pagesize=(595, 842))  # A4 in points
    pdf.setFont("DejaVuSans", 24)
    pdf.drawString(72, 842 - 144, VIETNAMESE)  # baseline 2 in from the top
    pdf.showPage()
    pdf.setFont("DejaVuSans", 12)
    pdf.drawString(72, 700, "Trang hai")
    pdf.showPage()
    pdf.save()
    return path


def png_declaring(width: int, height: int) -> bytes:
    """A real 1-bit PNG of width x height white pixels (30000 x 30000 fits in 0.6 MB)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\0" + b"\xff" * ((width + 7) // 8)
    deflate = zlib.compressobj(1)
    rows = b"".join(deflate.compress(row * 1000) for _ in range(height // 1000))
    rows += deflate.compress(row * (height % 1000)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def tiff_pages(path: Path, frames: list[tuple[Image.Image, str]], dpi: int = 300) -> Path:
    """A multi-page TIFF, each frame with its own compression."""
    with TiffImagePlugin.AppendingTiffWriter(str(path), new=True) as tiff:
        for img, compression in frames:
            img.save(tiff, format="TIFF", compression=compression, dpi=(dpi, dpi))
            tiff.newFrame()
    return path


# --- good images -------------------------------------------------------------------------


def test_png_colour_comes_back_bgr(tmp_path):
    img = page("RGB")
    ImageDraw.Draw(img).rectangle((60, 200, 120, 260), fill=(255, 0, 0))
    path = save(img, tmp_path / "colour.png", dpi=(150, 150))
    with open_ok(path) as src:
        assert isinstance(src, ImageFile)
        assert (src.kind, src.page_count, src.dpi(0)) == ("png", 1, 150)
        pixels = src.render(0)
        assert src.text_layer(0) is None
    assert pixels.shape == (300, 400, 3)
    assert pixels[230, 90].tolist() == [0, 0, 255]  # red, in OpenCV's BGR order
    assert_box(pixels)


def test_gray_png_stays_one_channel_and_dpi_defaults(tmp_path):
    with open_ok(save(page("L"), tmp_path / "gray.png")) as src:
        pixels = src.render(0)
        assert src.dpi(0) == 300  # nothing declared
    assert pixels.shape == (300, 400)
    assert_box(pixels)


def test_one_bit_png_becomes_0_and_255(tmp_path):
    with open_ok(save(page("1"), tmp_path / "bw.png")) as src:
        pixels = src.render(0)
    assert set(np.unique(pixels).tolist()) == {0, 255}
    assert_box(pixels)


def test_sixteen_bit_png_scaled_to_eight(tmp_path):
    values = np.full((300, 400), 65535, np.uint16)
    left, top, right, bottom = BOX
    values[top : bottom + 1, left : right + 1] = 0
    values[200:220, 60:80] = 32768
    with open_ok(save(Image.fromarray(values), tmp_path / "deep.png")) as src:
        pixels = src.render(0)
    assert pixels.dtype == np.uint8 and pixels.shape == (300, 400)
    assert pixels[210, 70] == 128
    assert_box(pixels)


def test_rgba_transparency_is_white_paper(tmp_path):
    img = Image.new("RGBA", (400, 300), (0, 0, 0, 0))  # transparent *black* background
    ImageDraw.Draw(img).rectangle(BOX, fill=(0, 0, 0, 255))
    with open_ok(save(img, tmp_path / "alpha.png")) as src:
        pixels = src.render(0)
    assert pixels.ndim == 2  # neutral colour collapses to gray
    assert_box(pixels)


def test_palette_png_keeps_its_colours(tmp_path):
    img = page("RGB")
    ImageDraw.Draw(img).rectangle((60, 200, 120, 260), fill=(0, 0, 200))
    path = save(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), tmp_path / "p.png")
    with open_ok(path) as src:
        pixels = src.render(0)
    assert pixels.shape == (300, 400, 3)
    assert pixels[230, 90].tolist() == [200, 0, 0]
    assert_box(pixels)


def test_jpeg_dpi_and_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the viewer rotates 90 degrees clockwise
    img = page("RGB")
    path = save(img, tmp_path / "photo.jpg", dpi=(200, 200), quality=95, exif=exif)
    with open_ok(path) as src:
        assert (src.kind, src.dpi(0)) == ("jpeg", 200)
        pixels = src.render(0)
    gray = pixels if pixels.ndim == 2 else pixels.min(axis=2)
    assert gray.shape == (400, 300)
    # Rotating clockwise moves the box (x 50-150, y 60-140) to the right edge, near the top.
    assert gray[100, 300 - 100] < 40 and gray[100, 50] > 240


def test_cmyk_jpeg_renders_as_bgr(tmp_path):
    img = page("CMYK", ink=(0, 0, 0, 255))
    ImageDraw.Draw(img).rectangle((60, 200, 120, 260), fill=(0, 255, 255, 0))  # red
    with open_ok(save(img, tmp_path / "cmyk.jpg", quality=95)) as src:
        pixels = src.render(0)
    assert pixels.shape == (300, 400, 3)
    blue, green, red = pixels[230, 90].tolist()
    assert red > 200 and blue < 60 and green < 60
    assert_box(pixels)


@pytest.mark.parametrize(("declared", "used"), [(72, 300), (96, 300), (5000, 1200), (400, 400)])
def test_silly_dpi_is_replaced_or_clamped(tmp_path, declared, used):
    path = save(page("L"), tmp_path / "d.png", dpi=(declared, declared))
    with open_ok(path) as src:
        assert src.dpi(0) == used


def test_content_decides_not_the_extension(tmp_path):
    path = save(page("L"), tmp_path / "scan.tif", format="PNG")
    assert sniff(path) == "png"
    with open_ok(path) as src:
        assert src.kind == "png"
        assert_box(src.render(0))


# --- TIFF --------------------------------------------------------------------------------


def test_three_page_tiff_g4_and_lzw(tmp_path):
    path = tiff_pages(
        tmp_path / "three.tif",
        [
            (page("1"), "group4"),
            (page("L", ink=60), "tiff_lzw"),
            (page("L", size=(300, 500)), "tiff_lzw"),
        ],
    )
    with open_ok(path) as src:
        assert isinstance(src, TiffFile)
        assert (src.kind, src.page_count) == ("tiff", 3)
        assert [src.dpi(i) for i in range(3)] == [300, 300, 300]
        first, second, third = (src.render(i) for i in range(3))
    assert first.shape == second.shape == (300, 400) and third.shape == (500, 300)
    assert set(np.unique(first).tolist()) == {0, 255}
    assert_box(first)
    assert_box(second, ink=60)
    assert_box(third)


def test_tiff_pages_are_checked_when_rendered(tmp_path):
    path = tiff_pages(
        tmp_path / "big2.tif", [(page("1", (100, 100)), "group4"), (page("1"), "group4")]
    )
    with open_ok(path, Limits(max_page_pixels=50_000)) as src:
        assert src.page_count == 2
        assert src.render(0).shape == (100, 100)
        with pytest.raises(LimitExceededError, match=r"page 2 is 400x300 px"):
            src.render(1)


def test_corrupt_tiff_frame_names_the_page(tmp_path):
    path = tiff_pages(tmp_path / "broken.tif", [(page("1"), "group4"), (page("1"), "group4")])
    with Image.open(path) as img:
        img.seek(1)
        offset, length = img.tag_v2[273][0], img.tag_v2[279][0]  # page 2's strip
    data = bytearray(path.read_bytes())
    data[offset : offset + length] = bytes(length)  # zeros are not valid Group 4 codes
    path.write_bytes(bytes(data))
    with open_ok(path) as src:
        assert_box(src.render(0))
        with pytest.raises(BadInputError, match=r"^corrupt TIFF: page 2: "):
            src.render(1)


def test_too_many_pages(tmp_path):
    path = tiff_pages(tmp_path / "many.tif", [(page("1"), "group4")] * 3)
    with pytest.raises(LimitExceededError, match=r"more than 2 pages.*limits.max_pages=2"):
        open_source(path, Limits(max_pages=2))


# --- PDF ---------------------------------------------------------------------------------


def test_born_digital_pdf(tmp_path):
    path = born_digital_pdf(tmp_path / "born.pdf")
    with open_ok(path) as src:
        assert isinstance(src, PdfFile)
        assert (src.kind, src.page_count, src.dpi(0)) == ("pdf", 2, 100)
        pixels = src.render(0)
    gray = pixels if pixels.ndim == 2 else pixels.min(axis=2)
    assert gray.shape == (1170, 827)  # A4 at 100 dpi
    # The line's baseline is 2 in (200 px) from the top; its glyphs sit just above it.
    line = gray[170:205, 100:500]
    assert (line < 100).sum() > 500
    assert gray[400:, :].min() > 250  # nothing else on the page


def test_born_digital_pdf_text_layer(tmp_path):
    path = born_digital_pdf(tmp_path / "born.pdf")
    with open_ok(path) as src:
        text = src.text_layer(0)
    assert text is not None and text.source == "text-layer"
    assert VIETNAMESE in " ".join(text.text.split())


def test_scanned_pdf_renders_its_image(tmp_path):
    scan = page("L", size=(850, 1100))  # 8.5 x 11 in at 100 dpi
    second = page("L", size=(850, 1100), ink=80)
    path = save(
        scan,
        tmp_path / "scan.pdf",
        format="PDF",
        resolution=100,
        save_all=True,
        append_images=[second],
    )
    with open_ok(path) as src:
        assert src.page_count == 2
        first, other = src.render(0), src.render(1)
    assert first.shape == (1100, 850)  # one image pixel per rendered pixel at 100 dpi
    assert_box(first)
    assert_box(other, ink=80)


def test_pdf_with_only_an_owner_password_is_read(tmp_path):
    plain = born_digital_pdf(tmp_path / "plain.pdf")
    with pikepdf.open(plain) as pdf:
        pdf.save(tmp_path / "owner.pdf", encryption=pikepdf.Encryption(user="", owner="o"))
    with open_ok(tmp_path / "owner.pdf") as src:
        assert src.page_count == 2
        assert (src.render(0) < 100).sum() > 500


def test_pdf_page_too_large_at_render_dpi(tmp_path):
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(14400, 14400))  # 200 x 200 in
    pdf.save(tmp_path / "poster.pdf")
    with open_source(tmp_path / "poster.pdf", Limits(render_dpi=300)) as src:
        with pytest.raises(
            LimitExceededError, match=r"^page 1 is 6000\dx6000\d px = 3600 Mpx at 300 dpi"
        ):
            src.render(0)


# --- bad inputs --------------------------------------------------------------------------


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"^empty file \(0 bytes\)$"):
        open_ok(tmp_path / "empty.png")


def test_truncated_png_and_jpeg(tmp_path):
    png = save(page("RGB"), tmp_path / "whole.png")
    jpeg = save(page("RGB"), tmp_path / "whole.jpg", quality=90)
    with pytest.raises(BadInputError, match=r"^corrupt PNG: .*[Tt]runcated"):
        open_ok(cut(png, tmp_path / "half.png"))
    with pytest.raises(BadInputError, match=r"^corrupt JPEG: .*truncated"):
        open_ok(cut(jpeg, tmp_path / "half.jpg"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "noise.tif",
            np.random.default_rng(1).bytes(5000),
            r"^not a TIFF image: content looks like unrecognised binary data \(extension \.tif\)$",
        ),
        (
            "note.jpg",
            "Biên bản họp chi bộ\n".encode() * 20,
            r"^not a JPEG image: content looks like text \(extension \.jpg\)$",
        ),
        ("report.png", b"PK\x03\x04" + bytes(200), r"^not a PNG image: .*ZIP"),
        ("page.pdf", b"<!DOCTYPE html><html>Not found</html>", r"^not a PDF: .*HTML"),
    ],
)
def test_content_that_is_not_what_the_name_says(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        open_ok(tmp_path / name)


def test_corrupt_and_truncated_pdf(tmp_path):
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + np.random.default_rng(2).bytes(4000))
    with pytest.raises(BadInputError, match=r"^corrupt PDF: "):
        open_ok(garbage)
    whole = born_digital_pdf(tmp_path / "whole.pdf")
    for fraction in (0.5, 0.99):
        with pytest.raises(BadInputError, match=r"^corrupt PDF: "):
            open_ok(cut(whole, tmp_path / f"cut{fraction}.pdf", fraction))


def test_encrypted_pdf(tmp_path):
    plain = born_digital_pdf(tmp_path / "plain.pdf")
    with pikepdf.open(plain) as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(user="secret", owner="o"))
    with pytest.raises(BadInputError, match=r"^encrypted PDF: .*qpdf --decrypt"):
        open_ok(tmp_path / "locked.pdf")


def test_pdf_without_pages(tmp_path):
    pikepdf.new().save(tmp_path / "none.pdf")
    with pytest.raises(BadInputError, match=r"^PDF has no pages$"):
        open_ok(tmp_path / "none.pdf")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(30000, 30000))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(
        LimitExceededError,
        match=r"^page 1 is 30000x30000 px = 900 Mpx, over limits.max_page_pixels=150000000$",
    ):
        open_source(path, Limits())


def test_file_over_max_bytes(tmp_path):
    path = save(page("RGB"), tmp_path / "big.png")
    with pytest.raises(LimitExceededError, match=r"over limits.max_file_bytes=100$"):
        open_source(path, Limits(max_file_bytes=100))


def test_sniff_signatures(tmp_path):
    cases = {
        "big.tif": b"II+\x00\x08\x00\x00\x00" + bytes(16),  # BigTIFF
        "mm.tif": b"MM\x00*" + bytes(16),
        "junk.pdf": b"\r\nFrom: scanner@unit\r\n\r\n%PDF-1.4\n" + bytes(16),
        "a.png": b"\x89PNG\r\n\x1a\n" + bytes(16),
        "b.jpg": b"\xff\xd8\xff\xe0" + bytes(16),
        "notes.txt": b"plain words",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    kinds = {name: sniff(tmp_path / name) for name in cases}
    assert kinds == {
        "big.tif": "tiff",
        "mm.tif": "tiff",
        "junk.pdf": "pdf",
        "a.png": "png",
        "b.jpg": "jpeg",
        "notes.txt": None,
    }


# --- discover ----------------------------------------------------------------------------


def test_discover_walks_sorted_and_reports_what_it_skips(tmp_path):
    root = tmp_path / "in"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    save(page("L"), root / "a.png")
    save(page("L"), root / "B.TIF", format="TIFF")
    (root / "b" / "deep" / "c.pdf").write_bytes(b"%PDF-1.4\n")
    (root / "b" / "minutes.docx").write_bytes(b"PK\x03\x04")
    (root / "notes.txt").write_text("hello")
    (root / "README").write_text("hello")
    for quiet in (".hidden/x.png", ".y.png", "z.png.part", "kho-manifest.csv", "kho-manifest.json"):
        (root / quiet).write_bytes(b"x")
    loose = save(page("L"), tmp_path / "scan-without-extension", format="PNG")
    text = tmp_path / "list.dat"
    text.write_text("not a scan")
    (root / "gone.png").symlink_to(tmp_path / "deleted.png")

    found = list(discover([root, loose, text, root / "a.png"]))
    rel = [(str(f.path.relative_to(tmp_path)), f.kind, f.reason) for f in found]
    takes = "(kho takes TIFF, PNG, JPEG, PDF)"
    assert rel == [
        ("in/B.TIF", "tiff", None),
        ("in/README", None, f"unsupported type: no extension {takes}"),
        ("in/a.png", "png", None),
        ("in/b/deep/c.pdf", "pdf", None),
        ("in/b/minutes.docx", None, f"unsupported type .docx {takes}"),
        ("in/gone.png", None, "broken symbolic link"),
        ("in/notes.txt", None, f"unsupported type .txt {takes}"),
        ("scan-without-extension", "png", None),  # named explicitly: content decides
        ("list.dat", None, f"unsupported type .dat {takes}"),
    ]  # in/a.png listed again is not repeated
    assert all(isinstance(f, Found) for f in found)


def test_discover_missing_path_fails_before_any_work(tmp_path):
    save(page("L"), tmp_path / "a.png")
    with pytest.raises(IngestError, match=r"^no such file or folder: .*nope$"):
        discover([tmp_path, tmp_path / "nope"])  # raised at the call, nothing walked yet
