"""Reading pages with real tesseract: cleanup must pay for itself on damaged scans."""

from __future__ import annotations

import os
import tempfile
import time
import unicodedata

import cv2
import numpy as np
import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont

from kho.core.errors import ConfigError, LimitExceededError, MissingDependencyError
from kho.core.settings import OcrOptions
from kho.core.types import Word
from kho.ocr import tesseract
from kho.ocr.cleanup import Steps, clean_page
from kho.ocr.read import read_image
from kho.ocr.tesseract import check_tesseract, ocr_image, page_confidence
from kho.synth.pages import degraded_page
from kho.synth.text import document_text

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PARAGRAPH = [
    "Quyết định của Đảng ủy về công tác cán bộ năm nay",
    "Căn cứ Điều lệ Đảng và quy chế làm việc của Cục Chính trị,",
    "xét đề nghị của đồng chí Trưởng phòng Tổ chức, Thường vụ",
    "Đảng ủy quyết định bổ nhiệm đồng chí Nguyễn Văn Hùng giữ",
    "chức Phó Chủ nhiệm Chính trị sư đoàn kể từ ngày ký.",
    "Các đồng chí thủ trưởng cơ quan, đơn vị liên quan chịu",
    "trách nhiệm thi hành Quyết định này; lưu văn thư, hồ sơ.",
]
TRUTH = " ".join(PARAGRAPH)


def render(lines: list[str], width: int = 1240, height: int = 900, size: int = 36) -> np.ndarray:
    """Black Vietnamese text on white, glyphs sized as a 300 dpi scan (x-height ~20 px)."""
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    for i, line in enumerate(lines):
        draw.text((80, 80 + i * int(size * 1.7)), line, font=font, fill=0)
    return np.array(img)


def damage(img: np.ndarray, angle: float = 4.0, noise: float = 0.05) -> np.ndarray:
    """A bad scan: tilted, salt-and-pepper specks, dark scanner margins."""
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), borderValue=255)
    r = np.random.default_rng(7).random(out.shape)
    out[r < noise / 2] = 0
    out[r > 1 - noise / 2] = 255
    out[:, :50] = 20
    out[:40, :] = 30
    return out


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(got: str, truth: str = TRUTH) -> float:
    """Character error rate over whitespace-normalised text."""
    got, truth = " ".join(got.split()), " ".join(truth.split())
    return levenshtein(got, truth) / len(truth)


@pytest.fixture(scope="module")
def damaged() -> np.ndarray:
    return damage(render(PARAGRAPH))


@pytest.fixture(scope="module")
def cleaned_read(damaged):
    return read_image(damaged, OcrOptions(), timeout=120)


def test_cleanup_clearly_lowers_character_error_rate(damaged, cleaned_read):
    text, _ = cleaned_read
    raw, raw_view = read_image(damaged, OcrOptions(clean=False), timeout=120)
    assert raw_view is damaged
    assert cer(text.text) < 0.03
    assert cer(raw.text) > cer(text.text) + 0.05


def test_vietnamese_words_with_diacritics_are_read(cleaned_read):
    text, _ = cleaned_read
    for phrase in ("Quyết định", "đồng chí", "Đảng ủy", "Nguyễn Văn Hùng", "Trưởng phòng"):
        assert phrase in text.text
    assert text.text == unicodedata.normalize("NFC", text.text)


def test_page_text_describes_the_view_image(cleaned_read):
    text, view = cleaned_read
    assert text.source == "ocr" and text.dpi == 300
    assert (text.height, text.width) == view.shape[:2]
    assert text.skew == pytest.approx(4.0, abs=0.5)
    assert text.rotation == 0
    assert 80 < text.confidence <= 100
    lines = [line for line in text.text.splitlines() if line.strip()]
    assert len(lines) == len(PARAGRAPH)
    assert text.text.split() == [w.text for w in text.words]


def test_word_boxes_sit_on_ink_in_the_view_image(cleaned_read):
    text, view = cleaned_read
    assert len(text.words) >= 70
    for w in text.words:
        assert 0 <= w.left and w.left + w.width <= text.width
        assert 0 <= w.top and w.top + w.height <= text.height
        box = view[w.top : w.top + w.height, w.left : w.left + w.width]
        # a real word box is mostly ink and paper; elsewhere we would see plain paper
        assert (box < 100).mean() > 0.08, w
    # lines were straightened: words on one line share a band a few pixels tall
    first_line = [w for w in text.words if w.text in ("Quyết", "bộ", "nay")][:3]
    bottoms = [w.top + w.height for w in first_line]
    assert max(bottoms) - min(bottoms) <= 12


def test_page_on_its_side_is_turned_upright(damaged):
    sideways = cv2.rotate(damaged, cv2.ROTATE_90_COUNTERCLOCKWISE)
    text, view = read_image(sideways, OcrOptions(), timeout=120)
    assert text.rotation == 90
    assert view.shape[0] < view.shape[1]  # landscape again, as rendered
    assert cer(text.text) < 0.05


ENGINES = ("library", "cli")


