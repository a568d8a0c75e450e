"""Vietnamese administrative metadata from a document's text (Decree 30/2020/NĐ-CP layout).

The header of a record names its issuing body, number and symbol ("Số: 125/QĐ-BCH"), place
and date, confidentiality mark, document type and subject. OCR text loses or garbles
diacritics, breaks lines and merges the two header columns, so every pattern is matched on
the folded text (`fold_aligned`) and the span is cut from the original; known words
(document types, places, unit names) are mapped back to their spelling. A field that is not
found is "": a wrong value is worse than none.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass

from kho.core.types import PageText
from kho.index.text import fold

from .fieldconf import combine, number_shape, page_view, symbol_shape, words_confidence
from .fields import ANNEX_VI, FIELD_LABELS, DocMeta, annex_vi
from .foot import name_shape, position_shape, recipients, signer
from .textnorm import clean_text, collapse_spaces, distance, fold_aligned

__all__ = ["ANNEX_VI", "FIELD_LABELS", "DocMeta", "annex_vi", "extract_metadata"]
HEADER_SEGMENTS = 30  # the header, title and subject sit in the first segments of a page


# (folded title, display name, symbol codes) per document type (Decree 30 annex III and the
# Party's Hướng dẫn 36-HD/VPTW).
DOC_TYPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nghi quyet", "Nghị quyết", ("NQ",)),
    ("quyet dinh", "Quyết định", ("QĐ",)),
    ("chi thi", "Chỉ thị", ("CT",)),
    ("ket luan", "Kết luận", ("KL",)),
    ("quy che", "Quy chế", ("QC",)),
    ("quy dinh", "Quy định", ("QĐi", "QyĐ")),
    ("huong dan", "Hướng dẫn", ("HD",)),
    ("chuong trinh", "Chương trình", ("CTr",)),
    ("ke hoach", "Kế hoạch", ("KH",)),
    ("de an", "Đề án", ("ĐA",)),
    ("bao cao", "Báo cáo", ("BC",)),
    ("to trinh", "Tờ trình", ("TTr",)),
    ("thong bao", "Thông báo", ("TB",)),
    ("bien ban", "Biên bản", ("BB",)),
    ("cong van", "Công văn", ("CV",)),
    ("cong dien", "Công điện", ("CĐ",)),
    ("giay moi", "Giấy mời", ("GM",)),
    ("giay gioi thieu", "Giấy giới thiệu", ("GGT",)),
)
_TYPE_BY_CODE = {fold(code): name for _, name, codes in DOC_TYPES for code in codes}
# the type code a symbol starts with, for the types whose symbol must start with it
_CODES_OF = {name: {fold(c) for c in codes} for _, name, codes in DOC_TYPES if name != "Công văn"}
# Symbol parts printed with Đ or mixed case: an OCR'd "QD" or "TTR" is mapped back.
_CODE_SPELLING = {fold(c): c for _, _, codes in DOC_TYPES for c in codes} | {
    fold(c): c for c in ("ĐU", "ĐUQS", "ĐUQSTW", "ĐTN", "SĐ", "UBKT", "BTV", "BCH", "TƯ")
}
MARKS = {"mat": 1, "toi mat": 2, "tuyet mat": 3}
URGENCIES = {"khan": "KHẨN", "thuong khan": "THƯỢNG KHẨN", "hoa toc": "HỎA TỐC"}
# a body named without its place: the next header line ("TỈNH QUẢNG NGÃI") completes it
_PLACELESS = ("uy ban nhan dan", "hoi dong nhan dan", "uy ban mat tran to quoc viet nam")
_UNIT_WORDS = ("tinh", "thanh pho", "huyen", "quan", "thi xa", "xa", "phuong", "thi tran")

_PLACES = (
    "Hà Nội; TP. Hồ Chí Minh; Thành phố Hồ Chí Minh; Hải Phòng; Đà Nẵng; Cần Thơ; Huế; An Giang;"
    " Bà Rịa - Vũng Tàu; Bắc Giang; Bắc Kạn; Bạc Liêu; Bắc Ninh; Bến Tre; Bình Định;"
    " Bình Dương; Bình Phước; Bình Thuận; Cà Mau; Cao Bằng; Đắk Lắk; Đắk Nông; Điện Biên;"
    " Đồng Nai; Đồng Tháp; Gia Lai; Hà Giang; Hà Nam; Hà Tĩnh; Hải Dương; Hậu Giang; Hòa Bình;"
    " Hưng Yên; Khánh Hòa; Kiên Giang; Kon Tum; Lai Châu; Lâm Đồng; Lạng Sơn; Lào Cai;"
    " Long An; Nam Định; Nghệ An; Ninh Bình; Ninh Thuận; Phú Thọ; Phú Yên; Quảng Bình;"
    " Quảng Nam; Quảng Ngãi; Quảng Ninh; Quảng Trị; Sóc Trăng; Sơn La; Tây Ninh; Thái Bình;"
    " Thái Nguyên; Thanh Hóa; Thừa Thiên Huế; Tiền Giang; Trà Vinh; Tuyên Quang; Vĩnh Long;"
    " Vĩnh Phúc; Yên Bái; Biên Hòa; Thủ Dầu Một; Vũng Tàu; Bà Rịa; Nha Trang; Cam Ranh;"
    " Đà Lạt; Buôn Ma Thuột; Pleiku; Quy Nhơn; Tuy Hòa; Vinh; Hạ Long; Việt Trì; Mỹ Tho;"
    " Long Xuyên; Rạch Giá; Phan Thiết; Đồng Hới; Đông Hà; Tam Kỳ; Sơn Tây; Thủ Đức; Tân An;"
    " Cao Lãnh; Châu Đốc; Phủ Lý; Vĩnh Yên; Đồng Xoài; Gia Nghĩa; Vị Thanh; Điện Biên Phủ"
)
_ORG_WORDS = (
    "QUÂN ỦY TRUNG ƯƠNG; BỘ QUỐC PHÒNG; TỔNG CỤC CHÍNH TRỊ; BỘ TỔNG THAM MƯU; ĐẢNG ỦY; ĐẢNG BỘ;"
    " CHI BỘ; ỦY BAN KIỂM TRA; BAN THƯỜNG VỤ; QUÂN KHU; QUÂN ĐOÀN; QUÂN CHỦNG; BINH CHỦNG;"
    " SƯ ĐOÀN; LỮ ĐOÀN; TRUNG ĐOÀN; TIỂU ĐOÀN; ĐẠI ĐỘI; BỘ CHỈ HUY; BAN CHỈ HUY; QUÂN SỰ;"
    " BỘ TƯ LỆNH;"
    " CỤC CHÍNH TRỊ; PHÒNG CHÍNH TRỊ; BAN CHÍNH TRỊ; CỤC; PHÒNG; BAN; TỈNH; THÀNH PHỐ; HUYỆN;"
    " THỊ XÃ; HỌC VIỆN; TRƯỜNG SĨ QUAN; CHÍNH TRỊ; VĂN PHÒNG; BỘ ĐỘI BIÊN PHÒNG; HẢI QUÂN;"
    " PHÒNG KHÔNG - KHÔNG QUÂN; CẢNH SÁT BIỂN; THỦ ĐÔ; HẬU CẦN; KỸ THUẬT; THAM MƯU; LỤC QUÂN;"
    " TRUNG ƯƠNG; ĐOÀN KINH TẾ - QUỐC PHÒNG; BỆNH VIỆN QUÂN Y; ĐOÀN; TRƯỜNG; QUÂN ĐỘI"
)


def _phrase_map(spec: str, upper: bool) -> dict[tuple[str, ...], str]:
    out = {}
    for phrase in (p.strip() for p in spec.split(";")):
        out[tuple(_words(phrase))] = phrase.upper() if upper else phrase
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


PLACES = _phrase_map(_PLACES, upper=False)
ORG_WORDS = _phrase_map(_ORG_WORDS, upper=True) | _phrase_map(_PLACES, upper=True)

# the number slot takes whatever was written in it ("$4", "9{", or nothing at all when the
# handwriting is lost), so a slot OCR misread is seen and sent to review, not dropped
_NUMBER_RE = re.compile(
    r"(?<![0-9a-z])[s5][o06]\s*[:;.,]?\s*(?P<num>(?:[^\s/:-]{1,6}(?:\s+[^\s/:a-z-]{1,3}){0,2})?)"
    r"\s*[/-]\s*(?P<sym>[a-z][a-z0-9]*(?:\s*[/-]\s*[a-z0-9]+)*)"
)
_DATE_RE = re.compile(
    r"ngay\s*(?P<d>\S{0,3}?)\s*(?:thang\s*|[/.-]\s*)(?P<m>[0-9lo]{1,2})\s*"
    r"(?:nam\s*|[/.-]\s*)(?P<y>[0-9lo]{4})(?![0-9])"
)
_VV_RE = re.compile(r"^v\s*[/|\\il1]\s*[vy]\b[\s.:]*")
# The mottos, also cut short where OCR lost the end of a merged line. The upper-case ones
# only count in capitals: "vào Đảng Cộng sản Việt Nam" in a subject is not a motto.
_MOTTO_RE = re.compile(
    r"(?P<upper>cong\s*hoa\s*xa\s*hoi(?:\s*chu(?:\s*nghia(?:\s*viet(?:\s*nam)?)?)?)?"
    r"|dang\s*cong\s*san\s*viet\s*nam)|doc\s*lap\W*tu\s*do\W*hanh\s*phuc"
)
_DIGIT_FIX = str.maketrans({"l": "1", "i": "1", "|": "1", "o": "0", "s": "5"})
_NOT_SUBJECT = ("kinh gui", "can cu")  # a line under the title starting so is the body
_BODY_OPENERS = (*_NOT_SUBJECT, "thuc hien", "noi nhan")


@dataclass(frozen=True)
class _Header:
    """The first lines of a page as segments (columns split), with their folded twins."""

    segs: list[str]
    folded: list[str]
    joined: str
    fjoined: str
    starts: list[int]  # offset of each segment in `joined`

    def seg_at(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1


def extract_metadata(source: str | PageText, foot: str | PageText | None = None) -> DocMeta:
    """Read the header fields of an administrative document; "" for what is not there.

    `source` is the first page: its text, or its `PageText` (word confidences give each
    field its confidence; its regions, when the layout is known, say where each field is).
    `foot` is the page with the signature and the Nơi nhận list (default: the same page).
    """
    view = page_view(source)
    h = _header(clean_text(view.text))
    left = view.words_of("header-left")
    conf: dict[str, float] = {}
    reads: dict[str, str] = {}
    number, symbol, num_end, num_seg = _number_slot(h, left, conf, reads)
    title_seg, doc_type = _title(h, start=num_seg or 0)
    if title_seg is not None:
        conf["doc_type"] = combine(words_confidence(h.segs[title_seg], view.words))
    stop = title_seg if title_seg is not None else len(h.segs)
    date, place, date_read, date_shape = _date_place(h, stop, num_end, num_seg)
    right = view.words_of("header-right")
    if date_read:
        conf["date"] = combine(words_confidence(date_read, right), date_shape)
        if not date:
            reads["date"] = date_read
    if place:
        conf["place"] = combine(words_confidence(place, right))
    subject = _subject(h, title_seg, stop)
    if subject:
        conf["subject"] = combine(words_confidence(subject, view.words, mean=True))
    codes = _CODES_OF.get(doc_type, ())
    if symbol and codes and fold(re.split(r"[/-]", symbol)[0]) not in codes:
        # a Quyết định numbered "QĐĐ-..." : the symbol's type code was misread
        conf["symbol"] = min(conf.get("symbol", 1.0), 0.4)
    if not doc_type and symbol:
        doc_type = _TYPE_BY_CODE.get(fold(re.split(r"[/-]", symbol)[0]), "")
    if not doc_type and subject.startswith("V/v"):
        doc_type = "Công văn"
    issuer, parent = _issuer(h, num_seg, title_seg)
    for name, value in (("issuer", issuer), ("parent_organ", parent)):
        if value:
            conf[name] = combine(words_confidence(value, left, mean=True))
    urgency = _urgency(h, stop)
    if urgency:
        conf["urgency"] = combine(words_confidence(urgency, view.words))
    position, name, to = _foot(view if foot is None else page_view(foot), conf)
    return DocMeta(
        doc_type=doc_type,
        number=number,
        symbol=symbol,
        place=place,
        date=date,
        issuer=issuer,
        subject=subject,
        mark=_mark(h, stop),
        parent_organ=parent,
        urgency=urgency,
        signer_position=position,
        signer_name=name,
        recipients=to,
        confidence=conf,
        reads=reads,
    )


def _number_slot(h: _Header, words, conf: dict, reads: dict) -> tuple[str, str, int, int | None]:
    """(number as written, symbol, end offset, segment) of the "Số: ..." line; the number
    and symbol confidences go to `conf`, a slot read but holding no number to `reads`."""
    for m in _NUMBER_RE.finditer(h.fjoined):
        raw_num = h.joined[m.start("num") : m.end("num")].strip()
        raw_sym = h.joined[m.start("sym") : m.end("sym")]
        # "số" in a sentence ("theo Quyết định số 12/QĐ-...") is lower case: not the header;
        # a slot without a digit counts only before an upper-case symbol
        if h.joined[m.start()] not in "S5":
            continue
        if not any(ch.isdigit() for ch in raw_num) and _upper_ratio(raw_sym) < 0.8:
            continue
        symbol = _symbol(raw_sym)
        shape = number_shape(raw_num)
        conf["number"] = combine(words_confidence(h.joined[m.start() : m.end()], words), shape)
        conf["symbol"] = combine(words_confidence(raw_sym, words), symbol_shape(symbol))
        number = ""
        if shape >= 1.0:
            number = raw_num
        elif shape > 0.5:
            number = raw_num.lower().translate(_DIGIT_FIX)
        else:
            reads["number"] = raw_num
        return number, symbol, m.end(), h.seg_at(m.start())
    return "", "", -1, None


def _foot(view, conf: dict) -> tuple[str, str, tuple[str, ...]]:
    """(signer's position, signer's name, recipients) of the page with the signature; the
    signature region's when the layout is known."""
    position, name = signer(view.regions.get("signature", view.text))
    words = view.words_of("signature")
    if position:
        conf["signer_position"] = combine(
            words_confidence(position, words, from_end=True), position_shape(position)
        )
    if name:
        conf["signer_name"] = combine(
            words_confidence(name, words, from_end=True), name_shape(name)
        )
    return position, name, recipients(view.text)


