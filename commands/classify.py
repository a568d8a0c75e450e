"""`kho classify ...` and `kho review ...`: train, evaluate, predict, and the review queue."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.commands.common import as_option, audit_cli, cli_door, context_of, visible_to
from kho.core.errors import NotFoundError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
TEXT_SUFFIXES = {".txt"}


def _taxonomy(kctx, path: Path | None):
    from kho.classify.taxonomy import load_taxonomy

    return load_taxonomy(path) if path else kctx.taxonomy


def file_text(path: Path, settings) -> str:
    """A .txt file's text, or a scan's pages read (text layer or OCR) and joined."""
    from kho.workers.pipeline import read_file

    if path.suffix.lower() in TEXT_SUFFIXES:
        return path.read_text(encoding="utf-8")
    return "\n\n".join(t.text for _, t, _ in read_file(path, settings))


def document_text(kctx, doc_id: str) -> str:
    from kho.workers.pipeline import read_texts

    return "\n\n".join(t.text for t in read_texts(kctx, doc_id).values())


@click.group("classify")
def classify_group() -> None:
    """Train, evaluate and run the business-process classifier."""


@classify_group.command("train")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--taxonomy", "taxonomy_path", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--synthetic",
    type=click.IntRange(0, 10_000),
    default=0,
    help="Add N generated documents per category (the shipped default model).",
)
@click.option(
    "--reviews/--no-reviews",
    default=True,
    help="Add the categories people accepted or set in `kho review`.",
)
@as_option
@click.pass_context
def train_cmd(ctx, directory, taxonomy_path, synthetic, reviews, as_name):
    """Train a model on DIRECTORY/<category>/*.txt (or scans) and confirmed reviews (of the
    documents you may see)."""
    from kho.classify.model import load_training_dir, train
    from kho.classify.review import decided_documents, training_examples
    from kho.core.types import can_see

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    reviewed: list[str] = []
    taxonomy = _taxonomy(kctx, taxonomy_path)
    texts: list[str] = []
    labels: list[str] = []
    if directory:
        t, lab, skipped = load_training_dir(
            directory, taxonomy, ocr_file=lambda p: file_text(p, kctx.settings)
        )
        texts += t
        labels += lab
        for line in skipped:
            err.print(f"[yellow]skipped[/] {escape(line)}")
    if synthetic:
        from kho.synth.admin import generate_corpus

        corpus = generate_corpus(synthetic, seed=0)
        texts += [d.text for d in corpus]
        labels += [d.category for d in corpus]
    if reviews:
        decided = [d for d in decided_documents(kctx.catalog) if can_see(principal, d.access)]
        reviewed = [d.id for d in decided]
        t, lab = training_examples(decided, lambda d: document_text(kctx, d))
        texts += t
        labels += lab
        err.print(f"{len(t)} reviewed documents from the catalog")
    if not texts:
        raise NotFoundError(
            "nothing to train on: give a folder, --synthetic N, or review some documents first"
        )
    audit_cli(kctx, principal, "train", reviewed=reviewed, examples=len(texts))
    model = train(texts, labels, taxonomy)
    path = model.save(kctx.settings.home / "models", kctx.storage.policy)
    out.print(f"trained on {len(texts)} documents, saved {path}")
    held = model.info["metrics"]
    if "macro_f1" in held:
        out.print(
            f"held out {held['n']} first: accuracy {held['accuracy']:.3f}, macro-F1 "
            f"{held['macro_f1']:.3f}, ECE {held['calibration_error']:.3f}"
        )


@classify_group.command("eval")
@click.argument("directory", type=click.Path(path_type=Path, exists=True))
@click.option("--taxonomy", "taxonomy_path", type=click.Path(path_type=Path, exists=True))
@click.option("--rules", is_flag=True, help="Evaluate the keyword rules, not the model.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def eval_cmd(ctx, directory, taxonomy_path, rules, as_json):
    """Accuracy, macro-F1, expected calibration error, per-class precision/recall and the
    confusion matrix."""
    from kho.classify.model import classify_document, evaluate, format_report, load_training_dir

    kctx = context_of(ctx)
    taxonomy = _taxonomy(kctx, taxonomy_path)
    texts, labels, skipped = load_training_dir(
        directory, taxonomy, ocr_file=lambda p: file_text(p, kctx.settings)
    )
    model = None if rules else kctx.classifier
    if model is None and not rules:
        err.print("[yellow]no trained model: evaluating the keyword rules[/]")
    report = evaluate(lambda t: classify_document(t, taxonomy, model), texts, labels)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        out.print(format_report(report))


@classify_group.command("predict")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--taxonomy", "taxonomy_path", type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def predict_cmd(ctx, files, taxonomy_path, as_json):
    """Category, probability, alternatives and why, for .txt files or scans."""
    from kho.classify.metadata import extract_metadata
    from kho.classify.model import classify_document

    kctx = context_of(ctx)
    taxonomy = _taxonomy(kctx, taxonomy_path)
    rows = []
    for path in files:
        text = file_text(path, kctx.settings)
        c = classify_document(text, taxonomy, kctx.classifier)
        rows.append(
            {
                "file": str(path),
                "category": c.category,
                "probability": round(c.confidence, 4),
                "alternatives": [[k, round(v, 4)] for k, v in c.alternatives],
                "why": list(c.reasons),
                "metadata": extract_metadata(text).to_json(),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        alts = ", ".join(f"{k} {v:.2f}" for k, v in r["alternatives"])
        then = f"  (then {alts})" if alts else ""
        out.print(
            f"[bold]{escape(r['file'])}[/]: [cyan]{r['category']}[/] {r['probability']:.2f}{then}"
        )
        out.print(f"   why: {escape(', '.join(r['why'][:8]))}")


@classify_group.command("apply")
@click.option("--batch", "batch_name", help="Only this batch's documents.")
@as_option
@click.pass_context
def apply_cmd(ctx, batch_name, as_name):
    """Reclassify the indexed documents you may see with the current model; updates catalog
    and index."""
    from kho.core.types import can_see
    from kho.workers.reindex import reclassify

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    bid = None
    if batch_name:
        bid = kctx.catalog.batch_id(batch_name)
        if bid is None:
            raise NotFoundError(f"no batch named {batch_name!r}")
    docs = [d for d in kctx.catalog.indexed_documents(bid) if can_see(principal, d.access)]
    audit_cli(kctx, principal, "classify-apply", batch=batch_name, docs=[d.id for d in docs])
    changed = 0
    for doc in docs:
        changed += reclassify(kctx, doc.id) != doc.category
    kctx.index.refresh()
    out.print(f"reclassified {len(docs)} documents, {changed} changed category")


@click.group("review")
def review_group() -> None:
    """The review queues: documents the classifier was unsure of (list), pages OCR was
    unsure of (ocr)."""


@review_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@click.option("--page", "page_no", type=click.IntRange(1), default=1)
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_name", help="As this principal from the config (sees what it may).")
@click.pass_context
def review_list(ctx, limit, page_no, as_json, as_name):
    """Documents waiting for a person that you may see, least confident first."""
    from kho.classify.review import field_reasons, visible_pending_reviews

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    docs = visible_pending_reviews(kctx.catalog, principal, limit, (page_no - 1) * limit)
    audit_cli(kctx, principal, "review-list", page=page_no, shown=[d.id for d in docs])
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "doc_id": d.id,
                        "filename": d.filename,
                        "category": d.category,
                        "confidence": d.confidence,
                        "mark": _held_mark(d),
                        "fields": field_reasons(d.meta),
                    }
                    for d in docs
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table("doc", "file", "category", "confidence", "unread mark", "unsure fields")
    for d in docs:
        mark = "; ".join(_held_mark(d))
        fields = "; ".join(field_reasons(d.meta))
        table.add_row(
            d.id[:12],
            escape(d.filename),
            d.category,
            f"{d.confidence:.2f}",
            escape(mark),
            escape(fields),
        )
    out.print(table)
    if any(_held_mark(d) for d in docs):
        out.print("[dim]settle an unread mark: kho review mark DOC LEVEL[/]")
    if any(field_reasons(d.meta) for d in docs):
        out.print("[dim]set a header field: kho review field DOC NAME VALUE[/]")


def _held_mark(doc) -> list[str]:
    """The mark-like tokens holding a document at level 3 ([] if none)."""
    held = (doc.meta or {}).get("mark_review") or {}
    return list(held.get("found", [])) if held.get("status") == "pending" else []


@review_group.command("ocr")
@click.option("--batch", "batch_name", help="Only this batch.")
@click.option(
    "--below",
    type=click.FloatRange(0, 100),
    default=None,
    help="Mean word confidence under this (default: [ocr] review_confidence).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@click.option("--page", "page_no", type=click.IntRange(1), default=1)
@click.option("--json", "as_json", is_flag=True)
@as_option
@click.pass_context
def review_ocr(ctx, batch_name, below, limit, page_no, as_json, as_name):
    """Pages OCR read with low confidence of the documents you may see, least confident
    first: look at them, or re-read them with other settings (kho reocr)."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    below = kctx.settings.ocr.review_confidence if below is None else below
    batch_id = None
    if batch_name:
        batch_id = kctx.catalog.batch_id(batch_name)
        if batch_id is None:
            raise NotFoundError(f"no batch named {batch_name!r} (see: kho status)")
    rows = visible_low_confidence_pages(
        kctx.catalog, principal, below, batch_id, limit, (page_no - 1) * limit
    )
    shown = [f"{p.doc_id}:{p.page}" for p, _ in rows]
    audit_cli(kctx, principal, "review-ocr", batch=batch_name, below=below, shown=shown)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "doc_id": p.doc_id,
                        "page": p.page,
                        "confidence": p.confidence,
                        "chars": p.chars,
                        "filename": name,
                    }
                    for p, name in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table("doc", "page", "confidence", "chars", "file")
    for p, name in rows:
        table.add_row(p.doc_id[:12], str(p.page), f"{p.confidence:.1f}", str(p.chars), escape(name))
    out.print(table)
    if rows:
        hint = f"--batch {batch_name} " if batch_name else ""
        out.print(f"[dim]re-read them: kho reocr {hint}--below {below:g} [--psm 6] [--lang ...][/]")
    else:
        out.print(f"no OCR page below confidence {below:g}")


def _decide(ctx, doc_id: str, as_name: str | None, decision: str, values_of) -> None:
    """One person's decision on a document they may see, audited as a review."""
    from kho.workers.reindex import record_decision

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    values = values_of(doc)
    record_decision(kctx, doc.id, values)  # the index carries it now
    after = kctx.catalog.get_document(doc.id).category
    audit_cli(kctx, principal, "review", doc_id=doc.id, decision=decision, category=after)
    out.print(f"{doc.id[:12]}: {after} (reviewed)")


@review_group.command("accept")
@click.argument("doc_ids", nargs=-1, required=True)
@as_option
@click.pass_context
def review_accept(ctx, doc_ids, as_name):
    """Confirm the category the classifier gave."""
    from kho.classify.review import accept

    for doc_id in doc_ids:
        _decide(ctx, doc_id, as_name, "accept", accept)


@review_group.command("relabel")
@click.argument("doc_id")
@click.argument("category")
@as_option
@click.pass_context
def review_relabel(ctx, doc_id, category, as_name):
    """Set another category; kept as training data for the next `kho classify train`."""
    from kho.classify.review import relabel

    kctx = context_of(ctx)
    _decide(ctx, doc_id, as_name, "relabel", lambda d: relabel(d, category, kctx.taxonomy))


@review_group.command("mark")
@click.argument("doc_id")
@click.argument("level", type=click.IntRange(0, 3))
@as_option
@click.pass_context
def review_mark(ctx, doc_id, level, as_name):
    """Settle a printed mark kho could not read: the document gets LEVEL (0-3), never less
    than ingest and the marks it could read gave it."""
    from kho.classify.review import decide_mark
    from kho.workers.reindex import record_decision

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    values = decide_mark(doc, level, by=principal.name)
    record_decision(kctx, doc.id, values)
    audit_cli(kctx, principal, "review-mark", doc_id=doc.id, level=values["level"])
    out.print(f"{doc.id[:12]}: level {values['level']} (printed mark reviewed)")


@review_group.command("field")
@click.argument("doc_id")
@click.argument("name")
@click.argument("value")
@as_option
@click.pass_context
def review_field(ctx, doc_id, name, value, as_name):
    """Set a header field kho read without confidence (or any header field): NAME is ours
    (number, symbol, date, issuer, signer_name, ...) or its Annex VI name (CodeNumber, ...);
    VALUE as printed ("05", "2025-02-04")."""
    from kho.classify.review import decide_field, field_name
    from kho.core.archival import FROM_META
    from kho.workers.reindex import record_decision

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    values = decide_field(doc, name, value, by=principal.name)
    field = field_name(name)
    door = {**cli_door(), "field": field, "value": values["meta"][field]}
    column = FROM_META.get(field)
    if column is not None:  # the archival field too, confirmed; one audit row for both
        kctx.catalog.edit_document(
            doc.id, {column.name: values["meta"][field]}, principal.name, door, "review-field"
        )
    else:
        audit_cli(kctx, principal, "review-field", doc_id=doc.id, field=field, value=door["value"])
    record_decision(kctx, doc.id, values)
    out.print(f"{doc.id[:12]}: {field} = {values['meta'][field]!r} (header field reviewed)")


def visible_low_confidence_pages(
    catalog, principal, below: float, batch_id: int | None, limit: int, offset: int
) -> list:
    """`Catalog.low_confidence_pages` as far as `principal` may see (`can_see`); `offset`
    counts visible pages."""
    from kho.classify.review import kept_slice
    from kho.core.types import can_see

    visible: dict[str, bool] = {}

    def keep(row) -> bool:
        doc_id = row[0].doc_id
        if doc_id not in visible:
            doc = catalog.get_document(doc_id)
            visible[doc_id] = doc is not None and can_see(principal, doc.access)
        return visible[doc_id]

    def fetch(n: int, start: int) -> list:
        return catalog.low_confidence_pages(below, batch_id, n, start)

    return kept_slice(fetch, keep, limit, offset)
