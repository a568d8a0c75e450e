"""Who signed a PDF and when: its signature fields and its signing overlay.

A signed PDF carries a /Sig field whose value (the signature dictionary) names the signer
(/Name), the time (/M), a /Reason and /Location. Signing systems also stamp a visible
overlay on the page: a small seal image and a few lines of text ("Ký bởi: Ủy ban nhân dân
tỉnh Quảng Ngãi", "Email: ...", "Thời gian ký: 04.02.2025 15:38:27 +07:00"). Those lines
are metadata, not the page's text: a scanned page whose only text is the overlay is still
a scan to OCR (`without_overlay`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kho.core.types import PageText
from kho.index.text import fold

log = logging.getLogger("kho.ingest")
MAX_OVERLAY_LINES = 8  # a signing overlay is a few lines: "Ký bởi" down to "Thời gian ký"
MAX_FIELDS = 200  # signature fields read per PDF
_START = re.compile(r"^\s*(?:ky\s*boi|signed\s*by)\s*:\s*(?P<v>.*)$")
_TIME = re.compile(r"^\s*(?:thoi\s*gian\s*ky|ngay\s*ky|signing\s*time|date)\s*:\s*(?P<v>.*)$")
_EMAIL = re.compile(r"^\s*e-?mail\s*:\s*(?P<v>.*)$")
_ORG = re.compile(r"^\s*(?:co\s*quan|to\s*chuc|organi[sz]ation)\s*:\s*(?P<v>.*)$")
_OVERLAY_TIME = re.compile(
    r"(?P<d>\d{1,2})[./-](?P<m>\d{1,2})[./-](?P<y>\d{4})\s+(?P<t>\d{1,2}:\d{2}(?::\d{2})?)"
    r"\s*(?P<z>[+-]\d{2}:?\d{2})?"
)
_PDF_DATE = re.compile(
    r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+-])?(\d{2})?'?(\d{2})?"
)


@dataclass(frozen=True)
class Signature:
    """One signature: who, for which body, when (ISO 8601 with offset), and where it was
    read ("sig-field": the signature dictionary; "overlay": the stamped text)."""

    signer: str = ""
    organization: str = ""
    email: str = ""
    time: str = ""
    reason: str = ""
    location: str = ""
    source: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


def overlay_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line index of each signing overlay: a "Ký bởi:" line down to its
    "Thời gian ký:" line, a few lines apart."""
    blocks = []
    folded = [fold(line) for line in lines]
    for i, line in enumerate(folded):
        if not _START.match(line):
            continue
        for j in range(i + 1, min(i + MAX_OVERLAY_LINES, len(lines))):
            if _TIME.match(folded[j]):
                blocks.append((i, j))
                break
    return blocks


def overlay_signatures(text: str) -> list[Signature]:
    """The signatures a page's text layer shows as a signing overlay."""
    lines = text.split("\n")
    out = []
    for first, last in overlay_blocks(lines):
        found: dict[str, str] = {}
        key = "signer"
        for line in lines[first : last + 1]:
            f = fold(line)
            for name, pattern in (
                ("signer", _START),
                ("email", _EMAIL),
                ("organization", _ORG),
                ("time", _TIME),
            ):
                m = pattern.match(f)
                if m:
                    key = name
                    found[key] = line.split(":", 1)[1].strip()
                    break
            else:  # a wrapped value ("Ủy ban nhân dân" / "tỉnh Quảng Ngãi") goes on
                found[key] = f"{found.get(key, '')} {line.strip()}".strip()
        signer = found.get("signer", "")
        out.append(
            Signature(
                signer=signer,
                organization=found.get("organization", signer),
                email=found.get("email", ""),
                time=_overlay_time(found.get("time", "")),
                source="overlay",
            )
        )
    return out


def _overlay_time(text: str) -> str:
    m = _OVERLAY_TIME.search(text)
    if not m:
        return text
    zone = (m["z"] or "").replace(":", "")
    zone = f"{zone[:3]}:{zone[3:]}" if zone else ""
    clock = m["t"] if m["t"].count(":") == 2 else m["t"] + ":00"
    return f"{int(m['y']):04d}-{int(m['m']):02d}-{int(m['d']):02d}T{clock.zfill(8)}{zone}"


