"""Cleanup steps on rendered Vietnamese pages with known skew, rotation and damage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kho.core.errors import BadInputError
from kho.core.settings import OcrOptions
from kho.ocr import cleanup

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "QUYẾT ĐỊNH về việc bổ nhiệm cán bộ",
    "Căn cứ Điều lệ Đảng và quy chế làm việc của",
    "Đảng ủy Cục Chính trị; xét đề nghị của đồng chí",
    "Trưởng phòng Tổ chức, Thường vụ Đảng ủy quyết",
    "định bổ nhiệm đồng chí Nguyễn Văn Hùng giữ chức",
    "Phó Chủ nhiệm Chính trị sư đoàn kể từ ngày ký.",
    "Các đồng chí thủ trưởng cơ quan, đơn vị liên quan",
    "chịu trách nhiệm thi hành Quyết định này.",
    "Nơi nhận: như Điều 3; lưu văn thư, hồ sơ cán bộ.",
    "Tình hình huấn luyện, sẵn sàng chiến đấu được",
    "nâng cao; bảo đảm an toàn tuyệt đối về người,",
    "vũ khí và trang bị kỹ thuật trong mọi tình huống.",
]


def render_page(width: int = 1240, height: int = 1754, size: int = 34) -> np.ndarray:
    """A white page of Vietnamese text, glyphs sized as a 300 dpi scan (x-height ~18 px)."""
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    y = 120
    while y < height - 160:
        for line in LINES:
            if y >= height - 160:
                break
            draw.text((110, y), line, font=font, fill=0)
            y += int(size * 1.7)
    return np.array(img)


def tilt(img: np.ndarray, degrees: float) -> np.ndarray:
    """Turn the page counter-clockwise by `degrees`, as a crooked scan would."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def salt_and_pepper(img: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed).random(img.shape[:2])
    out = img.copy()
    out[r < share / 2] = 0
    out[r > 1 - share / 2] = 255
    return out


def ink_components(gray: np.ndarray) -> int:
    """Connected dark blobs: glyphs and each detached diacritic count separately."""
    _, ink = cv2.threshold(gray, 128, 1, cv2.THRESH_BINARY_INV)
    return cv2.connectedComponents(ink, connectivity=8)[0] - 1


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_page()


def test_to_gray_accepts_gray_bgr_bgra_and_rejects_other_types(page):
    assert cleanup.to_gray(page) is page
    bgr = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(cleanup.to_gray(bgr), page)
    assert cleanup.to_gray(cv2.cvtColor(page, cv2.COLOR_GRAY2BGRA)).shape == page.shape
    with pytest.raises(BadInputError, match="8-bit"):
        cleanup.to_gray(page.astype(np.float32))
    with pytest.raises(BadInputError, match="shape"):
        cleanup.to_gray(np.zeros((10, 10, 2), np.uint8))


@pytest.mark.parametrize("angle", [0.0, 3.0, -7.5, 12.0, -14.0, 0.7])
def test_estimate_skew_measures_known_tilt(page, angle):
    assert cleanup.estimate_skew(tilt(page, angle)) == pytest.approx(angle, abs=0.5)


@pytest.mark.parametrize("turn", [90, 270])
def test_estimate_skew_on_a_page_lying_on_its_side(page, turn):
    sideways = cleanup.rotate(tilt(page, 5.0), turn)
    assert cleanup.estimate_skew(sideways) == pytest.approx(5.0, abs=0.5)


def test_estimate_skew_through_heavy_noise(page):
    assert cleanup.estimate_skew(salt_and_pepper(tilt(page, -4.0), 0.1)) == pytest.approx(
        -4.0, abs=0.5
    )


def test_estimate_skew_ignores_a_dark_scanner_margin(page):
    crooked = tilt(page, 3.0)
    crooked[:, :60] = 30  # the margin runs along the scanner bed, not along the text
    assert cleanup.estimate_skew(crooked) == pytest.approx(3.0, abs=0.5)


def test_estimate_skew_of_blank_page_is_zero():
    assert cleanup.estimate_skew(np.full((1754, 1240), 250, np.uint8)) == 0.0


def test_deskew_straightens_and_keeps_the_whole_page(page):
    crooked = tilt(page, 7.5)
    straight = cleanup.deskew(crooked, cleanup.estimate_skew(crooked))
    assert abs(cleanup.estimate_skew(straight)) <= 0.2
    h, w = crooked.shape
    assert straight.shape[0] > h and straight.shape[1] > w  # canvas grown, nothing cut
    assert straight[:5, :5].min() == 255  # new corners are paper, not black
    assert ink_components(straight) == pytest.approx(ink_components(crooked), rel=0.03)


def test_deskew_keeps_colour_and_skips_tiny_angles(page):
    bgr = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    assert cleanup.deskew(bgr, 0.05) is bgr
    turned = cleanup.deskew(bgr, 3.0)
    assert turned.ndim == 3 and turned.shape[2] == 3
    assert tuple(turned[0, 0]) == (255, 255, 255)


def test_rotate_is_exact(page):
    assert cleanup.rotate(page, 0) is page
    quarter = cleanup.rotate(page, 90)
    assert quarter.shape == page.shape[::-1]
    assert np.array_equal(cleanup.rotate(quarter, 270), page)
    assert np.array_equal(cleanup.rotate(cleanup.rotate(page, 180), 180), page)
    with pytest.raises(ValueError):
        cleanup.rotate(page, 45)


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_detect_orientation_uprights_vietnamese_page(page, turn):
    # a page turned clockwise by `turn` needs the rest of a full turn to be upright
    assert cleanup.detect_orientation(cleanup.rotate(page, turn)) == (360 - turn) % 360


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_looks_upright_only_for_an_upright_page(page, turn):
    # the shortcut that spares OSD must never accept a page lying sideways or upside down
    assert cleanup.looks_upright(cleanup.rotate(page, turn)) == (turn == 0)


