"""Grounded answers over the indexed sample corpus (extractive backend, real model and stores)."""

from __future__ import annotations

import json

import pytest

from assistant.answer import REFUSAL
from assistant.citations import Citation, markers, verify

# Near misses: everything matches but the one thing asked (another role, another sector, a figure the text
# never gives). The calibrated reader does not yet tell them from answerable questions (its confidence on
# them is 0.35-0.75 against a threshold of 0.28; README, "What the reader does not do yet"): strict xfail,
# so the day it does, the test says so.
_NEAR_MISS = pytest.mark.xfail(strict=True, reason="calibrated refusal misses near-miss questions (issue 10)")



@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed(request, tmp_path_factory, models_dir, embedder):
    """The sample corpus indexed into SQLite, then into PostgreSQL: the answers must not depend on the engine
    (this module's tests run on both; the rest of the suite on SQLite, with the stores' own tests on both)."""
    import shutil

    from assistant.build import build
    from assistant.settings import Settings
    from tests.conftest import SAMPLE

    root = tmp_path_factory.mktemp("indexed")
    shutil.copytree(SAMPLE, root / "sample")
    database = None
    if request.param == "postgresql":
        from tests import pg_support

        database = pg_support.new_database(request.getfixturevalue("pg_cluster"))
    built = build(Settings(home=root / "home", models_dir=models_dir, database_url=database), embedder=embedder)
    built.indexer.run([root / "sample"])
    yield built
    built.close()

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
    pytest.param("Bộ Tài chính chủ trì cơ sở dữ liệu nào?", marks=_NEAR_MISS),
    pytest.param("Cơ sở dữ liệu ngành Giáo dục do bộ nào chủ trì?", marks=_NEAR_MISS),
    pytest.param("Kinh phí đầu tư Trung tâm dữ liệu quốc gia số 1 là bao nhiêu?", marks=_NEAR_MISS),
    "Tỷ lệ phủ sóng 5G là bao nhiêu phần trăm dân số?",
    "Bộ Quốc phòng chủ trì cơ sở dữ liệu nào?",  # an agency the documents never name
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


def test_a_when_question_is_answered_by_a_duration_or_a_time_clause(assistant, tmp_path):
    """Rules often say when relative to something else, or for how long: that answers "khi nào / bao lâu"
    as well as a date does; a question the text does not answer is refused."""
    (tmp_path / "luu-tru.txt").write_text(
        "Quy định lưu trữ hồ sơ thử nghiệm\n\nĐiều 3. Thời hạn lưu trữ\n\nHồ sơ đề nghị cấp phép được lưu tại "
        "bộ phận một cửa trong vòng 5 năm. Bản sao điện tử được chuyển vào kho dữ liệu chung sau khi hồ sơ được "
        "phê duyệt.\n", encoding="utf-8")
    assistant.indexer.run([tmp_path / "luu-tru.txt"])
    answer = assistant.ask("Hồ sơ đề nghị cấp phép được lưu tại bộ phận một cửa bao lâu?")
    assert not answer.refused and "5 năm" in answer.text and answer.citations
    answer = assistant.ask("Khi nào bản sao điện tử được chuyển vào kho dữ liệu chung?")
    assert not answer.refused and "sau khi hồ sơ được phê duyệt" in answer.text


@_NEAR_MISS
def test_a_when_question_about_what_the_text_does_not_say_is_refused(assistant, tmp_path):
    (tmp_path / "luu-tru.txt").write_text(
        "Quy định lưu trữ hồ sơ thử nghiệm\n\nĐiều 3. Thời hạn lưu trữ\n\nHồ sơ đề nghị cấp phép được lưu tại "
        "bộ phận một cửa trong vòng 5 năm.\n", encoding="utf-8")
    assistant.indexer.run([tmp_path / "luu-tru.txt"])
    assert assistant.ask("Hồ sơ đề nghị cấp phép phải nộp lệ phí khi nào?").refused  # no fee in the text


def test_a_multi_part_question_answers_each_part_and_names_the_missing_one(assistant, tmp_path):
    (tmp_path / "ket-luan.txt").write_text(
        "Thông báo kết luận thử nghiệm\n\nGiao Sở Giao thông vận tải chủ trì xây dựng Đề án bãi đỗ xe thông minh, "
        "phối hợp với Sở Xây dựng. Đề án hoàn thành trong quý 2/2027.\n", encoding="utf-8")
    assistant.indexer.run([tmp_path / "ket-luan.txt"])
    answer = assistant.ask("Ai chủ trì xây dựng Đề án bãi đỗ xe thông minh và hoàn thành khi nào?")
    lead = answer.text.splitlines()[0]
    assert not answer.refused and "Sở Giao thông vận tải" in lead and "quý 2/2027" in lead
    assert markers(lead) and set(markers(answer.text)) == {c.n for c in answer.citations}
    partial = assistant.ask("Ai chủ trì Đề án bãi đỗ xe thông minh, kinh phí bao nhiêu?")
    assert not partial.refused and "Sở Giao thông" in partial.text
    assert "không tìm thấy" in partial.text.lower() and "kinh phí" in partial.text.splitlines()[0]


@pytest.mark.parametrize("question", [
    "Ai chủ trì xây dựng Cơ sở dữ liệu quốc gia về cán bộ, công chức, viên chức?",  # two sources, a conflict
    "Bộ nào chủ trì lựa chọn, xác định danh mục sản phẩm công nghệ chiến lược ưu tiên?",  # two long sentences
])
def test_a_single_fact_answer_stays_within_400_characters(indexed, question):
    answer = indexed.ask(question)
    assert not answer.refused and len(answer.text) <= 400, answer.text
    assert 1 <= len(answer.citations) <= 2 and all(verify(c, indexed.docstore) for c in answer.citations)
    # the quotes were cut at clause boundaries, keeping the facts the lead reads off them
    lead = answer.text.splitlines()[0]
    assert lead.split(" chủ trì")[0] in " ".join(c.quote for c in answer.citations)
