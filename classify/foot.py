"""The foot and the addressees of an administrative document (Decree 30/2020/NĐ-CP).

The signature block (right, at the foot): the authority line ("KT. CHỦ TỊCH", "TM. ỦY BAN
NHÂN DÂN", "T/M BAN THƯỜNG VỤ"), the position ("PHÓ CHỦ TỊCH") and the signer's name.
The recipients: "Kính gửi: ..." under the header, and the "Nơi nhận:" list at the foot
(its "Lưu: VT, ..." line is the archive copy, not a recipient). OCR reads the two foot
columns into one another ("Nơi nhận: CHỦ TỊCH"), so the position may follow the label.
"""

from __future__ import annotations

import re

from kho.index.text import fold

from .textnorm import clean_text, collapse_spaces, distance

FOOT_LINES = 45  # the signature and recipients sit in the last lines of a page
_AUTHORITY_RE = re.compile(r"^(KT|TM|TL|TUQ|Q|K\s*/\s*T|T\s*/\s*M|T\s*/\s*L)\s*[./]\s*(?=\w)")
_POSITION_NAMES = (
    "CHỦ TỊCH; PHÓ CHỦ TỊCH; GIÁM ĐỐC; PHÓ GIÁM ĐỐC; TỔNG GIÁM ĐỐC; BỘ TRƯỞNG; THỨ TRƯỞNG;"
    " HIỆU TRƯỞNG; PHÓ HIỆU TRƯỞNG; TRƯỞNG BAN; PHÓ TRƯỞNG BAN; BÍ THƯ; PHÓ BÍ THƯ;"
    " CHÁNH VĂN PHÒNG; PHÓ CHÁNH VĂN PHÒNG; TƯ LỆNH; PHÓ TƯ LỆNH; CHÍNH ỦY; PHÓ CHÍNH ỦY;"
    " CHỦ NHIỆM; PHÓ CHỦ NHIỆM; CỤC TRƯỞNG; PHÓ CỤC TRƯỞNG; VỤ TRƯỞNG; TRƯỞNG PHÒNG;"
    " PHÓ TRƯỞNG PHÒNG; CHỈ HUY TRƯỞNG; THAM MƯU TRƯỞNG; THỦ TƯỚNG; PHÓ THỦ TƯỚNG;"
    " CHÁNH ÁN; VIỆN TRƯỞNG; CHÁNH THANH TRA; TRƯỞNG KHOA; THƯ KÝ; TRƯỞNG ĐOÀN"
)
_POSITIONS = {
    " ".join(re.findall(r"[a-z]+", fold(p))): p.strip() for p in _POSITION_NAMES.split(";")
}
# Vietnamese surnames: a signer's name that starts with none of them may be misread
_SURNAMES = {
    fold(n)
    for n in (
        "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Đào Trương"
        " Lâm Mai Trịnh Đoàn Lương Hà Cao Tô Tạ Thái Lưu Quách Châu Văn Kiều Chu Vương Hứa"
        " Triệu Mạc Thân Khổng Lại Tăng Từ La Nông Lò Y Ksor Nie Siu Rơ"
    ).split()
}
_VIETNAMESE_LETTERS = set(
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
)
_NOI_NHAN_RE = re.compile(r"^\s*noi\s*nhan\s*[:;.]?\s*")
_KINH_GUI_RE = re.compile(r"^\s*kinh\s*gui\s*[:;.]?\s*")
_NAME_WORD = re.compile(r"[A-ZÀ-ỸĐ][a-zà-ỹđ]+")


