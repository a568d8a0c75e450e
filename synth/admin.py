"""Labeled Vietnamese administrative documents laid out as Decree 30/2020/NĐ-CP prescribes.

Each document has a header (issuing body, national or Party motto, number and symbol, place
and date, an optional confidentiality mark), a type title and subject (trích yếu), a body
and a signature block, with its category and the header's fields as ground truth for the
classifier and the metadata extractor. Categories share vocabulary (Party-work phrases,
neighbouring topics, a few mixed documents), so scores stay below 1.0 as on real records.
Deterministic by (category, seed).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field

from .text import CATEGORIES, paragraphs

COLUMN = 44  # characters of the left header column before the right one starts

STATE_MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
PARTY_MOTTO = "ĐẢNG CỘNG SẢN VIỆT NAM"

# (superior body, issuing body, symbol code of the issuer, places it writes from)
PARTY_ISSUERS = (
    ("ĐẢNG BỘ QUÂN KHU 7", "ĐẢNG ỦY SƯ ĐOÀN 5", "ĐU", ("Tây Ninh",)),
    ("ĐẢNG BỘ QUÂN ĐỘI", "ĐẢNG ỦY QUÂN KHU 7", "ĐU", ("TP. Hồ Chí Minh",)),
    ("ĐẢNG BỘ SƯ ĐOÀN 302", "ĐẢNG ỦY TRUNG ĐOÀN 4", "ĐU", ("Đồng Nai", "Long Thành")),
    ("ĐẢNG BỘ TỈNH ĐỒNG NAI", "ĐẢNG ỦY QUÂN SỰ TỈNH", "ĐUQS", ("Biên Hòa", "Đồng Nai")),
    ("ĐẢNG ỦY SƯ ĐOÀN 5", "ỦY BAN KIỂM TRA", "UBKT", ("Tây Ninh",)),
    ("ĐẢNG ỦY TRUNG ĐOÀN 9", "CHI BỘ ĐẠI ĐỘI 2", "CB", ("Bình Dương", "Tân Uyên")),
    ("", "ĐẢNG ỦY LỮ ĐOÀN 25", "ĐU", ("Bà Rịa - Vũng Tàu", "Vũng Tàu")),
)
STATE_ISSUERS = (
    ("QUÂN KHU 7", "BỘ CHỈ HUY QUÂN SỰ TỈNH BÌNH DƯƠNG", "BCH", ("Thủ Dầu Một", "Bình Dương")),
    ("BỘ TƯ LỆNH QUÂN KHU 7", "CỤC CHÍNH TRỊ", "CCT", ("TP. Hồ Chí Minh",)),
    ("SƯ ĐOÀN 5", "PHÒNG CHÍNH TRỊ", "PCT", ("Tây Ninh",)),
    ("BỘ QUỐC PHÒNG", "TỔNG CỤC CHÍNH TRỊ", "TCCT", ("Hà Nội",)),
    ("BỘ CHỈ HUY QUÂN SỰ TỈNH ĐỒNG NAI", "BAN CHỈ HUY QUÂN SỰ HUYỆN XUÂN LỘC", "BCH",
     ("Xuân Lộc", "Đồng Nai")),
    ("", "BỘ TƯ LỆNH QUÂN KHU 9", "BTL", ("Cần Thơ",)),
    ("QUÂN ĐOÀN 4", "SƯ ĐOÀN 7", "SĐ", ("Bình Dương", "Bình Phước")),
    ("BỘ TƯ LỆNH THỦ ĐÔ HÀ NỘI", "BAN CHỈ HUY QUÂN SỰ QUẬN BA ĐÌNH", "BCH", ("Hà Nội",)),
)  # fmt: skip

# document type: (title, Party symbol code, state symbol code)
TYPES = {
    "Nghị quyết": ("NGHỊ QUYẾT", "NQ", "NQ"),
    "Quyết định": ("QUYẾT ĐỊNH", "QĐ", "QĐ"),
    "Chỉ thị": ("CHỈ THỊ", "CT", "CT"),
    "Kế hoạch": ("KẾ HOẠCH", "KH", "KH"),
    "Báo cáo": ("BÁO CÁO", "BC", "BC"),
    "Thông báo": ("THÔNG BÁO", "TB", "TB"),
    "Công văn": ("", "CV", ""),
    "Tờ trình": ("TỜ TRÌNH", "TTr", "TTr"),
    "Biên bản": ("BIÊN BẢN", "BB", "BB"),
    "Hướng dẫn": ("HƯỚNG DẪN", "HD", "HD"),
    "Chương trình": ("CHƯƠNG TRÌNH", "CTr", "CTr"),
    "Kết luận": ("KẾT LUẬN", "KL", "KL"),
}
MARK_WORDS = {1: "MẬT", 2: "TỐI MẬT", 3: "TUYỆT MẬT"}

# Subjects per category, each with the document types that carry it (the first letters of
# a TYPES key; "CV" is a công văn). Own wording, distinct from synth.text's titles.
SUBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "to_chuc_dang": (
        ("Quyết định", "Về việc kết nạp quần chúng {person} vào Đảng Cộng sản Việt Nam"),
        ("Quyết định", "Về việc công nhận đảng viên chính thức"),
        ("Quyết định", "Về việc chỉ định bổ sung chi ủy viên Chi bộ {subunit}"),
        ("Nghị quyết", "Về công tác phát triển đảng viên năm {year}"),
        ("Báo cáo", "Tổng kết công tác xây dựng tổ chức đảng năm {year}"),
        ("Biên bản", "Đại hội Chi bộ {subunit} nhiệm kỳ {term}"),
        ("Hướng dẫn", "Về việc tổ chức đại hội chi bộ nhiệm kỳ {term}"),
        ("Công văn", "V/v thu, nộp đảng phí {quarter} năm {year}"),
        ("Quyết định", "Về việc trao Huy hiệu 30 năm tuổi Đảng"),
    ),
    "giao_duc_chinh_tri": (
        ("Kế hoạch", "Học tập, quán triệt nghị quyết đại hội đảng bộ các cấp"),
        ("Kế hoạch", "Giáo dục chính trị cho chiến sĩ mới năm {year}"),
        ("Báo cáo", "Kết quả công tác giáo dục chính trị, tư tưởng {quarter} năm {year}"),
        ("Chỉ thị", "Về tăng cường công tác tư tưởng trong tình hình mới"),
        ("Công văn", "V/v tổ chức hội thi giáo viên dạy chính trị giỏi"),
        ("Nghị quyết", "Về lãnh đạo công tác giáo dục chính trị năm {year}"),
        ("Hướng dẫn", "Về việc tổ chức sinh hoạt tư tưởng tại các đơn vị"),
    ),
    "can_bo": (
        ("Quyết định", "Về việc bổ nhiệm chức vụ"),
        ("Quyết định", "Về việc điều động sĩ quan"),
        ("Quyết định", "Về việc nâng lương quân nhân chuyên nghiệp năm {year}"),
        ("Tờ trình", "Về việc đề nghị thăng quân hàm cho sĩ quan"),
        ("Quyết định", "Về việc nghỉ hưu đối với sĩ quan"),
        ("Kế hoạch", "Rà soát, bổ sung quy hoạch cán bộ nhiệm kỳ {term}"),
        ("Công văn", "V/v cử cán bộ đi đào tạo tại Học viện Chính trị"),
        ("Báo cáo", "Kết quả đánh giá, xếp loại cán bộ năm {year}"),
    ),
    "kiem_tra_ky_luat": (
        ("Quyết định", "Về việc thi hành kỷ luật đảng viên"),
        ("Kết luận", "Kiểm tra đảng viên khi có dấu hiệu vi phạm"),
        ("Chương trình", "Kiểm tra, giám sát của Ủy ban Kiểm tra năm {year}"),
        ("Báo cáo", "Kết quả giám sát chuyên đề {quarter} năm {year}"),
        ("Công văn", "V/v giải quyết đơn thư tố cáo"),
        ("Hướng dẫn", "Về việc kê khai tài sản, thu nhập năm {year}"),
        ("Thông báo", "Kết quả kiểm tra tài chính đảng năm {year}"),
    ),
    "tuyen_truyen": (
        ("Kế hoạch", "Tuyên truyền kỷ niệm Ngày thành lập Quân đội nhân dân Việt Nam"),
        ("Quyết định", "Về việc phát hành bản tin nội bộ"),
        ("Kế hoạch", "Hội diễn văn nghệ quần chúng năm {year}"),
        ("Báo cáo", "Kết quả công tác tuyên truyền {quarter} năm {year}"),
        ("Công văn", "V/v cộng tác tin bài với Báo Quân đội nhân dân"),
        ("Thông báo", "Về việc treo pa nô, khẩu hiệu chào mừng ngày lễ lớn"),
        ("Kế hoạch", "Tổ chức giải thể dục thể thao năm {year}"),
    ),
    "dan_van": (
        ("Kế hoạch", "Thực hiện công tác dân vận năm {year}"),
        ("Kế hoạch", "Tham gia xây dựng nông thôn mới tại xã {commune}"),
        ("Báo cáo", "Kết quả thực hiện phong trào Dân vận khéo năm {year}"),
        ("Công văn", "V/v giúp nhân dân khắc phục hậu quả mưa lũ"),
        ("Quyết định", "Về việc kết nghĩa với xã {commune}"),
        ("Kế hoạch", "Khám bệnh, cấp thuốc cho nhân dân xã {commune}"),
    ),
    "chinh_sach": (
        ("Quyết định", "Về việc trợ cấp khó khăn đột xuất"),
        ("Kế hoạch", "Thăm hỏi, tặng quà gia đình chính sách nhân ngày 27/7"),
        ("Công văn", "V/v giải quyết chế độ bảo hiểm xã hội cho quân nhân"),
        ("Báo cáo", "Kết quả thực hiện chính sách hậu phương quân đội năm {year}"),
        ("Quyết định", "Về việc hỗ trợ xây nhà tình nghĩa tại xã {commune}"),
        ("Tờ trình", "Về việc đề nghị giải quyết chế độ cho người có công"),
    ),
    "bao_ve_an_ninh": (
        ("Kế hoạch", "Bảo vệ chính trị nội bộ năm {year}"),
        ("Công văn", "V/v thẩm tra, xác minh lý lịch quân nhân"),
        ("Chỉ thị", "Về việc tăng cường công tác bảo mật, phòng gian giữ bí mật"),
        ("Công văn", "V/v quản lý, sử dụng thiết bị thông minh"),
        ("Báo cáo", "Kết quả xây dựng đơn vị an toàn năm {year}"),
        ("Kế hoạch", "Bảo đảm an toàn thông tin trên không gian mạng"),
    ),
    "thi_dua_khen_thuong": (
        ("Quyết định", "Về việc tặng Bằng khen"),
        ("Quyết định", "Về việc tặng Giấy khen cho tập thể, cá nhân"),
        ("Kế hoạch", "Phát động phong trào Thi đua Quyết thắng năm {year}"),
        ("Báo cáo", "Tổng kết phong trào Thi đua Quyết thắng năm {year}"),
        ("Tờ trình", "Về việc đề nghị tặng danh hiệu Chiến sĩ thi đua"),
        ("Biên bản", "Họp Hội đồng Thi đua - Khen thưởng {quarter} năm {year}"),
        ("Quyết định", "Về việc khen thưởng đột xuất"),
    ),
    "to_chuc_quan_chung": (
        ("Kế hoạch", "Tổ chức Tháng Thanh niên năm {year}"),
        ("Biên bản", "Đại hội Đoàn cơ sở nhiệm kỳ {term}"),
        ("Hướng dẫn", "Về hoạt động của Hội đồng quân nhân"),
        ("Báo cáo", "Kết quả công tác công đoàn năm {year}"),
        ("Công văn", "V/v tổ chức ngày hội hiến máu tình nguyện"),
        ("Kế hoạch", "Kỷ niệm Ngày Phụ nữ Việt Nam 20 tháng 10"),
    ),
    "hanh_chinh": (
        ("Thông báo", "Về việc triệu tập hội nghị giao ban tháng {month}"),
        ("Thông báo", "Lịch công tác tuần {week} của cơ quan"),
        ("Hướng dẫn", "Về công tác văn thư, lưu trữ"),
        ("Công văn", "V/v đăng ký văn phòng phẩm {quarter} năm {year}"),
        ("Quyết định", "Về việc phân công trực ban cơ quan"),
        ("Biên bản", "Hội nghị giao ban tháng {month}"),
        ("Hướng dẫn", "Về việc sử dụng chữ ký số trong cơ quan"),
    ),
}

# Sentences of our own per category: vocabulary the keyword rules do not list.
EXTRA: dict[str, tuple[str, ...]] = {
    "to_chuc_dang": (
        "Cấp ủy rà soát danh sách quần chúng trong diện bồi dưỡng, lập hồ sơ đề nghị cấp trên.",
        "Hội nghị chi bộ biểu quyết với tỷ lệ {pct} tán thành.",
        "Văn phòng cấp ủy cập nhật biến động đảng viên vào cơ sở dữ liệu.",
        "Đảng viên mới được phân công nhiệm vụ cụ thể, có người theo dõi giúp đỡ.",
    ),
    "giao_duc_chinh_tri": (
        "Các lớp học được bố trí hội trường, tài liệu và thời gian theo đúng kế hoạch huấn luyện.",
        "Cuối đợt, mỗi đồng chí làm bài kiểm tra viết, kết quả được công khai.",
        "Đội ngũ báo cáo viên được tập huấn phương pháp giảng dạy trước khi lên lớp.",
        "Chú trọng nắm diễn biến suy nghĩ của quân nhân có hoàn cảnh đặc biệt.",
    ),
    "can_bo": (
        "Hội đồng xét duyệt đã thẩm định hồ sơ, lấy phiếu tín nhiệm đúng quy trình.",
        "Đồng chí có tên trên hưởng lương và phụ cấp theo cấp bậc mới kể từ ngày ký.",
        "Cơ quan cán bộ hoàn thiện thủ tục bàn giao công việc trong thời hạn 15 ngày.",
        "Danh sách dự nguồn được rà soát về độ tuổi, trình độ và năng lực thực tiễn.",
    ),
    "kiem_tra_ky_luat": (
        "Đoàn làm việc xem xét tài liệu, nghe đồng chí được kiểm tra giải trình.",
        "Qua thẩm tra, nội dung phản ánh là có cơ sở một phần.",
        "Yêu cầu tổ chức đảng và đảng viên khắc phục khuyết điểm, báo cáo kết quả trước ngày 30.",
        "Hồ sơ vụ việc được lưu theo chế độ quản lý tài liệu của ủy ban.",
    ),
    "tuyen_truyen": (
        "Chương trình có {n} tiết mục ca, múa, nhạc, kịch do các đội nghệ thuật quần chúng"
        " dàn dựng.",
        "Phóng viên, biên tập viên phối hợp đưa tin kịp thời trên các ấn phẩm.",
        "Hệ thống loa phát thanh phát các chuyên mục vào giờ nghỉ trưa.",
        "Các đơn vị trang trí hội trường, căng cờ, treo băng rôn trước ngày lễ.",
    ),
    "dan_van": (
        "Bộ đội cùng bà con làm đường giao thông liên thôn, nạo vét kênh mương nội đồng.",
        "Tổ công tác thường xuyên bám nắm địa bàn, tuyên truyền cho bà con yên tâm sản xuất.",
        "Các đơn vị phối hợp với cấp ủy, chính quyền xã vận động quần chúng.",
        "Ngày công lao động được quy đổi, báo cáo về trên theo tháng.",
    ),
    "chinh_sach": (
        "Mức hỗ trợ là {money} đồng mỗi trường hợp, chi trả trực tiếp tại đơn vị.",
        "Cơ quan tài chính bảo đảm kinh phí, thanh quyết toán đúng chế độ.",
        "Các trường hợp đủ điều kiện được lập danh sách, niêm yết công khai.",
        "Đơn vị cử đại diện đến tận gia đình thăm hỏi, động viên thân nhân quân nhân.",
    ),
    "bao_ve_an_ninh": (
        "Tuyệt đối không soạn thảo, lưu trữ tài liệu có nội dung bí mật trên máy tính kết nối"
        " Internet.",
        "Các trường hợp có biểu hiện nghi vấn phải báo cáo ngay về cơ quan bảo vệ an ninh.",
        "Rà soát quân số có người thân định cư ở nước ngoài, lập hồ sơ quản lý.",
        "Kiểm tra định kỳ việc chấp hành quy định mang điện thoại vào khu vực làm việc.",
    ),
    "thi_dua_khen_thuong": (
        "Hội đồng đã bỏ phiếu kín, các trường hợp đề nghị đều đạt trên {pct} số phiếu.",
        "Kèm theo là danh sách {n} tập thể và {n2} cá nhân có thành tích.",
        "Mức thưởng kèm theo thực hiện theo quy định hiện hành.",
        "Các đơn vị bình xét công khai, đúng tiêu chuẩn, đúng đối tượng.",
    ),
    "to_chuc_quan_chung": (
        "Chi đoàn tổ chức sân chơi, diễn đàn cho đoàn viên thanh niên vào ngày nghỉ.",
        "Ban nữ công chăm lo đời sống, sức khỏe cho chị em trong cơ quan.",
        "Đoàn viên công đoàn đóng góp ý kiến vào dự thảo quy chế dân chủ.",
        "Hoạt động tình nguyện thu hút {n} lượt đoàn viên tham gia.",
    ),
    "hanh_chinh": (
        "Thành phần gồm chỉ huy các cơ quan, trợ lý tổng hợp và nhân viên văn thư.",
        "Thời gian bắt đầu lúc 7 giờ 30, địa điểm tại phòng họp số 2.",
        "Các cơ quan gửi báo cáo bằng văn bản điện tử qua hệ thống trước 16 giờ thứ Sáu.",
        "Văn phòng bố trí xe, phòng họp và chuẩn bị tài liệu phục vụ hội nghị.",
    ),
}
# Party-work sentences every kind of record has: shared vocabulary across categories.
SHARED = (
    "Đảng ủy {unit} đã lãnh đạo, chỉ đạo các cơ quan, đơn vị triển khai thực hiện.",
    "Các chi bộ đưa nội dung này vào nghị quyết lãnh đạo hằng tháng.",
    "Cấp ủy, chỉ huy các cấp nêu cao trách nhiệm, phát huy vai trò gương mẫu.",
    "Cơ quan chính trị tham mưu, theo dõi, tổng hợp kết quả báo cáo về trên.",
    "Kết quả thực hiện là một tiêu chí đánh giá, xếp loại tổ chức đảng và đảng viên cuối năm.",
)
SECTIONS = {
    "Kế hoạch": ("I. MỤC ĐÍCH, YÊU CẦU", "II. NỘI DUNG", "III. TỔ CHỨC THỰC HIỆN"),
    "Báo cáo": ("I. TÌNH HÌNH CHUNG", "II. KẾT QUẢ THỰC HIỆN", "III. PHƯƠNG HƯỚNG THỜI GIAN TỚI"),
    "Hướng dẫn": ("I. MỤC ĐÍCH, YÊU CẦU", "II. NỘI DUNG HƯỚNG DẪN", "III. TỔ CHỨC THỰC HIỆN"),
}
SUBUNITS = ("Đại đội 1", "Đại đội 2", "Tiểu đoàn 3", "Cơ quan Chính trị", "Đại đội Trinh sát")
COMMUNES = ("Tân Phú", "Hòa Hiệp", "Lộc Ninh", "Phước Tân", "Thạnh Đức", "Long Phước")
NAMES = ("Nguyễn Văn Hùng", "Trần Minh Tuấn", "Lê Thị Lan", "Phạm Quang Hải", "Hoàng Đức Thắng",
         "Võ Thanh Sơn", "Đặng Ngọc Mạnh", "Bùi Xuân Nghĩa")  # fmt: skip
RANKS = ("Thiếu tá", "Trung tá", "Thượng tá", "Đại tá")
POSITIONS = {
    "ĐU": ("TM. ĐẢNG ỦY", "BÍ THƯ"),
    "ĐUQS": ("TM. ĐẢNG ỦY", "PHÓ BÍ THƯ"),
    "UBKT": ("TM. ỦY BAN KIỂM TRA", "CHỦ NHIỆM"),
    "CB": ("TM. CHI BỘ", "BÍ THƯ"),
}
STATE_SIGNERS = (("KT. CHỈ HUY TRƯỞNG", "PHÓ CHỈ HUY TRƯỞNG CHÍNH TRỊ"), ("CHỦ NHIỆM", ""),
                 ("TL. TƯ LỆNH", "CHỦ NHIỆM CHÍNH TRỊ"), ("TRƯỞNG PHÒNG", ""))  # fmt: skip


@dataclass(frozen=True)
class AdminDoc:
    """A generated document: its text, category and the header's true fields."""

    text: str
    category: str
    fields: dict = field(hash=False)  # doc_type number symbol place date issuer subject mark