def _header(text: str) -> _Header:
    """Segments of the first lines: mottos blanked out, the two columns split apart (a run
    of 3+ spaces), blank and bare-symbol lines dropped."""
    lines = text.split("\n")[: HEADER_SEGMENTS * 2]
    raw = "\n".join(lines)
    folded = fold_aligned(raw)
    chars = list(raw)
    for m in _MOTTO_RE.finditer(folded):
        if m["upper"] and _upper_ratio(raw[m.start() : m.end()]) < 0.7:
            continue
        for i in range(m.start(), m.end()):
            if chars[i] != "\n":
                chars[i] = " "
    segs: list[str] = []
    for line in "".join(chars).split("\n"):
        # a motto blanked out leaves a run of spaces: the columns split there too
        for part in re.split(r" {3,}", line):
            part = collapse_spaces(part)
            if any(ch.isalnum() for ch in part):
                segs.append(part)
    segs = segs[:HEADER_SEGMENTS]
    fsegs = [fold_aligned(s) for s in segs]
    starts = [0]
    for s in segs:
        starts.append(starts[-1] + len(s) + 1)
    return _Header(segs, fsegs, "\n".join(segs), "\n".join(fsegs), starts[:-1])


def _letters(folded: str) -> str:
    return " ".join(re.findall(r"[a-z]+", folded))


