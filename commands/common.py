"""What every command shares: the settings and workers context of the click context, the
CLI's audit rows, the visible-document check and the `--as` option."""

from __future__ import annotations

import click

from kho.core.settings import Settings, get_settings

as_option = click.option("--as", "as_name", help="Act as this principal from the config.")


def settings_of(ctx: click.Context) -> Settings:
    """The settings the `kho` group loaded, or the environment's when a command runs on
    its own."""
    return (ctx.obj or {}).get("settings") or get_settings()


def context_of(ctx: click.Context):
    """The workers Context of this command line, made once and closed with it."""
    from kho.workers.context import Context

    ctx.ensure_object(dict)
    if "context" not in ctx.obj:
        ctx.obj["context"] = Context(settings_of(ctx))
        ctx.call_on_close(ctx.obj["context"].close)
    return ctx.obj["context"]


def cli_door() -> dict:
    """How a CLI reader came, for the audit log: the OS account behind the principal."""
    from kho.core.logs import os_user

    return {"via": "cli", "os_user": os_user()}


def audit_cli(kctx, principal, action: str, **detail) -> None:
    """One audit row for a CLI command, as `principal`, with the OS account behind it."""
    from kho.index.guard import audit

    audit(kctx.catalog, principal, action, cli_door(), **detail)


def visible_to(kctx, principal, doc_id: str):
    """The document if `principal` may see it; else NotFoundError, audited as denied."""
    from kho.index.guard import visible_document

    return visible_document(kctx.catalog, kctx.index, doc_id, principal, cli_door())


def visible_document(ctx: click.Context, doc_id: str, as_name: str | None, action: str, **detail):
    """(context, document) if the principal may see it (audited as `action`), else
    NotFoundError (audited as denied)."""
    kctx = context_of(ctx)
    principal = settings_of(ctx).principal(as_name)
    doc = visible_to(kctx, principal, doc_id)
    audit_cli(kctx, principal, action, doc_id=doc.id, **detail)
    return kctx, doc


def operator_of(ctx: click.Context, as_name: str | None, command: str):
    """(context, principal) when the principal is an operator (`operator = true` in its
    [principals.NAME]); else UsageError, audited as denied."""
    from kho.core.errors import UsageError

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    if principal.name not in kctx.settings.operators:
        audit_cli(kctx, principal, "denied", command=command, reason="not an operator")
        raise UsageError(
            f"kho {command} is for operators and {principal.name} is not one: act as one "
            "with --as NAME (a [principals.NAME] with operator = true in kho.toml)"
        )
    return kctx, principal
