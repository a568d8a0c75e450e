"""What every route of `kho web` shares: settings, auth mode, a Context per thread."""

from __future__ import annotations

import threading

from flask import current_app, g, request

from kho.core.settings import Settings
from kho.workers.context import Context

from . import auth


class Web:
    """What the routes share: the settings, the auth mode, the failed-login throttle, a
    Context per serving thread (the embedded index's SQLite connection is per thread) over
    one catalog and one taxonomy."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.mode = auth.auth_mode(settings)
        opts = settings.web
        self.throttle = auth.LoginThrottle(
            opts.max_failed_logins, opts.max_failed_logins_per_source, opts.lockout_minutes * 60
        )
        self.shared = Context(settings)
        self.local = threading.local()
        self._queues = None  # one Redis connection (thread-safe pool) for every request

    def queues(self) -> tuple[object | None, str]:
        """(Redis connection, "") in distributed mode, (None, why) while Redis is away."""
        from kho.workers.status import connect_queues

        if self._queues is None:
            conn, why = connect_queues(self.settings)
            if why:
                return None, why
            self._queues = conn
        return self._queues, ""

    def context(self) -> Context:
        c = getattr(self.local, "ctx", None)
        if c is None:
            c = Context(self.settings)
            c.__dict__["catalog"] = self.shared.catalog  # SQLAlchemy's engine is thread-safe
            c.__dict__["taxonomy"] = self.shared.taxonomy
            self.local.ctx = c
        return c


def web() -> Web:
    return current_app.extensions["kho"]


def ctx() -> Context:
    return web().context()


def door() -> dict:
    """How a web reader came, for the audit log (the address a trusted proxy forwarded for,
    and the id of the API token they came with, never the token)."""
    how = {"via": "web", "client": g.get("client") or request.remote_addr or ""}
    if g.get("token_id"):
        how["token_id"] = g.token_id
    return how
