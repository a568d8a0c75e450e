"""The `kho` command: thin doors over ingest, the executors, and the index."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.commands.common import (
    as_option,
    audit_cli,
    cli_door,
    context_of,
    settings_of,
    visible_document,
)
from kho.core.errors import ExitCode, KhoError, NotFoundError
from kho.core.settings import DEFAULT_LANG, load_settings
from kho.core.types import LEVEL_NAMES, UnitError, normalize_unit

err_console = Console(stderr=True, soft_wrap=True)  # one line per file, however long its path
out = Console(highlight=False, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kho")
@click.pass_context
def main(ctx: click.Context) -> None:
    """kho — the archive store: scans in, a searchable archive out."""
    from kho.core.logs import setup_logging
    from kho.core.permissions import open_home

    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings()
    open_home(ctx.obj["settings"])  # umask, modes: refuses a root, config or log open to others
    setup_logging(ctx.obj["settings"].home)


# ingest ------------------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--batch",
    "batch_name",
    help="Batch name (default: derived from the paths and date). Re-running a batch resumes it.",
)
@click.option("--unit", default="", help="Owning unit path, e.g. qk7/f9/e1.")
@click.option(
    "--level",
    type=click.IntRange(0, 3),
    default=0,
    help="Classification level: 0 thường, 1 mật, 2 tối mật, 3 tuyệt mật.",
)
@click.option("--group", "groups", multiple=True, help="Share group (repeatable).")
@click.option("--fonds", default="", help="File the documents in this fonds (its code).")
@click.option("--dossier", default="", help="...in this dossier (its notation; made if new).")
@click.option(
    "--folder-dossiers/--no-folder-dossiers",
    default=None,
    help="Each folder is a dossier named by the folder (default: [archive] folder_dossiers).",
)
@click.option(
    "--lang", default=None, help=f"Tesseract languages (default: [ocr] lang, else {DEFAULT_LANG})."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default: one per core).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--wait",
    is_flag=True,
    help="Distributed mode (KHO_REDIS_URL): follow the batch until the workers finish it.",
)
@click.pass_context
def ingest(
    ctx, paths, batch_name, unit, level, groups, fonds, dossier, folder_dossiers, lang, jobs,
    quiet, wait,
):  # fmt: skip
    """Ingest scans (TIFF, PNG, JPEG, PDF) from files and folders, then OCR and index them."""
    from kho.commands.workers import execute_batch
    from kho.ingest.register import BatchOptions, register_batch
    from kho.workers.executor import executor_for

    settings = settings_of(ctx)
    lang = lang or settings.ocr.lang
    kctx = context_of(ctx)
    executor_for(settings, kctx).check_ready(lang)  # queues: the workers check where they run
    name = batch_name or default_batch_name(paths)
    try:
        unit = normalize_unit(unit)
    except UnitError as err:
        raise click.BadParameter(str(err), param_hint="--unit") from None
    if folder_dossiers is None:
        folder_dossiers = settings.archive.folder_dossiers
    opts = BatchOptions(
        name=name,
        unit=unit,
        level=level,
        lang=lang,
        groups=tuple(groups),
        operator=settings.principal().name,
        fonds=fonds.strip(),
        dossier=dossier.strip(),
        folder_dossiers=folder_dossiers and not dossier,
    )

    def on_file(reg):
        if reg.status in ("failed", "skipped"):
            colour = "red" if reg.status == "failed" else "yellow"
            err_console.print(f"[{colour}]{reg.status}[/] {escape(reg.path)}: {escape(reg.reason)}")
        for note in reg.notes:
            err_console.print(f"[yellow]access[/] {escape(reg.path)}: {escape(note)}")

    reg = register_batch(kctx.catalog, kctx.storage, paths, opts, settings.limits, on_file)
    audit_cli(kctx, settings.principal(), "ingest", batch=name, files=len(reg.files))
    err_console.print(
        f"batch [bold]{escape(name)}[/]: {len(reg.files)} files — {reg.count('new')} new, "
        f"{reg.count('duplicate')} duplicate, {reg.count('failed')} failed, "
        f"{reg.count('skipped')} skipped"
    )
    with BatchProgress(enabled=not quiet and err_console.is_terminal, console=err_console) as bar:
        stats = execute_batch(kctx, reg.batch_id, jobs or settings.workers, bar.update, wait=wait)
    if reg.manifest_errors:  # the operator's own input was wrong: like a bad command line
        err_console.print(
            f"[red]{reg.manifest_errors} manifest error(s)[/]: those files were not ingested; "
            "fix the rows above and run the same command again"
        )
    if stats is None:  # queued for `kho worker`, not waited for
        ctx.exit(ExitCode.usage if reg.manifest_errors else ExitCode.ok)
    kctx.index.refresh()  # what was indexed is searchable when the command returns
    for line in stats.failures:
        err_console.print(f"[red]failed[/] {escape(line)}")
    counts = kctx.catalog.batch_counts(reg.batch_id)
    out.print(
        f"done: batch {name}: {counts.docs_indexed} documents indexed, "
        f"{counts.pages_done}/{counts.pages_total} pages read in this batch "
        f"({stats.pages_done} now, {stats.pages_per_min:.1f} pages/min, {stats.elapsed:.1f} s); "
        f"{counts.failed_files} files and {counts.pages_failed} pages failed"
    )
    if counts.failed_files or counts.pages_failed or counts.docs_failed:
        out.print("see the reasons with: kho status --batch " + name)
        ctx.exit(ExitCode.usage if reg.manifest_errors else ExitCode.files_failed)


def default_batch_name(paths) -> str:
    stem = "+".join(Path(p).resolve().name or "root" for p in paths[:2])
    return f"{stem}-{datetime.now():%Y%m%d}"


# search ------------------------------------------------------------------------------------
SEARCH_FACETS = ("category", "doc_type", "issuer", "unit", "level", "fonds", "dossier", "year")
SEARCH_FACETS += ("origin_node", "origin_unit")


@main.command()
@click.argument("query", nargs=-1)
@click.option("--category", multiple=True, help="Only these categories (ids).")
@click.option("--unit", multiple=True, help="Only documents of these units (and sub-units).")
@click.option("--type", "doc_type", multiple=True, help="Only these document types.")
@click.option("--issuer", multiple=True, help="Only documents of these issuing bodies.")
@click.option("--fonds", multiple=True, help="Only documents of these fonds (codes, e.g. G09).")
@click.option("--dossier", multiple=True, help="Only documents of these dossiers (exact FileCode).")
@click.option("--year", multiple=True, help="Only documents dated in these years (YYYY).")
@click.option("--origin", "origin_node", multiple=True, help="Only records made by these nodes.")
@click.option(
    "--origin-unit", multiple=True, help="...made by nodes of these units (and sub-units)."
)
@click.option("--level", multiple=True, type=click.Choice(["0", "1", "2", "3"]))
@click.option("--batch", multiple=True, help="Only these batches (ids).")
@click.option("--from", "date_from", help="Document date on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Document date on or before (YYYY-MM-DD).")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance")
@click.option("--limit", type=click.IntRange(1, 1000), default=10)
@click.option("--page", "page_no", type=click.IntRange(1, 10_000), default=1, help="Result page.")
@click.option("--after", help="Cursor printed by the previous page (for deep paging).")
@click.option("--facets", is_flag=True, help="Also print counts per field (category, type, ...).")
@click.option("--pages", "by_page", is_flag=True, help="One hit per page, not per document.")
@click.option(
    "--ignore-marks", is_flag=True, help="Words typed with marks match their unmarked forms too."
)
@as_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of hits.")
@click.pass_context
def search(
    ctx,
    query,
    category,
    unit,
    doc_type,
    issuer,
    fonds,
    dossier,
    year,
    origin_node,
    origin_unit,
    level,
    batch,
    date_from,
    date_to,
    sort,
    limit,
    page_no,
    after,
    facets,
    by_page,
    ignore_marks,
    as_name,
    as_json,
):
    """Search the archive: one hit per document, with its matching pages.

    Words are all required; "quoted phrases", word* prefixes and -word exclusions work.
    A word typed with diacritics matches that word ("đảng" never finds "đẳng"); typed
    without, every toned form ("dan van" finds "dân vận" and "dẫn văn").
    """
    from kho.index.base import SearchQuery

    settings = settings_of(ctx)
    principal = settings.principal(as_name)
    filters = {
        k: tuple(v)
        for k, v in [
            ("category", category),
            ("unit", unit),
            ("doc_type", doc_type),
            ("issuer", issuer),
            ("fonds", fonds),
            ("dossier", dossier),
            ("year", year),
            ("origin_node", origin_node),
            ("origin_unit", origin_unit),
            ("level", level),
            ("batch", batch),
        ]
        if v
    }
    q = SearchQuery(
        text=" ".join(query),
        filters=filters,
        limit=limit,
        sort=sort,
        offset=0 if after else (page_no - 1) * limit,
        after=after,
        date_from=date_from,
        date_to=date_to,
        facets=SEARCH_FACETS if facets else (),
        group="page" if by_page else "document",
        marks="ignore" if ignore_marks else "exact",
    )
    kctx = context_of(ctx)
    result = kctx.index.search(q, principal)
    from kho.index.guard import audit_search

    audit_search(kctx.catalog, principal, cli_door(), q, result)
    if as_json:
        click.echo(json.dumps([h.to_json() for h in result.hits], ensure_ascii=False, indent=1))
        return
    err_console.print(
        f"[dim]as {principal.name} (clearance {principal.clearance}); "
        f"{'about ' if result.estimated else ''}{result.total}"
        f" matching {'pages' if by_page else 'documents'}[/]"
    )
    from kho.exchange.origin import local_origin

    here, _ = local_origin(settings.home)
    for i, h in enumerate(result.hits, start=q.offset + 1):
        out.print(
            f"[bold]{i}. {h.doc_id[:12]}[/]  [cyan]{h.category}[/]  "
            f"{escape(h.doc_type)} {h.doc_date}  {escape(h.filename)}"
            + (f" — trang {h.page}" if by_page else f" — {pages_line(h)}")
            + (f"  {escape(h.dossier)}" if h.dossier else "")
            + (f"  {escape(received_from(h))}" if h.origin_node not in ("", here) else "")
        )
        out.print("   " + render_snippet(h.snippet))
    for key, counts in result.facets.items():
        out.print(f"[bold]{key}[/]: " + ", ".join(f"{escape(v or '-')} ({n})" for v, n in counts))
    if not result.hits:
        out.print("no results")
    elif result.next_cursor:
        err_console.print(f"[dim]more: --after {result.next_cursor}[/]")
    if result.loose:
        out.print(f"{result.loose} tài liệu nữa nếu bỏ qua dấu: " + escape(ignoring_marks()))


def ignoring_marks() -> str:
    """This command line again with --ignore-marks, from its first result page."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg.startswith(("--after=", "--page=")):
            skip = False
        elif arg in ("--after", "--page"):
            skip = True
        elif arg != "--ignore-marks":
            args.append(arg)
    return shlex.join(["kho", *args, "--ignore-marks"])


