"""The audit log page (/audit) and its CSV (/audit.csv), for operators only.

Rows say who, when (dd/mm/yyyy HH:MM in `[web] timezone`), the action in words and what
it touched as labelled fields; filters by actor, action and a date range (days of the
zone), paged newest first. The CSV holds the filtered rows (UTF-8 with a BOM, times in the
zone, cells that a spreadsheet would run as a formula neutralised) and is itself audited as
an export. A document the operator may not see is "(tài liệu ẩn)" in both.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, g, render_template, request, url_for

from kho.index.guard import audit

from . import format, words
from .pages import FACET_LABELS
from .state import ctx, door, web

PAGE = 100
CSV_MAX = 20000  # rows in one CSV; narrow the filters for more
ACTION_CODE = re.compile(r"[a-z][a-z-]{0,49}")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class FilterError(ValueError):
    """A filter the reader typed that cannot be used; its text is for the page."""


def register(app) -> None:
    app.add_url_rule("/audit", "audit_page", audit_page)
    app.add_url_rule("/audit.csv", "audit_csv", audit_csv)


def _operator() -> None:
    if not g.get("operator"):
        abort(403)


def audit_page():
    _operator()
    c = ctx()
    error, entries = "", []
    try:
        f = filters(request.args)
    except FilterError as err:
        error, f = str(err), None
    if f is not None:
        entries = _entries(c, f, PAGE, f["before"])
    rows = [row(e) for e in entries]
    body = render_template(
        "audit.html",
        rows=rows,
        args=request.args,
        error=error,
        actions=words.ACTIONS,
        bad_actions=words.BAD_ACTIONS,
        **_links(entries, f),
    )
    shown = _audited(f) if f else {"refused": error}
    audit(c.catalog, g.principal, "audit", door(), filters=shown, entries=len(entries))
    return body, 400 if error else 200


def audit_csv():
    _operator()
    c = ctx()
    try:
        f = filters(request.args)
    except FilterError as err:
        from .app import _error_page

        return _error_page(400, str(err), "Sửa bộ lọc trên trang nhật ký rồi tải lại.")
    entries = _entries(c, f, CSV_MAX, None)
    data = to_csv(entries, web().settings.web.timezone)
    audit(c.catalog, g.principal, "export", door(), format="csv", what="audit",
          filters=_audited(f), rows=len(entries))  # fmt: skip
    stamp = datetime.now(ZoneInfo(web().settings.web.timezone)).strftime("%Y%m%d-%H%M")
    resp = Response(data, mimetype="text/csv")
    resp.headers.set("Content-Disposition", "attachment", filename=f"nhat-ky-{stamp}.csv")
    return resp


def _links(entries: list[dict], f: dict | None) -> dict:
    """The CSV of these filters, the newest page and the next older one (or None)."""
    kept: dict = {
        k: v for k, v in request.args.items() if k in ("actor", "action", "from", "to") and v
    }
    older = entries[-1]["id"] if len(entries) == PAGE else None
    return {
        "csv_url": url_for("audit_csv", **kept),
        "newest_url": url_for("audit_page", **kept) if f and f["before"] else None,
        "older_url": url_for("audit_page", before=older, **kept) if older else None,
    }


def _entries(c, f: dict, limit: int, before: int | None) -> list[dict]:
    from kho.workers.status import audit_view

    found = c.catalog.audit_log(limit, f["actor"], f["action"], before, f["since"], f["until"])
    return audit_view(c.catalog, found, g.principal)


def _audited(f: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in f.items()
            if k in ("actor", "action", "before", "from", "to")}  # fmt: skip


def filters(args) -> dict:
    """The page's filters from the query string, checked; FilterError says what to fix."""
    actor = args.get("actor", "").strip()
    if len(actor) > 100:
        raise FilterError("Tên người dùng quá dài (tối đa 100 ký tự): sửa lại rồi lọc lại.")
    action = args.get("action", "").strip()
    if action and not ACTION_CODE.fullmatch(action):
        raise FilterError("Thao tác không hợp lệ: chọn một thao tác trong danh sách.")
    before = args.get("before", "").strip()
    if before and not before.isdigit():
        raise FilterError("Trang không hợp lệ: về trang mới nhất của nhật ký.")
    first = parse_day(args.get("from", ""), "Từ ngày")
    last = parse_day(args.get("to", ""), "Đến ngày")
    if first and last and first > last:
        raise FilterError("“Từ ngày” phải trước hoặc bằng “Đến ngày”: đổi lại khoảng ngày.")
    zone = ZoneInfo(web().settings.web.timezone)
    return {
        "actor": actor,
        "action": action,
        "before": int(before) if before else None,
        "from": first,
        "to": last,
        "since": _utc(first, zone),
        "until": _utc(last + timedelta(days=1), zone) if last else None,
    }


