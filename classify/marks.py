"""Confidentiality marks printed on a record: MẬT, TỐI MẬT, TUYỆT MẬT, wherever they are.

A mark is a short standalone line or segment (a header column, a stamp, the foot of a
page) or the value of a label ("Độ mật: TỐI MẬT"), on any page, in any case, with or
without diacritics (OCR reads "MẬT" as "MAT" or "MÁT"), spaced out ("T Ố I  M Ậ T") or
split over two lines. Ordinary words holding "mật" (bảo mật, bí mật, mật khẩu, mật thiết)
are prose, not marks.

What looks like a mark but cannot be read with confidence — "M?T", an upper-case "MẬT"
inside a longer line, a near miss such as "TOl MAT", a lone lower-case "mật", a label whose
value is unreadable — is `uncertain`: the document is held at the highest level until a
person decides (`classify.review.decide_mark`). Failing closed costs a review; guessing low
would show a secret record to everyone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from kho.index.text import fold

PHRASES = {"mat": 1, "toimat": 2, "tuyetmat": 3}  # letters of the folded mark -> level
UNMARKED = frozenset({"thuong", "khong", "khongmat"})  # a label's value meaning no mark
URGENCY = re.compile(r"\b(?:thuong\s*khan|hoa\s*toc(?:\s*hen\s*gio)?|khan)\b")
LABEL = re.compile(r"^\W*(?:muc\s*)?(?:cap\s*)?do\s*mat\b\s*[:\-\u2013\u2014]?\s*")
# Words that make "mật" part of an ordinary word, before it or after it.
WORD_BEFORE = frozenset({"bao", "bi", "co", "than", "giu", "tiet", "do", "ngot", "tui"})
WORD_AFTER = frozenset(
    "khau ma thiet do ong bao thu lenh vu tham danh hieu uoc dam nghi phuc tap ngot gau mia "
    "khu dich sat".split()
)
MAX_MARK_LETTERS = 12  # a mark line is short; longer is a sentence


@dataclass(frozen=True)
class MarkFinding:
    """The highest mark read with confidence, where, and what could not be read."""

    level: int = 0
    where: str = ""  # "page 2: 'TỐI MẬT'"
    uncertain: tuple[str, ...] = ()  # "page 3: 'M?T'"


def find_marks(pages: Iterable[tuple[int, str]]) -> MarkFinding:
    """Marks on every page of (page number, text); the text may also hold what OCR read in
    a page's images."""
    level, where, uncertain = 0, "", []
    for number, text in pages:
        for line, found, sure in _marks(text):
            label = f"page {number}: {line!r}"
            if not sure:
                uncertain.append(label)
            elif found > level:
                level, where = found, label
    return MarkFinding(level, where, tuple(dict.fromkeys(uncertain)))


def _marks(text: str) -> Iterable[tuple[str, int, bool]]:
    """(line, level, sure) for each mark-like thing in a page's text."""
    lines = [unicodedata.normalize("NFC", ln).strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    for i, line in enumerate(lines):
        whole = _key(fold(line))
        if whole in ("toi", "tuyet") and i + 1 < len(lines) and _key(fold(lines[i + 1])) == "mat":
            yield f"{line} {lines[i + 1]}", PHRASES[whole + "mat"], True  # split by OCR
            continue
        if whole in PHRASES and whole != "mat":
            yield line, PHRASES[whole], True  # "T Ố I   M Ậ T", columns and all
            continue
        for segment in re.split(r"\s{3,}|\t", line):
            yield from _segment_marks(segment.strip())


def _segment_marks(segment: str) -> Iterable[tuple[str, int, bool]]:
    folded = fold(segment)
    label = LABEL.match(folded)
    rest = folded[label.end() :] if label else folded
    key = _key(URGENCY.sub(" ", rest))
    upper = _upper_ratio(segment) >= 0.7
    if key in PHRASES:
        sure = key != "mat" or upper or label is not None
        yield segment, PHRASES[key], sure
        return
    if label is not None and (":" in folded[: label.end()] or len(key) <= MAX_MARK_LETTERS):
        if key not in UNMARKED:
            yield segment, 3, False  # a label whose value is not a mark we know
        return
    if len(key) <= MAX_MARK_LETTERS and (upper or "?" in key) and _near_mark(key):
        yield segment, 3, False
        return
    for token in _suspect_tokens(segment):
        yield token, 3, False


def _key(folded: str) -> str:
    """The letters (and '?', OCR's unknown) of a folded line: spacing and stamps dropped."""
    return re.sub(r"[^a-z0-9?]", "", folded)


def _upper_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _near_mark(key: str) -> bool:
    """One OCR slip from a mark phrase (long enough for that to mean something), or a
    phrase with unknown letters ("m?t", "t?i m?t")."""
    for phrase in PHRASES:
        if len(key) == len(phrase) and "?" in key:
            if all(k in (p, "?") for k, p in zip(key, phrase, strict=True)):
                return True
        if len(phrase) >= 6 and _within_one(key, phrase):
            return True
    return False


def _within_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# "MẬT" as OCR may give it; not MẶT (mặt trận), MẮT, MẤT or MẠT, which are other words
_MAT_TOKEN = re.compile("M[AÂẬÁ]T")
_TOKEN = re.compile(r"[^\s,.;:()\[\]\"'/|*]+")


def _suspect_tokens(segment: str) -> Iterable[str]:
    """Tokens of a longer line that may be a mark: "M?T" anywhere, or an upper-case "MẬT"
    that is not part of an ordinary word."""
    words = _TOKEN.findall(segment)
    folded = [fold(w) for w in words]
    for i, word in enumerate(words):
        if re.fullmatch(r"M[^\w\s]{1,2}T", word):
            yield word
        elif word.isupper() and _MAT_TOKEN.fullmatch(word):
            before = folded[i - 1] if i > 0 else ""
            after = folded[i + 1] if i + 1 < len(words) else ""
            if before not in WORD_BEFORE and after not in WORD_AFTER:
                yield " ".join(words[max(0, i - 2) : i + 3])