def pages_line(hit) -> str:
    """A document hit's matching pages: "trang 3, 7, 12 (3 trang khớp)"."""
    more = ", …" if hit.page_count > len(hit.pages) else ""
    numbers = ", ".join(str(n) for n in hit.pages)
    return f"trang {numbers}{more} ({hit.page_count} trang khớp)"


def received_from(hit) -> str:
    """Where a received record came from, as a hit line says it: "từ f9-e1 (qk7/f9/e1)"."""
    return f"từ {hit.origin_node}" + (f" ({hit.origin_unit})" if hit.origin_unit else "")


@main.command()
@click.option("--restart", is_flag=True, help="Start over, not where a stopped reindex left off.")
@click.pass_context
def reindex(ctx, restart):
    """Rebuild the search index from the catalog (a new version, swapped in at the end);
    a stopped reindex carries on where it left off."""
    from kho.workers.reindex import reindex as rebuild

    kctx = context_of(ctx)
    audit_cli(kctx, kctx.settings.principal(), "reindex", restart=restart)
    pages = rebuild(kctx, restart=restart, on_progress=lambda line: click.echo(line, err=True))
    out.print(f"reindexed {pages} pages into {kctx.settings.backend} index")


def render_snippet(snippet: str) -> str:
    """The index's HTML snippet as rich markup: <mark> becomes bold yellow."""
    import html

    from kho.index.base import HIGHLIGHT

    start, end = HIGHLIGHT
    parts = []
    for i, chunk in enumerate(snippet.replace(end, start).split(start)):
        text = escape(html.unescape(re.sub(r"\s+", " ", chunk)))
        parts.append(f"[bold yellow]{text}[/]" if i % 2 else text)
    return "".join(parts)