def _upper_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _close(a: str, b: str) -> bool:
    """Equal, or one OCR slip apart in a phrase long enough for that to be safe."""
    return a == b or (len(b) >= 6 and distance(a, b) <= 1)


def _lookup(key: tuple[str, ...], phrases: dict[tuple[str, ...], str], fuzzy: bool) -> str:
    """The phrase `key` folds to; with `fuzzy`, one slip away when only one phrase is."""
    if key in phrases:
        return phrases[key]
    if not fuzzy:
        return ""
    text = " ".join(key)
    near = [v for k, v in phrases.items() if len(k) == len(key) and _close(text, " ".join(k))]
    return near[0] if len(near) == 1 else ""


def _symbol(raw: str) -> str:
    parts = re.split(r"\s*([/-])\s*", raw.strip())
    return "".join(p if p in "/-" else _CODE_SPELLING.get(fold(p), p.upper()) for p in parts)


def _title(h: _Header, start: int) -> tuple[int | None, str]:
    """The document-type title line ("QUYẾT ĐỊNH"): its index and the type's name."""
    for i in range(start, len(h.segs)):
        if _upper_ratio(h.segs[i]) < 0.8:
            continue
        letters = _letters(h.folded[i])
        for phrase, name, _ in DOC_TYPES:
            head = letters[: len(phrase)]
            rest = letters[len(phrase) :]
            if _close(head, phrase) and (not rest or (rest[0] == " " and len(rest) <= 40)):
                return i, name
    return None, ""