def _fill(template: str, rng: random.Random, year: int | None = None) -> str:
    slots = {
        "person": lambda: rng.choice(NAMES),
        "subunit": lambda: rng.choice(SUBUNITS),
        "commune": lambda: rng.choice(COMMUNES),
        "year": lambda: str(year or rng.randint(2016, 2025)),
        "term": lambda: rng.choice(("2020 - 2022", "2022 - 2025", "2025 - 2027")),
        "quarter": lambda: rng.choice(("quý I", "quý II", "quý III", "quý IV")),
        "month": lambda: str(rng.randint(1, 12)),
        "week": lambda: str(rng.randint(1, 52)),
        "n": lambda: str(rng.randint(3, 30)),
        "n2": lambda: str(rng.randint(5, 60)),
        "pct": lambda: f"{rng.randint(85, 100)}%",
        "money": lambda: f"{rng.randint(1, 9)}.000.000",
        "unit": lambda: rng.choice(("Sư đoàn 5", "Trung đoàn 4", "Quân khu 7", "Lữ đoàn 25")),
    }
    return re.sub(r"\{(\w+)\}", lambda m: slots[m.group(1)](), template)


def _date_text(rng: random.Random, day: int, month: int, year: int) -> str:
    style = rng.random()
    if style < 0.08:
        return f"ngày {day:02d}/{month}/{year}"
    if style < 0.18:
        return f"ngày {day} tháng {month} năm {year}"
    # Decree 30: a day below 10 and the months 1 and 2 take a leading zero
    m = f"{month:02d}" if month < 3 else str(month)
    return f"ngày {day:02d} tháng {m} năm {year}"


