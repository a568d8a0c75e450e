"""OCR languages, model profiles and tone marks: the default keeps Vietnamese marks on
capitals and puts back tones tesseract drops, and a profile whose models are not installed
is refused with what to run."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kho.core.errors import ConfigError, ExitCode, MissingDependencyError, OcrError
from kho.core.settings import OcrOptions, load_settings
from kho.ocr.read import read_image
from kho.ocr.tesseract import ocr_image, tessdata_dir
from kho.synth.admin import generate_document
from kho.synth.pages import degraded_page, render_page, write_png
from kho.synth.text import CATEGORIES

from .conftest import run_kho

BOLD_SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"
HEADER = ("ỦY BAN NHÂN DÂN", "TỈNH QUẢNG NGÃI")


def header(size_px: int) -> np.ndarray:
    """The issuing body of a provincial document as its header prints it: bold capitals."""
    img = Image.new("L", (800, 200), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(BOLD_SERIF, size_px)
    for i, line in enumerate(HEADER):
        draw.text((60, 40 + i * int(size_px * 1.6)), line, font=font, fill=0)
    return np.array(img)


@pytest.mark.parametrize(("size_px", "engine"), [(22, "library"), (28, "library"), (28, "cli")])
def test_default_languages_keep_the_marks_of_capitalised_header_lines(size_px, engine):
    # with vie+eng, tesseract reads these as "TINH QUANG NGAI": English wins on capitals
    page, _ = read_image(header(size_px), OcrOptions(engine=engine), timeout=60)
    lines = page.text.splitlines()
    assert all(line in lines for line in HEADER), page.text


def config(home, body: str):
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "kho.toml").write_text(body, encoding="utf-8")


def test_profile_without_its_models_is_refused_with_the_fix(tmp_path):
    page = render_page("Quyết định của Ủy ban nhân dân tỉnh.", height_in=2.0)
    write_png(tmp_path / "page.png", page.image, page.dpi)
    home = tmp_path / "home"
    config(home, f'[ocr]\nprofile = "best"\nmodels = "{tmp_path / "nowhere"}"\n')
    proc = run_kho("ocr", str(tmp_path / "page.png"), home=home, check=None)
    assert proc.returncode == ExitCode.missing_dependency, proc.stderr
    assert "profile 'best'" in proc.stderr and "run scripts/setup" in proc.stderr
    assert str(tmp_path / "nowhere" / "best" / "vie.traineddata") in proc.stderr


def test_profile_setting_is_validated(tmp_path):
    home = tmp_path / "home"
    config(home, '[ocr]\nprofile = "fastest"\n')
    with pytest.raises(ConfigError, match=r"\[ocr\] profile must be standard or best"):
        load_settings({"KHO_HOME": str(home)})
    config(home, '[ocr]\nprofile = "best"\nmodels = "/srv/kho/tessdata"\n')
    opts = load_settings({"KHO_HOME": str(home)}).ocr
    assert opts.tessdata == "/srv/kho/tessdata/best"
    assert load_settings({"KHO_HOME": str(tmp_path / "none")}).ocr.tessdata == ""  # standard


@pytest.mark.parametrize("engine", ["library", "cli"])
def test_both_engines_read_with_the_profile_folder(tmp_path, engine):
    folder = tmp_path / "best"
    folder.mkdir()
    for entry in os.listdir(tessdata_dir()):  # a profile folder made of the standard files
        (folder / entry).symlink_to(tessdata_dir() / entry)
    page = render_page("Ủy ban nhân dân tỉnh Quảng Ngãi", height_in=1.5, margin_in=0.4)
    opts = OcrOptions(profile="best", models=str(tmp_path), engine=engine)
    assert "Quảng Ngãi" in read_image(page.image, opts, timeout=60)[0].text
    broken = tmp_path / "broken" / "best"  # a model file tesseract cannot load
    broken.mkdir(parents=True)
    for entry in os.listdir(folder):
        target = broken / entry
        if entry == "vie.traineddata":
            target.write_bytes(b"not a model")
        else:
            target.symlink_to(tessdata_dir() / entry)
    with pytest.raises((MissingDependencyError, OcrError)):
        ocr_image(page.image, engine=engine, tessdata=str(broken))


def test_tone_dropped_from_a_circumflex_is_put_back_from_the_alternatives():
    doc = generate_document(CATEGORIES[3], 3)  # a guidance with "I. MỤC ĐÍCH, YÊU CẦU"
    image, params = degraded_page(doc.text, "medium", 3)
    assert "YÊU CẦU" in params["text"]
    image = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

    def heading(opts: OcrOptions) -> str:
        lines = read_image(image, opts, timeout=120)[0].text.splitlines()
        return next(line for line in lines if line.startswith("I. MỤC ĐÍCH"))

    assert heading(OcrOptions(engine="library", tone_marks=False)) == "I. MỤC ĐÍCH, YÊU CÂU"
    assert heading(OcrOptions(engine="library")) == "I. MỤC ĐÍCH, YÊU CẦU"
