"""`kho verify`: the stored originals and derivatives re-hashed against their fixity records."""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager

import click
from rich.console import Console
from rich.markup import escape

from kho.commands.common import audit_cli, context_of
from kho.core.errors import ExitCode

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("kho.fixity")


@contextmanager
def progress_bar():
    """A progress callback (what, done, total) drawing on stderr when it is a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done, total=total)

    with bar:
        yield update


def _doc_ids(kctx, doc: str | None, sample: int | None) -> list[str] | None:
    """The documents to check: one by (short) id, N at random, or all (None)."""
    from kho.core.errors import NotFoundError
    from kho.core.fixity import document_kinds

    if doc:
        found = kctx.catalog.find_documents(doc)
        if len(found) != 1:
            what = "no document" if not found else "more than one document"
            raise NotFoundError(f"{what} with id {doc}: give more of its id (see: kho search)")
        return [found[0].id]
    if sample is None:
        return None
    ids = [d for d, _kind, _status in document_kinds(kctx.catalog)]
    return random.sample(ids, min(sample, len(ids)))


@click.command("verify")
@click.option("--sample", type=click.IntRange(1), default=None, help="N documents at random.")
@click.option("--doc", "doc", default=None, help="Only this document (id or its start).")
@click.pass_context
def verify(ctx, sample, doc):
    """Re-hash the stored originals and derivatives against the catalog: one line per file
    that changed or vanished, then a summary; exit 1 on any alarm."""
    from kho.archive.fixity import verify_documents

    kctx = context_of(ctx)
    ids = _doc_ids(kctx, doc, sample)
    with progress_bar() as progress:
        report = verify_documents(
            kctx.catalog, kctx.storage, ids, lambda i, n: progress("verifying", i, n)
        )
    for alarm in report.alarms:
        out.print(escape(alarm.line))
    out.print(report.summary)
    audit_cli(
        kctx,
        kctx.settings.principal(),
        "verify",
        documents=report.documents,
        files=report.files,
        sample=sample,
        doc_id=ids[0] if doc and ids else None,
        alarms=[{"doc_id": a.doc_id, "path": a.path, "problem": a.problem} for a in report.alarms],
    )
    if report.alarms:
        log.error("verify: %d alarms: %s", len(report.alarms), report.summary)
        ctx.exit(ExitCode.files_failed)
