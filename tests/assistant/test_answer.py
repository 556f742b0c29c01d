"""Grounded answers over the indexed sample corpus (extractive backend, real model and stores)."""

from __future__ import annotations

import json

import pytest

from assistant.answer import REFUSAL
from assistant.citations import Citation, markers, verify


def test_done_criterion_health_database(indexed):
    answer = indexed.ask("Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?")
    assert not answer.refused
    first_line = answer.text.splitlines()[0]
    assert first_line.startswith("Bộ Y tế") and "quý 3/2026" in first_line and "[1]" in first_line
    assert answer.citations and all(verify(c, indexed.docstore) for c in answer.citations)
    quote = answer.citations[0]
    assert "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì" in quote.quote or "ngành y tế" in quote.quote
    assert indexed.docstore.document(quote.doc_id).text[quote.start : quote.end] == quote.quote


def test_every_marker_points_to_a_citation(indexed):
    for question in ("Bộ Công an được giao những việc gì?", "ai chu tri co so du lieu y te",
                     "Cơ sở dữ liệu thanh tra kiểm soát tài sản, thu nhập phải hoàn thành khi nào?"):
        answer = indexed.ask(question)
        numbers = {c.n for c in answer.citations}
        assert markers(answer.text) and set(markers(answer.text)) == numbers, question


def test_conflicting_deadlines_are_both_shown(indexed):
    answer = indexed.ask("Cơ sở dữ liệu thanh tra kiểm soát tài sản, thu nhập phải hoàn thành khi nào?")
    assert answer.conflicts and answer.conflicts[0]["field"] == "deadline"
    values = {v["value"] for v in answer.conflicts[0]["values"]}
    assert values == {"quý 3/2026", "tháng 6.2026"}
    cited_docs = {c.doc_id for c in answer.citations}
    assert len(cited_docs) == 2  # each value with its own source
    assert "khác nhau" in answer.text


@pytest.mark.parametrize("question", [
    "Bộ Tài chính chủ trì cơ sở dữ liệu nào?",
    "Cơ sở dữ liệu ngành Giáo dục do bộ nào chủ trì?",
    "Kinh phí đầu tư Trung tâm dữ liệu quốc gia số 1 là bao nhiêu?",
    "Tỷ lệ phủ sóng 5G là bao nhiêu phần trăm dân số?",
])
def test_refuses_what_the_documents_do_not_say(indexed, question):
    answer = indexed.ask(question)
    assert answer.refused and answer.text.startswith(REFUSAL)
    assert answer.citations == [] and answer.closest  # the closest passages are listed


def test_follow_up_uses_the_conversation(indexed):
    history = [{"role": "user", "content": "Ai chủ trì Cơ sở dữ liệu ngành Nông nghiệp?"},
               {"role": "assistant", "content": "Bộ Nông nghiệp và Môi trường [1]."}]
    answer = indexed.ask("Còn ngành Y tế thì sao?", history)
    assert not answer.refused and "Bộ Y tế" in answer.text


def test_json_shape(indexed):
    data = json.loads(json.dumps(indexed.ask("Bộ Công an phải trình Chương trình tổng thể triển khai "
                                             "Đề án 06 khi nào?").to_dict(), ensure_ascii=False))
    assert {"question", "answer", "refused", "citations", "conflicts", "elapsed_ms"} <= set(data)
    citation = data["citations"][0]
    assert set(citation) >= {"n", "doc_id", "title", "source", "date", "quote", "start", "end", "score"}
    assert "tháng 3" in data["answer"]


def test_citation_helpers(indexed):
    assert markers("A [2]. B [1][2]. C [10]") == [2, 1, 10]
    doc = next(indexed.docstore.documents())
    good = Citation(1, doc.doc_id, doc.title, doc.source, doc.date, doc.text[10:40], 10, 40, 1.0)
    assert verify(good, indexed.docstore)
    assert not verify(Citation(1, doc.doc_id, doc.title, doc.source, doc.date, "bịa đặt", 10, 17, 1.0),
                      indexed.docstore)


def test_list_questions_come_from_the_task_table(indexed):
    answer = indexed.ask("Bộ Nội vụ chủ trì những cơ sở dữ liệu nào?")
    assert not answer.refused and answer.text.startswith("Bộ Nội vụ:")
    items = [line for line in answer.text.splitlines() if line.startswith("- ")]
    assert items and all(line.startswith("- Bộ Nội vụ") for line in items)
    assert any("an sinh xã hội" in line for line in items) and any("cán bộ, công chức" in line for line in items)
    assert all(verify(c, indexed.docstore) for c in answer.citations)

    period = indexed.ask("Những nhiệm vụ nào phải xong trong quý 3/2026?")
    assert "Bộ Y tế" in period.text and "Thanh tra Chính phủ" in period.text
    assert "quý 1/2026" not in period.text
    assert period.conflicts and "tháng 6.2026" in period.text  # the other source's deadline is shown


def test_relative_time_phrases():
    from assistant.answer import relative_times

    assert relative_times("Sinh viên được xóa hình thức kỷ luật khi kết thúc thời hạn.", "khi nào?") == [
        "khi kết thúc thời hạn"]
    assert relative_times("Thời gian bảo lưu không quá 01 năm.", "bao lâu?") == ["không quá 01 năm"]
    assert relative_times("Trường xét học vụ sau học kỳ 1.", "Trường xét học vụ sau học kỳ 1 phải không?") == []
    assert relative_times("Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.", "khi nào?") == []


def test_a_when_question_is_answered_by_a_relative_time(assistant, tmp_path):
    """Regulations say when relative to something else; that answers "khi nào" as well as a date."""
    (tmp_path / "quy-che.txt").write_text(
        "Quy chế đào tạo thử nghiệm\n\nĐiều 5. Xử lý học vụ\n\nHằng năm, Trường tiến hành xử lý học vụ theo hai "
        "đợt: sau học kỳ 1 và sau học kỳ hè. Sinh viên bị cảnh báo học vụ được tự động xóa cảnh báo khi kết "
        "thúc thời hạn cảnh báo.\n", encoding="utf-8")
    assistant.indexer.run([tmp_path / "quy-che.txt"])
    answer = assistant.ask("Sinh viên được tự động xóa cảnh báo học vụ khi nào?")
    assert not answer.refused and "khi kết thúc thời hạn" in answer.text and answer.citations
    assert assistant.ask("Trường xử lý học vụ vào thời gian nào trong năm?").refused is False
    assert assistant.ask("Sinh viên phải nộp học phí học kỳ hè khi nào?").refused  # not in the text