def _date_place(
    h: _Header, stop: int, num_end: int, num_seg: int | None
) -> tuple[str, str, str, float]:
    """The issue date (ISO) and place: the first "Place, ngày ..." above the title; with
    the text read and the shape of its slots (1 digits, below 1 guessed or unreadable)."""
    candidates = []
    for m in _DATE_RE.finditer(h.fjoined):
        seg = h.seg_at(m.start())
        if seg >= stop:
            break
        begin = h.starts[seg]
        if begin <= num_end <= m.start():  # "Số: 12/QĐ-BCH Hà Nội, ngày ..." merged by OCR
            begin = num_end
        before = h.fjoined[begin : m.start()].rstrip()
        after_comma = before.endswith(",")
        # Without a title or number to anchor the header, only "Place, ngày ..." at the
        # start of a line is a header date: any other is the body's.
        anchored = stop < len(h.segs) or (num_seg is not None and abs(seg - num_seg) <= 2)
        if anchored or (after_comma and len(before) <= 40):
            candidates.append((not after_comma, seg, begin, m))
    if not candidates:
        return "", "", "", 1.0
    _, _, begin, m = min(candidates, key=lambda c: c[:2])
    read = h.joined[m.start() : m.end()]
    place = _place(h.joined[begin : m.start()])
    slots = [m[k] for k in ("d", "m", "y")]
    if not all(re.fullmatch(r"[0-9lo]+", v) for v in slots):
        return "", place, read, 0.1  # the day's slot holds no number: OCR lost it
    shape = 1.0 if all(v.isdigit() for v in slots) else 0.6
    day, month, year = (int(v.translate(_DIGIT_FIX)) for v in slots)
    try:
        date = dt.date(year, month, day).isoformat()
    except ValueError:
        return "", place, read, 0.1
    return date, place, read, shape


