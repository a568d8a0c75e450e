"""`kho web serve` (the search and operators' pages) and `kho web passwd` (a password hash)."""

from __future__ import annotations

import click
from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)


@click.group("web")
def web_group() -> None:
    """The web pages: search and documents for officers; batches, queues, audit for operators."""


@web_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--unix-socket",
    type=click.Path(dir_okay=False),
    help="Listen on this unix socket instead (mode 0660: the proxy's group may connect).",
)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.pass_context
def serve(ctx, host, port, unix_socket, threads):
    """Serve the web pages (waitress). Past loopback it needs [web] auth: see the README."""
    from waitress import create_server

    from kho.core.errors import KhoError
    from kho.web.app import create_app
    from kho.web.auth import auth_mode, check_bind, is_loopback
    from kho.web.batches import UPLOAD_PATH, body_limit
    from kho.web.transfer import gated_channel

    settings = ctx.obj["settings"]
    check_bind(settings, host, unix_socket=bool(unix_socket))
    bind = "unix" if unix_socket else host
    if settings.web.secure_cookies is False and not is_loopback(bind):
        err.print(
            f"[yellow]warning:[/] secure_cookies = false on {bind}: the session cookie "
            "travels unencrypted unless every hop is HTTPS"
        )
    _warn_if_key_is_readable(settings)
    app = create_app(settings, bind=bind)
    where = {"unix_socket": unix_socket, "unix_socket_perms": "660"} if unix_socket else {}
    upload = body_limit(settings, UPLOAD_PATH)
    try:
        server = create_server(
            app,
            **(where or {"host": host, "port": port}),
            threads=threads,
            ident="kho",
            clear_untrusted_proxy_headers=False,  # kho.web.auth believes [web] trusted_proxies
            # a push (web/transfer.py) or an upload (web/batches.py)
            max_request_body_size=max(settings.transfer.max_bytes, upload) + 1,
        )
        # bodies the app would refuse from their headers are never read (web/transfer.py)
        server.channel_class = gated_channel(app, lambda path: body_limit(settings, path))
    except OSError as e:
        what = unix_socket or f"{host}:{port}"
        raise KhoError(
            f"cannot listen on {what}: {e.strerror or e}; choose another "
            + ("socket path (--unix-socket)" if unix_socket else "port (--port) or --host")
        ) from None
    mode = auth_mode(settings)
    who = {
        "password": "login with the principals' passwords",
        "header": f"principal from the {settings.web.user_header} header (a trusted proxy's)",
        "none": "everyone is the default principal (loopback only)",
    }[mode]
    url = f"unix:{unix_socket}" if unix_socket else f"http://{host}:{port}/"
    err.print(f"kho web on {url} — {who}; Ctrl-C to stop")
    try:
        server.run()
    finally:
        server.close()


def _warn_if_key_is_readable(settings) -> None:
    """A secret_key others can read lets them sign cookies (sessions still need the catalog's
    record, but the key should stay as private as the catalog)."""
    import os
    from pathlib import Path

    path = Path(os.environ.get("KHO_CONFIG") or settings.home / "kho.toml")
    if settings.web.secret_key and path.is_file() and path.stat().st_mode & 0o044:
        err.print(
            f"[yellow]warning:[/] {path} holds [web] secret_key and others may read it: "
            f"chmod 600 {path}, or drop the key (kho keeps one in $KHO_HOME/web.key)"
        )


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
