"""`kho ocr FILE...` reads files without ingesting them; `kho reocr` re-reads ingested pages.

`ocr` is the quick door: text (or hOCR, ALTO, JSON, a searchable PDF) of any file kho
takes, every page, born-digital pages from their text layer. `reocr` is the operator's:
read pages of ingested documents again with other OCR settings, e.g. every page of a batch
that came out below a confidence, then rebuild each document's PDF, class and index entry.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from kho.commands.common import as_option, audit_cli, context_of, settings_of, visible_to
from kho.core.errors import BadInputError, ExitCode, NotFoundError
from kho.core.permissions import FilePolicy, file_policy
from kho.core.settings import DEFAULT_LANG, OcrOptions
from kho.core.types import PageText

if TYPE_CHECKING:
    import numpy as np

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
EXTENSIONS = {"txt": "txt", "hocr": "hocr", "alto": "xml", "json": "json", "pdf": "pdf"}
JPEG_QUALITY = 85

Page = tuple[int, PageText, "np.ndarray | None"]


def ocr_options(base: OcrOptions, lang: str | None, psm: int | None, no_clean: bool) -> OcrOptions:
    """The configured OCR options with the command line's overrides."""
    changes: dict = {}
    if lang:
        changes["lang"] = lang
    if psm is not None:
        changes["psm"] = psm
    if no_clean:
        changes["clean"] = False
    return replace(base, **changes)


def render(pages: list[Page], fmt: str, name: str) -> bytes:
    """The pages of one file in a text format (txt, hocr, alto, json)."""
    from kho.ocr.export import to_alto, to_hocr

    texts = [t for _, t, _ in pages]
    if fmt == "txt":
        body = "\n\f".join(t.text.rstrip("\n") + "\n" for t in texts)  # form feed between pages
    elif fmt == "hocr":
        body = to_hocr(texts, title=name)
    elif fmt == "alto":
        body = to_alto(texts, filename=name)
    else:
        body = json.dumps(
            {"file": name, "pages": [page_json(n, t) for n, t, _ in pages]},
            ensure_ascii=False,
            indent=1,
        )
        body += "\n"
    return body.encode("utf-8")


def page_json(number: int, text: PageText) -> dict:
    return {
        "page": number,
        "text": text.text,
        "confidence": text.confidence,
        "rotation": text.rotation,
        "skew": text.skew,
        "source": text.source,
    }


def write_pdf(pages: Iterable[Page], target: Path, policy: FilePolicy) -> int:
    """A searchable PDF of the pages, each page image under its invisible text, written as
    the pages are read (one page's image in memory, one JPEG on disk at a time); returns
    the number of pages. The file appears whole or not at all."""
    from kho.core.storage import atomic_file
    from kho.ocr.searchable_pdf import write_searchable_pdf

    count = 0

    def jpegs(tmp: Path) -> Iterator[tuple[Path, PageText]]:
        import cv2

        nonlocal count
        for n, text, image in pages:
            jpeg = tmp / f"page-{n:05d}.jpg"
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise BadInputError(f"cannot encode page {n} as JPEG")
            jpeg.write_bytes(buf.tobytes())
            count += 1
            yield jpeg, text
            jpeg.unlink()  # in the PDF now

    with tempfile.TemporaryDirectory(prefix="kho-ocr-pdf-") as tmp:
        with atomic_file(target, policy) as f:
            write_searchable_pdf(jpegs(Path(tmp)), f)
    return count


@click.command("ocr")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(EXTENSIONS)),
    default="txt",
    show_default=True,
    help="Output: plain text, hOCR, ALTO XML, JSON per page, or a searchable PDF.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write <stem>.<ext> files here (default: print to standard output).",
)
@click.option(
    "--lang", default=None, help=f"Tesseract languages (default: [ocr] lang, else {DEFAULT_LANG})."
)
@click.option("--psm", type=click.IntRange(0, 13), default=None, help="Page segmentation mode.")
@click.option("--no-clean", is_flag=True, help="OCR the page as it is, without cleanup.")
@click.pass_context
def ocr(ctx, files, fmt, out_dir, lang, psm, no_clean):
    """OCR files (TIFF, PNG, JPEG, PDF) without ingesting them; every page is read."""
    from kho.core.storage import atomic_write_bytes
    from kho.ocr.tesseract import check_tesseract
    from kho.workers.pipeline import read_file

    settings = settings_of(ctx)
    opts = ocr_options(settings.ocr, lang, psm, no_clean)
    check_tesseract(opts.lang, opts.tessdata)
    if fmt == "pdf" and out_dir is None:
        raise click.UsageError("--format pdf writes files: give --out DIR")
    policy = file_policy(settings.storage)
    failed = 0
    for path in files:
        try:
            if fmt == "pdf":  # read and written page by page
                target = Path(out_dir) / f"{path.stem}.pdf"
                count = write_pdf(read_file(path, settings, opts, images=True), target, policy)
                err.print(f"wrote {escape(str(target))} ({count} pages)")
                continue
            pages = list(read_file(path, settings, opts, images=False))
            if out_dir is None:
                if len(files) > 1:
                    click.echo(f"==> {path} <==")
                click.echo(render(pages, fmt, path.name).decode("utf-8"), nl=False)
                continue
            target = Path(out_dir) / f"{path.stem}.{EXTENSIONS[fmt]}"
            atomic_write_bytes(target, render(pages, fmt, path.name), policy)
            err.print(f"wrote {escape(str(target))} ({len(pages)} pages)")
        except (BadInputError, OSError) as error:
            failed += 1
            reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
            err.print(f"[red]failed[/] {escape(str(path))}: {escape(reason)}")
    if failed:
        ctx.exit(ExitCode.files_failed)


