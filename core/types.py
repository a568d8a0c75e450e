"""Plain data passed between stages. Frozen, picklable, JSON-friendly."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field

from kho.core.errors import NotFoundError

LEVEL_NAMES = {0: "Thường", 1: "Mật", 2: "Tối mật", 3: "Tuyệt mật"}


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word and its box in the page image's pixels (top-left origin)."""

    text: str
    conf: float  # 0-100; -1 when unknown (text layer)
    left: int
    top: int
    width: int
    height: int


REGION_KINDS = (
    "header-left",  # issuing body, "Số: ...", V/v block (trích yếu of a công văn)
    "header-right",  # national motto, place and date
    "title",  # document type, subject, authority line
    "body",
    "table",  # a ruled table: its cells follow as "cell" regions, row by row
    "cell",
    "recipients",  # "Nơi nhận:" list (foot, left)
    "signature",  # KT./TM./TL., position, seal, name (foot, right)
    "other",  # page numbers, margins, what fits nowhere
)


@dataclass(frozen=True, slots=True)
class Region:
    """A part of the page read as a unit: its kind, its box, and its words.

    The words of a region are `PageText.words[first : first + count]`: a page's words are
    stored region by region, in reading order. `row`/`col` place a table cell (0-based);
    -1 elsewhere.
    """

    kind: str
    left: int
    top: int
    width: int
    height: int
    first: int
    count: int
    row: int = -1
    col: int = -1


