"""The review queue: which classifications a person must check, and what their answer sets.

Pure functions over catalog documents (anything with id, category, confidence, review and
meta). They return the values to store (`Catalog.set_document(doc_id, **values)`), so the
same rules serve the CLI, the web pages and the pipeline. A person's decision is never
overwritten by a later automatic run, and only people's decisions train the model: the
model's own unreviewed guesses would teach it its mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kho.core.errors import UsageError
from kho.core.types import Classification

from .taxonomy import Taxonomy

PENDING, ACCEPTED, RELABELED = "pending", "accepted", "relabeled"
DECIDED = (ACCEPTED, RELABELED)  # states set by a person; these are training labels


class Reviewable(Protocol):
    id: str
    category: str
    confidence: float
    review: str
    meta: dict[str, Any]


def needs_review(result: Classification, threshold: float) -> bool:
    """True when the classifier is too unsure for its answer to stand unchecked."""
    return result.confidence < threshold


def classification_values(doc: Reviewable, result: Classification, threshold: float) -> dict:
    """What an automatic classification sets on a document: nothing once a person decided."""
    if doc.review in DECIDED:
        return {}
    return {
        "category": result.category,
        "confidence": result.confidence,
        "review": PENDING if needs_review(result, threshold) else "",
    }


def accept(doc: Reviewable) -> dict:
    """A person confirms the category the classifier gave."""
    if not doc.category:
        raise UsageError(f"document {doc.id[:12]} has no category yet: classify it first")
    return {"review": ACCEPTED}


def relabel(doc: Reviewable, category: str, taxonomy: Taxonomy) -> dict:
    """A person sets another category; the classifier's guess is kept in meta for analysis."""
    if category not in taxonomy.ids:
        raise UsageError(f"no category {category!r}: use one of {', '.join(taxonomy.ids)}")
    guess = {"category": doc.category, "confidence": doc.confidence}
    return {
        "category": category,
        "confidence": 1.0,
        "review": RELABELED,
        "meta": {**(doc.meta or {}), "predicted": guess},
    }


def review_queue(docs: Iterable[Reviewable], limit: int | None = None) -> list[Reviewable]:
    """Documents waiting for a person, least confident first."""
    waiting = sorted((d for d in docs if d.review == PENDING), key=lambda d: (d.confidence, d.id))
    return waiting[:limit] if limit is not None else waiting


def is_training_example(doc: Reviewable) -> bool:
    """Only a category a person confirmed or set is a label to learn from."""
    return doc.review in DECIDED and bool(doc.category)


def training_examples(
    docs: Iterable[Reviewable], text_of: Callable[[str], str]
) -> tuple[list[str], list[str]]:
    """(texts, labels) of the documents people decided; `text_of(doc_id)` reads a text.

    Documents whose text is empty (nothing was read from them) are left out.
    """
    texts: list[str] = []
    labels: list[str] = []
    for doc in docs:
        if not is_training_example(doc):
            continue
        text = text_of(doc.id)
        if text.strip():
            texts.append(text)
            labels.append(doc.category)
    return texts, labels


def pending_reviews(catalog, limit: int = 50, offset: int = 0) -> list:
    """The review queue from the catalog: least confident first, paginated."""
    return catalog.documents_in_review(PENDING, limit, offset)


def visible_pending_reviews(catalog, principal, limit: int = 50, offset: int = 0) -> list:
    """The review queue as far as `principal` may see it (`can_see`), least confident first;
    `offset` counts visible documents."""
    from kho.core.types import can_see

    def fetch(n: int, start: int) -> list:
        return pending_reviews(catalog, n, start)

    return kept_slice(fetch, lambda d: can_see(principal, d.access), limit, offset)


def kept_slice(
    fetch: Callable[[int, int], list], keep: Callable[[Any], bool], limit: int, offset: int
) -> list:
    """Items `limit` from `offset` of a paginated listing (`fetch(n, start)`) after dropping
    what `keep` refuses: the offset counts kept items, so pages are of what one may see."""
    out: list = []
    seen, start, step = 0, 0, max(limit, 100)
    while len(out) < limit:
        items = fetch(step, start)
        for item in items:
            if keep(item):
                seen += 1
                if seen > offset:
                    out.append(item)
        if len(items) < step:
            break
        start += step
    return out[:limit]


def decided_documents(catalog) -> list:
    """Documents whose category a person accepted or set: the training labels."""
    return catalog.documents_reviewed(DECIDED)


# printed marks ---------------------------------------------------------------------------
MARK_HOLD_LEVEL = 3  # where a document waits while a mark-like token is unsettled


def mark_values(level: int, meta: dict, finding, review: str) -> dict:
    """Level, metadata and review state from the marks found on a document's pages.

    A mark read with confidence raises the level, never lowers it. A mark-like token that
    cannot be read (`finding.uncertain`) holds the document at level 3 and in the review
    queue until a person decides (`decide_mark`); what they decided stands on later runs.
    `level` and `meta` are the document's; `review` is the state the classification alone
    would set.
    """
    meta = dict(meta or {})
    held = dict(meta.get("mark_review") or {})
    waiting = held.get("status") == PENDING
    base = held["level_before"] if waiting else level
    level = max(base, finding.level)
    if finding.level > base:
        meta.setdefault("level_raised_from", base)
        meta["mark_found"] = finding.where
    if waiting or (finding.uncertain and held.get("status") != "decided"):
        found = list(dict.fromkeys([*held.get("found", []), *finding.uncertain]))
        meta["mark_review"] = {
            **held,
            "status": PENDING,
            "found": found,
            "level_before": level,
            "review_before": held.get("review_before", review),
        }
        level = MARK_HOLD_LEVEL
        if review not in DECIDED:
            review = PENDING
    return {"level": level, "meta": meta, "review": review}


def decide_mark(doc, level: int, by: str = "") -> dict:
    """A person settles a held mark: the document gets `level`, but never less than what
    ingest and the marks read with confidence gave it."""
    held = dict((doc.meta or {}).get("mark_review") or {})
    if held.get("status") != PENDING:
        raise UsageError(f"document {doc.id[:12]} has no printed mark waiting for a decision")
    final = max(level, int(held["level_before"]))
    meta = {**(doc.meta or {}), "mark_review": {**held, "status": "decided", "level": final}}
    if by:
        meta["mark_review"]["by"] = by
    values = {"level": final, "meta": meta}
    if doc.review == PENDING:
        values["review"] = held.get("review_before", PENDING)
    return values