# show / export -----------------------------------------------------------------------------
def header_field_rows(meta: dict) -> list[tuple[str, str]]:
    """(label, value) of each header field read or waiting for a person, Annex VI names."""
    from kho.classify.fields import ANNEX_VI, FIELD_LABELS

    held = (meta.get("field_review") or {}).get("fields") or {}
    if meta.get("field_review", {}).get("status") != "pending":
        held = {}
    rows = []
    for name, label in FIELD_LABELS.items():
        value = str(meta.get(name) or "")
        if name in held:
            value = f"? đọc được {held[name]['read']!r}: chờ kho review field"
        if value:
            rows.append((f"{label} ({ANNEX_VI.get(name, name)})", value))
    return rows


@main.command()
@click.argument("doc_id")
@click.option("--text", "with_text", is_flag=True, help="Print the text of every page.")
@as_option
@click.pass_context
def show(ctx, doc_id, with_text, as_name):
    """A document's record: file, category, level, pages and their confidence."""
    kctx, doc = visible_document(ctx, doc_id, as_name, "view", text=with_text)
    table = Table(show_header=False, box=None)
    for k, v in [
        ("id", doc.id),
        ("file", doc.filename),
        ("kind", doc.kind),
        ("pages", doc.page_count),
        ("status", doc.status),
        (
            "category",
            f"{doc.category} ({doc.confidence:.2f})"
            + (" — needs review" if doc.review == "pending" else ""),
        ),
        ("level", f"{doc.level} {LEVEL_NAMES[doc.level]}"),
        ("unit", doc.unit or "-"),
        ("groups", ", ".join(doc.groups or []) or "-"),
        ("reason", doc.reason or "-"),
    ]:
        table.add_row(f"[bold]{k}[/]", escape(str(v)))
    for label, value in header_field_rows(doc.meta or {}):
        table.add_row(f"[bold]{escape(label)}[/]", escape(value))
    out.print(table)
    pages = Table("page", "status", "source", "conf", "rot", "skew", "chars", "seconds")
    for p in kctx.catalog.pages(doc.id):
        pages.add_row(
            str(p.page),
            p.status,
            p.source,
            f"{p.confidence:.0f}",
            str(p.rotation),
            f"{p.skew:.1f}",
            str(p.chars),
            f"{p.seconds:.1f}",
        )
    out.print(pages)
    if with_text:
        from kho.workers.pipeline import read_texts

        for n, text in read_texts(kctx, doc.id).items():
            out.print(f"[bold]--- page {n} ---[/]")
            out.print(escape(text.text))


