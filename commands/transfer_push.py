"""`kho transfer push URL PATH`: send a transfer package to a peer's `kho web serve`.

The request is signed with this node's key (purpose "push", over the method, path, date,
the package's SHA-512 and length: `kho.web.transfer.signed_request`) and the package is
streamed from its file, never read whole. The signed receipt that comes back is written
beside the package as PATH.receipt.json.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from kho.commands.common import as_option, audit_cli, context_of, settings_of
from kho.core.errors import ServiceError, UsageError
from kho.core.storage import file_digest
from kho.exchange.errors import TransferRefused

out = Console(highlight=False, soft_wrap=True)
CHUNK = 1024 * 1024
TIMEOUT_S = 3600  # per socket operation: a big package takes a while to import
MAX_ANSWER = 16 * 1024 * 1024  # a receipt is small; never read an endless answer


@click.group("transfer")
def transfer_group() -> None:
    """Transfer packages between interconnected archives."""


def push_headers(node, digest: str, length: int) -> dict[str, str]:
    """The headers that sign one push of a body with this SHA-512 and length."""
    from kho.web.transfer import signed_request

    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = node.sign("push", signed_request(date, digest, length))
    return {
        "X-Kho-Node": node.fingerprint,
        "X-Kho-Date": date,
        "X-Kho-Content-SHA512": digest,
        "X-Kho-Signature": base64.b64encode(signature).decode("ascii"),
        "Content-Type": "application/x-tar",
        "Content-Length": str(length),
    }


def _server_line(status: int, body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]).splitlines()[0]
    except (ValueError, KeyError, TypeError, IndexError):
        return f"HTTP {status}"


def send(url: str, path: Path, headers: dict[str, str], ca: str | None) -> tuple[int, bytes]:
    """POST the file at `path` to URL's /api/transfer, streamed from the file; (status,
    body). TLS is verified for https (against `ca` if given, else the system's CAs)."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url}: give the receiving archive's http:// or https:// address")
    target = parts.path.rstrip("/") + "/api/transfer"
    if parts.scheme == "https":
        tls = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=TIMEOUT_S, context=tls, blocksize=CHUNK
        )
    else:
        conn = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=TIMEOUT_S, blocksize=CHUNK
        )
    try:
        with path.open("rb") as body:
            try:
                conn.request("POST", target, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered from the headers and closed: read its answer
            resp = conn.getresponse()
            return resp.status, resp.read(MAX_ANSWER)
    except ssl.SSLError as e:
        raise ServiceError(
            f"{url}: TLS failed ({e.reason or e}); give the receiver's CA with --ca FILE"
        ) from None
    except (OSError, http.client.HTTPException) as e:
        raise ServiceError(
            f"{url} did not answer ({e.__class__.__name__}): is kho web serve running there "
            "and reachable?"
        ) from None
    finally:
        conn.close()


@transfer_group.command("push")
@click.argument("url")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ca", type=click.Path(exists=True, dir_okay=False), help="A private CA (PEM).")
@as_option
@click.pass_context
def push_cmd(ctx, url, path, ca, as_name):
    """Send the package at PATH to the archive at URL (its `kho web serve`); the receipt
    it signs goes to PATH.receipt.json."""
    from kho.exchange.identity import load_node

    settings = settings_of(ctx)
    principal = settings.principal(as_name)
    if principal.name not in settings.operators:
        raise UsageError(f"{principal.name} is not an operator: kho transfer needs operator = true")
    node = load_node(settings.home)
    length, digest = path.stat().st_size, file_digest(path, "sha512")
    status, answer = send(url, path, push_headers(node, digest, length), ca)
    kctx = context_of(ctx)
    detail = {"url": url, "package": str(path), "size": length, "status": status}
    if status not in (200, 202):
        line = _server_line(status, answer)
        audit_cli(kctx, principal, "transfer-refused", **detail, reason=line)
        raise TransferRefused(f"{url} refused the package: {line}")
    try:
        body = json.loads(answer)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransferRefused(f"{url} answered {status} without a receipt: is it a kho archive?")
    if status == 202 and "receipt" not in body and "message" in body:
        audit_cli(kctx, principal, "transfer-push", **detail, held=True)
        out.print(f"{escape(path.name)} held by {escape(url)}: {escape(str(body['message']))}")
        return
    receipt = path.with_name(path.name + ".receipt.json")
    receipt.write_bytes(answer)
    audit_cli(kctx, principal, "transfer-push", **detail, receipt=str(receipt))
    what = "held" if status == 202 else "imported"
    out.print(
        f"{escape(path.name)} {what} by {escape(url)} (seq {body.get('seq', '?')}); "
        f"receipt {escape(str(receipt))}"
    )
