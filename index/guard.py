"""Read paths outside search (show, export, page images) ask here before touching a file."""

from __future__ import annotations

from kho.core.errors import NotFoundError
from kho.core.types import Principal, can_see


def require_visible(index, doc_id: str, principal: Principal) -> None:
    """Raise NotFoundError unless the principal may see the document.

    An invisible document and a missing one give the same answer, so ids don't leak.
    """
    access = index.document_access(doc_id)
    if access is None or not can_see(principal, access):
        raise NotFoundError(f"no document {doc_id[:12]} (or you may not see it)")