@main.command()
@click.argument("doc_id")
@click.option("--format", "fmt", type=click.Choice(["pdf", "txt", "json"]), default="pdf")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
@as_option
@click.pass_context
def export(ctx, doc_id, fmt, out_path, as_name):
    """Write a document as a PDF (a use copy, marked for you), plain text, or JSON (text,
    words, metadata)."""
    from kho.core.storage import atomic_write_bytes
    from kho.workers.pipeline import read_texts

    copy = {"use_copy": True} if fmt == "pdf" else {}
    kctx, doc = visible_document(ctx, doc_id, as_name, "export", format=fmt, **copy)
    if fmt == "pdf":
        from kho.archive.usecopy import use_copy_of

        recipient = settings_of(ctx).principal(as_name).name
        try:
            data = use_copy_of(kctx.storage, doc.id, recipient, datetime.now().astimezone())
        except FileNotFoundError:
            if doc.status == "indexed":  # it went missing: the storage's trouble
                raise
            raise NotFoundError(
                f"document {doc.id[:12]} has no searchable PDF yet "
                f"(status {doc.status}); run its batch again to finish it"
            ) from None
    elif fmt == "txt":
        texts = [t.text for t in read_texts(kctx, doc.id).values()]
        data = "\n\f\n".join(texts).encode("utf-8")
    else:
        body = {
            "doc_id": doc.id,
            "filename": doc.filename,
            "category": doc.category,
            "confidence": doc.confidence,
            "level": doc.level,
            "unit": doc.unit,
            "meta": doc.meta,
            "pages": [
                {"page": n, **text.to_json()} for n, text in read_texts(kctx, doc.id).items()
            ],
        }
        data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    atomic_write_bytes(out_path, data, kctx.storage.policy)
    err_console.print(f"wrote {out_path} ({len(data):,} bytes)")