@pytest.mark.parametrize("engine", ENGINES)
def test_ocr_image_reads_colour_and_gray_alike(engine):
    page = render(PARAGRAPH[:3], height=400)
    gray = ocr_image(page, engine=engine)
    colour = ocr_image(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), engine=engine)
    assert gray.text == colour.text
    assert cer(gray.text, " ".join(PARAGRAPH[:3])) < 0.02
    assert all(0 <= w.conf <= 100 for w in gray.words)


def test_both_engines_read_the_same_words_in_the_same_boxes():
    page = render(PARAGRAPH)
    lib, cli = (ocr_image(page, engine=e) for e in ENGINES)
    assert cer(lib.text) < 0.02 and cer(cli.text) < 0.02
    assert lib.text.splitlines() == cli.text.splitlines()
    assert [(w.text, w.left, w.top, w.width, w.height) for w in lib.words] == [
        (w.text, w.left, w.top, w.width, w.height) for w in cli.words
    ]
    assert abs(lib.confidence - cli.confidence) < 2


def test_library_engine_is_chosen_by_auto_and_named():
    assert tesseract.resolve_engine("auto") == "library"  # tesserocr is a dependency
    assert tesseract.resolve_engine("cli") == "cli"
    assert "(library)" in tesseract.engine_name("auto")
    assert "(program)" in tesseract.engine_name("cli")
    with pytest.raises(ConfigError, match="engine"):
        OcrOptions(engine="gpu")


@pytest.mark.parametrize("engine", ENGINES)
def test_ocr_timeout_is_a_limit_with_advice(engine):
    with pytest.raises(LimitExceededError, match="page_timeout_s"):
        ocr_image(render(PARAGRAPH), timeout=0.01, engine=engine)


def test_library_engine_keeps_working_in_a_forked_child():
    # `kho worker` forks its job process from a parent that loaded the models once
    page = render(PARAGRAPH[:2], height=300)
    parent = ocr_image(page, engine="library").text
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read with the inherited engine, report, leave at once
        try:
            os.write(write, ocr_image(page, engine="library").text.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        child = f.read().decode()
    os.waitpid(pid, 0)
    assert child == parent and "Đảng ủy" in child


def test_check_tesseract_reports_version_and_missing_language():
    assert check_tesseract("vie+eng").split(".")[0] in {"4", "5", "6"}
    with pytest.raises(MissingDependencyError, match="apt-get install tesseract-ocr-xyz"):
        check_tesseract("vie+xyz")


def test_page_images_are_removed_even_when_a_worker_was_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with tesseract.image_file(render(PARAGRAPH[:1], height=100)) as path:
        assert os.path.dirname(path) == str(tmp_path)
    assert not os.path.exists(path)
    orphan = tmp_path / "kho-ocr-orphan.tif"  # what a worker killed mid-page leaves
    recent = tmp_path / "kho-ocr-recent.tif"  # a live worker's image: keep it
    orphan.write_bytes(b"P5 1 1 255 x")
    recent.write_bytes(b"P5 1 1 255 x")
    old = time.time() - 2 * tesseract.STALE_AFTER_S
    os.utime(orphan, (old, old))
    tesseract.sweep_orphans.__wrapped__()  # the once-per-process sweep, run again
    assert not orphan.exists() and recent.exists()


@pytest.mark.slow
def test_hard_generated_page_is_read_far_better_than_raw_tesseract():
    # rotated, skewed, shaded, noisy, framed by the scanner bed and stamped with a red seal
    text = document_text("to_chuc_dang", 0)
    image, params = degraded_page(text, "hard", 0)
    assert params["stamp"] and params["rotate"]
    truth = " ".join(params["text"].split())
    raw = pytesseract.image_to_string(image, lang="vie+eng")
    read, view = read_image(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), OcrOptions(), timeout=120)
    assert read.rotation == params["correction"]
    assert read.skew == pytest.approx(params["skew"], abs=0.5)
    assert cer(read.text, truth) < 0.02
    assert cer(raw, truth) > 0.5  # tesseract alone loses most of the page
    assert view.ndim == 3  # the seal is kept on the image shown
    assert {"stamp", "illumination", "denoise"} <= set(
        clean_page(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), OcrOptions()).applied
    )


def test_low_resolution_scan_boxes_fit_the_image_kept():
    page = render(PARAGRAPH)
    half = cv2.resize(page, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    # enlarged for tesseract when asked to (upscale="auto"); boxes come back at half size
    text, view = read_image(half, OcrOptions(), timeout=120, dpi=150, steps=Steps(upscale="auto"))
    assert (text.height, text.width) == view.shape[:2] and text.dpi == 150
    assert abs(text.skew) < 0.3 and abs(view.shape[0] - half.shape[0]) < 5
    assert cer(text.text) < 0.03
    for w in text.words:
        assert w.left + w.width <= text.width and w.top + w.height <= text.height
        box = view[w.top : w.top + w.height, w.left : w.left + w.width]
        assert (box < 128).mean() > 0.05, w  # on ink, in the half-size image's pixels


def test_confidence_weighs_words_by_length():
    words = [Word("Quyết", 90.0, 0, 0, 1, 1), Word(",", 10.0, 0, 0, 1, 1)]
    assert page_confidence(words) == pytest.approx((90 * 5 + 10) / 6, abs=0.01)
    assert page_confidence([Word("x", -1.0, 0, 0, 1, 1)]) == 0.0  # unknown is not zero
    assert page_confidence([]) == 0.0
