"""Dates, issuers, titles and header lines read from document text."""

from __future__ import annotations

import pytest

from index.metadata import extract_date, extract_issuer, guess_title, split_header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-25", "2026-02-25"),
        ("2026-02-25T08:00:00+07:00", "2026-02-25"),
        ("25/02/2026", "2026-02-25"),
        ("QUỐC HỘI\nHà Nội, ngày 20 tháng 11 năm 2019\nBỘ LUẬT", "2019-11-20"),
        ("THÔNG BÁO\nngày 5 tháng 3 năm 2026\nKết luận", "2026-03-05"),
        # A date inside a sentence is a deadline, not the document's date.
        ("Bộ Y tế hoàn thành trước ngày 15 tháng 6 năm 2026.", None),
        ("Hà Nội, ngày 31 tháng 2 năm 2026", None),  # impossible date
        ("", None),
    ],
)
def test_extract_date(text, expected):
    assert extract_date(text) == expected


def test_split_header_inline_and_line_forms():
    assert split_header(" date 2026-02-25 Chiều 25/2, kết luận") == ("Chiều 25/2, kết luận", {"date": "2026-02-25"})
    body, header = split_header("title: Thông báo số 12\nissuer: Văn phòng Chính phủ\nNội dung")
    assert body == "Nội dung"
    assert header == {"title": "Thông báo số 12", "issuer": "Văn phòng Chính phủ"}
    assert split_header("Ngày cập nhật: hôm nay") == ("Ngày cập nhật: hôm nay", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("QUỐC HỘI\n--------\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "QUỐC HỘI"),
        ("BỘ Y TẾ\nSố: 12/CT-BYT", "BỘ Y TẾ"),
        ("ỦY BAN NHÂN DÂN TỈNH QUẢNG NINH\n-------", "ỦY BAN NHÂN DÂN TỈNH QUẢNG NINH"),
        ("BỘ LUẬT\nLAO ĐỘNG", None),
        ("Chiều 25/2, Thủ tướng chủ trì phiên họp.", None),
    ],
)
def test_extract_issuer(text, expected):
    assert extract_issuer(text) == expected


def test_guess_title():
    assert guess_title("QUỐC HỘI\nLuật số: 57/2010/QH12\nLUẬT\nTHUẾ BẢO VỆ MÔI TRƯỜNG\nCăn cứ", "x") == (
        "LUẬT THUẾ BẢO VỆ MÔI TRƯỜNG"
    )
    assert guess_title("Tiết kiệm 34,6 nghìn tỷ đồng\nNội dung dài hơn nhiều.", "x") == "Tiết kiệm 34,6 nghìn tỷ đồng"
    long_first = "Chiều 25/2, " + "kết luận phiên họp của Ban Chỉ đạo " * 10 + "về nhiệm vụ. Câu sau."
    title = guess_title(long_first, "x")
    assert title.startswith("Chiều 25/2, kết luận") and title.endswith("…") and len(title) <= 121
    assert guess_title("", "ten-tep") == "ten-tep"
