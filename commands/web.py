"""`kho web serve` (the search and operators' pages) and `kho web passwd` (a password hash)."""

from __future__ import annotations

import click
from rich.console import Console

err = Console(stderr=True, highlight=False)


@click.group("web")
def web_group() -> None:
    """The web pages: search and documents for officers; batches, queues, audit for operators."""


@web_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.pass_context
def serve(ctx, host, port, threads):
    """Serve the web pages (waitress). Past loopback it needs [web] auth: see the README."""
    from waitress import serve as waitress_serve

    from kho.web.app import create_app
    from kho.web.auth import auth_mode, check_bind

    settings = ctx.obj["settings"]
    check_bind(settings, host)
    app = create_app(settings)
    mode = auth_mode(settings)
    who = {
        "password": "login with the principals' passwords",
        "header": f"principal from the {settings.web.user_header} header (a proxy's)",
        "none": "everyone is the default principal (loopback only)",
    }[mode]
    err.print(f"kho web on http://{host}:{port}/ — {who}; Ctrl-C to stop")
    waitress_serve(app, host=host, port=port, threads=threads, ident="kho")


@web_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def passwd(name, password_stdin):
    """Print the config line that gives principal NAME this password (asked twice)."""
    import sys

    from kho.web.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    click.echo(f"# under [principals.{name}] in kho.toml:")
    click.echo(f'password = "{hash_password(password)}"')
