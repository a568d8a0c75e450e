"""A failure's reason as a Vietnamese reader of the web pages reads it, saying what to do.

The stages record one English line per failure (the CLI, the logs and `kho failed` show it
as it is); the pages show it through `reason_vi`. Wrapped reasons ("page 3: ...", "no page
could be read: ...", "... (gave up: no retries left)") are translated part by part; a
reason no rule knows is still framed in Vietnamese, its technical words kept in brackets
for whoever fixes it.
"""

from __future__ import annotations

import re

from .failures import HIDDEN

# (pattern at the start of the reason, Vietnamese line); groups are numbered in the line
_RULES: tuple[tuple[str, str], ...] = (
    (r"empty file", "Tệp rỗng (0 byte): quét lại hoặc chọn đúng tệp."),
    (r"encrypted PDF", "PDF có mật khẩu: gỡ mật khẩu rồi tải lên lại."),
    (r"corrupt", "Tệp bị hỏng hoặc không đọc được: quét lại hoặc lấy bản gốc khác."),
    (r"not an? ", "Nội dung tệp không đúng loại như phần mở rộng: kiểm tra lại tệp."),
    (r"unsupported", "Loại tệp không nhận: kho nhận TIFF, PNG, JPEG và PDF."),
    (r"PDF has no pages|no pages$", "Tài liệu không có trang nào: kiểm tra lại tệp."),
    (r"took more than", "Trang xử lý quá lâu nên đã dừng: bấm Thử lại, hoặc quét lại trang."),
    (r"job ran past its time limit",
     "Công việc chạy quá thời gian cho phép nên đã dừng: bấm Thử lại."),
    (r"worker died", "Tiến trình xử lý bị dừng (thiếu bộ nhớ?): bấm Thử lại."),
    (r"decompression bomb|.*over limits\.max_page_pixels",
     "Ảnh quá lớn so với giới hạn: quét ở độ phân giải thấp hơn."),
    (r"file is [\d,.]+ bytes, over limits\.max_file_bytes",
     "Tệp lớn hơn giới hạn cho phép: chia nhỏ tệp, hoặc nhờ người quản trị nâng giới hạn."),
    (r"page needs more than (\d+) MB of memory",
     "Trang cần hơn {1} MB bộ nhớ: nhờ người quản trị nâng giới hạn rồi bấm Thử lại."),
    (r"cannot read file", "Không đọc được tệp (quyền hoặc ổ đĩa): kiểm tra tệp rồi gửi lại."),
    (r"symbolic link", "Liên kết tắt trỏ ra ngoài thư mục đang nhập: đã bỏ qua."),
    (r"unknown document", "Tài liệu không còn trong danh mục."),
    (r"attachment", "Tệp đính kèm trong PDF không nhận được; bản PDF vẫn được lưu."),
    (r"an ordinal needs a dossier|dossier .* needs its fonds",
     "Thiếu hồ sơ hoặc phông cho tài liệu: điền cột hồ sơ/phông rồi nhập lại."),
    (r"(?:internal error: )?(?:\w+\.)*(?:ConnectionError|TimeoutError|OperationalError)",
     "Mất kết nối tới dịch vụ (hàng đợi, danh mục hoặc chỉ mục): bấm Thử lại khi dịch vụ "
     "chạy lại."),
    (r"internal error", "Lỗi nội bộ khi xử lý: bấm Thử lại; nếu vẫn lỗi, báo người quản trị kho."),
)  # fmt: skip
_COMPILED = tuple((re.compile(p, re.IGNORECASE), line) for p, line in _RULES)
_WRAPPERS = (  # (pattern, Vietnamese frame around the translated rest)
    (re.compile(r"(.*) \(gave up: no retries left\)$", re.S), "{} (đã hết lượt thử lại)"),
    (re.compile(r"no page could be read: (.*)$", re.S), "Không đọc được trang nào. {}"),
    (re.compile(r"page (\d+): (.*)$", re.S), "Trang {}: {}"),
)
FALLBACK = "Lỗi khi xử lý: bấm Thử lại; nếu vẫn lỗi, báo người quản trị kho"


def reason_vi(reason: str) -> str:
    """The reason in Vietnamese words that say what to do ("" for none)."""
    text = " ".join((reason or "").split())
    if not text or text == HIDDEN:
        return text
    for pattern, frame in _WRAPPERS:
        m = pattern.match(text)
        if m:
            *head, rest = m.groups()
            return frame.format(*head, reason_vi(rest))
    for pattern, line in _COMPILED:
        m = pattern.match(text)
        if m:
            return line.format(None, *m.groups())
    return f"{FALLBACK} (chi tiết: {text[:200]})."
