"""Answers from assignment tables: the row's cells say who leads, by when, and how far it has come."""

from __future__ import annotations

ROWS = [
    ["I", "Thể chế", "", "", "", "", ""],
    ["1.", "Xây dựng Danh mục công nghệ chiến lược quốc gia", "Quyết định", "Tháng 5/2025",
     "Bộ Khoa học và Công nghệ", "Hoàn thành", "Đã trình Thủ tướng"],
    ["2.", "Tham mưu thành lập Ủy ban dữ liệu quốc gia", "Báo cáo", "Tháng 3/2025", "Bộ Công an", "Quá hạn",
     "Đang chuẩn bị hồ sơ."],
    ["3.", "Xây dựng đề án đánh giá chuyển đổi số của cơ quan nhà nước", "Đề án", "Quý 3/2025", "Bộ Nội vụ",
     "Đang thực hiện", "Đang lấy ý kiến"],
]
HEADER = ["TT", "Nhiệm vụ", "Kết quả yêu cầu", "Thời gian hoàn thành", "Cơ quan thực hiện", "Tiến độ",
          "Kết quả hiện nay"]
REPORT = "\n".join(["BÁO CÁO TIẾN ĐỘ THỰC HIỆN NHIỆM VỤ", "Hà Nội, ngày 25 tháng 5 năm 2025", "",
                     "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
                    + ["| " + " | ".join(row) + " |" for row in ROWS]) + "\n"


def test_who_when_and_progress_come_from_the_row(assistant, tmp_path):
    (tmp_path / "bao-cao.md").write_text(REPORT, encoding="utf-8")
    assistant.indexer.run([tmp_path / "bao-cao.md"])
    who = assistant.ask("Ai chủ trì xây dựng Danh mục công nghệ chiến lược quốc gia?")
    assert who.text.splitlines()[0].startswith("Bộ Khoa học và Công nghệ; thời hạn: Tháng 5/2025")
    when = assistant.ask("Đề án đánh giá chuyển đổi số của cơ quan nhà nước phải xong khi nào?")
    assert when.text.splitlines()[0].lower().startswith("thời hạn: quý 3/2025")
    progress = assistant.ask("Việc tham mưu thành lập Ủy ban dữ liệu quốc gia có tiến độ thế nào?")
    assert "tiến độ: Quá hạn — Đang chuẩn bị hồ sơ" in progress.text
    assert all(c.quote.startswith("| ") for c in progress.citations[:1])  # cited by its row