def _place(raw: str) -> str:
    raw = raw.strip(" ,.;:-*")
    words = _words(raw)
    for fuzzy in (False, True):
        for size in range(min(len(words), 5), 0, -1):
            hit = _lookup(tuple(words[-size:]), PLACES, fuzzy)
            if hit:
                return hit
    # an unknown place: the capitalised words just before the comma, at most four
    tail: list[str] = []
    for word in reversed(raw.split()):
        if not word[:1].isupper() or len(tail) == 4:
            break
        tail.append(word)
    return " ".join(reversed(tail)).strip(" ,.;:")


def _subject(h: _Header, title_seg: int | None, stop: int) -> str:
    """The trích yếu: the "V/v ..." line of a công văn, else the line under the title."""
    segs, folded = h.segs, h.folded
    first, head = None, ""
    for i in range(min(stop, len(segs))):
        m = _VV_RE.match(folded[i])
        if m and segs[i][:1] in "Vv":
            first, head = i, "V/v " + segs[i][m.end() :]
            break
    if first is None and title_seg is not None and title_seg + 1 < len(segs):
        nxt = title_seg + 1
        if not _letters(folded[nxt]).startswith(_NOT_SUBJECT) and _upper_ratio(segs[nxt]) < 0.8:
            first, head = nxt, segs[nxt]
    if first is None:
        return ""
    parts = [head]
    for j in range(first + 1, min(first + 3, len(segs))):
        # a subject wrapped onto the next line goes on in lower case
        if not segs[j][:1].islower() or _letters(folded[j]).startswith(_BODY_OPENERS):
            break
        parts.append(segs[j])
    return collapse_spaces(" ".join(parts)).rstrip(" ;")


