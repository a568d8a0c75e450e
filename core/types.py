"""Plain data passed between stages. Frozen, picklable, JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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

    def to_json(self) -> dict:
        data = asdict(self)
        data["words"] = [[w.text, w.conf, w.left, w.top, w.width, w.height] for w in self.words]
        return data

    @classmethod
    def from_json(cls, data: dict) -> PageText:
        words = tuple(Word(*w) for w in data.get("words", ()))
        return cls(**{**data, "words": words, "steps": tuple(data.get("steps", ()))})


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


def unit_covers(scope: str, unit: str) -> bool:
    """A unit scope covers itself and every sub-unit ('qk7' covers 'qk7/f9' not 'qk70')."""
    scope = scope.strip("/")
    unit = unit.strip("/")
    if scope in ("", "*"):
        return True
    return unit == scope or unit.startswith(scope + "/")


def can_see(principal: Principal, access: Access) -> bool:
    """The one visibility rule; every index backend translates it into its own filter.

    Visible iff level <= clearance and (a unit scope covers the owning unit or a share
    group matches). No role bypasses clearance.
    """
    if access.level > principal.clearance:
        return False
    if any(unit_covers(s, access.unit) for s in principal.units):
        return True
    return bool(set(principal.groups) & set(access.groups))


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
