"""The archive's hierarchy in the catalog: fonds, their dossiers, the documents in order.

A fonds is created on purpose (`kho fonds create`); a dossier is created the first time a
manifest, `--dossier` or a folder names it, with what is known, and completed later. A
document belongs to at most one dossier, at an ordinal given by a person or, when none
was given, at its place by issue date then file name (`ordered`).

Access follows the hierarchy: a document that arrives without access of its own (level 0,
no unit, no groups) takes its dossier's and follows it when the dossier's changes; a
dossier's level is raised to its most secret document's and can never be set below it.

Every change is one transaction with its audit row (before and after, who, when).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .archival import (
    DOCUMENT_FIELDS,
    DOSSIER_FIELDS,
    FONDS_FIELDS,
    FROM_META,
    LEVEL,
    SPECS,
    FieldError,
    display,
    file_code,
    parse_date,
    parse_value,
    spec_of,
)
from .errors import NotFoundError, UsageError
from .models import Document, Dossier, Fonds, now
from .types import Access, UnitError, normalize_unit

LANGUAGES = {"vie": "Tiếng Việt", "eng": "Tiếng Anh", "fra": "Tiếng Pháp", "rus": "Tiếng Nga"}


@dataclass(frozen=True)
class Edit:
    """What one edit changed: the fields before and after, and the documents whose index
    entries must follow (their own fields, or access inherited from a dossier)."""

    kind: str  # fonds | dossier | document
    key: str  # fonds code, dossier FileCode (or notation), document id
    before: dict
    after: dict
    reindex: tuple[str, ...] = ()

    @property
    def changed(self) -> list[str]:
        """The fields whose value the edit changed."""
        return [k for k, v in self.after.items() if self.before.get(k) != v]


def no_access_of_its_own(access: Access) -> bool:
    return access.level == 0 and not access.unit and not access.groups


def dossier_code(d: Dossier) -> str:
    """The dossier's FileCode ("" until its year is known)."""
    return file_code(d.organ_id, d.file_catalog, d.file_notation)


def dossier_label(d: Dossier) -> str:
    """What names a dossier to people: its FileCode, or its notation until that is known."""
    return dossier_code(d) or d.file_notation


def document_field(doc: Document, name: str):
    """A document's Annex VI field: its column, or, for a document read before the
    columns existed and never edited, what its header extraction found."""
    value = getattr(doc, name)
    if value or name in (doc.confirmed or ()):
        return value
    return (doc.meta or {}).get(spec_of("document", name).meta, "") or value or ""


def language_of(lang: str) -> str:
    """tesseract languages ('vie+eng') as Annex VI writes them ('Tiếng Việt, Tiếng Anh')."""
    return ", ".join(LANGUAGES.get(p, p) for p in lang.split("+") if p)


