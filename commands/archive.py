"""`kho fonds`, `kho dossier`, `kho doc`: the archive's records and their standard fields.

Every command reaches a dossier or a document through the guard (`--as`: a hidden one
answers as a missing one), every change is audited with its before and after, and the
index follows a change at once (search filters by fonds, dossier, type, issuer, year).
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.commands.common import as_option, audit_cli, cli_door, context_of, visible_to
from kho.core.archival import display
from kho.core.errors import UsageError
from kho.core.hierarchy import dossier_label

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

set_option = click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A field and its value (repeatable); FIELD is kho's name or the Annex VI tag.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
fonds_option = click.option("--fonds", "fonds_code", default="", help="The fonds' code.")


def parse_assignments(assignments: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set takes FIELD=VALUE, got {item!r}")
        values[name.strip()] = value
    return values


def follow(kctx, edit) -> None:
    """Put the documents an edit touched into the index again, searchable at once."""
    from kho.workers.reindex import follow_edit

    follow_edit(kctx, edit)


def print_record(record, title: str, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        body = {
            "kind": record.kind,
            "fields": {k: display(v) for k, v in record.values.items()},
            "annex_vi": {k: display(v) for k, v in record.annex_vi().items()},
            **({"state": record.state} if record.state else {}),
            **(extra or {}),
        }
        out.print_json(json.dumps(body, ensure_ascii=False))
        return
    table = Table("field", "tag", "value", title=title, title_justify="left")
    if record.state:
        table.add_column("state")
    for spec in record.specs:
        row = [f"{spec.label}", spec.tag, escape(display(record.values.get(spec.name)))]
        if record.state:
            row.append(record.state.get(spec.name, ""))
        table.add_row(*row)
    out.print(table)


def print_members(members) -> None:
    """The mục lục văn bản: number, số/ký hiệu, date, type and subject, issuer, pages."""
    table = Table("STT", "số/ký hiệu", "ngày", "tên loại, trích yếu", "tác giả", "trang", "id")
    for m in members:
        v = m.record.values
        table.add_row(
            str(m.ordinal),
            escape("/".join(x for x in (v["code_number"], v["code_notation"]) if x)),
            display(v["issued_date"]),
            escape(" — ".join(x for x in (v["type_name"], v["subject"]) if x) or m.doc.filename),
            escape(v["organ_name"] or ""),
            display(v["page_amount"]),
            m.doc.id[:12],
        )
    out.print(table)


# fonds -------------------------------------------------------------------------------------
@click.group("fonds")
def fonds_group() -> None:
    """Fonds (phông): create, edit, show, list."""


@fonds_group.command("create")
@click.argument("code")
@set_option
@as_option
@click.pass_context
def fonds_create(ctx, code, assignments, as_name):
    """Create the fonds CODE (mã phông), e.g. --set name='Phông Cục Chính trị'."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    fonds = kctx.catalog.create_fonds(
        code, parse_assignments(assignments), principal.name, cli_door()
    )
    err.print(f"fonds {fonds.code} created")


@fonds_group.command("edit")
@click.argument("code")
@set_option
@as_option
@click.pass_context
def fonds_edit(ctx, code, assignments, as_name):
    """Change fields of a fonds (status mở/đóng, history, scheme, language, notes...)."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    edit = kctx.catalog.edit_fonds(code, parse_assignments(assignments), principal.name, cli_door())
    err.print(f"fonds {edit.key}: {len(edit.changed)} field(s) changed")


@fonds_group.command("show")
@click.argument("code")
@json_option
@as_option
@click.pass_context
def fonds_show(ctx, code, as_json, as_name):
    """A fonds' fields, and its dossiers the principal may see."""
    from kho.archive.records import fonds_record, members

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    fonds = kctx.catalog.fonds(code)
    dossiers = _visible_dossiers(kctx, principal, fonds.code)
    docs = [m for d, _ in dossiers for m in members(kctx.catalog, d, principal)]
    audit_cli(kctx, principal, "archive-view", fonds=fonds.code)
    record = fonds_record(fonds, docs)
    codes = [dossier_label(d) for d, _ in dossiers]
    print_record(record, f"phông {fonds.code}", as_json, {"dossiers": codes})
    if not as_json:
        out.print(f"{len(codes)} dossier(s): " + escape(", ".join(codes) or "-"))


@fonds_group.command("list")
@json_option
@click.pass_context
def fonds_list(ctx, as_json):
    """Every fonds: code, name, status."""
    kctx = context_of(ctx)
    rows = [(f.code, f.name, f.status) for f in kctx.catalog.fonds_list()]
    audit_cli(kctx, kctx.settings.principal(), "archive-view", fonds_listed=len(rows))
    if as_json:
        out.print_json(
            json.dumps([dict(zip(("code", "name", "status"), r, strict=True)) for r in rows])
        )
        return
    table = Table("code", "name", "status")
    for r in rows:
        table.add_row(*(escape(x) for x in r))
    out.print(table)


