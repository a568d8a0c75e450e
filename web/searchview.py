"""The search page's controls as plain data, from the request's arguments: the active filters
as removable chips, facet values that add or remove one alternative, the fields the query
form carries, and the page links (numbered within the index's offset window, then by cursor).

Every link drops the result page and the cursor: a changed search starts at its first page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from kho.core.types import LEVEL_NAMES
from kho.index.base import MAX_WINDOW

from .format import vn_date

FACET_LABELS = {
    "category": "Loại nghiệp vụ",
    "fonds": "Phông",
    "dossier": "Hồ sơ",
    "doc_type": "Loại văn bản",
    "issuer": "Cơ quan ban hành",
    "year": "Năm",
    "unit": "Đơn vị",
    "level": "Độ mật",
    "batch": "Lô quét",
    "origin_node": "Kho nguồn",  # the node that made the record
    "origin_unit": "Đơn vị nguồn",
}
FILTERS = tuple(FACET_LABELS)
PAGE_SIZE = 20
NUMBERED = MAX_WINDOW // PAGE_SIZE  # result pages reachable by number; the cursor goes on
PAGING = ("p", "after")  # the result page and cursor: never carried into a changed search
SWITCHES = {  # argument: (value that is not the default, its chip)
    "group": ("page", "Theo trang"),
    "marks": ("ignore", "Bỏ qua dấu"),
}


@dataclass(frozen=True)
class Chip:
    label: str  # the filter's name ("Năm"), or "" for a switch
    text: str  # the value as read ("2024", "Mật", the category's label)
    remove: str  # the query string without this one value


@dataclass(frozen=True)
class FacetValue:
    value: str
    text: str
    count: int
    active: bool
    href: str  # adds the value as an alternative, or (when active) removes it


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int  # result pages in all (may pass NUMBERED)
    first_number: int  # the number of this page's first hit
    numbers: tuple[tuple[int | None, str], ...]  # (page, link); None is a gap
    previous: str
    next: str
    beyond: bool  # past the numbered window: only "next" by cursor


def items(args, drop=()) -> list[tuple[str, str]]:
    """The request's arguments, less paging and the keys in `drop`, empty values left out."""
    return [(k, v) for k, v in args.items(multi=True) if k not in (*PAGING, *drop) and v]


def query_string(pairs) -> str:
    return "?" + urlencode(list(pairs))


def without(args, key: str, value: str | None = None) -> str:
    """The search with one value of `key` removed (or every value, when `value` is None)."""
    kept = items(args)
    return query_string((k, v) for k, v in kept if not (k == key and value in (None, v)))


def toggled(args, key: str, value: str) -> str:
    """The search with `value` added to `key`'s alternatives, or removed when it is there."""
    kept = items(args)
    if (key, value) in kept:
        return without(args, key, value)
    return query_string([*kept, (key, value)])


def switched(args, key: str, value: str | None) -> str:
    """The search with a switch (group, marks, sort) set to `value` (None: its default)."""
    kept = items(args, drop=(key,))
    return query_string([*kept, (key, value)] if value else kept)


def value_text(key: str, value: str, names: dict) -> str:
    """A filter value as an officer reads it: a level's name, or its name in `names`
    ({key: {value: name}}: a category's label, a batch's name)."""
    if key == "level" and value.isdigit():
        return LEVEL_NAMES.get(int(value), value)
    return names.get(key, {}).get(value, value)


def chips(args, names: dict) -> list[Chip]:
    """Every active filter value, the date range and the switches, each removable alone."""
    active = [(k, v) for k, v in items(args) if k in FACET_LABELS]
    active.sort(key=lambda kv: FILTERS.index(kv[0]))  # as the facets are listed
    out = [Chip(FACET_LABELS[k], value_text(k, v, names), without(args, k, v)) for k, v in active]
    start, end = args.get("from", ""), args.get("to", "")
    if start or end:
        ends = (start and f"từ {vn_date(start) or start}", end and f"đến {vn_date(end) or end}")
        span = " ".join(part for part in ends if part)
        dropped = [(k, v) for k, v in items(args) if k not in ("from", "to")]
        out.append(Chip("Ngày", span, query_string(dropped)))
    for key, (value, text) in SWITCHES.items():
        if args.get(key) == value:
            out.append(Chip("", text, switched(args, key, None)))
    return out


def clear_all(args) -> str:
    """The same words and sort, no filter, no date, no switch."""
    return query_string((k, v) for k, v in items(args) if k in ("q", "sort"))


def hidden_fields(args) -> list[tuple[str, str]]:
    """What the query form carries unseen so that editing the words or the sort keeps it:
    the active filter values and switches (words, dates and sort are the form's own fields)."""
    return [(k, v) for k, v in items(args) if k in FACET_LABELS or k in SWITCHES]


def facet_values(args, key: str, counts, names: dict) -> list[FacetValue]:
    """A facet's values with their counts, the active ones marked (and listed even when
    the counts left them out)."""
    active = [v for k, v in items(args) if k == key]
    listed = [(str(v), n) for v, n in counts]
    seen = {v for v, _ in listed}
    listed += [(v, 0) for v in active if v not in seen]
    return [
        FacetValue(v, value_text(key, v, names), n, v in active, toggled(args, key, v))
        for v, n in listed
    ]


def result_page(args) -> tuple[int, int]:
    """(page number, offset) the arguments ask for: numbered pages stay in the window; with
    a cursor the number only counts the hits (the cursor says where they start)."""
    raw = args.get("p", "")
    page = int(raw) if raw.isdigit() and len(raw) < 8 else 1
    page = max(page, 1)
    if args.get("after"):
        return page, 0
    page = min(page, NUMBERED)
    return page, (page - 1) * PAGE_SIZE


def pager(args, page: int, total: int, cursor: str | None) -> Pager:
    """Previous/next and a few page numbers around this one, first and last included."""
    pages = max(1, -(-total // PAGE_SIZE))
    numbered = min(pages, NUMBERED)

    def to(n: int) -> str:
        return query_string([*items(args), ("p", str(n))] if n > 1 else items(args))

    beyond = page > NUMBERED or (page == NUMBERED and pages > NUMBERED)
    shown = sorted({1, numbered, *range(max(1, page - 2), min(numbered, page + 2) + 1)})
    numbers: list[tuple[int | None, str]] = []
    for n in shown:
        if numbers and numbers[-1][0] is not None and n - numbers[-1][0] > 1:
            numbers.append((None, ""))
        numbers.append((n, to(n)))
    previous = to(page - 1) if 1 < page <= NUMBERED else ""
    if page < numbered:
        after = to(page + 1)
    elif cursor and page < pages:  # past the window: on by the cursor, still numbered
        after = query_string([*items(args), ("after", cursor), ("p", str(page + 1))])
    else:
        after = ""
    first = (page - 1) * PAGE_SIZE + 1
    return Pager(page, pages, first, tuple(numbers), previous, after, beyond)
