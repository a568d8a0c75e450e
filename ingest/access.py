"""Access when the same bytes arrive again: it may tighten, never loosen.

A document is its bytes (id = SHA-256), so the same file brought by two batches, or twice
by one, is one document with one access. Whichever arrives, the stored access becomes one
no looser than either: the higher level, the common unit (`qk7/f9` and `qk7/f5` give `qk7`;
a unit covers its sub-units, so a deeper unit is seen by more people, not fewer), and only
the share groups both name (a group shares a document, so fewer groups is stricter). An
arrival that names no unit (no `--unit`, no manifest unit) makes no claim on it: the stored
unit stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from kho.core.types import LEVEL_NAMES, Access


@dataclass(frozen=True)
class Merge:
    """The access to store, and what changed against each side, in words."""

    access: Access
    tightened: tuple[str, ...]  # how the stored access became stricter
    kept: tuple[str, ...]  # where the arriving access was looser and was not taken

    @property
    def changed(self) -> bool:
        return bool(self.tightened)


def common_unit(a: str, b: str) -> str:
    """The deepest unit path both are under: the unit scopes covering it cover both."""
    pa, pb = [p for p in a.strip("/").split("/") if p], [p for p in b.strip("/").split("/") if p]
    same = []
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        same.append(x)
    return "/".join(same)


def merge_access(stored: Access, arriving: Access) -> Merge:
    """The strictest of both (see the module's docstring), with what it changed."""
    if not arriving.unit:
        arriving = Access(level=arriving.level, unit=stored.unit, groups=arriving.groups)
    level = max(stored.level, arriving.level)
    unit = common_unit(stored.unit, arriving.unit)
    groups = tuple(g for g in stored.groups if g in set(arriving.groups))
    merged = Access(level=level, unit=unit, groups=groups)
    return Merge(merged, _differences(stored, merged), _differences(arriving, merged))


def _differences(before: Access, after: Access) -> tuple[str, ...]:
    out = []
    if after.level != before.level:
        out.append(f"level {before.level} ({LEVEL_NAMES[before.level]}) -> {after.level}")
    if after.unit != before.unit:
        out.append(f"unit {before.unit or '(none)'} -> {after.unit or '(none)'}")
    if set(after.groups) != set(before.groups):
        gone = sorted(set(before.groups) - set(after.groups))
        out.append(f"groups without {', '.join(gone)}")
    return tuple(out)