def without_overlay(layer: PageText, min_chars: int) -> PageText | None:
    """The text layer without its signing overlay's lines and words; None when what is left
    is less than `min_chars` characters (a scan with only the overlay: OCR it)."""
    lines = layer.text.split("\n")
    blocks = overlay_blocks(lines)
    if not blocks:
        return layer
    drop = {i for first, last in blocks for i in range(first, last + 1)}
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    if sum(not c.isspace() for c in kept) < min_chars:
        return None
    tokens: dict[str, int] = {}
    for i in drop:
        for token in lines[i].split():
            tokens[token] = tokens.get(token, 0) + 1
    words = []
    for word in layer.words:
        if tokens.get(word.text, 0) > 0:
            tokens[word.text] -= 1
            continue
        words.append(word)
    return replace(layer, text=kept, words=tuple(words))


def without_overlay_lines(page: PageText) -> PageText:
    """An OCR'd page without the lines of a signing overlay the rendered page showed (the
    overlay is the signature's metadata, kept by `read_signatures`); its regions are gone
    too, for the layout to find again. Unchanged when there is no overlay."""
    lines = page.text.split("\n")
    blocks = overlay_blocks(lines)
    if not blocks or [w.text for w in page.words] != page.text.split():
        return page
    drop = {i for first, last in blocks for i in range(first, last + 1)}
    rows: list[str] = []
    words: list = []
    taken = 0
    for i, line in enumerate(lines):
        mine = page.words[taken : taken + len(line.split())]
        taken += len(mine)
        if i not in drop:
            rows.append(line)
            words += mine
    return replace(page, text="\n".join(rows), words=tuple(words), regions=())


def field_signatures(path: Path) -> list[Signature]:
    """The signature dictionaries of a PDF's /Sig fields (AcroForm and page widgets)."""
    import pikepdf

    out: list[Signature] = []
    try:
        with pikepdf.open(path) as pdf:
            seen: set[tuple] = set()
            form: Any = pdf.Root.get("/AcroForm", {})
            todo = list(form.get("/Fields", []))
            for page in pdf.pages:
                todo += list(page.obj.get("/Annots", []))
            while todo and len(seen) < MAX_FIELDS:
                item = todo.pop(0)
                if not isinstance(item, pikepdf.Dictionary):
                    continue
                key = item.objgen if item.is_indirect else (id(item), 0)
                if key in seen:
                    continue
                seen.add(key)
                todo += list(item.get("/Kids", []))
                value = item.get("/V")
                if item.get("/FT") == "/Sig" and isinstance(value, pikepdf.Dictionary):
                    out.append(_from_dictionary(value))
    except pikepdf.PdfError as err:
        log.warning("%s: signature fields not read: %s", path.name, err)
    return list(dict.fromkeys(out))


def _from_dictionary(sig) -> Signature:
    def text(key: str) -> str:
        value = sig.get(key)
        return str(value).strip() if value is not None else ""

    return Signature(
        signer=text("/Name"),
        time=pdf_date(text("/M")),
        reason=text("/Reason"),
        location=text("/Location"),
        email=text("/ContactInfo"),
        source="sig-field",
    )


def pdf_date(text: str) -> str:
    """A PDF date ("D:20250204153827+07'00'") as ISO 8601; as it came when it is not one."""
    m = _PDF_DATE.match(text)
    if not m:
        return text
    y, *parts, sign, zh, zm = m.groups()
    mo, d, h, mi, s = (int(p) if p else 0 for p in parts)
    try:
        when = dt.datetime(int(y), mo or 1, d or 1, h, mi, s)
    except ValueError:
        return text
    zone = ""
    if sign in ("Z", "z"):
        zone = "+00:00"
    elif sign:
        zone = f"{sign}{zh or '00'}:{zm or '00'}"
    return when.isoformat() + zone


def read_signatures(path: Path) -> list[Signature]:
    """Every signature of a PDF: its /Sig fields, then the overlays its pages show."""
    from kho.ocr.textlayer import TextLayers

    found = field_signatures(path)
    try:
        with TextLayers(path) as pdf:
            for index in range(min(pdf.count(), MAX_FIELDS)):  # each page alone
                page = pdf.page(index)
                found += overlay_signatures(page.extract_text() or "")
                page.close()
    except Exception as err:  # noqa: BLE001 - pdfminer raises many types; the text layer reports it
        log.warning("%s: signing overlay not read: %s", path.name, err)
    return found