class HierarchyQueries:
    """Mixed into `catalog.Catalog`: fonds, dossiers and a document's place and fields."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    # reading ---------------------------------------------------------------------------
    def fonds_list(self) -> list[Fonds]:
        with self.session() as s:
            return list(s.scalars(select(Fonds).order_by(Fonds.code)))

    def fonds(self, code: str) -> Fonds:
        with self.session() as s:
            return _fonds(s, code)

    def dossiers(self, fonds_code: str = "") -> list[tuple[Dossier, str]]:
        """(dossier, fonds code) of every dossier, or of one fonds', by fonds then notation."""
        q = select(Dossier, Fonds.code).join(Fonds).order_by(Fonds.code, Dossier.file_notation)
        with self.session() as s:
            if fonds_code:
                q = q.where(Dossier.fonds_id == _fonds(s, fonds_code).id)
            return [(d, code) for d, code in s.execute(q).all()]

    def dossier(self, ref: str, fonds_code: str = "", may_see=None) -> Dossier:
        """The dossier `ref` names (FileCode, or notation in the fonds), among those
        `may_see(dossier)` allows when given."""
        with self.session() as s:
            return _dossier(s, ref, fonds_code, may_see)

    def dossier_by_id(self, dossier_id: int) -> tuple[Dossier, Fonds]:
        with self.session() as s:
            d = s.get(Dossier, dossier_id)
            if d is None:
                raise NotFoundError(f"no dossier #{dossier_id}")
            return d, s.get(Fonds, d.fonds_id)

    def ordered(self, dossier_id: int) -> list[tuple[int, Document]]:
        """(ordinal, document) in the dossier's order: the ordinals people gave stay where
        they are; the other documents fill the free numbers by issue date, then file name."""
        with self.session() as s:
            return _ordered(s, dossier_id)

    def dossier_totals(self, dossier_id: int) -> dict:
        """The computed fields: first and last issue date, documents, pages."""
        q = select(
            func.min(Document.issued_date),
            func.max(Document.issued_date),
            func.count(Document.id),
            func.coalesce(func.sum(func.coalesce(Document.page_amount, Document.page_count)), 0),
        ).where(Document.dossier_id == dossier_id)
        with self.session() as s:
            start, end, docs, pages = s.execute(q).one()
        return {"start_date": start, "end_date": end, "doc_total": docs, "page_total": pages}

    def fonds_totals(self, fonds_id: int) -> dict:
        q = (
            select(
                func.min(Document.issued_date),
                func.max(Document.issued_date),
                func.count(Document.id),
            )
            .join(Dossier, Document.dossier_id == Dossier.id)
            .where(Dossier.fonds_id == fonds_id)
        )
        with self.session() as s:
            start, end, docs = s.execute(q).one()
        period = f"{start.year}-{end.year}" if start and end else ""
        return {"period": period, "doc_total": docs}

    def place_of(self, doc: Document) -> tuple[str, str]:
        """(fonds code, dossier FileCode or notation) of a document, ("", "") if none."""
        if doc.dossier_id is None:
            return "", ""
        d, f = self.dossier_by_id(doc.dossier_id)
        return f.code, dossier_label(d)

    # creating ----------------------------------------------------------------------------
    def create_fonds(self, code: str, values: dict[str, str], actor: str, door: dict) -> Fonds:
        code = parse_value(spec_of("fonds", "code"), code)
        with self.session(write=True) as s:
            if s.scalar(select(Fonds).where(Fonds.code == code)) is not None:
                raise UsageError(f"fonds {code} exists already; change it with kho fonds edit")
            fonds = Fonds(code=code)
            _assign(fonds, "fonds", values)
            s.add(fonds)
            s.flush()
            after = _record(fonds)
            self.append_audit(s, actor, "archive-create", {**door, "fonds": code, "after": after})
            return fonds

    def create_dossier(
        self,
        fonds_code: str,
        notation: str,
        values: dict[str, str],
        actor: str,
        door: dict,
        access: Access | None = None,
    ) -> Dossier:
        with self.session(write=True) as s:
            fonds = _fonds(s, fonds_code)
            d = _new_dossier(s, fonds, notation, access or Access())
            _assign(d, "dossier", values)
            _check_dossier_unique(s, d)
            s.flush()
            after = _record(d)
            detail = {**door, "fonds": fonds.code, "dossier": d.file_notation, "after": after}
            self.append_audit(s, actor, "archive-create", detail)
            return d

    def ensure_dossier(self, fonds_code: str, notation: str, access: Access, actor: str) -> int:
        """The id of the dossier `notation` of the fonds, created (and audited) with what
        is known if it is not there yet: what ingest does for a manifest row or a folder."""
        with self.session(write=True) as s:
            fonds = _fonds(s, fonds_code)
            notation = parse_value(spec_of("dossier", "file_notation"), notation)
            found = s.scalar(
                select(Dossier).where(
                    Dossier.fonds_id == fonds.id, Dossier.file_notation == notation
                )
            )
            if found is not None:
                return found.id
            d = _new_dossier(s, fonds, notation, access)
            s.flush()
            detail = {"via": "ingest", "fonds": fonds.code, "dossier": notation}
            self.append_audit(s, actor, "archive-create", {**detail, "after": _record(d)})
            return d.id

    # placing -----------------------------------------------------------------------------
    def check_placement(self, fonds_code: str, notation: str, ordinal: int | None) -> None:
        """Raise what is wrong with filing a document as `ordinal` of the dossier
        `notation` of the fonds (a dossier not made yet is fine)."""
        notation = parse_value(spec_of("dossier", "file_notation"), notation)
        with self.session() as s:
            fonds = _fonds(s, fonds_code)
            if ordinal is None:
                return
            taken = s.scalar(
                select(Document.filename)
                .join(Dossier, Document.dossier_id == Dossier.id)
                .where(
                    Dossier.fonds_id == fonds.id,
                    Dossier.file_notation == notation,
                    Document.doc_ordinal == ordinal,
                )
            )
            if taken is not None:
                raise FieldError(
                    f"ordinal {ordinal} is taken in dossier {notation} by {taken}; give another"
                )

    def file_document(
        self,
        doc_id: str,
        fonds_code: str,
        notation: str,
        ordinal: int | None,
        access: Access,
        actor: str,
    ) -> str:
        """Ingest's filing of a document: into its dossier (made if new) unless it is in
        one already; what the operator should hear, or ""."""
        dossier_id = self.ensure_dossier(fonds_code, notation, access, actor)
        with self.session() as s:
            doc = s.get(Document, doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id[:12]}")
        if doc.dossier_id == dossier_id and (ordinal is None or doc.doc_ordinal == ordinal):
            return ""
        if doc.dossier_id is not None and doc.dossier_id != dossier_id:
            _, where = self.place_of(doc)
            return (
                f"same bytes as document {doc.id[:12]}, filed in dossier {where}: kept there "
                f"(kho doc move {doc.id[:12]} --dossier {notation} to move it)"
            )
        self.place_document(doc_id, dossier_id, ordinal, actor, {"via": "ingest"})
        return ""

    def place_document(
        self, doc_id: str, dossier_id: int, ordinal: int | None, actor: str, door: dict
    ) -> Edit:
        """Put a document in a dossier (or move it there) at `ordinal` (None: by date)."""
        with self.session(write=True) as s:
            doc = s.get(Document, doc_id)
            d = s.get(Dossier, dossier_id)
            if doc is None or d is None:
                raise NotFoundError(f"no document {doc_id[:12]} or dossier #{dossier_id}")
            from .withdrawal import refuse_withdrawn

            for touched in {d, s.get(Dossier, doc.dossier_id) if doc.dossier_id else None}:
                if touched is not None:
                    refuse_withdrawn(touched)
            before = {"dossier_id": doc.dossier_id, "doc_ordinal": doc.doc_ordinal}
            if doc.dossier_id is not None and doc.dossier_id != d.id and doc.access_inherited:
                # it leaves the dossier it inherited from: it keeps that access (never looser)
                doc.access_inherited = False
            doc.dossier_id, doc.doc_ordinal = d.id, ordinal
            _check_ordinal(s, doc)
            if no_access_of_its_own(doc.access) and not no_access_of_its_own(d.access):
                doc.level, doc.unit, doc.groups = d.level, d.unit, list(d.groups or [])
                doc.access_inherited = True
            d.level = max(d.level, doc.level)
            after = {"dossier_id": d.id, "doc_ordinal": ordinal}
            detail = {**door, "doc_id": doc.id, "before": before, "after": after}
            self.append_audit(s, actor, "archive-place", detail)
            return Edit("document", doc.id, before, after, (doc.id,))

    # editing -----------------------------------------------------------------------------
    def edit_fonds(self, code: str, values: dict[str, str], actor: str, door: dict) -> Edit:
        with self.session(write=True) as s:
            fonds = _fonds(s, code)
            before = _record(fonds)
            _assign(fonds, "fonds", values)
            if fonds.code != before["code"] and s.scalar(
                select(func.count()).select_from(Fonds).where(Fonds.code == fonds.code)
            ):
                raise UsageError(f"fonds {fonds.code} exists already")
            fonds.updated_at = now()
            return self._edited(s, "fonds", fonds.code, before, _record(fonds), actor, door, ())

    def edit_dossier(self, d_id: int, values: dict[str, str], actor: str, door: dict) -> Edit:
        from .withdrawal import refuse_withdrawn  # it names a dossier as this module does

        with self.session(write=True) as s:
            d = s.get(Dossier, d_id)
            refuse_withdrawn(d)
            before = _record(d)
            _assign(d, "dossier", values)
            _check_dossier_unique(s, d)
            top = s.scalar(select(func.max(Document.level)).where(Document.dossier_id == d.id))
            if top is not None and d.level < top:
                raise UsageError(
                    f"level {d.level} is below the level of a document in the dossier ({top}): "
                    "a dossier's level is never below its most secret document's"
                )
            d.updated_at = now()
            docs = list(s.scalars(select(Document).where(Document.dossier_id == d.id)))
            for doc in docs:
                if doc.access_inherited:
                    doc.level, doc.unit, doc.groups = d.level, d.unit, list(d.groups or [])
            reindex = tuple(doc.id for doc in docs)  # its code, title or access: in every hit
            key = dossier_label(d)
            return self._edited(s, "dossier", key, before, _record(d), actor, door, reindex)

    def edit_document(
        self,
        doc_id: str,
        values: dict[str, str],
        actor: str,
        door: dict,
        action: str = "archive-edit",
    ) -> Edit:
        """Set fields a person typed: each becomes confirmed (a proposal no longer). The
        audit row is `action` (a review writes its own, changed or not)."""
        with self.session(write=True) as s:
            doc = s.get(Document, doc_id)
            before = _record(doc, DOCUMENT_FIELDS)
            _assign(doc, "document", values)
            mark = int((doc.meta or {}).get("mark") or 0)
            if doc.level < mark:
                raise UsageError(
                    f"level {doc.level} is below the mark printed on the document ({mark}); "
                    "a record is never kept below its printed mark"
                )
            if "level" in values:
                doc.access_inherited = False
            _check_ordinal(s, doc)
            names = {spec_of("document", n).name for n in values}
            doc.confirmed = sorted(set(doc.confirmed or ()) | names)
            doc.updated_at = now()
            if doc.dossier_id is not None:
                d = s.get(Dossier, doc.dossier_id)
                d.level = max(d.level, doc.level)
            after = _record(doc, DOCUMENT_FIELDS)
            return self._edited(
                s, "document", doc.id, before, after, actor, door, (doc.id,), action
            )

    def confirm_fields(self, doc_id: str, names: list[str], actor: str, door: dict) -> Edit:
        """Confirm the proposals read from the page as they stand (all when `names` is empty)."""
        with self.session(write=True) as s:
            doc = s.get(Document, doc_id)
            if names:
                chosen = {spec_of("document", n).name for n in names}
            else:  # every proposal that holds a value
                chosen = {s.name for s in FROM_META.values() if document_field(doc, s.name)}
            before = {"confirmed": list(doc.confirmed or ())}
            doc.confirmed = sorted(set(doc.confirmed or ()) | chosen)
            after = {"confirmed": doc.confirmed}
            return self._edited(s, "document", doc.id, before, after, actor, door, ())

    def propose_fields(self, doc_id: str, meta: dict, lang: str) -> None:
        """Fill the header fields from what was read on the page (`meta`: the header
        extraction's JSON), leaving alone every field a person confirmed or typed."""
        with self.session() as s:
            doc = s.get(Document, doc_id)
            settled = set(doc.confirmed or ())
            for name, spec in FROM_META.items():
                if spec.name not in settled:
                    setattr(doc, spec.name, _proposal(spec, meta.get(name)))
            if "language" not in settled and not doc.language:
                doc.language = language_of(lang)
            if "page_amount" not in settled and doc.page_amount is None:
                doc.page_amount = doc.page_count

    def _edited(
        self, s, kind, key, before, after, actor, door, reindex, action="archive-edit"
    ) -> Edit:
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed or action != "archive-edit":
            was = {k: before.get(k) for k in changed}
            name = "doc_id" if kind == "document" else kind  # as every audit row names one
            detail = {**door, name: key, "before": was, "after": changed}
            self.append_audit(s, actor, action, detail)
        return Edit(kind, key, before, after, reindex if changed else ())

    def raise_dossier_level(self, s: Session, doc_id: str, level: int) -> None:
        """A document of a dossier was raised to `level`: its dossier follows."""
        dossier_id = s.scalar(select(Document.dossier_id).where(Document.id == doc_id))
        d = s.get(Dossier, dossier_id) if dossier_id is not None else None
        if d is not None:
            d.level = max(d.level, level)


