"""The fields of a record's header, and their names in Decree 30/2020/NĐ-CP Annex VI.

`DocMeta` is what `classify.metadata.extract_metadata` reads; `to_json` gives every field
under our name (what the catalog, the index and the web pages read) and, under `annex_vi`,
under its Annex VI tag name. `ANNEX_VI` is the one place that maps the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DocMeta:
    """What a record's header says; "" (or mark 0) for what was not found.

    `confidence` gives each field found (or read but not taken) a 0-1 confidence;
    `reads` keeps what OCR read in a slot whose value could not be taken ("9B" for a number).
    """

    doc_type: str = ""  # "Quyết định", "Công văn", ...
    number: str = ""  # "05", as written
    symbol: str = ""  # "QĐ-BCH" (state style) or "NQ/ĐU" (Party style)
    place: str = ""
    date: str = ""  # ISO yyyy-mm-dd
    issuer: str = ""  # the issuing body as printed, upper case
    subject: str = ""  # trích yếu: "Về việc ..." / "V/v ..."
    mark: int = 0  # 0 none, 1 MẬT, 2 TỐI MẬT, 3 TUYỆT MẬT
    parent_organ: str = ""  # the body above the issuer in a two-level header
    urgency: str = ""  # độ khẩn: KHẨN, THƯỢNG KHẨN, HỎA TỐC
    signer_position: str = ""  # "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"
    signer_name: str = ""
    recipients: tuple[str, ...] = ()  # Kính gửi and Nơi nhận
    confidence: dict[str, float] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        data = {f: getattr(self, f) for f in VALUE_FIELDS}
        data["recipients"] = list(self.recipients)
        return {
            **data,
            "confidence": dict(self.confidence),
            "reads": dict(self.reads),
            "annex_vi": annex_vi(data),
        }


VALUE_FIELDS = (
    "doc_type", "number", "symbol", "place", "date", "issuer", "subject", "mark",
    "parent_organ", "urgency", "signer_position", "signer_name", "recipients",
)  # fmt: skip
# The one mapping of our field names to the tag names of Decree 30/2020 Annex VI (the
# metadata of an electronic record, as the edXML message header spells them).
ANNEX_VI = {
    "doc_type": "TypeName",
    "number": "CodeNumber",
    "symbol": "CodeNotation",
    "place": "PromulgationInfo.Place",
    "date": "IssuedDate",
    "issuer": "OrganName",
    "parent_organ": "OrganInCharge",
    "subject": "Subject",
    "signer_position": "SignerInfo.Position",
    "signer_name": "SignerInfo.FullName",
    "urgency": "Priority",
    "mark": "SecurityLevel",
    "recipients": "To",
}
MARK_NAMES = {0: "", 1: "MẬT", 2: "TỐI MẬT", 3: "TUYỆT MẬT"}
FIELD_LABELS = {  # what a reviewer reads in a reason
    "doc_type": "loại văn bản",
    "number": "số/ký hiệu",
    "symbol": "ký hiệu",
    "place": "địa danh",
    "date": "ngày ban hành",
    "issuer": "cơ quan ban hành",
    "parent_organ": "cơ quan chủ quản",
    "subject": "trích yếu",
    "urgency": "độ khẩn",
    "signer_position": "chức vụ người ký",
    "signer_name": "người ký",
}


def annex_vi(fields: dict) -> dict:
    """Our fields (a `to_json` or stored metadata) under their Annex VI names."""
    out = {tag: fields.get(name, "") for name, tag in ANNEX_VI.items()}
    out["SecurityLevel"] = MARK_NAMES.get(fields.get("mark") or 0, "")
    out["To"] = list(fields.get("recipients") or [])
    return out
