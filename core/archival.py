"""The standard fields of the archive's records, their names in exports, and their checks.

Three levels, as the Law on Archives 2024 and Decree 30/2020/NĐ-CP describe a fonds:
fonds (phông), dossier (hồ sơ, Annex VI Mục III, with the further fields of Circular
05/2025/TT-BNV) and document (văn bản, Annex VI Mục I). Each field is stored as a typed
column of its table (`core.models`); `FieldSpec.tag` is its name in XML, METS and CSV
exports. A document's header fields keep the Annex VI tags of `classify.fields.ANNEX_VI`
under the name the header extraction gives them (`FieldSpec.meta`).

`parse_value(spec, text)` turns what a person typed (CLI, manifest, web form) into the
column's value or raises FieldError with one line that says what to give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .errors import UsageError

TEXT, INT, DATE, YEAR, LEVEL = "text", "int", "date", "year", "level"


class FieldError(UsageError, ValueError):
    """A value that a field cannot hold, with what to give instead."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # column name
    tag: str  # name in exports (Annex VI where it has one)
    label: str  # what a Vietnamese reader sees
    kind: str = TEXT
    max_len: int = 0  # characters, for text; 0: no limit
    choices: tuple[str, ...] = ()  # allowed values (compared case-insensitively)
    pattern: str = ""  # a regular expression the whole value must match
    hint: str = ""  # an example of a good value, for error messages
    computed: bool = False  # worked out from the records below; never typed in
    meta: str = ""  # the header extraction's name for it (documents)


MAINTENANCE_RE = r"(?i)vĩnh viễn|\d{1,3} năm"
ORGAN_ID_RE = r"[0-9A-Za-z.\-]{1,13}"

FONDS_FIELDS = (
    FieldSpec("code", "FondsCode", "Mã phông", max_len=13, pattern=r"[0-9A-Za-z.\-_]{1,13}",
              hint="G09"),
    FieldSpec("name", "FondsName", "Tên phông", max_len=500),
    FieldSpec("organ_id", "OrganId", "Mã định danh cơ quan", max_len=13, pattern=ORGAN_ID_RE,
              hint="000.00.00.G09"),
    FieldSpec("status", "Status", "Trạng thái", choices=("mở", "đóng"), hint="mở"),
    FieldSpec("history", "History", "Lịch sử đơn vị hình thành phông"),
    FieldSpec("period", "Period", "Thời gian tài liệu", computed=True),
    FieldSpec("doc_total", "DocTotal", "Tổng số tài liệu", INT, computed=True),
    FieldSpec("scheme", "ClassificationScheme", "Phương án phân loại"),
    FieldSpec("language", "Language", "Ngôn ngữ", max_len=100),
    FieldSpec("notes", "Notes", "Ghi chú"),
)  # fmt: skip

DOSSIER_FIELDS = (
    FieldSpec("file_code", "FileCode", "Mã hồ sơ", computed=True),
    FieldSpec("organ_id", "OrganId", "Mã định danh cơ quan", max_len=13, pattern=ORGAN_ID_RE,
              hint="000.00.00.G09"),
    FieldSpec("file_catalog", "FileCatalog", "Năm hình thành hồ sơ", YEAR, hint="2024"),
    FieldSpec("file_notation", "FileNotation", "Số và ký hiệu hồ sơ", max_len=20,
              pattern=r"[^\s/\\][^\\]*", hint="01-TCCB"),
    FieldSpec("title", "Title", "Tiêu đề hồ sơ", max_len=500),
    FieldSpec("maintenance", "Maintenance", "Thời hạn bảo quản", max_len=20,
              pattern=MAINTENANCE_RE, hint="Vĩnh viễn, or 70 năm"),
    FieldSpec("rights", "Rights", "Chế độ sử dụng", max_len=50,
              choices=("Công khai", "Sử dụng có điều kiện", "Mật")),
    FieldSpec("creator", "Creator", "Người lập hồ sơ", max_len=200),
    FieldSpec("language", "Language", "Ngôn ngữ", max_len=100),
    FieldSpec("start_date", "StartDate", "Thời gian bắt đầu", DATE, computed=True),
    FieldSpec("end_date", "EndDate", "Thời gian kết thúc", DATE, computed=True),
    FieldSpec("doc_total", "DocTotal", "Tổng số văn bản", INT, computed=True),
    FieldSpec("page_total", "PageTotal", "Tổng số trang", INT, computed=True),
    FieldSpec("description", "Description", "Ghi chú"),
    FieldSpec("keyword", "Keyword", "Từ khóa", max_len=500),
    FieldSpec("access_mode", "AccessLevel", "Mức độ tiếp cận", max_len=50,
              choices=("Mở", "Hạn chế", "Không tiếp cận")),
    FieldSpec("sheet_total", "SheetTotal", "Số lượng tờ", INT),
    FieldSpec("physical_state", "PhysicalState", "Tình trạng vật lý", max_len=100),
    FieldSpec("info_sign", "InforSign", "Ký hiệu thông tin", max_len=30),
    FieldSpec("reliability", "Reliability", "Mức độ tin cậy", max_len=50,
              choices=("Số hóa", "Gốc điện tử", "Hỗn hợp")),
    FieldSpec("paper_code", "PaperFileCode", "Mã hồ sơ gốc giấy", max_len=50),
    FieldSpec("backup_mode", "BackupMode", "Chế độ dự phòng", max_len=50,
              choices=("Có", "Không")),
    FieldSpec("backup_state", "BackupState", "Tình trạng dự phòng", max_len=50,
              choices=("Chưa lập", "Đã lập")),
    FieldSpec("level", "SecurityLevel", "Độ mật", LEVEL, hint="0-3"),
    FieldSpec("unit", "Unit", "Đơn vị", max_len=200),
)  # fmt: skip

