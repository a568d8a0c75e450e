"""Every detail the web doors write into the audit log has a Vietnamese label on the audit
page (`web/words.py` DETAILS): the calls are read from the source, so a new detail key
without its label fails here rather than showing as a bare English name."""

from __future__ import annotations

import ast
from pathlib import Path

from kho.web.words import DETAILS

from .conftest import REPO

AUDITING = ("audit", "record_access", "append_audit")


def detail_keys(paths) -> dict[str, str]:
    """{detail key: file} of every keyword passed to an auditing call in `paths`."""
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = getattr(fn, "id", None) or getattr(fn, "attr", "")
            if name in AUDITING:
                found.update({kw.arg: Path(path).name for kw in node.keywords if kw.arg})
    return found


def test_every_audit_detail_of_the_web_has_a_vietnamese_label():
    keys = detail_keys([*(REPO / "web").glob("*.py"), REPO / "index" / "guard.py"])
    assert len(keys) > 10  # the doors do audit with details: the scan found them
    assert {k: f for k, f in keys.items() if k not in DETAILS} == {}
