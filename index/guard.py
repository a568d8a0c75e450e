"""Read paths outside search (show, export, page images) ask here before touching a file.

Every door (CLI, web) records what it served in the catalog's audit log through `audit`,
and a refusal as "denied": who tried to read what is kept as well as who read it.
"""

from __future__ import annotations

from kho.core.errors import NotFoundError
from kho.core.types import Principal, can_see

NO_DOCUMENT = "-"  # an id no document has (ids are hex): the lookup a refusal still makes


def visible_document(catalog, index, doc_id: str, principal: Principal, door: dict):
    """The catalog record of the document `doc_id` (a full id or a unique prefix of 6+
    characters) if the principal may see it; else NotFoundError, recorded as denied.

    Visibility comes before any limit: every document with the prefix is weighed, so hidden
    ones can neither crowd out the visible one nor be counted. A hidden id and a missing one
    cost the same: one catalog query of plain rows and one index lookup (of an id no page
    has); only a visible document's record is then read.
    """
    doc_id = doc_id.strip().lower()
    try:
        matches = catalog.document_accesses(doc_id)
    except NotFoundError:
        audit(catalog, principal, "denied", door, doc_id=doc_id[:70])
        raise
    visible = [i for i, access in matches if can_see(principal, access)]
    # the index too must let the principal see it (it is what search answers from)
    access = index.document_access(visible[0] if len(visible) == 1 else NO_DOCUMENT)
    if len(visible) != 1 or access is None or not can_see(principal, access):
        audit(catalog, principal, "denied", door, doc_id=doc_id)
        raise NotFoundError(
            f"{doc_id} is ambiguous: give more characters"
            if len(visible) > 1
            else f"no document {doc_id} (or you may not see it)"
        )
    return catalog.get_document(visible[0])


def audit(catalog, principal: Principal, action: str, door: dict, **detail) -> None:
    """One audit line: `door` says how the reader came (via cli/web, OS user, address)."""
    catalog.record_access(principal.name, action, **door, **detail)


def audit_search(catalog, principal: Principal, door: dict, query, result) -> None:
    """A search in the audit log: the question, and which documents it showed."""
    audit(
        catalog,
        principal,
        "search",
        door,
        query=query.text,
        filters={k: list(v) for k, v in query.filters.items()},
        dates=[query.date_from or "", query.date_to or ""],
        total=result.total,
        shown=sorted({h.doc_id for h in result.hits}),
    )


def visible_dossier(catalog, ref: str, fonds_code: str, principal: Principal, door: dict):
    """The dossier `ref` (its FileCode, or its notation within `fonds_code`) if the
    principal may see it; else NotFoundError, recorded as denied. Only visible dossiers
    are weighed: a hidden one answers as a missing one and never makes a name ambiguous."""
    try:
        return catalog.dossier(ref, fonds_code, lambda d: can_see(principal, d.access))
    except NotFoundError:
        audit(catalog, principal, "denied", door, dossier=ref[:70])
        raise
