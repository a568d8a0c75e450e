"""Tell a file's kind by its first bytes, never by its name.

Scanners, mail gateways and people rename files; a `.pdf` that is really an HTML error
page must fail with a reason that says so, not deep inside a PDF parser.
"""

from __future__ import annotations

from pathlib import Path

from kho.core.errors import BadInputError

# What kho takes, by extension; the content still decides.
EXTENSIONS: dict[str, str] = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".pdf": "pdf",
}
KINDS_TAKEN = "TIFF, PNG, JPEG, PDF"
KIND_NAMES = {"tiff": "a TIFF image", "png": "a PNG image", "jpeg": "a JPEG image", "pdf": "a PDF"}

HEAD_BYTES = 4096  # enough for every signature below and for a text/binary guess
PDF_WINDOW = 1024  # "%PDF-" may follow junk (mail headers, BOMs); readers allow 1 KB

_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)

# Things people mistake for scans, to say what a misnamed file actually is.
_LOOKALIKES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.odt)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc/.xls)"),
    (b"{\\rtf", "an RTF document"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xffO\xffQ", "a JPEG 2000 image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"AT&TFORM", "a DjVu document"),
)


def kind_of(head: bytes) -> str | None:
    """The kind ("tiff", "png", "jpeg", "pdf") the leading bytes announce, or None."""
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    if b"%PDF-" in head[:PDF_WINDOW]:
        return "pdf"
    return None


def looks_like(head: bytes) -> str:
    """A short human description of content that is none of our kinds."""
    for magic, what in _LOOKALIKES:
        if head.startswith(magic):
            return what
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        return "an HEIC/MP4 file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "XML/HTML text"
    if _is_text(head):
        return "text"
    return "unrecognised binary data"


def _is_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with a byte-order mark
    if b"\x00" in head:
        return False
    # The head may cut a multi-byte character in two: allow one broken tail.
    return head.decode("utf-8", errors="replace").count("\ufffd") <= 1


def unsupported_reason(path: Path) -> str:
    """Why a file is not taken, by its extension (the CLI reports it as skipped)."""
    ext = Path(path).suffix.lower()
    what = f"type {ext}" if ext else "type: no extension"
    return f"unsupported {what} (kho takes {KINDS_TAKEN})"


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def sniff(path: Path) -> str | None:
    """The file's kind by content: "tiff", "png", "jpeg", "pdf", or None if none of them.

    Raises BadInputError for an empty file, or when the extension promises one of our
    kinds and the content is none of them (saying what it looks like instead).
    """
    path = Path(path)
    head = read_head(path)
    if not head:
        raise BadInputError("empty file (0 bytes)")
    kind = kind_of(head)
    ext = path.suffix.lower()
    if kind is None and ext in EXTENSIONS:
        raise BadInputError(
            f"not {KIND_NAMES[EXTENSIONS[ext]]}: content looks like {looks_like(head)}"
            f" (extension {ext})"
        )
    return kind
