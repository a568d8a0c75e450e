"""The category taxonomy: a YAML file people edit, loaded and validated into frozen data.

Category ids are stable ASCII (they are stored in the catalog and the index); labels and
keywords are Vietnamese. Keywords are optional: a category without any is decided by the
trained model alone. A bad file raises ConfigError naming the file and the bad key.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kho.core.errors import ConfigError
from kho.index.text import normalize

BUNDLED = "kho.classify/default_taxonomy.yaml"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"version", "review_threshold", "fallback", "categories"}
_CATEGORY_KEYS = {"id", "label", "description", "keywords"}
MAX_WEIGHT = 10.0


@dataclass(frozen=True, slots=True)
class Category:
    """One category: stable id, Vietnamese label, and weighted keywords (NFC, lowercase;
    empty when only the trained model decides it)."""

    id: str
    label: str
    description: str
    keywords: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """All categories, the fallback for texts without evidence, and the review threshold."""

    categories: tuple[Category, ...]
    fallback: str
    review_threshold: float
    source: str  # the file it came from, for messages

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def category(self, category_id: str) -> Category:
        """The category with this id; KeyError if there is none."""
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(category_id)


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let PyYAML report it
            continue
        if duplicate:
            raise _DuplicateKey(key, key_node.start_mark.line + 1)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


normalize_term = normalize  # a keyword as rules compare it: NFC, lowercase, single spaces


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML; None loads the bundled default. Raises ConfigError."""
    if path is None:
        source = BUNDLED
        resource = importlib.resources.files("kho.classify").joinpath("default_taxonomy.yaml")
        text = resource.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read taxonomy {source}: {err}") from err
    return parse_taxonomy(text, source)


def parse_taxonomy(text: str, source: str = "<taxonomy>") -> Taxonomy:
    """Validate taxonomy YAML text; `source` names it in error messages."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKey as dup:
        raise ConfigError(f"{source}: duplicate key {dup.key!r} (line {dup.line})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'categories' and 'fallback'")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown keys {', '.join(sorted(map(str, unknown)))}")
    raw = data.get("categories")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: 'categories' must be a non-empty list")
    categories: list[Category] = []
    for i, item in enumerate(raw):
        cat = _category(item, f"{source}: categories[{i}]")
        if any(c.id == cat.id for c in categories):
            raise ConfigError(f"{source}: duplicate category id {cat.id!r} (categories[{i}])")
        categories.append(cat)
    ids = [c.id for c in categories]
    fallback = data.get("fallback")
    if fallback not in ids:
        raise ConfigError(
            f"{source}: fallback {fallback!r} is not a category id (one of {', '.join(ids)})"
        )
    threshold = data.get("review_threshold", 0.5)
    if not _is_number(threshold) or not 0.0 < threshold < 1.0:
        raise ConfigError(
            f"{source}: review_threshold must be a number in (0, 1), got {threshold!r}"
        )
    return Taxonomy(tuple(categories), fallback, float(threshold), source)


def _is_number(value: Any) -> bool:
    # YAML `yes` is a bool, and bool is an int: refuse it explicitly.
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value)


def _category(item: Any, where: str) -> Category:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping with id, label (and keywords)")
    unknown = set(item) - _CATEGORY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
    cid = item.get("id")
    if not isinstance(cid, str) or not _ID_RE.match(cid):
        raise ConfigError(f"{where}: id must be lowercase ASCII like 'can_bo', got {cid!r}")
    where = f"{where} ({cid})"
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}: 'label' must be a non-empty string")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: 'description' must be a string")
    keywords = item.get("keywords") or {}  # absent or empty: the trained model decides
    if not isinstance(keywords, dict):
        raise ConfigError(f"{where}: 'keywords' must be a mapping of term: weight (or absent)")
    terms: dict[str, float] = {}
    for term, weight in keywords.items():
        if not isinstance(term, str) or not normalize_term(term):
            raise ConfigError(f"{where}: keyword {term!r} must be a non-empty string")
        if not _is_number(weight) or not 0.0 < weight <= MAX_WEIGHT:
            raise ConfigError(
                f"{where}: keyword {term!r} weight must be a number in (0, {MAX_WEIGHT:g}], "
                f"got {weight!r}"
            )
        norm = normalize_term(term)
        if norm in terms:
            raise ConfigError(f"{where}: keyword {term!r} is listed twice")
        terms[norm] = float(weight)
    return Category(
        id=cid,
        label=label.strip(),
        description=" ".join(description.split()),
        keywords=tuple(terms.items()),
    )
