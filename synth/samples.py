"""Write the bundled sample folder: `python -m kho.synth.samples samples/`.

A few generated Vietnamese records of several categories, lightly degraded like real scans:
single pages (PNG, JPEG), a two-page TIFF, a born-digital PDF and a scanned PDF.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

from .admin import generate_document
from .pages import (
    degrade,
    render_page,
    write_born_digital_pdf,
    write_multipage_tiff,
    write_png,
    write_scanned_pdf,
)


def page(category: str, seed: int, **damage):
    rendered = render_page(generate_document(category, seed).text, height_in=8.0)
    return degrade(rendered.image, seed=seed, **damage)


def write_samples(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    write_png(out / "nghi-quyet-chi-bo.png", page("to_chuc_dang", 1, skew=1.5), 300)
    written.append(out / "nghi-quyet-chi-bo.png")
    img = page("dan_van", 2, skew=-2.0, blur=0.6)
    cv2.imwrite(str(out / "bao-cao-dan-van.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    written.append(out / "bao-cao-dan-van.jpg")
    write_png(
        out / "ket-luan-kiem-tra.png", page("kiem_tra_ky_luat", 3, rotate=180, border=40), 300
    )
    written.append(out / "ket-luan-kiem-tra.png")
    tif = out / "ho-so-can-bo.tif"
    write_multipage_tiff(tif, [page("can_bo", 4), page("can_bo", 5, skew=1.0)], 300)
    written.append(tif)
    pdf = out / "thong-bao-tuyen-truyen.pdf"
    write_born_digital_pdf(pdf, [generate_document("tuyen_truyen", 6).text])
    written.append(pdf)
    scanned = out / "quyet-dinh-chinh-sach.pdf"
    write_scanned_pdf(scanned, [page("chinh_sach", 8, skew=0.8)], 300)
    written.append(scanned)
    return written


if __name__ == "__main__":
    for path in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "samples")):
        print(path, path.stat().st_size)