# --- reocr -----------------------------------------------------------------------------------
def _pages_below(kctx, batch_id: int, below: float | None, principal) -> dict[str, list[int]]:
    """OCR'd pages of a batch's documents that `principal` may see (below a confidence if
    given), by document."""
    from kho.core.types import can_see

    found: dict[str, list[int]] = {}
    for doc_id, page, doc in kctx.catalog.ocr_pages_of_batch(batch_id, below):
        if can_see(principal, doc.access):
            found.setdefault(doc_id, []).append(page)
    return found


def _document_pages(kctx, prefix: str, below: float | None, principal) -> tuple[str, list[int]]:
    """The document a (short) id names, if `principal` may see it (else NotFoundError,
    audited as denied), and its pages to read again."""
    from kho.core import catalog as cat

    doc = visible_to(kctx, principal, prefix)
    pages = [
        p.page
        for p in kctx.catalog.pages(doc.id)
        if p.status in (cat.DONE, cat.FAILED)
        and (below is None or (p.status == cat.DONE and p.source == "ocr" and p.confidence < below))
    ]
    return doc.id, pages


@click.command("reocr")
@click.argument("doc_ids", nargs=-1)
@click.option("--batch", "batch_name", help="Re-read pages of this batch's documents.")
@click.option(
    "--below", type=click.FloatRange(0, 100), help="Only OCR'd pages below this confidence."
)
@click.option("--lang", default=None, help="Tesseract languages (default from config).")
@click.option("--psm", type=click.IntRange(0, 13), default=None, help="Page segmentation mode.")
@click.option("--no-clean", is_flag=True, help="OCR the pages as they are, without cleanup.")
@as_option
@click.pass_context
def reocr(ctx, doc_ids, batch_name, below, lang, psm, no_clean, as_name):
    """Re-read the pages of ingested documents you may see with other OCR settings; replace
    their text."""
    from kho.ocr.tesseract import check_tesseract
    from kho.workers.executor import executor_for

    if not doc_ids and not batch_name:
        raise click.UsageError("name documents (DOC_ID...) or a batch (--batch NAME)")
    settings = settings_of(ctx)
    opts = ocr_options(settings.ocr, lang, psm, no_clean)
    check_tesseract(opts.lang, opts.tessdata)
    kctx = context_of(ctx)
    executor = executor_for(settings, kctx)
    principal = settings.principal(as_name)
    targets: dict[str, list[int]] = {}
    if batch_name:
        batch_id = kctx.catalog.batch_id(batch_name)
        if batch_id is None:
            raise NotFoundError(f"no batch named {batch_name!r} (see: kho status)")
        targets.update(_pages_below(kctx, batch_id, below, principal))
    for prefix in doc_ids:
        doc_id, pages = _document_pages(kctx, prefix, below, principal)
        targets[doc_id] = sorted(set(targets.get(doc_id, [])) | set(pages))
    targets = {d: p for d, p in targets.items() if p}
    if not targets:
        out.print("nothing to re-read")
        return
    failed = 0
    for doc_id, pages in targets.items():
        audit_cli(
            kctx,
            principal,
            "reocr",
            doc_id=doc_id,
            pages=pages,
            lang=opts.lang,
            psm=opts.psm,
            clean=opts.clean,
        )
        before = {p.page: p.confidence for p in kctx.catalog.pages(doc_id)}
        problems = executor.reread(doc_id, pages, opts, doc_lang=not lang)
        after = {p.page: p.confidence for p in kctx.catalog.pages(doc_id)}
        was = sum(before[n] for n in pages) / len(pages)
        now = sum(after[n] for n in pages) / len(pages)
        out.print(
            f"{doc_id[:12]}: {len(pages) - len(problems)}/{len(pages)} pages re-read, "
            f"mean confidence {was:.1f} -> {now:.1f}"
        )
        for line in problems:
            failed += 1
            err.print(f"[red]failed[/] {doc_id[:12]} {escape(line)}")
    kctx.index.refresh()  # what was re-indexed is searchable when the command returns
    if failed:
        ctx.exit(ExitCode.files_failed)
