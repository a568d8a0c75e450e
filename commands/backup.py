"""`kho backup`: backup sets on other media (create, verify, restore, list)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from kho.commands.common import audit_cli, cli_door, context_of, settings_of
from kho.commands.fixity import progress_bar
from kho.core.errors import ExitCode

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("kho.backup")


@click.group("backup")
def backup_group():
    """Backup sets on other media: create, verify, restore, list."""


@backup_group.command("create")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def create_cmd(ctx, targets):
    """A snapshot of the archive in each DIR (one independent set per DIR): the catalog and
    every stored file, copying only what a set lacks. Keys and passwords are left out."""
    from kho.archive.backup import create_backup

    kctx = context_of(ctx)
    home = kctx.settings.home
    for target in targets:
        if Path(target).resolve().is_relative_to(home.resolve()):
            raise click.BadParameter(
                f"{target} is inside the storage root: a backup belongs on another medium",
                param_hint="DIR",
            )
    with progress_bar() as progress:
        results = create_backup(kctx.catalog, home, targets, progress)
    failed = 0
    for r in results:
        if r.error:
            failed += 1
            err.print(f"[red]failed[/] {escape(str(r.target))}: {escape(r.error)}")
            continue
        out.print(
            f"{escape(str(r.target))}: snapshot {r.snapshot}: {r.copied} new objects "
            f"({r.copied_bytes:,} bytes) copied, {r.present} already in the set"
        )
        for rel in r.left_out:
            failed += 1
            err.print(
                f"[red]ALARM[/] {escape(rel)} changed and the set has no good copy: left out; "
                "run kho verify"
            )
        if r.kept:
            failed += 1
            err.print(f"[red]ALARM[/] {r.kept} changed files kept as their earlier good copy")
    audit_cli(
        kctx,
        kctx.settings.principal(),
        "backup-create",
        targets=[str(r.target) for r in results],
        snapshots=[r.snapshot for r in results if r.snapshot],
        failed=failed,
    )
    if failed:
        ctx.exit(ExitCode.files_failed)


@backup_group.command("verify")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--snapshot", "snap_id", default=None, help="Only this snapshot (default: all).")
@click.pass_context
def verify_cmd(ctx, target, snap_id):
    """Re-hash every object the set's snapshots name: each missing or changed object (and
    changed manifest) is one line; exit 1 if any."""
    from kho.archive.backup import verify_set

    with progress_bar() as progress:
        report = verify_set(target, [snap_id] if snap_id else None, progress)
    for line in report.problems:
        out.print(f"[red]ALARM[/] {escape(line)}")
    out.print(
        f"backup verify {escape(str(target))}: {len(report.snapshots)} snapshots, "
        f"{report.objects} objects ({report.bytes:,} bytes) checked; "
        f"{len(report.problems)} problems"
    )
    if report.problems:
        log.error("backup verify %s: %d problems", target, len(report.problems))
        ctx.exit(ExitCode.files_failed)


@backup_group.command("restore")
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "home",
    required=True,
    type=click.Path(path_type=Path),
    help="The new storage root (missing or empty).",
)
@click.option("--snapshot", "snap_id", default=None, help="Default: the latest.")
@click.pass_context
def restore_cmd(ctx, target, home, snap_id):
    """Restore a snapshot into an empty storage root and an empty catalog: SQLite under
    HOME, or the empty PostgreSQL database KHO_DATABASE_URL names."""
    from kho.archive.backup import restore_backup
    from kho.core.catalog import Catalog
    from kho.core.permissions import file_policy

    settings = settings_of(ctx)
    home = Path(home).expanduser().absolute()
    url = settings.database_url or f"sqlite:///{home / 'catalog.sqlite'}"
    with progress_bar() as progress:
        done = restore_backup(target, home, url, file_policy(settings.storage), snap_id, progress)
    catalog = Catalog(url, audit=settings.audit)
    try:
        detail = {"source": str(target), "snapshot": done.snapshot, "files": done.files}
        catalog.record_access(settings.principal().name, "backup-restore", **cli_door(), **detail)
    finally:
        catalog.close()
    rows = ", ".join(f"{n} {t}" for t, n in done.rows.items() if n)
    out.print(
        f"restored snapshot {done.snapshot} into {escape(str(home))}: {done.files} files "
        f"({done.bytes:,} bytes); catalog: {escape(rows)}"
    )
    out.print(
        f"next: KHO_HOME={escape(str(home))} kho reindex (the search index is not in a backup); "
        "copy kho.toml and its keys as the README says"
    )


@backup_group.command("list")
@click.argument("target", type=click.Path(path_type=Path))
def list_cmd(target):
    """The set's snapshots: time, kho version, files, documents, pages, audit rows."""
    from kho.archive.backup import BackupError, BackupSet

    bset = BackupSet(target)
    bset.check_readable()
    columns = ("kho", "files", "bytes", "documents", "pages", "audit rows")
    table = Table(Column("snapshot", no_wrap=True), *columns)
    for snap_id in bset.snapshot_ids():
        try:
            m = bset.read_snapshot(snap_id)
        except BackupError as error:
            table.add_row(snap_id, "[red]damaged[/]", escape(str(error)), "", "", "", "")
            continue
        c = m["counts"]
        table.add_row(
            snap_id,
            m["kho_version"],
            str(c["files"]),
            f"{c['bytes']:,}",
            str(c["documents"]),
            str(c["pages"]),
            str(c["audit_rows"]),
        )
    out.print(table)
