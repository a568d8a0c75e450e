"""`kho web token`: the operators' door to the JSON API's tokens (create, list, revoke).

A token is printed once, on standard output alone (`TOKEN=$(kho web token create ...)`);
the catalog keeps only its hash. Every command is for operators and is audited.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from kho.commands.common import as_option, audit_cli, cli_door, operator_of
from kho.core.errors import UsageError
from kho.core.tokens import MAX_DAYS

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@click.group("token")
def token_group() -> None:
    """Tokens for the JSON API (/api/v1): create one for a principal, list, revoke."""


@token_group.command("create")
@click.option("--user", "user", required=True, help="The principal the token acts as.")
@click.option(
    "--expires",
    "days",
    type=click.IntRange(1, MAX_DAYS),
    default=90,
    show_default=True,
    help="Days until the token stops working.",
)
@click.option("--label", default="", help="What the token is for, e.g. the program using it.")
@as_option
@click.pass_context
def token_create(ctx, user, days, label, as_name):
    """Make a token acting as principal USER; it is printed once, never again."""
    kctx, principal = operator_of(ctx, as_name, "web token create")
    if user not in kctx.settings.principals:
        known = ", ".join(sorted(kctx.settings.principals)) or "none configured"
        audit_cli(kctx, principal, "denied", command="web token create", user=user[:100],
                  reason="unknown principal")  # fmt: skip
        raise UsageError(
            f"--user {user!r} is no principal (known: {known}): a token acts as a "
            f"[principals.NAME] of kho.toml"
        )
    row, token = kctx.catalog.create_token(user, label, days, principal.name, cli_door())
    click.echo(token)
    err.print(
        f"token {row.id} for {escape(user)}, valid until {row.expires_at:%Y-%m-%d %H:%M} UTC: "
        "keep it secret, it is not shown again (send it as Authorization: Bearer TOKEN)"
    )


@token_group.command("list")
@as_option
@click.pass_context
def token_list(ctx, as_name):
    """Every token (never the token itself): id, user, label, made, expires, last use."""
    kctx, principal = operator_of(ctx, as_name, "web token list")
    rows = kctx.catalog.tokens()
    audit_cli(kctx, principal, "token-list", shown=[r.id for r in rows])
    table = Table(
        Column("id", justify="right"), "user", "label", "created", "expires", "last used",
        "revoked",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            str(r.id),
            escape(r.principal),
            escape(r.label or "-"),
            f"{r.created_at:%Y-%m-%d %H:%M} {escape(r.created_by)}",
            f"{r.expires_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "-",
            f"{r.revoked_at:%Y-%m-%d %H:%M} {escape(r.revoked_by)}" if r.revoked_at else "",
        )
    out.print(table)
    if not rows:
        out.print("no tokens yet: kho web token create --user NAME")


@token_group.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@as_option
@click.pass_context
def token_revoke(ctx, token_id, as_name):
    """Stop token ID from working, for good (it stays listed, as revoked)."""
    kctx, principal = operator_of(ctx, as_name, "web token revoke")
    row = kctx.catalog.revoke_token(token_id, principal.name, cli_door())
    out.print(f"token {row.id} of {escape(row.principal)} revoked: it is never accepted again")