def parse_day(text: str, name: str) -> date | None:
    """A day typed into the filters (`format.parse_day`), refused as a FilterError."""
    try:
        return format.parse_day(text, name)
    except format.DayError as err:
        raise FilterError(str(err)) from None


def _utc(day: date | None, zone: ZoneInfo) -> datetime | None:
    """The start of `day` in `zone`, as the catalog's naive UTC."""
    if day is None:
        return None
    return datetime.combine(day, time(), zone).astimezone(UTC).replace(tzinfo=None)


def row(entry: dict) -> dict:
    """One audit entry as the page shows it: who, when, the action in words, its fields."""
    return {**entry, "words": words.action_vi(entry["action"]), "fields": fields(entry["detail"])}


def fields(detail: dict) -> list[tuple[str, str, object]]:
    """(key, label, value) for each detail worth showing; value is text, or a list of
    document ids for the keys that name documents."""
    out: list[tuple[str, str, object]] = []
    for key, value in (detail or {}).items():
        if _empty(value):
            continue
        if key in ("doc_id", "shown", "docs") and isinstance(value, list | str):  # not a count
            ids = [str(x) for x in value] if isinstance(value, list) else [value]
            out.append((key, words.detail_vi(key), ids))
        else:
            out.append((key, words.detail_vi(key), text_of(key, value)))
    return out


def _empty(value) -> bool:
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return value is None or value == ""


def text_of(key: str, value) -> str:
    """A detail's value as words: lists joined, filters labelled, dates dd/mm/yyyy."""
    if isinstance(value, bool):
        return words.YES_NO[value]
    if key == "via":
        return words.VIA.get(str(value), str(value))
    if key == "dates" and isinstance(value, list):
        first, last = (format.vn_date(v) for v in (value + ["", ""])[:2])
        return " ".join(
            p for p in (f"từ {first}" if first else "", f"đến {last}" if last else "") if p
        )
    if key in ("from", "to"):
        return format.vn_date(value) or str(value)
    if isinstance(value, dict):
        parts = [f"{FACET_LABELS.get(k, words.detail_vi(k))}: {text_of(k, v)}"
                 for k, v in value.items() if not _empty(v)]  # fmt: skip
        return "; ".join(parts) or "—"
    if isinstance(value, list):
        return ", ".join(text_of(key, v) for v in value)
    if key == "format":
        return str(value).upper()
    return str(value)


def to_csv(entries: list[dict], zone: str) -> bytes:
    """The rows as CSV for a spreadsheet: UTF-8 with a BOM, local times, no formulas."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Số", "Lúc", "Người dùng", "Thao tác", "Mã thao tác", "Chi tiết"])
    for e in entries:
        detail = "; ".join(f"{label}: {', '.join(v) if isinstance(v, list) else v}"
                           for _k, label, v in fields(e["detail"]))  # fmt: skip
        cells = [e["id"], format.vn_datetime(e["at"], zone), e["actor"],
                 words.action_vi(e["action"]), e["action"], detail]  # fmt: skip
        w.writerow([safe_cell(str(x)) for x in cells])
    return out.getvalue().encode("utf-8-sig")


def safe_cell(text: str) -> str:
    """A cell a spreadsheet would take for a formula (= + - @, tab, CR) gets a leading '."""
    return "'" + text if text.startswith(FORMULA_START) else text