def _letters(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", fold(text)))


def _upper_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def position_of(line: str) -> str:
    """The line as a signature position in its spelling ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH",
    "TM. ỦY BAN NHÂN DÂN"); "" if it is none. A known position one OCR slip away counts."""
    line = line.strip(" -=_.,;:|~'\"")
    if _upper_ratio(line) < 0.8 or not 1 <= len(line.split()) <= 8:
        return ""
    m = _AUTHORITY_RE.match(line)
    prefix = re.sub(r"\s+", "", m[1]).replace("/", "") + ". " if m else ""
    rest = line[m.end() :] if m else line
    letters = " ".join(re.findall(r"[a-z]+", fold(rest)))
    known = _POSITIONS.get(letters)
    if not known and len(letters) >= 6:
        near = [v for k, v in _POSITIONS.items() if distance(letters, k) <= 1]
        known = near[0] if len(near) == 1 else ""
    if known:
        return prefix + known
    return prefix + collapse_spaces(rest) if prefix else ""


def is_position(line: str) -> bool:
    return bool(position_of(line))


def is_name(line: str) -> bool:
    """A person's name: two to five capitalised words, nothing else."""
    words = line.strip(" ;,.").split()
    return 2 <= len(words) <= 5 and all(_NAME_WORD.fullmatch(w) for w in words)


def position_shape(position: str) -> float:
    """1 for a position as Decree 30 writes it; 0.3 for two position lines without the
    authority ("KT.", "TM.", "TL.") the first must carry: OCR lost it."""
    lines = position.split(" / ")
    return 0.3 if len(lines) > 1 and not _AUTHORITY_RE.match(lines[0]) else 1.0


def name_shape(name: str) -> float:
    """1 for a name of Vietnamese letters with a known surname, 0.7 with another surname,
    0.3 with letters Vietnamese does not write (a misread: "Ñgryến")."""
    if any(c.isalpha() and c not in _VIETNAMESE_LETTERS for c in name.lower()):
        return 0.3
    return 1.0 if fold(name.split()[0]) in _SURNAMES else 0.7


def _segments(text: str, last: int) -> list[str]:
    """The last `last` lines, columns split (runs of 3+ spaces), the "Nơi nhận:" label cut
    from a position merged after it."""
    segs = []
    for line in clean_text(text).split("\n")[-last:]:
        for part in re.split(r" {3,}", line):
            part = collapse_spaces(part)
            m = _NOI_NHAN_RE.match(fold(part))
            if m and part[m.end() :].strip():
                segs += ["Nơi nhận:", part[m.end() :]]  # the position OCR ran onto it
                continue
            # a list item with the signature's line run onto it: "- Như trên; PHÓ CHỦ TỊCH"
            head, sep, tail = part.rpartition(";")
            if sep and head.startswith("-") and (is_position(tail) or is_name(tail.strip())):
                segs += [head + ";", tail.strip()]
            elif part:
                segs.append(part)
    return segs


def signer(text: str, last: int = FOOT_LINES) -> tuple[str, str]:
    """(position, full name) of the signature block; position lines joined by " / "."""
    segs = _segments(text, last)
    end = next((i for i in range(len(segs) - 1, -1, -1) if is_position(segs[i])), None)
    if end is None:
        return "", ""
    # the authority line above it, maybe with list items OCR put between
    lines = [position_of(segs[end])]
    for i in range(end - 1, max(end - 5, -1), -1):
        if len(lines) < 3 and is_position(segs[i]):
            lines.insert(0, position_of(segs[i]))
    name = next((s for s in segs[end + 1 :] if is_name(s)), "")
    return " / ".join(lines), name


def recipients(text: str, last: int = FOOT_LINES) -> tuple[str, ...]:
    """Who the document is sent to: the "Kính gửi:" lines, then the "Nơi nhận:" list."""
    lines = [collapse_spaces(s) for s in clean_text(text).split("\n")]
    out: list[str] = []
    for i, line in enumerate(lines):
        m = _KINH_GUI_RE.match(fold(line))
        if m and line[:1] in "Kk":
            head = line[m.end() :].strip(" ;.")
            out += [head] if head else []
            out += _list_after(lines, i + 1)
            break
    segs = _segments(text, last)
    for i, seg in enumerate(segs):
        if _NOI_NHAN_RE.match(fold(seg)) and seg[:1] == "N":
            out += _list_after(segs, i + 1)
            break
    return tuple(dict.fromkeys(out))


def _list_after(lines: list[str], start: int) -> list[str]:
    """The "- item;" lines from `start`, a wrapped item's lower-case tail joined on."""
    items: list[str] = []
    for line in lines[start:]:
        if line[:1] in "-+•":
            item = line.lstrip("-+• ").rstrip(" ;,.")
            if _letters(item).startswith("luu"):
                break
            items.append(item)
        elif items and line[:1].islower():
            items[-1] = f"{items[-1]} {line.rstrip(' ;,.')}"
        elif line.strip() and not is_position(line):
            break
    return [i for i in items if i]
