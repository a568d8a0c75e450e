"""A PDF written object by object as it is made, in memory bounded at any page count.

kho's searchable PDFs and archival masters are thousands of page images under a text layer.
A PDF library that builds the document in memory (pikepdf, qpdf underneath) holds every
page's image until it saves, so a 5,000-page dossier needed gigabytes. The syntax kho's own
files need is small (ISO 32000-1, 7.3 and 7.5): `N 0 obj ... endobj`, streams with their
/Length, one classic cross-reference table and a trailer with /ID. So this writer writes
each object to the file the moment it is given and keeps only each object's offset (a few
bytes a page); what pages share (a font, the page tree) takes a number up front
(`reserve`) and is written at the end. pikepdf stays the reader that checks the output
(the tests open every file written here with it, and veraPDF checks the masters).

Values are plain Python: dict (a dictionary; keys are names), list/tuple (an array),
`Name`, `Ref` (an indirect reference), str (a text string), bytes (a hex string), int,
float, Decimal, bool and None. `core.pdfcopy` copies the pages of existing PDFs into it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import BinaryIO

ZLIB_LEVEL = 6
HEADER_MARK = b"%\xe2\xe3\xcf\xd3\n"  # four bytes over 127: the file is binary (PDF/A asks)
REGULAR = frozenset(range(0x21, 0x7F)) - set(b"()<>[]{}/%#")  # a name's unescaped bytes


class Name(str):
    """A PDF name, written /Like#20this."""


class Ref(int):
    """An indirect reference to object number N (generation 0)."""


def serialize(value: object) -> bytes:
    """The PDF syntax of a value."""
    if isinstance(value, Name):
        raw = value.lstrip("/").encode("utf-8")
        return b"/" + b"".join(bytes([c]) if c in REGULAR else b"#%02X" % c for c in raw)
    if isinstance(value, Ref):
        return b"%d 0 R" % value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Decimal):  # a real read from a PDF, digits as they were
        text = format(value, "f")
        return (text.rstrip("0").rstrip(".") if "." in text else text).encode("ascii") or b"0"
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return b"0" if text in ("-0", "") else text.encode("ascii")
    if isinstance(value, str):
        return _text_string(value)
    if isinstance(value, bytes):
        return b"<" + value.hex().upper().encode("ascii") + b">"
    if isinstance(value, list | tuple):
        return b"[" + b" ".join(serialize(v) for v in value) + b"]"
    if isinstance(value, Mapping):
        items = (serialize(Name(k)) + b" " + serialize(v) for k, v in value.items())
        return b"<<" + b" ".join(items) + b">>"
    if value is None:
        return b"null"
    raise TypeError(f"no PDF syntax for {type(value).__name__}")


def _text_string(text: str) -> bytes:
    """A literal string for printable ASCII, else UTF-16BE with its byte order mark."""
    if all(0x20 <= ord(c) < 0x7F for c in text):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


class PdfWriter:
    """Objects written to `out` as they are given; `finish` writes the cross-reference
    table and the trailer. `out` need not be seekable: offsets are counted here."""

    def __init__(self, out: BinaryIO, version: str = "1.7") -> None:
        self._out = out
        self._pos = 0
        self._offsets: dict[int, int] = {}
        self._reserved: set[int] = set()
        self._count = 0
        self._digest = hashlib.md5(usedforsecurity=False)  # the file's /ID: its content's
        self._put(b"%PDF-" + version.encode("ascii") + b"\n" + HEADER_MARK)

    def _put(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)
        self._pos += len(data)

    def reserve(self) -> Ref:
        """A number for an object written later (what earlier objects point to)."""
        self._count += 1
        self._reserved.add(self._count)
        return Ref(self._count)

    def _begin(self, ref: Ref | None) -> Ref:
        if ref is None:
            ref = self.reserve()
        if ref not in self._reserved:
            raise ValueError(f"object {ref} was not reserved or is written already")
        self._reserved.discard(ref)
        self._offsets[ref] = self._pos
        return ref

    def add(self, value: object, ref: Ref | None = None) -> Ref:
        """Write a value as an indirect object (as `ref`, when it was reserved)."""
        ref = self._begin(ref)
        self._put(b"%d 0 obj\n" % ref + serialize(value) + b"\nendobj\n")
        return ref

    def add_stream(
        self,
        data: bytes,
        entries: Mapping[str, object] | None = None,
        ref: Ref | None = None,
        compress: bool = False,
    ) -> Ref:
        """Write a stream: `data` as it is (already encoded as `entries` /Filter says),
        or Flate-compressed here when `compress`."""
        entries = dict(entries or {})
        if compress:
            data = zlib.compress(data, ZLIB_LEVEL)
            entries["Filter"] = Name("FlateDecode")
        entries["Length"] = len(data)
        ref = self._begin(ref)
        self._put(b"%d 0 obj\n" % ref + serialize(entries) + b"\nstream\n")
        self._put(data)
        self._put(b"\nendstream\nendobj\n")
        return ref

    def finish(self, root: Ref, info: Ref | None = None) -> None:
        """The cross-reference table and the trailer; every reserved object must be
        written by now."""
        if self._reserved:
            raise ValueError(f"objects {sorted(self._reserved)} were reserved, never written")
        file_id = self._digest.digest()
        start = self._pos
        table = [b"xref\n0 %d\n" % (self._count + 1), b"0000000000 65535 f\r\n"]
        table += [b"%010d 00000 n\r\n" % self._offsets[n] for n in range(1, self._count + 1)]
        trailer: dict[str, object] = {"Size": self._count + 1, "Root": root}
        if info is not None:
            trailer["Info"] = info
        trailer["ID"] = [file_id, file_id]
        table.append(b"trailer\n" + serialize(trailer) + b"\nstartxref\n%d\n%%%%EOF\n" % start)
        self._put(b"".join(table))
