"""Question analysis: what is asked, and follow-ups made standalone."""

from __future__ import annotations

from assistant.question import analyse, proper_names, resolve_follow_up, split_parts


def test_kinds():
    q = analyse("Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?")
    assert q.asks_who and q.asks_when and not q.asks_list
    assert analyse("Nền tảng VNeID có bao nhiêu tài khoản kích hoạt?").asks_figure
    assert not analyse("Nền tảng VNeID có bao nhiêu tài khoản kích hoạt?").asks_who  # "tài" is not "ai"
    assert not analyse("Những đơn vị nào đã khởi công nhà máy chip?").asks_figure  # "máy" is not "mấy"
    assert analyse("Bộ Công an được giao những việc gì?").asks_list
    assert analyse("ai chu tri co so du lieu y te").asks_who


def test_parts_of_a_question():
    parts = split_parts(analyse("Ai chủ trì xây dựng CSDL ngành Y tế, phối hợp với bộ nào và báo cáo khi nào?"))
    assert [p.text for p in parts] == ["Ai chủ trì xây dựng CSDL ngành Y tế", "phối hợp với bộ nào",
                                       "báo cáo khi nào"]
    assert "who" in parts[0].kinds and "who" in parts[1].kinds and "when" in parts[2].kinds
    assert "CSDL" in parts[2].query or "csdl" in parts[2].query  # the shared topic goes with every part
    assert len(split_parts(analyse("Bộ Y tế và Bộ Công an phải làm gì?"))) == 1  # "và" joins two agencies
    assert len(split_parts(analyse("Sinh viên được đăng ký tối đa bao nhiêu tín chỉ?"))) == 1


def test_names():
    assert proper_names("TP Hồ Chí Minh được giao gì?") == ["hồ chí minh"]
    assert proper_names("Cơ sở dữ liệu ngành Giáo dục do ai chủ trì?") == ["giáo"]
    assert proper_names("Khi không làm việc nữa, Gandhi làm gì?") == ["gandhi"]  # not "gandhi lam"
    assert proper_names("Bộ Y tế chủ trì CSDL nào?") == []  # agencies and abbreviations are checked apart


def test_follow_up_swaps_the_agency():
    history = [{"role": "user", "content": "Bộ Công an chủ trì cơ sở dữ liệu nào?"},
               {"role": "assistant", "content": "Cơ sở dữ liệu xử lý vi phạm hành chính."}]
    assert resolve_follow_up("Còn Bộ Y tế thì sao?", history) == "Bộ Y tế chủ trì cơ sở dữ liệu nào?"


def test_follow_up_swaps_a_phrase_with_the_same_head():
    history = [{"role": "user", "content": "Cơ sở dữ liệu về an sinh xã hội do ai chủ trì?"}]
    assert resolve_follow_up("Còn cơ sở dữ liệu ngành Nông nghiệp thì sao?", history) == (
        "cơ sở dữ liệu ngành Nông nghiệp do ai chủ trì?")


def test_elliptical_and_anaphoric_follow_ups_take_the_previous_subject():
    history = [{"role": "user", "content": "Ai chủ trì Cơ sở dữ liệu ngành Y tế?"}]
    assert "Y tế" in resolve_follow_up("Hạn hoàn thành là khi nào?", history)
    assert "Y tế" in resolve_follow_up("Hạn của nhiệm vụ đó là khi nào?", history)
    assert resolve_follow_up("Bộ Công an trình Chương trình tổng thể khi nào?", history).startswith("Bộ Công an")
    assert resolve_follow_up("Hạn hoàn thành là khi nào?", []) == "Hạn hoàn thành là khi nào?"