def _fonds(s: Session, code: str) -> Fonds:
    fonds = s.scalar(select(Fonds).where(Fonds.code == code.strip()))
    if fonds is None:
        raise NotFoundError(
            f"no fonds {code.strip()!r}; create it first: kho fonds create {code.strip()} "
            "--set name='...'"
        )
    return fonds


def _dossier(s: Session, ref: str, fonds_code: str = "", may_see=None) -> Dossier:
    """The dossier a person named: its FileCode, or its notation (within `fonds_code`).
    `may_see(dossier)`: only those count (the guard's), so a hidden one neither answers
    nor makes a name ambiguous."""
    ref = ref.strip()
    tails = [ref] + [ref.split(".", i)[-1] for i in range(1, ref.count(".") + 1)]
    q = select(Dossier).where(Dossier.file_notation.in_(tails))
    if fonds_code:
        q = q.where(Dossier.fonds_id == _fonds(s, fonds_code).id)
    found = [d for d in s.scalars(q) if ref in (d.file_notation, dossier_code(d))]
    if may_see is not None:
        found = [d for d in found if may_see(d)]
    exact = [d for d in found if dossier_code(d) == ref]
    found = exact or found
    if len(found) > 1:
        codes = ", ".join(sorted(dossier_label(d) for d in found))
        raise UsageError(f"{ref!r} names several dossiers ({codes}): give its FileCode or --fonds")
    if not found:
        within = f" in fonds {fonds_code}" if fonds_code else ""
        raise NotFoundError(f"no dossier {ref!r}{within}; kho dossier list shows them")
    return found[0]


