"""Keyword-rule classification: weighted whole-word phrases, with and without diacritics.

Text is compared in two views of the same characters: exact (NFC, lowercase, one tone
placement) and folded (no diacritics, 'đ' -> 'd'). One scan over the folded view finds every
keyword; a match whose exact characters are the keyword counts fully, one that only matches
without diacritics (OCR that dropped them, text typed without Telex, or a different word
such as 'mà' for 'mã') counts FOLDED_CREDIT.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from kho.core.types import Classification

from .taxonomy import Taxonomy

FOLDED_CREDIT = 0.5  # weight of a match found only without diacritics
EVIDENCE_SCALE = 5.0  # a top score of this much gives evidence 1 - 1/e (~0.63)
MAX_ALTERNATIVES = 3
MAX_REASONS = 8

_WS_RE = re.compile(r"\s+")
# Combining marks that NFC could not compose onto a letter: dropped so that folding maps one
# character to one character and match offsets are the same in both views.
_MARKS_RE = re.compile("[\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Two spellings of the same syllable: 'hoà'/'hòa', 'khoẻ'/'khỏe', 'thuỷ'/'thủy'. Documents
# and OCR use both; compare one form (mark on the first vowel of an open syllable).
_TONES_A = "àáảãạ"
_TONES_E = "èéẻẽẹ"
_TONES_Y = "ỳýỷỹỵ"
_TONES_O = "òóỏõọ"
_TONES_U = "ùúủũụ"
_TONE_PLACEMENT_RE = re.compile(f"o([{_TONES_A}{_TONES_E}])(?!\\w)|(?<!q)u([{_TONES_Y}])(?!\\w)")


def _one_tone_placement(match: re.Match[str]) -> str:
    if match.group(1):
        mark = match.group(1)
        tones, vowel = (_TONES_A, "a") if mark in _TONES_A else (_TONES_E, "e")
        return _TONES_O[tones.index(mark)] + vowel
    return _TONES_U[_TONES_Y.index(match.group(2))] + "y"


class _FoldTable(dict):
    """str.translate table, filled on demand: each character to its base letter."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
        )
        if len(base) != 1:  # e.g. Hangul decomposes into several letters: keep offsets aligned
            base = char
        self[code] = base
        return base


_FOLD = _FoldTable({ord("đ"): "d", ord("Đ"): "D"})


def _exact_view(text: str) -> str:
    """NFC, lowercase, single spaces, one tone placement; no stray combining marks."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _MARKS_RE.sub("", text)
    text = _WS_RE.sub(" ", text).strip()
    return _TONE_PLACEMENT_RE.sub(_one_tone_placement, text)


def _fold(exact: str) -> str:
    """Diacritics removed, one character for one character (so offsets match the exact view).

    The index has its own `fold` (kho.index.text); this one must keep offsets aligned.
    """
    return exact.translate(_FOLD)


@dataclass(frozen=True, slots=True)
class _Rule:
    term: str  # exact view of the keyword
    category: int  # index into taxonomy.categories
    weight: float


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: re.Pattern[str] | None  # None when no category has a keyword
    rules: dict[str, tuple[_Rule, ...]]  # folded keyword -> the keywords that fold to it
    weights: tuple[dict[str, float], ...]  # per category: exact keyword -> weight


def _trie_regex(words: list[str]) -> str:
    """One regex alternative per prefix, so a scan tests a few letters per position, not 250."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy optional: the longest keyword wins, shorter ones are tried on backtracking.
        return f"(?:{body})?" if "" in node else body

    return build(trie)


@lru_cache(maxsize=8)
def _compile(taxonomy: Taxonomy) -> _Compiled:
    weights: list[dict[str, float]] = []
    for category in taxonomy.categories:
        # Two spellings of one keyword ('hoà', 'hòa') become one rule with the larger weight.
        terms: dict[str, float] = {}
        for term, weight in category.keywords:
            exact = _exact_view(term)
            terms[exact] = max(weight, terms.get(exact, 0.0))
        weights.append(terms)
    rules: dict[str, list[_Rule]] = defaultdict(list)
    for index, terms in enumerate(weights):
        for exact, weight in terms.items():
            rules[_fold(exact)].append(_Rule(exact, index, weight))
    # an empty alternation would match the empty string everywhere: no keywords, no pattern
    body = _trie_regex(sorted(rules))
    pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)") if rules else None
    return _Compiled(pattern, {k: tuple(v) for k, v in rules.items()}, tuple(weights))


def _damp(count: float) -> float:
    """Diminishing returns for repeats: linear up to one match, then 1 + ln(count)."""
    return count if count <= 1.0 else 1.0 + math.log(count)


def _confidence(score: float, squares: float) -> float:
    """Share of the evidence (squared, so a clear winner nears 1) times amount of evidence.

    A tie between two categories gives at most 0.5; one weak keyword gives ~0.2; a page of
    consistent keywords for one category gives > 0.9.
    """
    share = score * score / squares
    evidence = 1.0 - math.exp(-score / EVIDENCE_SCALE)
    return round(share * evidence, 4)


def classify_text(text: str, taxonomy: Taxonomy) -> Classification:
    """Pick the category whose keywords best explain the text, with an honest confidence.

    No keyword at all (in the text, or in a taxonomy left to the trained model) gives the
    taxonomy's fallback with confidence 0. Reasons list the
    winner's matched keywords as 'chi bộ×3'; a leading '~' marks matches found only without
    diacritics. Alternatives are the runners-up with their confidence computed the same way.
    """
    compiled = _compile(taxonomy)
    if compiled.pattern is None:
        return Classification(category=taxonomy.fallback, confidence=0.0)
    exact = _exact_view(text)
    # counts[category][term] = [exact matches, folded-only matches]
    counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for match in compiled.pattern.finditer(_fold(exact)):
        rules = compiled.rules[match.group()]
        seen = exact[match.start() : match.end()]
        hits = [r for r in rules if r.term == seen]
        for rule in hits or rules:
            counts[rule.category][rule.term][0 if hits else 1] += 1
    weights = compiled.weights
    scores: dict[int, float] = {}
    for index, terms in counts.items():
        scores[index] = sum(
            weights[index][term] * _damp(n_exact + FOLDED_CREDIT * n_folded)
            for term, (n_exact, n_folded) in terms.items()
        )
    if not scores:
        return Classification(category=taxonomy.fallback, confidence=0.0)
    ranked = sorted(scores, key=lambda i: (-scores[i], i))
    squares = sum(s * s for s in scores.values())
    winner = ranked[0]
    alternatives = tuple(
        (taxonomy.categories[i].id, _confidence(scores[i], squares))
        for i in ranked[1 : 1 + MAX_ALTERNATIVES]
    )
    return Classification(
        category=taxonomy.categories[winner].id,
        confidence=_confidence(scores[winner], squares),
        alternatives=alternatives,
        reasons=_reasons(counts[winner], weights[winner]),
    )


def _reasons(terms: dict[str, list[int]], weights: dict[str, float]) -> tuple[str, ...]:
    """The strongest matched keywords, exact ones as 'term×n', folded-only as '~term×n'."""
    items: list[tuple[float, str]] = []
    for term, (n_exact, n_folded) in terms.items():
        if n_exact:
            items.append((weights[term] * _damp(n_exact), f"{term}×{n_exact}"))
        if n_folded:
            items.append((weights[term] * _damp(FOLDED_CREDIT * n_folded), f"~{term}×{n_folded}"))
    items.sort(key=lambda item: (-item[0], item[1]))
    return tuple(label for _, label in items[:MAX_REASONS])
