"""Tone-mark folding, date forms, abbreviations, and directive facts (agencies, deadlines)."""

from __future__ import annotations

import pytest

from index.lang.facts import canonical_agency, find_agencies, find_deadlines
from index.lang.vietnamese import canonical_dates, expansions, fold, has_marks, lexical_tokens


def test_fold_and_marks():
    assert fold("Cơ sở dữ liệu ngành Y tế ĐƯỢC") == "co so du lieu nganh y te duoc"
    assert has_marks("ai chủ trì") and not has_marks("ai chu tri co so du lieu y te")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quý III/2026", "quý 3/2026"),
        ("quý IV năm 2026", "quý 4 năm 2026"),
        ("tháng 3.2026", "tháng 3/2026"),
        ("tháng 06-2026", "tháng 6/2026"),
        ("sáng 25.2", "sáng 25/2"),
        ("2.690 thủ tục", "2.690 thủ tục"),  # a thousands separator is not a date
        ("87,2%", "87,2%"),
    ],
)
def test_canonical_dates(text, expected):
    assert canonical_dates(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CSDL ngành y tế", ["cơ sở dữ liệu"]),
        ("cơ sở dữ liệu", ["CSDL"]),
        ("Bộ KH&CN", ["khoa học và công nghệ", "khoa học, công nghệ"]),
        ("giảm TTHC", ["thủ tục hành chính"]),
        ("UBND tỉnh", ["ủy ban nhân dân"]),
        ("tp.hcm", ["thành phố hồ chí minh", "tp hồ chí minh"]),  # long abbreviations in any case
        ("ai chủ trì", []),  # "ai" (who) is not "AI"
        ("phát triển AI", ["trí tuệ nhân tạo"]),
    ],
)
def test_abbreviations_expand_both_ways(text, expected):
    assert expansions(text) == expected


def test_lexical_tokens_match_unaccented_and_abbreviated_queries():
    doc = set(lexical_tokens("Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý III/2026."))
    assert {"co", "so", "y_te", "quý", "3/2026"} <= doc
    assert set(lexical_tokens("co so du lieu nganh y te")) <= doc
    assert "co_so" in set(lexical_tokens("CSDL"))


def test_agencies_with_aliases_and_local_bodies():
    text = "Cơ sở dữ liệu ngành nông nghiệp do Bộ NN-MT chủ trì; UBND tỉnh Quảng Ninh và Bộ KH&CN phối hợp."
    found = find_agencies(text)
    assert [m.canonical for m in found] == [
        "Bộ Nông nghiệp và Môi trường", "UBND tỉnh Quảng Ninh", "Bộ Khoa học và Công nghệ"]
    for m in found:
        assert text[m.start : m.end] == m.value
    assert canonical_agency("bo kh-cn") == "Bộ Khoa học và Công nghệ"


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.", "trong quý 3/2026", "quý 3/2026"),
        ("hoàn thành trong quý III/2026", "trong quý III/2026", "quý 3/2026"),
        ("cần hoàn thành trong tháng 6.2026.", "trong tháng 6.2026", "tháng 6/2026"),
        ("báo cáo trước ngày 10/2.", "trước ngày 10/2", "trước ngày 10/2"),
        ("ngay trong quý 1/2026,", "ngay trong quý 1/2026", "quý 1/2026"),
        ("vận hành thương mại trong năm 2026;", "trong năm 2026", "năm 2026"),
    ],
)
def test_deadlines(text, value, canonical):
    (found,) = find_deadlines(text)
    assert (found.value, found.canonical) == (value, canonical)
    assert text[found.start : found.end] == found.value


def test_no_deadline_in_a_period_or_a_plain_number():
    assert find_deadlines("Chương trình tổng thể giai đoạn 2026 - 2030, 2.690 thủ tục") == []