def _issuer(h: _Header, num_seg: int | None, title_seg: int | None) -> tuple[str, str]:
    """(issuing body, the body above it): the upper-case header lines above "Số" (mottos
    are blanked). "ỦY BAN NHÂN DÂN" / "TỈNH QUẢNG NGÃI" is one name on two lines;
    "UBND TỈNH QUẢNG NGÃI" / "BAN CHỈ ĐẠO 138" is a parent body and the issuer."""
    end = num_seg if num_seg is not None else title_seg
    if end is None:
        return "", ""  # no "Số" and no title: not a header (a later page, a body)
    lines = []
    for i in range(min(end, len(h.segs))):
        kept = h.segs[i].strip(" *-|_.,:;'\"")
        if len(_words(kept)) >= 2 and _upper_ratio(kept) >= 0.8 and not _DATE_RE.search(fold(kept)):
            lines.append(kept)
    if not lines:
        return "", ""
    issuer, above = lines[-1], lines[:-1]
    if (
        above
        and _letters(fold(above[-1])) in _PLACELESS
        and _letters(fold(issuer)).startswith(_UNIT_WORDS)
    ):
        issuer = f"{above.pop()} {issuer}"
    parent = above[-1] if above else ""
    return _map_words(issuer, ORG_WORDS), _map_words(parent, ORG_WORDS) if parent else ""


def _map_words(text: str, phrases: dict[tuple[str, ...], str]) -> str:
    """Replace runs of words that fold to a known phrase by its spelling (OCR lost marks)."""
    words = text.upper().split()
    keys = [" ".join(_words(w)) for w in words]
    longest = max(len(k) for k in phrases)
    out, i = [], 0
    while i < len(words):
        # an exact phrase first ("TỈNH" + "BÌNH DƯƠNG"), a near one only if none fits
        hit, size = "", 0
        for fuzzy in (False, True):
            for size in range(min(longest, len(words) - i), 0, -1):
                run = keys[i : i + size]
                # a near phrase only where OCR lost the marks: "HỌC ĐIỆN" is no "HỌC VIỆN"
                near = fuzzy and all(w.isascii() for w in words[i : i + size])
                hit = _lookup(tuple(run), phrases, near) if all(run) else ""
                if hit:
                    break
            if hit:
                break
        out.append(hit or words[i])
        i += size if hit else 1
    return " ".join(out)


def _urgency(h: _Header, stop: int) -> str:
    """The urgency: KHẨN / THƯỢNG KHẨN / HỎA TỐC alone on a header line."""
    for i in range(min(stop, len(h.segs))):
        letters = _letters(h.folded[i])
        hit = URGENCIES.get(letters) or URGENCIES.get(letters.removesuffix(" hen gio"))
        if hit and _upper_ratio(h.segs[i]) >= 0.7:
            return hit
    return ""


def _mark(h: _Header, stop: int) -> int:
    """The confidentiality mark: MẬT / TỐI MẬT / TUYỆT MẬT alone on a header line."""
    for i in range(min(stop, len(h.segs))):
        level = MARKS.get(_letters(h.folded[i]))
        if level and _upper_ratio(h.segs[i]) >= 0.7:
            return level
    return 0