@dataclass(frozen=True, slots=True)
class Alignment:
    """Where a page's word boxes lie on the original scan: `matrix` (a, b, c, d, e, f) takes
    a point (x, y) of the original's pixels to (a*x + b*y + c, d*x + e*y + f) in the pixels
    the boxes refer to (the cleaned page: turned, deskewed); the original is width x height.
    Coordinates are pixel edges: (0, 0) is the top-left corner of the first pixel."""

    matrix: tuple[float, float, float, float, float, float]
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PageText:
    """What reading one page produced: OCR or a born-digital text layer."""

    text: str
    confidence: float  # mean word confidence 0-100; 100 for a text layer
    words: tuple[Word, ...]
    width: int  # pixels of the image the boxes refer to
    height: int
    source: str  # "ocr" | "text-layer"
    rotation: int = 0  # degrees clockwise applied to upright the page (0/90/180/270)
    skew: float = 0.0  # degrees of deskew applied
    dpi: int = 300
    steps: tuple[str, ...] = ()  # the cleanup steps that ran, each with why ("deskew: ...")
    regions: tuple[Region, ...] = ()  # in reading order; () when the layout is unknown
    alignment: Alignment | None = None  # original scan -> these boxes; None: not recorded

    def to_json(self) -> dict:
        data = asdict(self)
        data["words"] = [[w.text, w.conf, w.left, w.top, w.width, w.height] for w in self.words]
        return data

    @classmethod
    def from_json(cls, data: dict) -> PageText:
        words = tuple(Word(*w) for w in data.get("words", ()))
        regions = tuple(Region(**r) for r in data.get("regions", ()))
        aligned = data.get("alignment")  # absent in pages stored before it was recorded
        return cls(
            **{
                **data,
                "words": words,
                "steps": tuple(data.get("steps", ())),
                "regions": regions,
                "alignment": Alignment(
                    tuple(aligned["matrix"]), int(aligned["width"]), int(aligned["height"])
                )
                if aligned
                else None,
            }
        )

    def region_words(self, region: Region) -> tuple[Word, ...]:
        return self.words[region.first : region.first + region.count]

    def regions_of(self, kind: str) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind == kind)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is reading: clearance 0-3, unit scopes (paths such as 'qk7/f9/e1'), groups."""

    name: str
    clearance: int = 0
    units: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Access:
    """Who may see a document: its level, owning unit path, share groups."""

    level: int = 0
    unit: str = ""
    groups: tuple[str, ...] = ()


ALL_UNITS = "*"  # the one unit scope that covers every unit
DOC_ID_RE = re.compile(r"[0-9a-f]{6,64}")  # a document id (SHA-256 hex) or a prefix of it


class UnitError(ValueError):
    """A unit path that is not in (and cannot be brought to) its one normal form."""


def normalize_unit(unit: str) -> str:
    """The one form of a unit path, compared as a string everywhere: 'QK7/F9' -> 'qk7/f9'.

    NFC and lower case; one leading or trailing '/' is dropped; '' is no unit. Empty
    segments ('qk7//f9'), '.', '..', '*', whitespace and control or invisible characters
    raise UnitError: every backend and `can_see` would otherwise read them differently.
    """
    if not isinstance(unit, str):
        raise UnitError(f"a unit must be text such as 'qk7/f9', not {unit!r}")
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", unit).lower())
    bad = next((c for c in text if c.isspace() or unicodedata.category(c)[0] in "CZ"), None)
    if bad is not None:
        raise UnitError(f"unit {unit!r} holds {unicodedata.name(bad, repr(bad))}: remove it")
    if text in ("", "/"):
        return ""
    text = text.removeprefix("/").removesuffix("/")
    for segment in text.split("/"):
        if segment in ("", ".", "..") or ALL_UNITS in segment:
            raise UnitError(
                f"unit {unit!r} has an empty, '.', '..' or '*' segment;"
                " write it as names joined by single '/', e.g. qk7/f9/e1"
            )
    return text


def unit_scopes(principal: Principal) -> tuple[str, ...]:
    """The principal's unit scopes in normal form, as every backend filters on them.

    ('*',) when a scope is the literal '*'; a malformed or empty scope covers nothing (the
    config refuses them; a Principal built in code gets no wider view from one).
    """
    raw = (principal.units,) if isinstance(principal.units, str) else principal.units
    if ALL_UNITS in raw:
        return (ALL_UNITS,)
    scopes = []
    for scope in raw:
        try:
            scope = normalize_unit(scope)
        except UnitError:
            continue
        if scope:
            scopes.append(scope)
    return tuple(dict.fromkeys(scopes))


def unit_covers(scope: str, unit: str) -> bool:
    """A unit scope covers itself and every sub-unit ('qk7' covers 'qk7/f9' not 'qk70')."""
    if scope == ALL_UNITS:
        return True
    try:
        scope, unit = normalize_unit(scope), normalize_unit(unit)
    except UnitError:
        return False
    return bool(scope) and (unit == scope or unit.startswith(scope + "/"))


def can_see(principal: Principal, access: Access) -> bool:
    """The one visibility rule; every index backend translates it into its own filter.

    Visible iff level <= clearance and (a unit scope covers the owning unit or a share
    group matches). No role bypasses clearance.
    """
    if access.level > principal.clearance:
        return False
    if any(unit_covers(s, access.unit) for s in unit_scopes(principal)):
        return True
    return bool(set(principal.groups) & set(access.groups))


def check_document_id(text: str) -> str:
    """`text` if it is a document id or a prefix of 6+ of its characters (lowercase hex);
    else NotFoundError, before it reaches any query."""
    if not isinstance(text, str) or not DOC_ID_RE.fullmatch(text):
        raise NotFoundError(f"no document {str(text)[:70]!r}: an id is 6-64 characters 0-9 and a-f")
    return text


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    confidence: float  # 0-1
    alternatives: tuple[tuple[str, float], ...] = ()
    reasons: tuple[str, ...] = ()  # matched rules or strongest terms


@dataclass(frozen=True, slots=True)
class PageDoc:
    """One page as the index stores it, carrying its document's fields."""

    doc_id: str
    page: int
    text: str
    category: str = ""
    title: str = ""
    batch: str = ""
    filename: str = ""
    access: Access = field(default_factory=Access)
    doc_type: str = ""
    issuer: str = ""
    doc_date: str = ""  # ISO date or ""
    ingested_at: str = ""  # ISO timestamp
    lang: str = ""
    confidence: float = 0.0
    fonds: str = ""  # the fonds code, e.g. "G09"
    dossier: str = ""  # the dossier's FileCode, e.g. "000.00.00.G09.2024.01-TCCB"
    origin_node: str = ""  # the node that made the record ("" unknown: no node identity)
    origin_unit: str = ""  # that node's unit path, e.g. "qk7/f9/e1"

    @property
    def year(self) -> str:
        """The year of `doc_date` ("2024"), or ""."""
        return self.doc_date[:4]