# dossiers ----------------------------------------------------------------------------------
@click.group("dossier")
def dossier_group() -> None:
    """Dossiers (hồ sơ): create, edit, show, list (CODE: FileCode, or notation with --fonds)."""


@dossier_group.command("create")
@click.argument("fonds_code")
@click.argument("notation")
@set_option
@as_option
@click.pass_context
def dossier_create(ctx, fonds_code, notation, assignments, as_name):
    """Create dossier NOTATION (số và ký hiệu hồ sơ) in fonds FONDS_CODE."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    values = parse_assignments(assignments)
    d = kctx.catalog.create_dossier(fonds_code, notation, values, principal.name, cli_door())
    err.print(f"dossier {dossier_label(d)} created in fonds {fonds_code}")


@dossier_group.command("edit")
@click.argument("code")
@fonds_option
@set_option
@as_option
@click.pass_context
def dossier_edit(ctx, code, fonds_code, assignments, as_name):
    """Change fields of a dossier (title, maintenance, rights, level, unit...)."""
    kctx, principal, d = visible_dossier(ctx, code, fonds_code, as_name)
    edit = kctx.catalog.edit_dossier(
        d.id, parse_assignments(assignments), principal.name, cli_door()
    )
    follow(kctx, edit)
    err.print(f"dossier {edit.key}: {len(edit.changed)} field(s) changed")


@dossier_group.command("withdraw")
@click.argument("code")
@fonds_option
@click.option("--reason", required=True, help="Why it is withdrawn (kept and audited).")
@as_option
@click.pass_context
def dossier_withdraw(ctx, code, fonds_code, reason, as_name):
    """Withdraw a dossier made here: its documents leave search at once, its rows and files
    stay; the next `kho transfer export --since-last` withdraws it at the peers that had it."""
    kctx, principal, d = visible_dossier(ctx, code, fonds_code, as_name)
    gone = kctx.catalog.withdraw_dossier(d.id, reason, principal.name, cli_door())
    for doc_id in gone:
        kctx.index.delete_document(doc_id)
    kctx.index.refresh()
    err.print(f"dossier {dossier_label(d)} withdrawn: {len(gone)} document(s) out of search")


@dossier_group.command("show")
@click.argument("code")
@fonds_option
@json_option
@as_option
@click.pass_context
def dossier_show(ctx, code, fonds_code, as_json, as_name):
    """A dossier's fields and its list of documents (mục lục văn bản), in order."""
    from kho.archive.records import dossier_record, members

    kctx, principal, d = visible_dossier(ctx, code, fonds_code, as_name)
    docs = members(kctx.catalog, d, principal)
    audit_cli(
        kctx, principal, "archive-view", dossier=dossier_label(d), shown=[m.doc.id for m in docs]
    )
    record = dossier_record(d, docs)
    listed = [{"ordinal": m.ordinal, "doc_id": m.doc.id} for m in docs]
    extra = {"documents": listed, "withdrawn": withdrawal_json(d)}
    print_record(record, f"hồ sơ {dossier_label(d)}", as_json, extra)
    if not as_json:
        print_members(docs)
        if d.withdrawn_at is not None:
            w = extra["withdrawn"]
            out.print(f"withdrawn: {w['at']} by {escape(w['by'])}: {escape(w['reason'])}")


def withdrawal_json(d) -> dict | None:
    if d.withdrawn_at is None:
        return None
    at = d.withdrawn_at.isoformat(timespec="seconds")
    return {"at": at, "by": d.withdrawn_by, "reason": d.withdrawn_reason}


@dossier_group.command("list")
@fonds_option
@json_option
@as_option
@click.pass_context
def dossier_list(ctx, fonds_code, as_json, as_name):
    """The dossiers the principal may see: code, title, documents."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    rows = [
        (code, dossier_label(d), d.title, d.level)
        for d, code in _visible_dossiers(kctx, principal, fonds_code)
    ]
    audit_cli(kctx, principal, "archive-view", dossiers=len(rows), fonds=fonds_code)
    if as_json:
        keys = ("fonds", "file_code", "title", "level")
        out.print_json(
            json.dumps([dict(zip(keys, r, strict=True)) for r in rows], ensure_ascii=False)
        )
        return
    table = Table("fonds", "dossier", "title", "level")
    for fonds, code, title, level in rows:
        table.add_row(escape(fonds), escape(code), escape(title), str(level))
    out.print(table)


def visible_dossier(ctx, code: str, fonds_code: str, as_name: str | None):
    from kho.index.guard import visible_dossier as guard

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    return kctx, principal, guard(kctx.catalog, code, fonds_code, principal, cli_door())


def _visible_dossiers(kctx, principal, fonds_code: str):
    from kho.core.types import can_see

    return [(d, c) for d, c in kctx.catalog.dossiers(fonds_code) if can_see(principal, d.access)]


# documents ---------------------------------------------------------------------------------
@click.group("doc")
def doc_group() -> None:
    """A document's archival fields: show, edit, confirm, move."""


