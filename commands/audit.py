"""`kho audit`: the access audit trail — who searched, opened, fetched or was refused what."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)


@click.command("audit")
@click.option("--actor", default="", help="Only this principal (or operator account).")
@click.option(
    "--action",
    default="",
    help="Only this action: search, view, page, file, export, denied, login, retry, purge.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--before", "before_id", type=int, default=None, help="Entries older than this id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit_log(ctx, actor, action, limit, before_id, as_json):
    """The audit log, newest first: every read of the archive, refusals, operators' actions."""
    from kho.cli import _context

    entries = _context(ctx).catalog.audit_log(limit, actor, action, before_id)
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
