"""The search page's links as data (web/searchview.py): numbered pages within the index's
offset window and on by cursor past it, one filter value added or removed at a time, the
form's hidden fields."""

from __future__ import annotations

from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from kho.index.base import MAX_WINDOW
from kho.web import searchview
from kho.web.searchview import NUMBERED, PAGE_SIZE


def pairs(link: str) -> list[tuple[str, str]]:
    return parse_qsl(link.removeprefix("?"))


def test_pages_are_numbered_within_the_window_then_go_on_by_cursor():
    args = MultiDict([("q", "dân vận"), ("unit", "qk7"), ("p", "2")])
    assert searchview.result_page(args) == (2, PAGE_SIZE)
    pager = searchview.pager(args, 2, 134, "c1")
    assert (pager.page, pager.pages, pager.first_number) == (2, 7, 21)
    assert [n for n, _ in pager.numbers] == [1, 2, 3, 4, None, 7]
    assert pairs(pager.previous) == [("q", "dân vận"), ("unit", "qk7")]  # page 1: no p
    assert pairs(pager.next) == [("q", "dân vận"), ("unit", "qk7"), ("p", "3")]
    assert not pager.beyond
    deep = MultiDict([("q", "a"), ("p", str(NUMBERED + 40))])  # typed past the window
    assert searchview.result_page(deep) == (NUMBERED, MAX_WINDOW - PAGE_SIZE)
    last = searchview.pager(deep, NUMBERED, MAX_WINDOW * 3, "cursor-x")
    assert last.beyond and pairs(last.next) == [
        ("q", "a"), ("after", "cursor-x"), ("p", str(NUMBERED + 1))
    ]  # fmt: skip
    on = MultiDict([("q", "a"), ("after", "cursor-x"), ("p", str(NUMBERED + 1))])
    assert searchview.result_page(on) == (NUMBERED + 1, 0)  # the cursor says where
    past = searchview.pager(on, NUMBERED + 1, MAX_WINDOW * 3, None)
    assert past.first_number == MAX_WINDOW + 1 and past.previous == "" and past.next == ""
    assert max(n for n, _ in past.numbers if n) == NUMBERED


def test_values_toggle_one_at_a_time_and_the_form_keeps_them():
    args = MultiDict([("q", "x"), ("year", "2024"), ("p", "3"), ("group", "page")])
    assert pairs(searchview.toggled(args, "year", "2023")) == [
        ("q", "x"), ("year", "2024"), ("group", "page"), ("year", "2023")
    ]  # fmt: skip
    assert pairs(searchview.toggled(args, "year", "2024")) == [("q", "x"), ("group", "page")]
    assert searchview.hidden_fields(args) == [("year", "2024"), ("group", "page")]
    names = {"batch": {"7": "mau-2024"}}
    active = MultiDict([("batch", "7"), ("level", "2"), ("to", "2024-03-01")])
    chips = searchview.chips(active, names)
    assert [(c.label, c.text) for c in chips] == [
        ("Độ mật", "Tối mật"), ("Lô quét", "mau-2024"), ("Ngày", "đến 01/03/2024")
    ]  # fmt: skip