def _register_commands() -> None:
    """Command groups that live beside this file, one module per area."""
    from kho.commands.archive import doc_group, dossier_group, fonds_group
    from kho.commands.audit import audit_log
    from kho.commands.backup import backup_group
    from kho.commands.classify import classify_group, review_group
    from kho.commands.dossier_io import dossier_export, dossier_package, dossier_verify
    from kho.commands.fixity import verify
    from kho.commands.interconnect import node_group, peers_group
    from kho.commands.ocr import ocr, reocr
    from kho.commands.tokens import token_group
    from kho.commands.transfer import transfer_group
    from kho.commands.transfer_push import push_cmd
    from kho.commands.web import web_group
    from kho.commands.workers import failed, metrics, resume, status, worker

    main.add_command(classify_group)
    for group in (fonds_group, dossier_group, doc_group):
        main.add_command(group)
    dossier_group.add_command(dossier_export)
    dossier_group.add_command(dossier_package)
    dossier_group.add_command(dossier_verify)
    main.add_command(review_group)
    main.add_command(backup_group)
    main.add_command(verify)
    main.add_command(node_group)
    main.add_command(peers_group)
    transfer_group.add_command(push_cmd)
    main.add_command(transfer_group)
    web_group.add_command(token_group)
    for command in (ocr, reocr, worker, resume, failed, metrics, status, audit_log, web_group):
        main.add_command(command)


_register_commands()


class BatchProgress:
    """A progress bar on stderr: pages, documents, failures, pages/min, ETA."""

    def __init__(self, enabled: bool, console: Console):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]pages[/] {task.completed:.0f}/{task.total:.0f}"),
            BarColumn(),
            TextColumn(
                "docs {task.fields[docs]}  [red]failed {task.fields[failed]}[/]  "
                "{task.fields[rate]:.1f} pages/min"
            ),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("ingest", total=0, docs="0/0", failed=0, rate=0.0)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, stats) -> None:
        self.progress.update(
            self.task,
            total=stats.pages_total,
            completed=stats.pages_done + stats.pages_failed,
            docs=f"{stats.docs_done}/{stats.docs_total}",
            failed=stats.pages_failed + stats.docs_failed,
            rate=stats.pages_per_min,
        )


def run() -> None:
    """Entry point: every way out has its exit code (core.errors.ExitCode) and one line.

    KhoError says what to do; an error nobody expected (a bug) is logged with its traceback
    to the log file, and the line says where.
    """
    try:
        rv = main.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except KhoError as err:
        sys.exit(_fail(err))
    except (click.exceptions.Abort, KeyboardInterrupt):
        err_console.print("interrupted: run the same command again to finish what is missing")
        sys.exit(int(ExitCode.interrupted))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.usage))
    except Exception as err:  # noqa: BLE001 - the one place an unexpected error is reported
        sys.exit(_unexpected(err))


def _fail(err: KhoError) -> int:
    err_console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True)
    return int(err.exit_code)


def _unexpected(err: Exception) -> int:
    """System trouble a library raised (disk full, lost storage) is said as such; anything
    else is a bug: traceback to the log file, one line here."""
    import traceback

    from kho.core.errors import storage_trouble
    from kho.core.logs import log_crash
    from kho.core.settings import DEFAULT_HOME

    home = Path(os.environ.get("KHO_HOME") or DEFAULT_HOME).expanduser()
    trouble = storage_trouble(err, home)
    if trouble is not None:
        return _fail(trouble)
    where = log_crash(err, home)
    if where is None:
        traceback.print_exception(err)
        where = "the traceback above"
    first = (str(err).strip().splitlines() or [""])[0]
    err_console.print(
        f"[red]internal error:[/] {escape(type(err).__name__)}: {escape(first)} "
        f"— this is a bug; the traceback is in {escape(str(where))}",
        soft_wrap=True,
    )
    return int(ExitCode.internal_error)