@doc_group.command("show")
@click.argument("doc_id")
@json_option
@as_option
@click.pass_context
def doc_show(ctx, doc_id, as_json, as_name):
    """A document's Annex VI fields: proposals read from the page (with confidence), or
    confirmed by a person; and its place (fonds, dossier, ordinal)."""
    from kho.archive.records import document_record

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    audit_cli(kctx, principal, "view", doc_id=doc.id, fields=True)
    fonds, dossier = kctx.catalog.place_of(doc)
    ordinal = (
        next((n for n, d in kctx.catalog.ordered(doc.dossier_id) if d.id == doc.id), None)
        if doc.dossier_id
        else None
    )
    place = {"fonds": fonds, "dossier": dossier, "ordinal": ordinal, "doc_id": doc.id}
    origin = kctx.catalog.origin_of(doc)
    place["origin"] = origin_json(origin, kctx.settings.home)
    print_record(document_record(doc), f"văn bản {doc.id[:12]}", as_json, place)
    if not as_json:
        where = f"{fonds} / {dossier} / STT {ordinal}" if dossier else "in no dossier"
        out.print(f"place: {escape(where)}")
        print_origin(place["origin"])


def origin_json(origin, home) -> dict:
    """Where the document came from: the node and unit that made it, the nodes it passed
    and when it was received; a document made here names this node (if it has one)."""
    if origin is None:
        from kho.exchange.origin import local_origin

        node, unit = local_origin(home)
        return {"local": True, "node": node, "unit": unit, "chain": [], "received_at": None}
    received = origin.received_at.isoformat(timespec="seconds") if origin.received_at else None
    return {
        "local": False,
        "node": origin.node,
        "unit": origin.unit,
        "record": origin.record,
        "chain": origin.hops,
        "received_at": received,
        "withdrawn": origin.withdrawn_at is not None,
    }


def print_origin(origin: dict) -> None:
    if origin["local"]:
        here = f" ({origin['node']}, {origin['unit'] or 'no unit'})" if origin["node"] else ""
        out.print(f"origin: this archive{escape(here)}")
        return
    out.print(f"origin: {escape(origin['node'])} ({escape(origin['unit'] or 'no unit')})")
    out.print(f"chain: {escape(' → '.join(origin['chain']) or '-')}")
    withdrawn = " (withdrawn by its origin)" if origin["withdrawn"] else ""
    out.print(f"received: {origin['received_at'] or '-'}{withdrawn}")


@doc_group.command("edit")
@click.argument("doc_id")
@set_option
@as_option
@click.pass_context
def doc_edit(ctx, doc_id, assignments, as_name):
    """Set a document's fields (each becomes confirmed), e.g. --set subject='Về việc ...'."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    values = parse_assignments(assignments)
    edit = kctx.catalog.edit_document(doc.id, values, principal.name, cli_door())
    follow(kctx, edit)
    err.print(f"{doc.id[:12]}: {len(edit.changed)} field(s) changed")


@doc_group.command("confirm")
@click.argument("doc_id")
@click.argument("fields", nargs=-1)
@as_option
@click.pass_context
def doc_confirm(ctx, doc_id, fields, as_name):
    """Confirm the fields read from the page as they stand (all, or those named)."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    edit = kctx.catalog.confirm_fields(doc.id, list(fields), principal.name, cli_door())
    err.print(f"{doc.id[:12]}: confirmed {', '.join(edit.after['confirmed']) or 'nothing'}")


@doc_group.command("move")
@click.argument("doc_id")
@click.option("--dossier", "code", required=True, help="The dossier to move it to.")
@fonds_option
@click.option("--ordinal", type=click.IntRange(1), default=None, help="Its number there.")
@as_option
@click.pass_context
def doc_move(ctx, doc_id, code, fonds_code, ordinal, as_name):
    """Put a document in a dossier (or move it to another), at an ordinal or by date."""
    kctx, principal, d = visible_dossier(ctx, code, fonds_code, as_name)
    doc = visible_to(kctx, principal, doc_id)
    edit = kctx.catalog.place_document(doc.id, d.id, ordinal, principal.name, cli_door())
    follow(kctx, edit)
    err.print(
        f"{doc.id[:12]}: in dossier {dossier_label(d)}" + (f" as {ordinal}" if ordinal else "")
    )