def _row(left: str, right: str) -> str:
    if not right:
        return left
    return f"{left:<{COLUMN}}{right}" if len(left) < COLUMN - 3 else f"{left}    {right}"


def _header(
    rng: random.Random, doc_type: str, party: bool, subject: str, mark: int, year: int
) -> tuple[list[str], dict, str]:
    """Header rows (left and right columns on one line), the true fields, the issuer's code."""
    superior, issuer, org, places = rng.choice(PARTY_ISSUERS if party else STATE_ISSUERS)
    number = str(rng.randint(1, 999) if rng.random() < 0.8 else rng.randint(1000, 2999))
    _, party_code, state_code = TYPES[doc_type]
    if party:
        symbol = f"{party_code}/{org}"
        number_line = f"Số {number}-{symbol}"
    else:
        symbol = f"{state_code}-{org}" if state_code else f"{org}-{rng.choice(('CT', 'TM', 'TC'))}"
        number_line = f"Số: {number}/{symbol}"
    place = rng.choice(places)
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    date_line = f"{place}, {_date_text(rng, day, month, year)}"
    if party:
        left = ([superior] if superior else []) + [issuer, "*", number_line]
        right = [PARTY_MOTTO, "", date_line, ""] if superior else [PARTY_MOTTO, date_line, ""]
    else:
        left = [superior, issuer, number_line] if superior else [issuer, "", number_line]
        right = [*STATE_MOTTO, date_line]
    rows = [_row(a, b) for a, b in zip(left, right, strict=True)]
    if doc_type == "Công văn":
        rows.append(subject)
    if mark:
        rows.append(MARK_WORDS[mark])
    elif rng.random() < 0.1:
        rows.append(rng.choice(("KHẨN", "HỎA TỐC")))  # urgency, not confidentiality
    fields = {
        "doc_type": doc_type,
        "number": number,
        "symbol": symbol,
        "place": place,
        "date": f"{year:04d}-{month:02d}-{day:02d}",
        "issuer": issuer,
        "subject": subject,
        "mark": mark,
    }
    return rows, fields, org