DOCUMENT_FIELDS = (
    FieldSpec("doc_ordinal", "DocOrdinal", "Số thứ tự trong hồ sơ", INT, hint="3"),
    FieldSpec("type_name", "TypeName", "Tên loại văn bản", max_len=100, meta="doc_type"),
    FieldSpec("code_number", "CodeNumber", "Số văn bản", max_len=11, meta="number"),
    FieldSpec("code_notation", "CodeNotation", "Ký hiệu văn bản", max_len=30, meta="symbol"),
    FieldSpec("issued_date", "IssuedDate", "Ngày ban hành", DATE, meta="date"),
    FieldSpec("organ_name", "OrganName", "Cơ quan ban hành", max_len=200, meta="issuer"),
    FieldSpec("subject", "Subject", "Trích yếu nội dung", max_len=500, meta="subject"),
    FieldSpec("language", "Language", "Ngôn ngữ", max_len=100),
    FieldSpec("page_amount", "PageAmount", "Số trang", INT),
    FieldSpec("signer_position", "SignerInfo.Position", "Chức vụ người ký", max_len=100,
              meta="signer_position"),
    FieldSpec("signer_name", "SignerInfo.FullName", "Họ tên người ký", max_len=100,
              meta="signer_name"),
    FieldSpec("urgency", "Priority", "Độ khẩn", max_len=20,
              choices=("Khẩn", "Thượng khẩn", "Hỏa tốc"), meta="urgency"),
    FieldSpec("level", "SecurityLevel", "Độ mật", LEVEL, hint="0-3"),
    FieldSpec("recipients", "To", "Nơi nhận", meta="recipients"),
    FieldSpec("description", "Description", "Ghi chú"),
    FieldSpec("declassify_date", "DeclassifyDate", "Ngày giải mật", DATE),
)  # fmt: skip

SPECS = {"fonds": FONDS_FIELDS, "dossier": DOSSIER_FIELDS, "document": DOCUMENT_FIELDS}
FROM_META = {s.meta: s for s in DOCUMENT_FIELDS if s.meta}  # extraction name -> field


def spec_of(level: str, name: str) -> FieldSpec:
    """The field `name` of `level` (fonds, dossier, document), or FieldError naming them."""
    for spec in SPECS[level]:
        if spec.name == name or spec.tag.lower() == name.lower():
            return spec
    names = ", ".join(s.name for s in SPECS[level] if not s.computed)
    raise FieldError(f"a {level} has no field {name!r}; its fields are: {names}")


def parse_value(spec: FieldSpec, text: object):
    """The column value for what was typed; "" clears a text field (None the others)."""
    if spec.computed:
        raise FieldError(f"{spec.name} ({spec.label}) is worked out by kho; it cannot be set")
    raw = "" if text is None else str(text).strip()
    if spec.kind == TEXT:
        return _text(spec, raw)
    if raw == "":
        return 0 if spec.kind == LEVEL else None
    if spec.kind == DATE:
        return parse_date(raw, spec.name)
    try:
        number = int(raw)
    except ValueError:
        raise FieldError(f"{spec.name} must be a whole number, got {raw!r}") from None
    if spec.kind == YEAR and not 1800 <= number <= 2200:
        raise FieldError(f"{spec.name} must be a four-digit year such as 2024, got {raw!r}")
    if spec.kind == LEVEL and not 0 <= number <= 3:
        raise FieldError(f"{spec.name} must be 0-3 (0 thường ... 3 tuyệt mật), got {raw!r}")
    if spec.kind == INT and number < 0:
        raise FieldError(f"{spec.name} cannot be negative, got {raw!r}")
    return number


def _text(spec: FieldSpec, raw: str) -> str:
    if any(ord(c) < 32 and c not in "\n\t" for c in raw):
        raise FieldError(f"{spec.name} has control characters; type plain text")
    if spec.max_len and len(raw) > spec.max_len:
        raise FieldError(
            f"{spec.name} ({spec.label}) holds at most {spec.max_len} characters, "
            f"got {len(raw)}: shorten it"
        )
    if raw and spec.choices:
        for choice in spec.choices:
            if raw.casefold() == choice.casefold():
                return choice
        raise FieldError(f"{spec.name} must be one of: {', '.join(spec.choices)}; got {raw!r}")
    if raw and spec.pattern and not re.fullmatch(spec.pattern, raw):
        example = f" such as {spec.hint}" if spec.hint else ""
        raise FieldError(f"{spec.name} ({spec.label}) {raw!r} is not valid; give one{example}")
    if raw.casefold() == "vĩnh viễn":
        return "Vĩnh viễn"
    return raw


def parse_date(raw: str, name: str = "date") -> date:
    """An ISO date (2024-03-05) or a Vietnamese one (05/03/2024); a date that does not
    exist (2024-02-30) is refused."""
    text = raw.strip()
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    try:
        if m:
            return date(int(m[3]), int(m[2]), int(m[1]))
        return date.fromisoformat(text)
    except ValueError:
        raise FieldError(
            f"{name}: {raw!r} is not a date that exists; give YYYY-MM-DD or DD/MM/YYYY"
        ) from None


def file_code(organ_id: str, year: int | None, notation: str) -> str:
    """Annex VI's FileCode: OrganId.FileCatalog.FileNotation ("" until the year is known)."""
    if not (organ_id and year and notation):
        return ""
    return f"{organ_id}.{year}.{notation}"


def display(value) -> str:
    """A field's value as text in a table or an export ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)
