"""How the pages write dates and times: dd/mm/yyyy, times in the configured zone
(`[web] timezone`, default Asia/Ho_Chi_Minh), never ISO or UTC on the screen. The catalog
keeps naive UTC times; the index keeps ISO strings; both come in here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

DAY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{2})-(\d{2})")


class DayError(ValueError):
    """A typed day that is not one; its text (Vietnamese) is for the page."""


def parse_day(text: str, name: str) -> date | None:
    """dd/mm/yyyy (as people write it) or yyyy-mm-dd (what a link may carry), or None for
    nothing typed; DayError names the field `name` and says how to write it."""
    text = (text or "").strip()
    if not text:
        return None
    m = DAY.fullmatch(text)
    try:
        if m and m.group(1):
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        if m:
            return date(int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        pass
    raise DayError(f"“{name}” không phải một ngày: viết theo dạng dd/mm/yyyy, vd. 01/12/2026.")


def _moment(value) -> datetime | date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def local(value, zone: str) -> datetime | date | None:
    """`value` (a naive UTC or aware datetime, a date, or an ISO string) in `zone`."""
    moment = _moment(value)
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(zone))
    return moment


def vn_date(value, zone: str = "Asia/Ho_Chi_Minh") -> str:
    """dd/mm/yyyy, or "" (a time is first moved into `zone`)."""
    moment = local(value, zone)
    return moment.strftime("%d/%m/%Y") if moment else ""


def vn_datetime(value, zone: str = "Asia/Ho_Chi_Minh") -> str:
    """dd/mm/yyyy HH:MM in `zone`, or dd/mm/yyyy for a plain date, or ""."""
    moment = local(value, zone)
    if isinstance(moment, datetime):
        return moment.strftime("%d/%m/%Y %H:%M")
    return moment.strftime("%d/%m/%Y") if moment else ""


def register(app, zone: str) -> None:
    """The filters `|vn_date` and `|vn_datetime` for the templates, in `zone`."""
    app.add_template_filter(lambda v: vn_date(v, zone), "vn_date")
    app.add_template_filter(lambda v: vn_datetime(v, zone), "vn_datetime")