def _body(rng: random.Random, category: str, doc_type: str, seed: int) -> list[str]:
    """Paragraphs: the category's text, our own sentences, shared and neighbouring topics."""
    blocks = paragraphs(category, rng.randint(2, 4), seed)
    own = rng.sample(EXTRA[category], rng.randint(1, 3))
    blocks.insert(rng.randint(0, len(blocks)), " ".join(_fill(s, rng) for s in own))
    if rng.random() < 0.6:
        blocks.insert(rng.randint(0, len(blocks)), _fill(rng.choice(SHARED), rng))
    others = [c for c in CATEGORIES if c != category]
    if rng.random() < 0.3:  # a neighbouring topic, as real records touch several
        blocks.insert(rng.randint(1, len(blocks)), paragraphs(rng.choice(others), 1, seed)[0])
    if rng.random() < 0.06:  # a mixed record: as much text of another category
        other = rng.choice(others)
        blocks += paragraphs(other, len(blocks) - 1, seed + 1)
    if doc_type in SECTIONS:
        heads = SECTIONS[doc_type]
        blocks = [heads[0], blocks[0], heads[1], *blocks[1:-1], heads[2], blocks[-1]]
    elif doc_type == "Quyết định":
        blocks = [f"Điều {i}. {b}" for i, b in enumerate(blocks, 1)]
    return blocks


