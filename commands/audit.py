"""`kho audit`: the access audit trail — who searched, opened, fetched or was refused what —
and its integrity: `verify` the hash chain, print the `head` to keep elsewhere, and the SQL
(`grant-sql`) that lets the application's PostgreSQL role add audit rows but never change them.
"""

from __future__ import annotations

import json
import re

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.commands.common import as_option, audit_cli, context_of
from kho.core.errors import ExitCode

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@click.group("audit", invoke_without_command=True)
@click.option("--actor", default="", help="Only this principal (or operator account).")
@click.option(
    "--action",
    default="",
    help="Only this action: search, view, page, file, export, denied, login, retry, purge...",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--before", "before_id", type=int, default=None, help="Entries older than this id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@as_option
@click.pass_context
def audit_log(ctx, actor, action, limit, before_id, as_json, as_name):
    """The audit log, newest first: every read of the archive, refusals, operators' actions.

    Subcommands check it: verify (the hash chain), head (the hash to keep elsewhere),
    grant-sql (PostgreSQL: a role that may add audit rows but not change them).
    """
    if ctx.invoked_subcommand is not None:
        return
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    entries = kctx.catalog.audit_log(limit, actor, action, before_id)
    # this read is written after the rows it shows: the list is the log as it was
    filters = {"actor": actor, "action": action, "before": before_id}
    audit_cli(kctx, principal, "audit", filters=filters, shown=len(entries))
    if as_json:
        for e in entries:
            row = {"id": e.id, "at": e.at.isoformat(timespec="seconds") + "Z"}
            row.update(actor=e.actor, action=e.action, detail=e.detail)
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("id", "at (UTC)", "actor", "action", "detail")
    for e in entries:
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.actor),
            e.action,
            escape(_brief(e.detail or {})),
        )
    out.print(table)
    if len(entries) == limit:
        out.print(f"[dim]older: --before {entries[-1].id}[/]")


def _brief(detail: dict) -> str:
    parts = []
    for key in ("via", "os_user", "client", "query", "doc_id", "page", "format", "total"):
        value = detail.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key}={value}")
    if detail.get("filters"):
        parts.append(f"filters={detail['filters']}")
    if detail.get("batch_id") is not None and "reason" in detail:
        parts.append(f"batch={detail['batch_id']} reason={detail.get('reason') or '*'}")
    return " ".join(parts)


@audit_log.command("verify")
@click.option(
    "--head",
    "head_value",
    metavar="HASH_OR_FILE",
    help="A head exported earlier (`kho audit head`, or the [audit] head_file): the log "
    "must still reach it. Without one, rows cut from the end cannot be seen.",
)
@click.pass_context
def verify_cmd(ctx, head_value):
    """Check the hash chain: exit 1 naming the first row that was changed, deleted around,
    or moved; else print the row count and the head hash."""
    from kho.core.audit import read_heads

    head = read_heads(head_value) if head_value else None
    verdict = context_of(ctx).catalog.verify_audit(head)
    if not verdict.ok:
        err.print(f"[red]audit log broken at row {verdict.bad_id}:[/] {escape(verdict.problem)}")
        err.print(f"[dim]{verdict.count} rows before it hold (up to row {verdict.head_id})[/]")
        ctx.exit(ExitCode.files_failed)
    reached = " and reaches the exported head" if head else ""
    out.print(
        f"ok: {verdict.count} rows chained{reached}; head {verdict.head} (row {verdict.head_id})"
    )


@audit_log.command("head")
@click.option("--json", "as_json", is_flag=True, help="id, hash and time as JSON.")
@click.pass_context
def head_cmd(ctx, as_json):
    """Print the head hash (the newest row's): keep it where the catalog's users cannot
    write, then `kho audit verify --head HASH` proves no row was cut since."""
    from kho.core.audit import GENESIS, head_line

    row = context_of(ctx).catalog.audit_head()
    row_id, digest, at = (row.id, row.hash, row.at) if row else (0, GENESIS, None)
    if as_json:
        at_text = at.isoformat(timespec="seconds") + "Z" if at else None
        click.echo(json.dumps({"id": row_id, "hash": digest, "at": at_text}))
    else:
        click.echo(head_line(row_id, digest or "", at))


@audit_log.command("grant-sql")
@click.argument("role")
def grant_sql(role):
    """PostgreSQL: print the GRANT/REVOKE statements that let ROLE (the application's login)
    use the catalog but only read and add audit rows. Run them as the tables' owner."""
    if not ROLE_RE.match(role):
        raise click.BadParameter(
            "a role name is letters, digits and _ (at most 63)", param_hint="ROLE"
        )
    click.echo(grant_statements(role))


def grant_statements(role: str) -> str:
    """The SQL for `kho audit grant-sql`: every catalog table read/write, the audit log
    SELECT and INSERT only, the schema version read-only."""
    from kho.core.models import AuditEntry, Base

    log = AuditEntry.__tablename__
    tables = [t.name for t in Base.metadata.sorted_tables if t.name != log]
    r = f'"{role}"'
    return "\n".join(
        [
            f"-- kho: {role} may use the catalog, and only read and add audit rows.",
            "-- Run as the owner of the tables (the role that runs the migrations); the",
            f"-- application must connect as {role}, never as the owner. Again after upgrades.",
            "BEGIN;",
            f"GRANT USAGE ON SCHEMA public TO {r};",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(tables)} TO {r};",
            f"GRANT SELECT ON alembic_version TO {r};",
            f"REVOKE ALL ON {log} FROM PUBLIC;",
            f"REVOKE ALL ON {log} FROM {r};",
            f"GRANT SELECT, INSERT ON {log} TO {r};",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r};",
            "COMMIT;",
        ]
    )