def _new_dossier(s: Session, fonds: Fonds, notation: str, access: Access) -> Dossier:
    notation = parse_value(spec_of("dossier", "file_notation"), notation)
    if not notation:
        raise FieldError("a dossier needs its notation (số và ký hiệu hồ sơ), e.g. 01-TCCB")
    d = Dossier(
        fonds_id=fonds.id,
        organ_id=fonds.organ_id,
        file_notation=notation,
        language=fonds.language,
        level=access.level,
        unit=access.unit,
        groups=list(access.groups),
    )
    s.add(d)
    return d


def _check_dossier_unique(s: Session, d: Dossier) -> None:
    q = select(func.count()).where(
        Dossier.fonds_id == d.fonds_id, Dossier.file_notation == d.file_notation
    )
    if d.id is not None:
        q = q.where(Dossier.id != d.id)
    with s.no_autoflush:  # a new dossier is not counted against itself
        taken = s.scalar(q.select_from(Dossier))
    if taken:
        raise UsageError(f"the fonds has a dossier {d.file_notation} already")


def _check_ordinal(s: Session, doc: Document) -> None:
    if doc.doc_ordinal is None or doc.dossier_id is None:
        return
    other = s.scalar(
        select(Document.filename).where(
            Document.dossier_id == doc.dossier_id,
            Document.doc_ordinal == doc.doc_ordinal,
            Document.id != doc.id,
        )
    )
    if other is not None:
        raise FieldError(
            f"ordinal {doc.doc_ordinal} is taken in the dossier by {other}; give another"
        )


