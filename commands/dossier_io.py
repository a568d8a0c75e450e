"""`kho dossier export|package|verify`: a dossier given out as XML, CSV or one PDF, or kept
as an archival information package (a BagIt bag with METS, PREMIS, ALTO), and a package
checked.

Every export and package is made from what the principal may see and is audited
(action "export" / "package", the dossier, the format, the documents it holds).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from kho.commands.archive import fonds_option, visible_dossier
from kho.commands.common import as_option, audit_cli

err = Console(stderr=True, highlight=False, soft_wrap=True)


@click.command("export")
@click.argument("code")
@fonds_option
@click.option("--format", "fmt", type=click.Choice(["pdf", "xml", "csv"]), required=True)
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
@as_option
@click.pass_context
def dossier_export(ctx, code, fonds_code, fmt, out_path, as_name):
    """Export a dossier: its fields and documents (xml), its list of documents (csv, UTF-8
    with BOM) or one PDF with a cover, the list and every document's pages (pdf)."""
    from kho.archive.dossier_export import dossier_csv, dossier_xml, export_of, write_export

    kctx, principal, dossier = visible_dossier(ctx, code, fonds_code, as_name)
    export = export_of(kctx.catalog, dossier, principal)
    if fmt == "pdf":
        _export_pdf(kctx.storage, export, principal.name, out_path)
    else:
        write_export(out_path, dossier_xml(export) if fmt == "xml" else dossier_csv(export))
    shown = [m.doc.id for m in export.members]
    copy = {"use_copy": True} if fmt == "pdf" else {}
    audit_cli(kctx, principal, "export", dossier=export.code, format=fmt, documents=shown, **copy)
    err.print(f"dossier {export.code}: {len(shown)} document(s) exported as {fmt} to {out_path}")


def _export_pdf(storage, export, recipient: str, out_path: Path) -> None:
    """The dossier's PDF, then its use copy (an export is a copy given to a user, marked
    with who received it and when), each written file to file beside `out_path`."""
    import tempfile
    from datetime import datetime

    from kho.archive.dossier_export import refuse_existing, write_export
    from kho.archive.dossier_pdf import write_dossier_pdf
    from kho.archive.usecopy import write_use_copy
    from kho.core.permissions import PRIVATE

    when = datetime.now().astimezone()
    PRIVATE.make_dirs(refuse_existing(out_path).parent)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".kho-export-") as tmp:
        whole = Path(tmp) / "dossier.pdf"
        with open(whole, "wb") as f:
            write_dossier_pdf(storage, export, f)
        write_export(out_path, lambda f: write_use_copy(whole, f, recipient, when))


@click.command("package")
@click.argument("code")
@fonds_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@as_option
@click.pass_context
def dossier_package(ctx, code, fonds_code, out_dir, as_name):
    """Write the dossier's archival package to OUT (a new or empty folder): a BagIt bag
    with the originals, PDFs, ALTO, METS with PREMIS, the Annex VI XML and Dublin Core."""
    from kho.archive.package import IncompleteDossierError, package_dossier

    kctx, principal, dossier = visible_dossier(ctx, code, fonds_code, as_name)
    try:
        done = package_dossier(
            kctx.catalog, kctx.storage, dossier, principal, out_dir, _provenance(kctx, principal)
        )
    except IncompleteDossierError:
        audit_cli(kctx, principal, "denied", dossier=code[:70], format="package")
        raise
    audit_cli(
        kctx, principal, "package", dossier=done.code, format="bagit", documents=done.documents
    )
    err.print(
        f"dossier {done.code}: {len(done.documents)} document(s), {done.files} file(s), "
        f"{done.bytes / 1e6:.1f} MB packaged in {done.path}"
    )


@click.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
def dossier_verify(path):
    """Check a package: the bag's checksums, METS, and that METS and the bag agree."""
    from kho.archive.package import verify_package
    from kho.core.errors import ExitCode

    problems = verify_package(path)
    for line in problems:
        click.echo(line)
    if problems:
        raise SystemExit(ExitCode.files_failed)
    click.echo(f"{path}: valid")


def _provenance(kctx, principal):
    from kho.archive.provenance import tool_provenance

    return tool_provenance(principal.name)
