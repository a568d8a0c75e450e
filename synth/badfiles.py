"""Broken and hostile input files, one per way a source file can be unusable.

Ingest must record each as a failed file with a reason and go on with the batch; tests
check the recorded reason contains the expected substring returned here.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pikepdf
from PIL import Image

from .pages import render_page

BOMB_SIDE = 40_000  # pixels per side of the decompression bomb: 1.6 G pixels


def _page_image() -> Image.Image:
    page = render_page("Đảng ủy Sư đoàn 5\nBáo cáo tổng hợp", dpi=100)
    return Image.fromarray(page.image, "L")


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    _page_image().save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid 1-bit white PNG of side x side pixels, a few hundred KB on disk.

    Written row by row so it never exists decoded in memory (PIL's mode "1" would take a
    byte per pixel: 1.6 GB).
    """
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    row = b"\x00" + b"\xff" * ((side + 7) // 8)  # filter type 0, then white pixels
    packer = zlib.compressobj(6)  # level 9 is slower and no smaller here
    parts = [packer.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(packer.compress(row * (side % 1000)))
    parts.append(packer.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def _pdf_with_page() -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    return pdf


def _docx_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return buffer.getvalue()


def write_bad_inputs(directory: Path) -> dict[str, str]:
    """Write one file per bad kind into `directory`; return {filename: expected reason}.

    The reason is a lowercase substring of the message ingest records for that file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    png, jpeg = _encoded("PNG"), _encoded("JPEG")
    rng = np.random.default_rng(7)
    files: dict[str, tuple[bytes | None, str]] = {
        "empty.png": (b"", "empty"),
        "truncated.png": (png[: len(png) // 2], "corrupt"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "corrupt"),
        "text-named.jpg": ("Đây là một tệp văn bản, không phải ảnh.\n".encode(), "not a jpeg"),
        "corrupt.pdf": (b"%PDF-1.7\n" + rng.bytes(4096), "corrupt pdf"),
        "encrypted.pdf": (None, "encrypted"),
        "no-pages.pdf": (None, "no pages"),
        "bomb.png": (bomb_png(), "max_page_pixels"),
        "report.docx": (_docx_zip(), "unsupported"),
    }
    for name, (data, _) in files.items():
        if data is not None:
            (directory / name).write_bytes(data)
    encryption = pikepdf.Encryption(user="mat-khau", owner="chu-so-huu", R=6)
    with _pdf_with_page() as pdf:
        pdf.save(directory / "encrypted.pdf", encryption=encryption)
    with pikepdf.new() as pdf:  # a valid PDF whose page tree is empty
        pdf.save(directory / "no-pages.pdf", deterministic_id=True)
    return {name: reason for name, (_, reason) in files.items()}
