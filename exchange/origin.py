"""This node as the origin of the records made here: its name and unit from its identity
(`kho node init`), or none before it has one."""

from __future__ import annotations

from pathlib import Path

from kho.core.errors import NotFoundError
from kho.exchange.identity import load_identity


def local_origin(home: Path) -> tuple[str, str]:
    """(name, unit) of this node, ("", "") while it has no identity: the origin the index
    gives a dossier made here. A damaged identity file raises (IdentityError)."""
    try:
        ident = load_identity(home)
    except NotFoundError:
        return "", ""
    return ident.name, ident.unit