def test_detect_orientation_of_english_text_goes_through_osd():
    img = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 34)
    text = "The quarterly report was approved by the committee in July,"
    for n in range(24):
        draw.text((110, 120 + 60 * n), text, font=font, fill=0)
    upright = np.array(img)
    assert not cleanup.looks_upright(upright)  # fewer marks above the line than Vietnamese
    assert cleanup.detect_orientation(upright) == 0
    assert cleanup.detect_orientation(cleanup.rotate(upright, 180)) == 180


def test_detect_orientation_on_a_skewed_noisy_page(page):
    noisy = salt_and_pepper(tilt(page, 6.0), 0.02)
    assert cleanup.detect_orientation(cleanup.rotate(noisy, 90)) == 270


def test_detect_orientation_without_text_is_zero():
    assert cleanup.detect_orientation(np.full((1754, 1240), 255, np.uint8)) == 0
    few = np.full((1754, 1240), 255, np.uint8)
    cv2.putText(few, "Ha", (500, 800), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 4)
    assert cleanup.detect_orientation(cleanup.rotate(few, 180)) == 0  # too few to judge


def test_remove_borders_whitens_scanner_margins_and_keeps_text(page):
    framed = page.copy()
    framed[:, :70] = 25  # dark strip down the left edge
    framed[:45, :] = 40  # and across the top
    wedge = np.array([[1240, 1754], [1240, 1400], [1100, 1754]], np.int32)
    cv2.fillPoly(framed, [wedge], 10)  # a dark corner where the sheet was askew
    cleaned = cleanup.remove_borders(framed)
    assert cleaned[:, :70].min() == 255
    assert cleaned[:45, :].min() == 255
    assert cleaned[1740, 1230] == 255
    inner = (slice(100, 1300), slice(100, 1080))
    assert np.array_equal(cleaned[inner], page[inner])


def test_remove_borders_leaves_text_and_rules_at_the_edge_alone(page):
    assert cleanup.remove_borders(page) is page
    tight = np.ascontiguousarray(page[125:, 112:])  # cropped so lines run into the edges
    assert cleanup.remove_borders(tight) is tight
    framed = page.copy()
    cv2.rectangle(framed, (0, 0), (1239, 1753), 0, 6)  # a thin printed frame, not a margin
    assert cleanup.remove_borders(framed) is framed


def test_denoise_removes_specks_but_keeps_diacritics(page):
    noisy = salt_and_pepper(page, 0.05)
    assert ink_components(noisy) > 5 * ink_components(page)
    restored = cleanup.denoise(noisy)
    # dots below (ạ, ị), hooks and tildes are separate blobs: losing them would lower the count
    assert ink_components(restored) == pytest.approx(ink_components(page), rel=0.03)


def test_binarize_handles_uneven_light(page):
    h, w = page.shape
    shade = (
        np.linspace(1.0, 0.35, w, dtype=np.float32)[None, :]
        * np.linspace(1.0, 0.7, h, dtype=np.float32)[:, None]
    )
    dim = (page.astype(np.float32) * shade).astype(np.uint8)
    _, naive = cv2.threshold(dim, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    out = cleanup.binarize(dim)
    assert set(np.unique(out)) <= {0, 255}
    truth = page < 128
    got = out == 0
    iou = (truth & got).sum() / (truth | got).sum()
    assert iou > 0.8
    assert (naive == 0).mean() > 0.2  # a global threshold blackens the dark side
    assert (got & ~truth).mean() < 0.002  # flattening does not


def test_binarize_keeps_a_blank_page_white():
    grain = np.random.default_rng(3).normal(0, 4, (1754, 1240))
    blank = np.clip(235 + grain, 0, 255).astype(np.uint8)
    assert (cleanup.binarize(blank) == 0).mean() < 0.0005  # no speckle for tesseract to read
    label = blank.copy()
    cv2.putText(label, "Trang 12", (500, 1600), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    out = cleanup.binarize(label)
    assert (out[label < 100] == 0).all()  # the few marks there are stay black
    assert (out == 0).mean() < 0.005


def test_clean_page_uprights_deskews_and_binarizes_colour_scan(page):
    scan = cv2.cvtColor(cleanup.rotate(tilt(page, 3.0), 90), cv2.COLOR_GRAY2BGR)
    scan[:, :40] = (30, 30, 30)
    done = cleanup.clean_page(scan, OcrOptions())
    assert done.rotation == 270
    assert done.skew == pytest.approx(3.0, abs=0.5)
    assert done.view_image.ndim == 3  # colour kept for display
    assert done.view_image.shape[:2] == done.ocr_image.shape  # same geometry: boxes fit both
    assert done.view_image.shape[0] > done.view_image.shape[1]  # portrait again
    assert set(np.unique(done.ocr_image)) <= {0, 255}
    assert abs(cleanup.estimate_skew(done.ocr_image)) <= 0.3


def test_clean_page_respects_options(page):
    crooked = tilt(page, 3.0)
    raw = cleanup.clean_page(crooked, OcrOptions(clean=False))
    assert raw.ocr_image is crooked and raw.view_image is crooked
    assert (raw.rotation, raw.skew) == (0, 0.0)
    kept = cleanup.clean_page(crooked, OcrOptions(deskew=False, orientation=False, binarize=False))
    assert (kept.rotation, kept.skew) == (0, 0.0)
    assert kept.ocr_image.shape == crooked.shape
    assert len(np.unique(kept.ocr_image)) > 2  # gray, not binarized
    assert kept.view_image is crooked  # nothing to change in the view
