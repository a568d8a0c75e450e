"""Deterministic Vietnamese (and some English) text for Party and political-work records.

Synthetic documents with a known category drive the OCR and classification tests and the
benchmarks: sentences are templates filled from phrase banks, chosen by a seeded random
generator, so the same (category, seed) always gives the same text (NFC, full diacritics).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable

CATEGORIES = (
    "to_chuc_dang",
    "giao_duc_chinh_tri",
    "can_bo",
    "kiem_tra_ky_luat",
    "tuyen_truyen",
    "dan_van",
    "chinh_sach",
    "bao_ve_an_ninh",
    "thi_dua_khen_thuong",
    "to_chuc_quan_chung",
    "hanh_chinh",
)

DOC_TYPES = ("QUYẾT ĐỊNH", "KẾ HOẠCH", "BÁO CÁO", "NGHỊ QUYẾT", "THÔNG BÁO", "HƯỚNG DẪN")

UNITS = (
    "Trung đoàn 9",
    "Trung đoàn 4",
    "Sư đoàn 5",
    "Sư đoàn 302",
    "Quân khu 7",
    "Lữ đoàn Công binh 25",
    "Tiểu đoàn 15",
    "Bộ Chỉ huy Quân sự tỉnh Đồng Nai",
    "Bộ Chỉ huy Quân sự tỉnh Bình Phước",
    "Ban Chỉ huy Quân sự huyện Củ Chi",
    "Trường Quân sự Quân khu 7",
    "Bệnh viện Quân y 7A",
    "Lữ đoàn Pháo binh 75",
)
SUBUNITS = ("Đại đội 1", "Đại đội 2", "Đại đội 3", "Đại đội 9", "Tiểu đoàn 1", "Tiểu đoàn 2",
            "Đại đội Thông tin", "Đại đội Trinh sát", "Cơ quan Chính trị")  # fmt: skip
LEADERS = ("Đảng ủy", "Thường vụ Đảng ủy", "Chỉ huy", "Phòng Chính trị", "Thủ trưởng")
COMMUNES = ("Tân Phú", "Bình Sơn", "Hòa Hiệp", "Lộc Ninh", "Phước Tân", "Đắk Ơ", "Thạnh Đức",
            "Tân Thạnh Đông", "Long Phước", "Bù Gia Mập")  # fmt: skip
DISTRICTS = ("Củ Chi", "Tân Biên", "Bù Đăng", "Cần Giờ", "Đức Hòa", "Lộc Ninh", "Xuyên Mộc")
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
            "Ngô", "Dương", "Lý")  # fmt: skip
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Hữu", "Quang", "Thanh", "Ngọc", "Công", "Xuân")
GIVEN = ("Hùng", "Dũng", "Tuấn", "Hải", "Nam", "Bình", "Hà", "Lan", "Thắng", "Cường", "Sơn",
         "Phúc", "Đạt", "Khải", "Mạnh", "Nghĩa", "Tú", "Trí", "Vũ", "Thảo", "Đông")  # fmt: skip
RANKS = ("Thiếu úy", "Trung úy", "Thượng úy", "Đại úy", "Thiếu tá", "Trung tá", "Thượng tá",
         "Đại tá")  # fmt: skip
POSITIONS = ("Phó Chính ủy", "Chính trị viên Tiểu đoàn 2", "Trưởng ban Tổ chức",
             "Trợ lý Cán bộ", "Phó Chủ nhiệm Chính trị", "Chính trị viên phó Đại đội 3",
             "Trưởng ban Tuyên huấn")  # fmt: skip
QUARTERS = ("quý I", "quý II", "quý III", "quý IV")
TERMS = ("2020 - 2025", "2025 - 2030", "2022 - 2025", "2025 - 2027")

# Sentences with no keyword of any category: the connective tissue of real documents.
FILLERS = (
    "Các cơ quan, đơn vị căn cứ chức năng, nhiệm vụ tổ chức thực hiện nghiêm túc.",
    "Quá trình thực hiện, nếu có vướng mắc báo cáo về {leader} {unit} để hướng dẫn.",
    "Văn bản này có hiệu lực kể từ ngày ký.",
    "Nhìn chung, đơn vị không chỉ hoàn thành tốt nhiệm vụ được giao mà còn có nhiều cách "
    "làm sáng tạo.",
    "Thủ trưởng các cơ quan, đơn vị và các đồng chí có tên trên chịu trách nhiệm thi hành.",
    "Nội dung này được triển khai đồng bộ từ {date}, bảo đảm chặt chẽ, đúng quy định.",
    "{leader} {unit} giao cho các cơ quan chức năng theo dõi, đôn đốc việc thực hiện.",
    "Kinh phí thực hiện được bảo đảm từ ngân sách thường xuyên của đơn vị.",
    "Mọi hoạt động phải bảo đảm an toàn tuyệt đối về người và vũ khí, trang bị.",
)

BANKS: dict[str, dict[str, tuple[str, ...]]] = {
    "to_chuc_dang": {
        "titles": (
            "kết nạp đảng viên mới năm {year}",
            "xét chuyển đảng chính thức cho đảng viên dự bị",
            "tổ chức đại hội chi bộ nhiệm kỳ {term}",
            "phân tích chất lượng tổ chức cơ sở đảng và đảng viên năm {year}",
            "chuyển sinh hoạt đảng cho đảng viên ra quân",
            "thu, nộp và quản lý đảng phí",
            "bồi dưỡng quần chúng ưu tú, phát triển đảng viên",
        ),
        "sentences": (
            "Chi bộ {subunit} đã tổ chức lễ kết nạp đảng viên cho {n} quần chúng ưu tú vào {date}.",
            "Đảng ủy {unit} xét, đề nghị chuyển đảng chính thức cho {n} đồng chí đảng viên dự bị"
            " đã hết thời gian dự bị.",
            "Các chi bộ duy trì nền nếp sinh hoạt chi bộ thường kỳ, nâng cao chất lượng sinh hoạt"
            " chuyên đề.",
            "Kết quả phân tích chất lượng năm {year} có {pct} tổ chức cơ sở đảng đạt trong sạch"
            " vững mạnh.",
            "Đại hội đảng bộ {unit} nhiệm kỳ {term} đã bầu Ban Chấp hành gồm {n} đồng chí và"
            " thông qua nghị quyết đại hội.",
            "Đồng chí {person} được phân công làm bí thư chi bộ, chịu trách nhiệm quản lý hồ sơ"
            " đảng viên và thẻ đảng viên.",
            "Việc thu, nộp đảng phí được thực hiện đúng quy định, không có chi bộ nào nộp chậm.",
            "Mỗi hồ sơ đảng viên được cấp một mã số riêng để quản lý trên phần mềm.",
            "Thực hiện nghiêm Điều lệ Đảng khi giải quyết thủ tục chuyển sinh hoạt đảng cho {n}"
            " đảng viên.",
            "Chi ủy phân công đảng viên chính thức giúp đỡ quần chúng phấn đấu vào Đảng.",
            "Ban Tổ chức hướng dẫn các chi bộ hoàn thiện hồ sơ đối tượng kết nạp đảng trước"
            " {date}.",
            "Nâng cao năng lực lãnh đạo và sức chiến đấu của tổ chức cơ sở đảng là nhiệm vụ"
            " then chốt.",
        ),
    },
    "giao_duc_chinh_tri": {
        "titles": (
            "tổ chức học tập, quán triệt nghị quyết của Quân ủy Trung ương",
            "giáo dục chính trị cho hạ sĩ quan, binh sĩ năm {year}",
            "nắm và định hướng tư tưởng bộ đội {quarter} năm {year}",
            "đấu tranh phản bác các quan điểm sai trái, thù địch",
            "bồi dưỡng lý luận chính trị cho đội ngũ cán bộ chủ chốt",
            "duy trì ngày chính trị văn hóa tinh thần",
        ),
        "sentences": (
            "{unit} tổ chức giáo dục chính trị cho {n} chiến sĩ mới theo đúng chương trình,"
            " thời gian quy định.",
            "Cán bộ trực tiếp soạn giáo án, lên lớp giờ chính trị và tổ chức thảo luận tại tổ,"
            " tiểu đội.",
            "Kết quả kiểm tra nhận thức chính trị có {pct} quân nhân đạt khá, giỏi.",
            "Thường xuyên nắm, dự báo và định hướng tư tưởng bộ đội, giải quyết kịp thời các"
            " vấn đề nảy sinh.",
            "Tình hình tư tưởng của bộ đội ổn định, cán bộ, chiến sĩ yên tâm gắn bó với đơn vị.",
            "Đẩy mạnh đấu tranh phản bác các quan điểm sai trái, bảo vệ nền tảng tư tưởng của"
            " Đảng.",
            "Nâng cao cảnh giác trước âm mưu diễn biến hòa bình và thông tin xấu độc.",
            "Tổ chức học tập, quán triệt nghị quyết đến {pct} cán bộ, đảng viên trong đơn vị.",
            "Bồi dưỡng lý luận chính trị, nghiên cứu chủ nghĩa Mác - Lênin, tư tưởng Hồ Chí Minh"
            " cho đội ngũ cán bộ.",
            "Duy trì nền nếp ngày chính trị văn hóa tinh thần và đọc báo, nghe tin hằng ngày.",
            "Giáo dục truyền thống, xây dựng bản lĩnh chính trị vững vàng, phẩm chất Bộ đội Cụ"
            " Hồ cho quân nhân.",
            "Đợt sinh hoạt chính trị được tổ chức nghiêm túc, mỗi quân nhân viết bản thu hoạch.",
            "Đẩy mạnh học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh.",
        ),
    },
    "can_bo": {
        "titles": (
            "bổ nhiệm chức vụ đối với cán bộ",
            "điều động cán bộ",
            "thăng quân hàm sĩ quan năm {year}",
            "quy hoạch cán bộ nhiệm kỳ {term}",
            "luân chuyển cán bộ chủ trì",
            "nâng lương đối với quân nhân chuyên nghiệp",
            "nghỉ hưu đối với sĩ quan",
        ),
        "sentences": (
            "Bổ nhiệm đồng chí {person} giữ chức vụ {position}, {unit}.",
            "Điều động đồng chí {person} từ {unit} đến nhận công tác tại {unit2} kể từ {date}.",
            "Thăng quân hàm từ {rank} lên {rank_next} cho {n} sĩ quan đủ tiêu chuẩn, điều kiện.",
            "Thực hiện quy hoạch cán bộ bảo đảm tính kế thừa, phát triển và cơ cấu hợp lý về"
            " độ tuổi.",
            "Ban Cán bộ hoàn thiện hồ sơ cán bộ và nhận xét, đánh giá cán bộ trước khi trình"
            " Thường vụ Đảng ủy.",
            "Đồng chí {person} thôi giữ chức vụ {position} để nghỉ hưu từ {date}.",
            "Thực hiện nâng lương và kéo dài tuổi phục vụ tại ngũ đối với {n} quân nhân chuyên"
            " nghiệp.",
            "Cử {n} cán bộ đi đào tạo tại Học viện Chính trị và Trường Sĩ quan Chính trị.",
            "Công tác luân chuyển cán bộ được thực hiện công khai, dân chủ, đúng nguyên tắc.",
            "Kiện toàn biên chế, tiêu chuẩn chức danh cán bộ ở các cơ quan, đơn vị.",
            "Miễn nhiệm đồng chí {person} khỏi chức vụ {position} do yêu cầu nhiệm vụ.",
        ),
    },
    "kiem_tra_ky_luat": {
        "titles": (
            "thi hành kỷ luật đảng viên",
            "kiểm tra tổ chức đảng khi có dấu hiệu vi phạm",
            "giám sát chuyên đề năm {year}",
            "ban hành chương trình kiểm tra, giám sát năm {year}",
            "giải quyết tố cáo đối với đảng viên",
            "kê khai tài sản, thu nhập năm {year}",
        ),
        "sentences": (
            "Ủy ban Kiểm tra Đảng ủy {unit} tiến hành kiểm tra khi có dấu hiệu vi phạm đối với"
            " {n} đảng viên.",
            "Sau khi xem xét, quyết định thi hành kỷ luật bằng hình thức {penalty} đối với đồng"
            " chí {person}.",
            "Qua giám sát chuyên đề, Ủy ban Kiểm tra chỉ ra {n} hạn chế và yêu cầu khắc phục.",
            "Giải quyết dứt điểm {n} đơn thư tố cáo, khiếu nại đúng thẩm quyền và thời hạn.",
            "Thực hiện kê khai tài sản, thu nhập đối với cán bộ thuộc diện phải kê khai.",
            "Kết luận kiểm tra cho thấy đồng chí {person} đã vi phạm nguyên tắc tập trung dân chủ.",
            "Kiểm tra tài chính đảng tại {n} tổ chức đảng, không phát hiện sai phạm.",
            "Chương trình kiểm tra, giám sát năm {year} xác định rõ nội dung và thời gian thực"
            " hiện.",
            "Các tổ chức đảng xem xét, xử lý kỷ luật nghiêm minh, đúng người, đúng vi phạm.",
            "Đảng viên vi phạm phải nghiêm túc tự phê bình trước chi bộ.",
        ),
        "penalty": ("khiển trách", "cảnh cáo", "cách chức", "khai trừ ra khỏi Đảng"),
    },
    "tuyen_truyen": {
        "titles": (
            "tuyên truyền kỷ niệm {anniversary} năm Ngày thành lập Quân đội nhân dân Việt Nam",
            "phát hành bản tin nội bộ năm {year}",
            "tổ chức hội diễn văn nghệ {quarter} năm {year}",
            "cộng tác tin bài với Báo Quân đội nhân dân",
            "hoạt động của nhà văn hóa và thư viện đơn vị",
            "thông tin tuyên truyền trên mạng xã hội",
        ),
        "sentences": (
            "{unit} đẩy mạnh công tác tuyên truyền kỷ niệm {anniversary} năm Ngày thành lập Quân"
            " đội nhân dân Việt Nam.",
            "Trong {quarter}, đơn vị có {n} tin bài đăng trên Báo Quân đội nhân dân và Truyền"
            " hình Quân đội nhân dân.",
            "Hệ thống truyền thanh nội bộ phát {n} chương trình điểm tin về hoạt động của đơn vị.",
            "Trang trí pa nô, khẩu hiệu, cờ hoa tại doanh trại và các trục đường chính.",
            "Tổ chức đêm văn nghệ, giao lưu văn hóa với nhân dân trên địa bàn đóng quân.",
            "Bổ sung {n} đầu sách báo cho thư viện, duy trì hoạt động của nhà văn hóa.",
            "Xây dựng đội ngũ cộng tác viên viết tin bài, phóng sự phản ánh hoạt động của đơn vị.",
            "Quản lý chặt chẽ trang thông tin điện tử, cung cấp thông tin chính xác, kịp thời.",
            "Phong trào văn hóa, văn nghệ, thể dục thể thao diễn ra sôi nổi, vui tươi.",
            "Ban Tuyên huấn phát hành bản tin tháng {month}, in {n} bản gửi các cơ quan, đơn vị.",
            "Sử dụng mạng xã hội đúng quy định, lan tỏa thông tin tích cực, cổ động bộ đội.",
        ),
    },
    "dan_van": {
        "titles": (
            "thực hiện công tác dân vận năm {year}",
            "tham gia xây dựng nông thôn mới tại xã {commune}",
            "giúp dân khắc phục hậu quả thiên tai",
            "xây dựng nhà đại đoàn kết cho hộ nghèo",
            "kết nghĩa với xã {commune}, huyện {district}",
        ),
        "sentences": (
            "{unit} cử {n} cán bộ, chiến sĩ giúp dân gieo mạ, thu hoạch lúa tại xã {commune}.",
            "Phối hợp với chính quyền địa phương vận động nhân dân chấp hành đường lối của Đảng,"
            " pháp luật của Nhà nước.",
            "Tham gia xây dựng nông thôn mới, làm {n} km đường giao thông và tu sửa kênh mương.",
            "Trao tặng {n} căn nhà đại đoàn kết cho hộ nghèo là đồng bào dân tộc thiểu số ở vùng"
            " sâu vùng xa.",
            "Tổ chức khám chữa bệnh miễn phí, cấp thuốc cho {n} lượt người dân tại xã {commune}.",
            "Đội công tác dân vận bám địa bàn, giúp củng cố cơ sở chính trị ở huyện {district}.",
            "Chủ động lực lượng, phương tiện, sẵn sàng giúp dân khi mưa lũ, thiên tai xảy ra.",
            "Phong trào Dân vận khéo gắn với xóa đói giảm nghèo và xây dựng tình đoàn kết quân"
            " dân.",
            "Phối hợp với Ủy ban Mặt trận Tổ quốc huyện {district} vận động đồng bào các tôn giáo"
            " sống tốt đời, đẹp đạo.",
            "Mối quan hệ kết nghĩa giữa đơn vị và nhân dân địa phương ngày càng gắn bó.",
        ),
    },
    "chinh_sach": {
        "titles": (
            "thực hiện chính sách hậu phương quân đội năm {year}",
            "thăm hỏi, tặng quà gia đình chính sách nhân ngày Thương binh, Liệt sĩ",
            "trợ cấp khó khăn đột xuất cho quân nhân",
            "tìm kiếm, quy tập hài cốt liệt sĩ",
            "giải quyết chế độ bảo hiểm xã hội",
            "xây dựng nhà tình nghĩa tại huyện {district}",
        ),
        "sentences": (
            "Nhân dịp kỷ niệm ngày Thương binh, Liệt sĩ, {unit} tặng {n} suất quà cho gia đình"
            " chính sách, người có công.",
            "Đơn vị đến thăm và tặng quà má Nguyễn Thị Sáu, thân nhân liệt sĩ ở xã {commune}.",
            "Trao {n} sổ tiết kiệm cho quân nhân có hoàn cảnh khó khăn, mỗi sổ trị giá {money}"
            " đồng.",
            "Xét trợ cấp khó khăn đột xuất cho {n} quân nhân có người thân ốm đau, tai nạn.",
            "Giải quyết chế độ bảo hiểm xã hội, bảo hiểm y tế kịp thời, đúng đối tượng.",
            "Phối hợp với địa phương tìm kiếm, quy tập {n} hài cốt liệt sĩ hy sinh trong chiến"
            " tranh.",
            "Khởi công xây dựng nhà tình nghĩa tặng Mẹ Việt Nam Anh hùng tại huyện {district}.",
            "Thực hiện đầy đủ chế độ phụ cấp, tiền lương đối với quân nhân và hậu phương quân đội.",
            "Hướng dẫn quân nhân xuất ngũ làm thủ tục học nghề, giải quyết việc làm.",
            "Hỗ trợ gia đình quân nhân bị ảnh hưởng chất độc da cam theo chính sách của Nhà nước.",
            "Hoạt động đền ơn đáp nghĩa, tri ân các anh hùng liệt sĩ được tổ chức trang trọng.",
        ),
    },
    "bao_ve_an_ninh": {
        "titles": (
            "bảo vệ chính trị nội bộ năm {year}",
            "thẩm tra, xác minh lý lịch quân nhân",
            "tăng cường phòng gian giữ bí mật",
            "quản lý quân nhân có quan hệ nước ngoài",
            "phòng chống lộ lọt bí mật quân sự trên không gian mạng",
            "quản lý thiết bị thông minh trong doanh trại",
        ),
        "sentences": (
            "Tiến hành thẩm tra lý lịch đối với {n} quân nhân mới nhập ngũ.",
            "Xác minh, kết luận rõ vấn đề chính trị hiện nay đối với {n} trường hợp có quan hệ"
            " nước ngoài.",
            "Quản lý chặt chẽ tài liệu mật, thực hiện đúng quy định về độ mật và sao chụp.",
            "Không để xảy ra lộ lọt bí mật quân sự, bí mật nhà nước trên không gian mạng.",
            "Nghiêm cấm dùng thiết bị thông minh kết nối Internet để lưu giữ tài liệu mật.",
            "Làm tốt phòng gian giữ bí mật, đấu tranh với các phần tử xấu lôi kéo quân nhân.",
            "Phối hợp với địa phương phòng chống ma túy, không để phần tử phản động móc nối.",
            "Đơn vị được công nhận đạt tiêu chuẩn đơn vị an toàn về chính trị năm {year}.",
            "Bảo đảm an ninh chính trị nội bộ, an toàn thông tin, an ninh mạng trong mọi tình"
            " huống.",
            "Nắm chắc nhân thân, lai lịch và các mối quan hệ xã hội của từng quân nhân.",
        ),
    },
    "thi_dua_khen_thuong": {
        "titles": (
            "tặng Bằng khen cho tập thể, cá nhân",
            "tổng kết phong trào Thi đua Quyết thắng năm {year}",
            "khen thưởng đột xuất",
            "phát động thi đua cao điểm {quarter} năm {year}",
            "công nhận danh hiệu Chiến sĩ thi đua cơ sở",
            "đề nghị tặng Huân chương Bảo vệ Tổ quốc",
        ),
        "sentences": (
            "Tặng Giấy khen cho {n} tập thể và {n2} cá nhân có thành tích xuất sắc trong phong"
            " trào Thi đua Quyết thắng.",
            "Đề nghị tặng Bằng khen cho đồng chí {person} vì có thành tích xuất sắc trong huấn"
            " luyện.",
            "Công nhận danh hiệu Chiến sĩ thi đua cơ sở cho {n} đồng chí và Chiến sĩ tiên tiến"
            " cho {n2} đồng chí.",
            "Hội đồng Thi đua, Khen thưởng {unit} họp xét, thống nhất đề nghị khen thưởng.",
            "Đơn vị đạt danh hiệu Đơn vị Quyết thắng và được tặng Cờ thi đua của Quân khu.",
            "Tổ chức giao ước thi đua, phát hiện và nhân rộng điển hình tiên tiến.",
            "Khen thưởng đột xuất cho {n} quân nhân dũng cảm cứu người bị nạn.",
            "Biểu dương, tuyên dương gương người tốt việc tốt trong toàn đơn vị.",
            "Tổng kết phong trào thi đua, rút ra bài học kinh nghiệm cho giai đoạn tiếp theo.",
            "Đề nghị tặng Huân chương Bảo vệ Tổ quốc hạng Ba cho {n} tập thể.",
        ),
    },
    "to_chuc_quan_chung": {
        "titles": (
            "tổ chức Tháng Thanh niên năm {year}",
            "đại hội Đoàn cơ sở nhiệm kỳ {term}",
            "hoạt động của Hội đồng quân nhân",
            "hoạt động công đoàn cơ sở năm {year}",
            "kỷ niệm Ngày Quốc tế Phụ nữ 8/3",
            "kỷ niệm ngày thành lập Đoàn Thanh niên Cộng sản Hồ Chí Minh 26/3",
        ),
        "sentences": (
            "Đoàn cơ sở {unit} tổ chức Tháng Thanh niên với {n} công trình, phần việc thanh niên.",
            "Các chi đoàn duy trì sinh hoạt đoàn định kỳ, phát huy vai trò xung kích của tuổi"
            " trẻ quân đội.",
            "Hội đồng quân nhân các đại đội hoạt động đúng chức năng, phát huy quyền làm chủ.",
            "Công đoàn cơ sở chăm lo đời sống công nhân viên chức quốc phòng và người lao động.",
            "Ban Phụ nữ {unit} tổ chức gặp mặt nhân Ngày Quốc tế Phụ nữ, tặng quà {n} hội viên.",
            "Thực hiện tốt bình đẳng giới, vì sự tiến bộ của phụ nữ trong quân đội.",
            "Bí thư chi đoàn {person} được bầu làm đại biểu dự Đại hội Đoàn Thanh niên Quân khu.",
            "Phát động phong trào thanh niên tình nguyện, hiến máu nhân đạo với {n} đoàn viên"
            " tham gia.",
            "Kết nạp {n} đoàn viên mới, sinh hoạt đoàn theo chủ điểm hằng tháng.",
            "Tổ chức hội nghị cán bộ công chức, ký kết thỏa ước lao động tập thể.",
            "Các tổ chức quần chúng hoạt động hiệu quả, công tác quần chúng được quan tâm.",
        ),
    },
    "hanh_chinh": {
        "titles": (
            "triệu tập hội nghị giao ban tháng {month}",
            "lịch công tác tuần của cơ quan",
            "quy định công tác văn thư, lưu trữ",
            "tiếp nhận và xử lý văn bản đến",
            "phân công trực ban, trực chỉ huy",
            "sử dụng chữ ký số trong cơ quan",
        ),
        "sentences": (
            "Phòng Chính trị thông báo lịch công tác tuần từ {date} để các cơ quan biết, thực"
            " hiện.",
            "Kính mời thủ trưởng các cơ quan dự hội nghị giao ban vào {date} tại hội trường.",
            "Văn thư cơ quan thực hiện đăng ký văn bản đến, văn bản đi vào sổ và phần mềm.",
            "Việc sao y bản chính, đóng dấu và lưu trữ hồ sơ thực hiện đúng quy định hiện hành.",
            "Phân công cán bộ trực ban, trực chỉ huy theo lịch trực đã được phê duyệt.",
            "Triển khai sử dụng chữ ký số khi gửi, nhận văn bản điện tử giữa các cơ quan.",
            "Đề nghị các đơn vị gửi báo cáo tổng hợp về Phòng Chính trị trước {date}.",
            "Bảo đảm văn phòng phẩm, trang thiết bị phục vụ công tác hành chính của cơ quan.",
            "Công văn này thay thế công văn số {docnum} ngày {date}.",
            "Quản lý, sử dụng con dấu đúng thẩm quyền; sổ sách được ghi chép đầy đủ.",
        ),
    },
}

ENGLISH = (
    "The Party Committee of {unit_en} reviewed the political education programme for the"
    " {ordinal} quarter.",
    "{n} outstanding candidates were admitted to the Party cell after a probationary review.",
    "Officers attended a course on internal political security and document confidentiality.",
    "The emulation movement was summed up and {n} individuals received certificates of merit.",
    "Soldiers helped farmers harvest rice and repair irrigation canals in {district} district.",
    "The report was submitted to the Political Department before {month_en} {day}, {year}.",
    "Families of war invalids and martyrs received visits and gifts on the occasion of July 27.",
    "The Youth Union organised a blood donation campaign with {n} volunteers.",
    "The inspection committee found no violations in the management of Party funds.",
    "New recruits completed {n} hours of political study and wrote their reflections.",
)
UNITS_EN = (
    "the 9th Regiment",
    "the 5th Division",
    "Military Region 7",
    "the 25th Engineer Brigade",
)
ORDINALS = ("first", "second", "third", "fourth")
MONTHS_EN = ("January", "March", "April", "June", "July", "September", "October", "December")

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _person(rng: random.Random) -> str:
    name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return f"{rng.choice(RANKS)} {name}"


def _date(rng: random.Random) -> str:
    return f"ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)} năm {rng.randint(2019, 2025)}"


def _pct(rng: random.Random) -> str:
    return f"{rng.randint(80, 99)},{rng.randint(0, 9)}%"


_GENERATED: dict[str, Callable[[random.Random], str]] = {
    "person": _person,
    "date": _date,
    "pct": _pct,
    "n": lambda rng: str(rng.randint(2, 40)),
    "n2": lambda rng: str(rng.randint(2, 60)),
    "year": lambda rng: str(rng.randint(2019, 2025)),
    "month": lambda rng: str(rng.randint(1, 12)),
    "day": lambda rng: str(rng.randint(1, 28)),
    "anniversary": lambda rng: str(rng.choice((75, 78, 80, 85))),
    "money": lambda rng: f"{rng.randint(2, 10)}.000.000",
    "docnum": lambda rng: f"{rng.randint(10, 999)}/CT-CS",
}
_LISTS: dict[str, tuple[str, ...]] = {
    "unit": UNITS,
    "unit2": UNITS,
    "subunit": SUBUNITS,
    "leader": LEADERS,
    "commune": COMMUNES,
    "district": DISTRICTS,
    "position": POSITIONS,
    "quarter": QUARTERS,
    "term": TERMS,
    "unit_en": UNITS_EN,
    "ordinal": ORDINALS,
    "month_en": MONTHS_EN,
}


def _fill(template: str, rng: random.Random, bank: dict[str, tuple[str, ...]]) -> str:
    """Replace each {slot} with a seeded choice: category bank, shared lists, or generators."""

    promotion: list[int] = []  # {rank} and {rank_next} of one sentence are one step apart

    def one(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in bank:
            return rng.choice(bank[slot])
        if slot in _LISTS:
            return rng.choice(_LISTS[slot])
        if slot in ("rank", "rank_next"):
            if not promotion:
                promotion.append(rng.randrange(len(RANKS) - 1))
            return RANKS[promotion[0] + (slot == "rank_next")]
        return _GENERATED[slot](rng)

    return _SLOT_RE.sub(one, template)


def _bank(category: str) -> dict[str, tuple[str, ...]]:
    if category not in BANKS:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    return BANKS[category]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _sentences(category: str, count: int, rng: random.Random) -> list[str]:
    """`count` sentences of the category, without repeats while the bank lasts."""
    bank = _bank(category)
    pool = list(bank["sentences"])
    picked: list[str] = []
    while len(picked) < count:
        rng.shuffle(pool)
        picked.extend(pool[: count - len(picked)])
    return [_fill(t, rng, bank) for t in picked]


def paragraphs(category: str, n: int, seed: int) -> list[str]:
    """`n` paragraphs of 2-4 sentences about the category, deterministic by seed."""
    rng = random.Random(f"paragraphs:{category}:{seed}")
    bank = _bank(category)
    out = []
    for _ in range(n):
        sentences = _sentences(category, rng.randint(2, 3), rng)
        if rng.random() < 0.5:
            sentences.insert(rng.randint(0, len(sentences)), _fill(rng.choice(FILLERS), rng, bank))
        out.append(_nfc(" ".join(sentences)))
    return out


def document_text(category: str, seed: int) -> str:
    """A short official text: 'TYPE Về việc ...' title line, then 4-10 sentences.

    Mostly sentences of the category, one or two fillers, and sometimes one sentence of
    another category, as real documents touch neighbouring topics. Paragraphs are lines.
    """
    rng = random.Random(f"document:{category}:{seed}")
    bank = _bank(category)
    title = f"{rng.choice(DOC_TYPES)} Về việc {_fill(rng.choice(bank['titles']), rng, bank)}"
    total = rng.randint(4, 10)
    fillers = [_fill(t, rng, bank) for t in rng.sample(FILLERS, 1 if total < 6 else 2)]
    other = []
    if total >= 5 and rng.random() < 0.3:
        neighbour = rng.choice([c for c in CATEGORIES if c != category])
        other = _sentences(neighbour, 1, rng)
    own = _sentences(category, total - len(fillers) - len(other), rng)
    body = own[:1] + rng.sample(own[1:] + other + fillers, total - 1)
    cuts = sorted(rng.sample(range(1, total), rng.randint(0, min(2, total // 3))))
    blocks = [" ".join(body[a:b]) for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return _nfc("\n".join([title, *blocks]))


def english_paragraph(seed: int) -> str:
    """A paragraph of 3-5 English sentences on the same subjects (some records are English)."""
    rng = random.Random(f"english:{seed}")
    picked = rng.sample(ENGLISH, rng.randint(3, 5))
    return " ".join(_fill(t, rng, {}) for t in picked)
