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
FIELD_REVIEW = "field_review"  # meta key of the fields waiting for a person
HOLDS = (FIELD_REVIEW, "mark_review")  # meta keys of what holds a document in review


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
    """What an automatic classification sets on a document: nothing once a person decided
    (also when a hold keeps the decided document in the queue)."""
    if doc.review in DECIDED or category_decided(doc.meta):
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
    return keep_holds(doc, {"review": ACCEPTED})


def relabel(doc: Reviewable, category: str, taxonomy: Taxonomy) -> dict:
    """A person sets another category; the classifier's guess is kept in meta for analysis."""
    if category not in taxonomy.ids:
        raise UsageError(f"no category {category!r}: use one of {', '.join(taxonomy.ids)}")
    guess = {"category": doc.category, "confidence": doc.confidence}
    values = {
        "category": category,
        "confidence": 1.0,
        "review": RELABELED,
        "meta": {**(doc.meta or {}), "predicted": guess},
    }
    return keep_holds(doc, values)


def category_decided(meta: dict | None) -> bool:
    """True when a person decided the category while a hold kept the document pending."""
    return any(
        (meta or {}).get(k, {}).get("review_before") in DECIDED
        for k in HOLDS
        if ((meta or {}).get(k) or {}).get("status") == PENDING
    )


def keep_holds(doc: Reviewable, values: dict) -> dict:
    """A category decision on a document a hold (a header field, a printed mark) still keeps
    in the queue: the decision is recorded as what the document returns to once the holds
    are settled, and the document stays pending until then."""
    meta = dict(values.get("meta") or doc.meta or {})
    waiting = [k for k in HOLDS if (meta.get(k) or {}).get("status") == PENDING]
    if not waiting:
        return values
    for key in waiting:
        meta[key] = {**meta[key], "review_before": values["review"]}
    return {**values, "meta": meta, "review": PENDING}


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
        values["review"] = released_review(meta, PENDING)
    return values


# header fields ---------------------------------------------------------------------------


def field_values(meta: dict, threshold: float, review: str) -> dict:
    """Metadata and review state once the header fields read below `threshold` are held.

    A field read with less confidence is not stored as sure: it is stored empty, what was
    read is kept under `field_review` with its confidence, and the document waits in the
    review queue until a person sets it (`decide_field`). Fields a person set stand on
    later runs. `meta` holds the fields as `DocMeta.to_json` gives them.
    """
    from .fields import FIELD_LABELS, annex_vi

    meta = dict(meta or {})
    held = dict(meta.get(FIELD_REVIEW) or {})
    decided = dict(held.get("decided") or {})
    confidence = dict(meta.get("confidence") or {})
    reads = meta.get("reads") or {}
    unsure = {}
    for name, conf in confidence.items():
        if name in decided or name not in FIELD_LABELS or conf >= threshold:
            continue
        unsure[name] = {"read": reads.get(name) or str(meta.get(name, "")), "confidence": conf}
        meta[name] = ""
    for name, entry in decided.items():
        meta[name] = entry["value"]
        confidence[name] = 1.0
    meta["confidence"] = confidence
    if unsure:
        meta[FIELD_REVIEW] = {
            **held,
            "status": PENDING,
            "fields": unsure,
            "review_before": held.get("review_before", review),
        }
        if review not in DECIDED:
            review = PENDING
    elif held.get("status") == PENDING:  # read with confidence now: nothing left to hold
        meta[FIELD_REVIEW] = {**held, "status": "decided" if decided else "", "fields": {}}
        review = released_review(meta, held.get("review_before", review))
    meta["annex_vi"] = annex_vi(meta)
    return {"meta": meta, "review": review}


def field_reasons(meta: dict) -> list[str]:
    """One line per field waiting for a person: "số/ký hiệu: đọc được '9B', độ tin cậy 0.31"."""
    from .fields import FIELD_LABELS

    held = (meta or {}).get(FIELD_REVIEW) or {}
    if held.get("status") != PENDING:
        return []
    return [
        f"{FIELD_LABELS.get(name, name)} ({name}): đọc được {entry['read']!r}, "
        f"độ tin cậy {entry['confidence']:.2f}"
        for name, entry in sorted(held.get("fields", {}).items())
    ]


def decide_field(doc, name: str, value: str, by: str = "") -> dict:
    """A person sets a header field (our name or its Annex VI tag) to `value`, as written;
    it stands on later runs. The document leaves the queue once nothing else waits."""
    from .fields import annex_vi

    name = field_name(name)
    value = " ".join(value.split())
    _check_field(name, value)
    meta = dict(doc.meta or {})
    held = dict(meta.get(FIELD_REVIEW) or {})
    fields = {k: v for k, v in (held.get("fields") or {}).items() if k != name}
    decided = {**(held.get("decided") or {}), name: {"value": value, "by": by}}
    meta[name] = value
    meta["confidence"] = {**(meta.get("confidence") or {}), name: 1.0}
    meta[FIELD_REVIEW] = {
        **held,
        "status": PENDING if fields else "decided",
        "fields": fields,
        "decided": decided,
    }
    meta["annex_vi"] = annex_vi(meta)
    values = {"meta": meta}
    if doc.review == PENDING:
        values["review"] = released_review(meta, doc.review)
    return values


def field_name(name: str) -> str:
    """Our name of a header field given as ours or as its Annex VI tag; UsageError else."""
    from .fields import ANNEX_VI, FIELD_LABELS

    name = {tag: ours for ours, tag in ANNEX_VI.items()}.get(name, name)
    if name not in FIELD_LABELS:
        known = ", ".join(sorted(FIELD_LABELS))
        raise UsageError(f"no header field {name!r}: use one of {known} (or its Annex VI name)")
    return name


def _check_field(name: str, value: str) -> None:
    import datetime as dt
    import re

    if name == "number" and value and not re.fullmatch(r"[0-9]{1,6}", value):
        raise UsageError(f"a number is digits as printed (such as 05 or 574), not {value!r}")
    if name == "date" and value:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"a date is YYYY-MM-DD (such as 2025-02-04), not {value!r}") from None


def released_review(meta: dict, current: str) -> str:
    """The review state once a person settled a hold: pending while another hold (a field,
    a printed mark) still waits, else what the classification alone had set."""
    holds = [meta.get(k) or {} for k in HOLDS]
    if any(h.get("status") == PENDING for h in holds):
        return PENDING
    before = [h["review_before"] for h in holds if "review_before" in h]
    return before[0] if before else current
