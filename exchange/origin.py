"""This node as the origin of the records made here: its name and unit from its identity
(`kho node init`), or none before it has one."""

from __future__ import annotations

from pathlib import Path

from kho.exchange.identity import Identity, node_dir

_read: dict[Path, tuple[int, Identity]] = {}  # identity file -> (mtime_ns, identity)


def local_origin(home: Path) -> tuple[str, str]:
    """(name, unit) of this node, ("", "") while it has no identity: the origin the index
    gives a dossier made here. The file is read and its binding checked once per change
    (indexing asks for every document). A damaged identity file raises (IdentityError)."""
    path = node_dir(home) / "identity.json"
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return "", ""
    known = _read.get(path)
    if known is None or known[0] != stamp:
        known = (stamp, Identity.from_json(path.read_bytes(), str(path)))
        _read[path] = known
    return known[1].name, known[1].unit