def _ordered(s: Session, dossier_id: int) -> list[tuple[int, Document]]:
    docs = list(s.scalars(select(Document).where(Document.dossier_id == dossier_id)))
    fixed = {d.doc_ordinal: d for d in docs if d.doc_ordinal is not None}
    rest = sorted(
        (d for d in docs if d.doc_ordinal is None),
        key=lambda d: (d.issued_date or date.max, d.filename, d.id),
    )
    out, n = list(fixed.items()), 0
    for d in rest:
        n += 1
        while n in fixed:
            n += 1
        out.append((n, d))
    return sorted(out, key=lambda pair: pair[0])


def _assign(obj, level: str, values: dict[str, str]) -> dict:
    """Set typed fields from typed text (FieldError on the first bad one); the record after."""
    for name, text in values.items():
        spec = spec_of(level, name)
        value = parse_value(spec, text)
        if spec.name == "unit":
            try:
                value = normalize_unit(value)
            except UnitError as err:
                raise FieldError(f"unit: {err}") from None
        if spec.kind == LEVEL:
            value = int(value or 0)
        setattr(obj, spec.name, value)
    return _record(obj, SPECS[level])


def _record(obj, specs=None) -> dict:
    """The stored fields of a fonds, dossier or document, as JSON values (for the audit)."""
    if specs is None:
        specs = FONDS_FIELDS if isinstance(obj, Fonds) else DOSSIER_FIELDS
    names = [s.name for s in specs if not s.computed]
    out = {n: getattr(obj, n) for n in names}
    return {k: display(v) if isinstance(v, date) else v for k, v in out.items()}


def _proposal(spec, value):
    """A header field as read, in its column's type; "" / None when it does not fit."""
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value if v)
    if value in (None, ""):
        return None if spec.kind != "text" else ""
    try:
        if spec.kind == "date":
            return parse_date(str(value), spec.name)
        return parse_value(spec, value)
    except FieldError:
        if spec.kind == "text" and not spec.choices:
            return str(value)[: spec.max_len or None]
        return None if spec.kind != "text" else ""
