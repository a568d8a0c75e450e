"""Cleanup steps on rendered Vietnamese pages with known skew, rotation and damage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kho.core.errors import BadInputError
from kho.core.settings import OcrOptions
from kho.ocr import cleanup, geometry, tone

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


def test_clean_page_uprights_and_deskews_colour_scan(page):
    scan = cv2.cvtColor(cleanup.rotate(tilt(page, 3.0), 90), cv2.COLOR_GRAY2BGR)
    scan[:, :40] = (30, 30, 30)
    done = cleanup.clean_page(scan, OcrOptions())
    assert done.rotation == 270
    assert done.skew == pytest.approx(3.0, abs=0.5)
    assert done.view_image.ndim == 3  # colour kept for display
    assert done.view_image.shape[0] > done.view_image.shape[1]  # portrait again
    assert {"borders", "deskew", "orientation"} <= set(done.applied)
    # the OCR image is the view's text area: same geometry, shifted by the offset
    plain = cleanup.clean_page(scan, OcrOptions(), steps=cleanup.Steps(sharpen="off"))
    x, y = plain.offset
    h, w = plain.ocr_image.shape
    view = cleanup.to_gray(plain.view_image)[y : y + h, x : x + w]
    assert np.abs(view.astype(int) - plain.ocr_image.astype(int)).mean() < 2
    assert len(np.unique(done.ocr_image)) > 2  # gray: tesseract's LSTM reads gray best
    assert abs(cleanup.estimate_skew(done.ocr_image)) <= 0.3


def test_clean_page_respects_options(page):
    crooked = tilt(page, 3.0)
    raw = cleanup.clean_page(crooked, OcrOptions(clean=False))
    assert raw.ocr_image is crooked and raw.view_image is crooked
    assert (raw.rotation, raw.skew, raw.applied) == (0, 0.0, ())
    kept = cleanup.clean_page(crooked, OcrOptions(deskew=False, orientation=False))
    assert (kept.rotation, kept.skew) == (0, 0.0)
    assert "deskew" not in kept.applied
    assert kept.view_image is crooked  # nothing to change in the view
    forced = cleanup.clean_page(crooked, OcrOptions(), steps=cleanup.Steps(binarize="on"))
    assert set(np.unique(forced.ocr_image)) <= {0, 255}
    assert "binarize" in forced.applied


def test_steps_follow_the_options_and_default_where_options_are_silent():
    assert cleanup.Steps.from_options(OcrOptions()) == cleanup.Steps()
    off = cleanup.Steps.from_options(OcrOptions(deskew=False, denoise=False, borders=False))
    assert (off.deskew, off.denoise, off.borders) == ("off", "off", "off")
    assert off.stamp == "auto"  # not an OcrOptions field (yet): the default holds


def test_clean_page_skips_what_a_clean_page_does_not_need(page):
    done = cleanup.clean_page(page, OcrOptions())
    assert done.applied == ("crop", "sharpen")  # the blank margin goes, strokes get crisper
    assert done.view_image is page and (done.rotation, done.skew, done.scale) == (0, 0.0, 1.0)


def test_red_seal_is_removed_and_text_under_it_kept(page):
    rgb = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    seal = np.zeros(page.shape, np.uint8)
    cv2.circle(seal, (620, 800), 250, 255, 18)
    cv2.circle(seal, (620, 800), 180, 255, 6)
    alpha = seal.astype(np.float32)[:, :, None] / 255 * 0.85
    red_bgr = np.array([35, 25, 200], np.float32) / 255  # ink multiplies: text stays black
    stamped = (rgb * (1 - alpha + alpha * red_bgr)).round().astype(np.uint8)
    assert not tone.has_red_ink(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR))
    assert tone.has_red_ink(stamped)
    gray = tone.drop_red_ink(stamped)
    on_paper = (seal > 200) & (page > 200)
    under_text = (seal > 200) & (page < 60)
    assert cleanup.to_gray(stamped)[on_paper].mean() < 140  # plain gray: the seal is dark
    assert gray[on_paper].min() > 200  # gone
    assert gray[under_text].max() < 90  # the text it covered stays black
    assert np.array_equal(gray[seal == 0], page[seal == 0])  # the rest is untouched


def test_uneven_light_is_detected_and_flattened(page):
    h, w = page.shape
    shade = np.linspace(1.0, 0.55, w, dtype=np.float32)[None, :].repeat(h, axis=0)
    dim = (page.astype(np.float32) * shade).astype(np.uint8)
    assert not tone.is_unevenly_lit(tone.background(page))
    assert tone.is_unevenly_lit(tone.background(dim))
    flat = tone.flatten(dim)
    paper_px = page == 255
    assert flat[paper_px].min() > 225  # the dark side's paper is white again
    assert flat[page < 60].mean() < 60  # and its ink still dark
    # a white surround next to shaded paper leaves no dark band along the paper's edge
    # (a max-filter background would darken ~50 px of it to the paper's old gray)
    framed = np.full((h + 200, w + 200), 255, np.uint8)
    framed[100:-100, 100:-100] = dim
    edge = tone.flatten(framed)[200:-200, w + 40 : w + 100]  # paper just inside the edge
    assert edge.min() > 170 and edge.mean() > 240


def test_noise_measure_tells_grain_and_specks_from_text(page):
    assert not tone.is_noisy(page)  # thin strokes and serifs are not specks
    grain = np.random.default_rng(1).normal(0, 8, page.shape)
    assert tone.is_noisy(np.clip(page + grain, 0, 255).astype(np.uint8))
    assert tone.is_noisy(salt_and_pepper(page, 0.002))


def test_low_resolution_scans_are_enlarged():
    assert tone.upscale_factor(300) == 1.0
    assert tone.upscale_factor(0) == 1.0  # unknown: leave it
    assert tone.upscale_factor(150) == 2.0
    small = np.full((100, 80), 255, np.uint8)
    assert tone.upscale(small, 2.0).shape == (200, 160)
    done = cleanup.clean_page(
        cv2.resize(render_page(), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
        OcrOptions(),
        dpi=150,
        steps=cleanup.Steps(upscale="auto"),
    )
    assert done.scale == 2.0 and "upscale" in done.applied


def test_sharpen_steepens_edges_and_leaves_black_and_white_pages_alone(page):
    soft = cv2.GaussianBlur(page, (0, 0), 1.2)
    crisp = tone.sharpen(soft)
    assert (
        np.abs(np.diff(crisp.astype(int), axis=1)).mean()
        > 1.2 * np.abs(np.diff(soft.astype(int), axis=1)).mean()
    )
    assert abs(int(crisp[5, 5]) - int(soft[5, 5])) <= 1  # flat paper stays as it was
    binary = np.where(page < 128, 0, 255).astype(np.uint8)
    assert tone.is_bilevel(binary) and not tone.is_bilevel(soft)
    assert "sharpen" not in cleanup.clean_page(binary, OcrOptions()).applied


def test_text_box_frames_the_ink_and_ignores_specks(page):
    ys, xs = np.nonzero(page < 128)
    left, top, right, bottom = geometry.text_box(salt_and_pepper(page, 0.0005))
    assert left <= xs.min() and top <= ys.min() and right > xs.max() and bottom > ys.max()
    assert xs.min() - left < 60 and right - xs.max() < 60  # a margin, not the page
    assert geometry.text_box(np.full((1754, 1240), 255, np.uint8)) is None


def test_blobs_count_what_opencv_statistics_count(page):
    """The geometry's labelling gives the areas and heights OpenCV's own statistics pass
    does, on text with specks, a ring around text (a blob with holes) and blobs cut by the
    page's edge; a blank page has only the paper."""
    busy = salt_and_pepper(page, 0.002, seed=5)
    cv2.circle(busy, (620, 800), 300, 0, 9)
    busy[:, :30] = 0
    busy[-12:, 400:700] = 0
    _, ink = cv2.threshold(busy, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    found = geometry.blobs(ink)
    assert found.count == n > 1000
    assert np.array_equal(found.labels, labels)
    assert np.array_equal(found.areas[1:], stats[1:, cv2.CC_STAT_AREA])
    assert np.array_equal(found.heights()[1:], stats[1:, cv2.CC_STAT_HEIGHT])
    assert np.array_equal(found.of, labels[ink > 0])  # the ink pixels in row-major order
    blank = geometry.blobs(np.zeros((40, 60), np.uint8))
    assert blank.count == 1 and len(blank.ys) == 0 and list(blank.heights()) == [0]


def test_the_orientation_look_takes_blobs_only_from_the_page_they_were_found_on(page):
    """The speck search's blobs are handed on to the orientation look while the page is
    the same array; a changed or turned page is labelled anew, never judged by them."""
    found = geometry.ink_blobs(page)
    assert geometry.ink_blobs(page, found) is found
    assert geometry.ink_blobs(page.copy(), found) is not found
    assert cleanup.looks_upright(page, found)
    assert not cleanup.looks_upright(cleanup.rotate(page, 180), found)
    assert tone.specks(page, found) is None
    assert cleanup.detect_orientation(cleanup.rotate(page, 90), known=found) == 270
