"""Failure reasons as the web pages say them: every reason the stages record for bad input
(a real `kho ingest` of the bad-file corpus), and the wrapped reasons the workers make,
come out in Vietnamese words that say what to do."""

from __future__ import annotations

import json

from kho.core.reasons import FALLBACK, reason_vi
from kho.synth.badfiles import write_bad_inputs

from .conftest import run_kho

VIETNAMESE = set("ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ")


def _vietnamese(line: str) -> bool:
    return bool(VIETNAMESE & set(line.lower()))


def test_every_bad_input_reason_has_its_own_vietnamese_line(tmp_path):
    folder = tmp_path / "in"
    expected = write_bad_inputs(folder)
    home = tmp_path / "home"
    run_kho("ingest", str(folder), home=home, check=None)
    out = run_kho("failed", "list", "--json", home=home).stdout
    failures = json.loads(out)["failures"]
    assert len(failures) == len(expected) - 1  # the .docx is skipped, not failed
    for f in failures:
        line = reason_vi(f["reason"])
        assert _vietnamese(line) and not line.startswith(FALLBACK), (f["reason"], line)


def test_wrapped_reasons_are_translated_part_by_part():
    line = reason_vi("page 3: took more than 300 s: stopped (gave up: no retries left)")
    assert line.startswith("Trang 3: Trang xử lý quá lâu") and "hết lượt thử lại" in line
    line = reason_vi("no page could be read: page 1 is 40000x40000 px = 1600 Mpx, over "
                     "limits.max_page_pixels=150000000")  # fmt: skip
    assert line.startswith("Không đọc được trang nào. Ảnh quá lớn"), line
    line = reason_vi("page needs more than 1500 MB of memory ([limits] worker_memory_mb): x")
    assert "1500 MB" in line and _vietnamese(line)
    line = reason_vi("internal error: redis.exceptions.ConnectionError: Error 111")
    assert "Mất kết nối" in line


def test_an_unknown_reason_is_framed_in_vietnamese_with_its_detail():
    line = reason_vi("KeyError: 'x'")
    assert line.startswith(FALLBACK) and "KeyError: 'x'" in line
    assert reason_vi("") == "" and reason_vi("(tài liệu ẩn)") == "(tài liệu ẩn)"
