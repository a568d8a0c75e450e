"""The Vietnamese words the pages say for kho's own codes: audit actions, the states of
batches, documents and pages, and the names of an audit row's details. One mapping, used by
every template (`|action_vi`, `|state_vi`, `|detail_vi`) and by the audit page's CSV."""

from __future__ import annotations

from kho.core.reasons import reason_vi

ACTIONS = {
    "search": "tìm kiếm",
    "suggest": "gợi ý từ khóa",
    "view": "xem tài liệu",
    "page": "xem ảnh trang",
    "file": "tải tệp",
    "page-failed": "xem ảnh trang không thành",
    "file-failed": "tải tệp không thành",
    "export": "xuất dữ liệu",
    "denied": "bị từ chối",
    "review": "xem xét phân loại",
    "review-list": "xem hàng chờ xem xét",
    "review-mark": "quyết định dấu mật",
    "review-field": "sửa trường thông tin",
    "review-ocr": "xem trang cần đọc lại",
    "status": "xem trạng thái",
    "audit": "xem nhật ký",
    "login": "đăng nhập",
    "login-failed": "đăng nhập sai",
    "login-locked": "bị tạm khóa đăng nhập",
    "logout": "đăng xuất",
    "retry": "thử lại",
    "purge": "xóa khỏi hàng đợi",
    "resume": "tiếp tục lô",
    "ingest": "nhập lô quét",
    "reindex": "lập lại chỉ mục",
    "reocr": "đọc lại trang",
    "failed": "xem lỗi",
    "failed-list": "xem danh sách lỗi",
    "verify": "kiểm tra toàn vẹn",
    "backup-create": "tạo bản sao lưu",
    "classify-apply": "phân loại lại",
    "train": "huấn luyện bộ phân loại",
    "archive-view": "xem hồ sơ",
    "archive-create": "lập hồ sơ",
    "archive-edit": "sửa hồ sơ",
    "archive-place": "xếp tài liệu vào hồ sơ",
    "backup-restore": "khôi phục bản sao",
    "node-init": "khởi tạo kho",
    "node-show": "xem thông tin kho",
    "peer-add": "thêm kho liên kết",
    "peer-revoke": "thu hồi kho liên kết",
    "peers-list": "xem kho liên kết",
    "transfer-export": "xuất gói chuyển giao",
    "transfer-import": "nhập gói chuyển giao",
    "transfer-verify": "kiểm tra gói chuyển giao",
    "transfer-receipt": "biên nhận chuyển giao",
    "transfer-held": "giữ gói chuyển giao",
    "transfer-refused": "từ chối gói chuyển giao",
    "transfer-push": "gửi gói chuyển giao",
    "token-create": "tạo mã truy cập API",
    "token-revoke": "thu hồi mã truy cập API",
    "token-list": "xem mã truy cập API",
    "token-refused": "mã truy cập API bị từ chối",
    "openapi": "xem mô tả API",
}
BAD_ACTIONS = ("denied", "login-failed", "login-locked", "page-failed", "file-failed",
               "token-refused")  # fmt: skip

STATES = {  # batches, documents, pages, workers
    "pending": "đang chờ",
    "registered": "đã nhận",
    "queued": "đang chờ",
    "started": "đang chạy",
    "busy": "đang chạy",
    "idle": "rảnh",
    "suspended": "tạm dừng",
    "retrying": "đang thử lại",
    "scheduled": "chờ thử lại",
    "done": "xong",
    "indexed": "xong",
    "finished": "xong",
    "failed": "lỗi",
    "purged": "đã xóa",
    "withdrawn": "đã thu hồi",
    "running": "đang chạy",
    "done-failed": "xong, có lỗi",
    "local": "một máy",
    "distributed": "nhiều máy (hàng đợi Redis)",
    "embedded": "nhúng (SQLite)",
    "elasticsearch": "Elasticsearch",
    "page": "trang",
    "document": "tài liệu",
    "file": "tệp",
}

DETAILS = {  # an audit row's detail keys
    "via": "Qua",
    "client": "Địa chỉ",
    "os_user": "Tài khoản máy",
    "doc_id": "Tài liệu",
    "page": "Trang",
    "pages": "Các trang",
    "query": "Từ khóa",
    "filters": "Bộ lọc",
    "dates": "Khoảng ngày",
    "total": "Số kết quả",
    "shown": "Tài liệu đã hiện",
    "docs": "Tài liệu",
    "files": "Tệp",
    "format": "Định dạng",
    "use_copy": "Bản sao sử dụng",
    "decision": "Quyết định",
    "category": "Loại nghiệp vụ",
    "reason": "Lý do",
    "entries": "Số dòng",
    "rows": "Số dòng",
    "batch": "Lô",
    "level": "Độ mật",
    "field": "Trường",
    "value": "Giá trị",
    "peer": "Kho liên kết",
    "seq": "Số thứ tự",
    "fonds": "Phông",
    "dossier": "Hồ sơ",
    "token_id": "Mã truy cập API",
    "screen": "Bản xem màn hình",
    "inline": "Xem trong trang",
    "batch_id": "Lô",
    "node": "Kho",
    "path": "Đường dẫn",
    "purged": "Đã xóa",
    "receipt": "Biên nhận",
    "records": "Hồ sơ",
    "refused": "Bị từ chối",
    "sender": "Kho gửi",
    "size": "Kích thước",
    "status": "Tình trạng",
    "unit": "Đơn vị",
    "what": "Nội dung",
    "restart": "Làm lại từ đầu",
}
VIA = {"web": "trang web", "cli": "dòng lệnh"}
YES_NO = {True: "có", False: "không"}


def action_vi(action: str) -> str:
    """The action in Vietnamese words (a code kho does not know yet stays as it is)."""
    return ACTIONS.get(str(action), str(action))


def state_vi(state) -> str:
    """A batch's, document's, page's or worker's state in Vietnamese words."""
    return STATES.get(str(state), str(state))


def detail_vi(key: str) -> str:
    """The label of an audit detail's key."""
    return DETAILS.get(str(key), str(key).replace("_", " "))


def batch_state(batch) -> str:
    """A batch's state in words, from its counts (a `workers.status.BatchState`)."""
    failed = batch.pages_failed or batch.files_failed
    if batch.finished:
        return state_vi("done-failed" if failed else "done")
    return state_vi("running" if batch.pages_done or batch.pages_failed else "pending")


def duration_vi(seconds) -> str:
    """A duration as "1 giờ 05 phút", "3 phút 02 giây", or "—"."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} giờ {s % 3600 // 60:02d} phút"
    return f"{s // 60} phút {s % 60:02d} giây" if s >= 60 else f"{s} giây"


def register(app) -> None:
    """The filters `|reason_vi`, `|action_vi`, `|state_vi`, `|detail_vi`, `|batch_state`,
    `|duration_vi`."""
    app.add_template_filter(reason_vi, "reason_vi")
    app.add_template_filter(batch_state, "batch_state")
    app.add_template_filter(duration_vi, "duration_vi")
    app.add_template_filter(action_vi, "action_vi")
    app.add_template_filter(state_vi, "state_vi")
    app.add_template_filter(detail_vi, "detail_vi")