def _signature(rng: random.Random, party: bool, org: str) -> list[str]:
    title, position = (
        POSITIONS.get(org, ("TM. ĐẢNG ỦY", "BÍ THƯ")) if party else rng.choice(STATE_SIGNERS)
    )
    signer = f"{rng.choice(RANKS)} {rng.choice(NAMES)}"
    lines = [_row("Nơi nhận:", title)]
    lines.append(_row("- Như trên;", position) if position else "- Như trên;")
    lines += [_row("- Lưu: VT.", "(Đã ký)"), " " * COLUMN + signer]
    return lines


def generate_document(category: str, seed: int) -> AdminDoc:
    """One labeled administrative document of `category`, deterministic by seed."""
    if category not in SUBJECTS:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(SUBJECTS)}")
    rng = random.Random(f"admin:{category}:{seed}")
    doc_type, template = rng.choice(SUBJECTS[category])
    year = rng.randint(2015, 2025)
    # a plan is for this year or the next, a report on this year or the last
    subject = _fill(template, rng, year=min(2025, year + rng.choice((-1, 0, 0, 1))))
    party = rng.random() < 0.5
    level = rng.random()
    mark = 3 if level < 0.05 else 2 if level < 0.13 else 1 if level < 0.28 else 0
    rows, fields, org = _header(rng, doc_type, party, subject, mark, year)
    lines = [*rows, ""]
    title = TYPES[doc_type][0]
    if title:
        lines += [title, subject, "-----"]
    if doc_type in ("Công văn", "Tờ trình"):
        lines.append(f"Kính gửi: {rng.choice(('Thủ trưởng Bộ Tư lệnh', 'Đảng ủy Quân khu'))}")
    if doc_type in ("Quyết định", "Nghị quyết") and rng.random() < 0.7:
        lines.append("Căn cứ Điều lệ Đảng và chức năng, nhiệm vụ được giao;")
    lines += _body(rng, category, doc_type, seed)
    lines += ["", *_signature(rng, party, org)]
    text = unicodedata.normalize("NFC", "\n".join(lines))
    return AdminDoc(text=text, category=category, fields=fields)


def generate_corpus(n_per_category: int, seed: int = 0) -> list[AdminDoc]:
    """`n_per_category` documents of every category, in a fixed order."""
    return [
        generate_document(category, seed * 1_000_003 + i)
        for i in range(n_per_category)
        for category in CATEGORIES
    ]
