"""Cue words of questions and answers, read from index/lang/data."""

from __future__ import annotations

import pytest

from index.lang.cues import has_time, is_stop, question_kinds, time_phrases


@pytest.mark.parametrize(("question", "kinds"), [
    ("Ai chủ trì, hoàn thành khi nào?", {"who", "when"}),
    ("Có bao nhiêu máy tính?", {"quantity"}),
    ("Những đơn vị nào khởi công nhà máy chip?", {"who"}),  # "máy" is not "mấy"
    ("co may loai", {"quantity"}),  # typed without marks: read without them
    ("Vì sao phải làm vậy?", {"why"}),
    ("Làm thế nào để đăng ký?", {"how"}),
    ("Sinh viên có được học lại không?", {"yesno"}),
    ("Hồ sơ gồm những gì?", {"what", "list"}),
    ("Hà Nội ở đâu?", {"where"}),
])
def test_question_kinds(question, kinds):
    assert kinds <= question_kinds(question)


def test_marked_questions_are_read_with_their_marks():
    assert "who" not in question_kinds("Quy chế này áp dụng trong phạm vi nào?")  # "phạm vi" is not "vị nào"
    assert "who" not in question_kinds("Nền tảng có bao nhiêu tài khoản?")  # "tài" is not "ai"
    assert "yesno" not in question_kinds("Ai không được dự thi?")  # "không" only counts at the end


@pytest.mark.parametrize(("text", "expected"), [
    ("Hồ sơ được lưu trong vòng 5 năm.", True),
    ("Bản sao được chuyển sau khi hồ sơ được duyệt.", True),
    ("Hằng năm, Trường tổ chức hai đợt.", True),
    ("Thế kỷ XIX chứng kiến nhiều biến động.", True),
    ("Khí hậu ở đây ôn hòa.", False),  # "khí" is not "khi"
    ("Bộ Y tế chủ trì.", False),
])
def test_has_time(text, expected):
    assert has_time(text) is expected


def test_time_phrases_keep_the_text_as_written():
    assert time_phrases("Lưu Trong vòng 5 Năm") == ["Trong vòng 5 Năm"]


def test_stop_words_compare_with_marks_when_typed_with_them():
    assert is_stop("của", True) and is_stop("cua", False)
    assert not is_stop("tài", True) and not is_stop("khoản", True)


def test_discourse_phrases_come_from_their_data_file():
    from index.lang.cues import discourse, measured

    assert "còn" in discourse("contrast") and "thì sao" in discourse("tail") and "và" in discourse("join")
    assert discourse("contrast")[0].count(" ") >= 1  # longest first: "vậy còn" is tried before "còn"
    with pytest.raises(KeyError):
        discourse("no such role")
    # what a "bao nhiêu / mấy" question counts; typed without marks, only the phrase cue is trusted
    assert measured("Có mấy trạm phát sóng?") == ["trạm", "phát", "sóng"]
    assert measured("co bao nhieu tram phat song") == ["tram", "phat", "song"]
    assert measured("may tram phat song") == []  # "may" could be "máy" as well as "mấy"
