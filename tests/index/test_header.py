"""The official header: number, type, issuer and its parent, place and date, summary, cited documents."""

from __future__ import annotations

import json

import pytest

from index.header import cited_documents, read_header
from index.load import Document, load_path
from tests.conftest import ROOT, corpus

GOLD = ROOT / "data" / "eval" / "headers-gold.jsonl"
FIELDS = ("issuer", "parent", "number", "place", "date", "doc_type")


def _gold() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("gold", _gold(), ids=lambda g: g["doc"])
def test_header_fields_of_the_development_documents(gold):
    (doc,) = list(load_path(corpus(f"directives/{gold['doc']}")))
    assert isinstance(doc, Document)
    assert {f: getattr(doc, f) for f in FIELDS} == {f: gold[f] for f in FIELDS}
    if gold["summary_starts"] is None:
        assert doc.summary is None
    else:
        assert doc.summary and doc.summary.startswith(gold["summary_starts"])
    cited = {r.number: r.date for r in doc.cites}
    assert {n: cited.get(n, "missing") for n in gold["cites"]} == gold["cites"]


def test_a_government_notice_and_its_label():
    text = ("VĂN PHÒNG CHÍNH PHỦ\n-------\nSố: 447/TB-VPCP\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
            "Độc lập - Tự do - Hạnh phúc\nHà Nội, ngày 28 tháng 02 năm 2026\n\nTHÔNG BÁO\n"
            "Kết luận của Thủ tướng Chính phủ tại phiên họp Ban Chỉ đạo\n\nNgày 25/2, Thủ tướng chủ trì phiên họp. "
            "Thực hiện Chỉ thị số 07/CT-TTg ngày 14 tháng 3 năm 2026, Bộ Y tế hoàn thành trong quý 3/2026.")
    header = read_header(text)
    assert (header.issuer, header.parent, header.number, header.doc_type, header.place, header.date) == (
        "Văn phòng Chính phủ", None, "447/TB-VPCP", "Thông báo", "Hà Nội", "2026-02-28")
    assert header.summary == "Kết luận của Thủ tướng Chính phủ tại phiên họp Ban Chỉ đạo"
    assert header.label == "447/TB-VPCP, 28/02/2026"
    assert [(r.doc_type, r.number, r.date) for r in header.cites] == [("Chỉ thị", "07/CT-TTg", "2026-03-14")]


def test_news_and_headings_are_not_headers():
    assert read_header("TIN TỨC\nI. TẦM NHÌN\nĐến năm 2045, Việt Nam ...") == read_header("")
    assert cited_documents("theo Nghị định 88/2025/NĐ-CP, ngày 13/4/2025 và Nghị định 88/2025/NĐ-CP")[0].date == \
        "2025-04-13"


def test_bulk_records_may_carry_the_fields(tmp_path):
    path = tmp_path / "export.jsonl"
    record = {"id": "a", "title": "Thông báo kết luận", "text": "Bộ Y tế hoàn thành trong quý 3/2026.",
              "number": "447/TB-VPCP", "date": "2026-02-28", "summary": "Kết luận của Thủ tướng"}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (doc,) = list(load_path(path))
    assert (doc.number, doc.doc_type, doc.summary, doc.date) == (
        "447/TB-VPCP", "Thông báo", "Kết luận của Thủ tướng", "2026-02-28")


NOTICE = """VĂN PHÒNG CHÍNH PHỦ
Số: {number}
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Hà Nội, ngày {day} tháng 02 năm 2026

THÔNG BÁO
Kết luận của Thủ tướng Chính phủ về {topic}

Thủ tướng Chính phủ giao Bộ Y tế chủ trì xây dựng {task}, hoàn thành trong quý {quarter}/2026.
Bộ Công an hoàn thành kết nối dữ liệu dân cư với {topic} trong tháng 6/2026.
"""


def test_a_question_naming_a_document_is_answered_from_it(assistant, tmp_path):
    from assistant import tasktable
    from index.docstore import DocFilter

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(NOTICE.format(number="447/TB-VPCP", day=28, topic="y tế số", quarter=3,
                                                task="cơ sở dữ liệu tiêm chủng"), encoding="utf-8")
    (folder / "b.txt").write_text(NOTICE.format(number="512/TB-VPCP", day=10, topic="y tế cơ sở", quarter=4,
                                                task="hồ sơ sức khỏe điện tử"), encoding="utf-8")
    assistant.indexer.run([folder])
    first = assistant.docstore.docs_numbered(["447/TB-VPCP"])
    assert len(first) == 1
    answer = assistant.ask("Văn bản số 447/TB-VPCP giao Bộ Y tế việc gì?")
    assert not answer.refused and answer.citations
    assert {c.doc_id for c in answer.citations} == set(first)
    assert all(c.title == "447/TB-VPCP, 28/02/2026" for c in answer.citations)  # the number, not a first line
    other = assistant.ask("Văn bản số 512/TB-VPCP giao Bộ Y tế việc gì?")
    assert {c.doc_id for c in other.citations} == set(assistant.docstore.docs_numbered(["512/TB-VPCP"]))
    # filters by the header: type, issuer (any alias, or its parent), number, date range
    store = assistant.docstore
    assert len(store.select_docs(DocFilter(doc_type="thông báo", issuer="VPCP"))) == 2
    assert store.select_docs(DocFilter(since="2026-02-20")) == first
    assert store.select_docs(DocFilter(doc_type="Chỉ thị")) == frozenset()
    scoped = assistant.ask("Bộ Y tế chủ trì xây dựng gì?", scope=store.select_docs(DocFilter(until="2026-02-15")))
    assert scoped.citations and {c.doc_id for c in scoped.citations} == set(store.docs_numbered(["512/TB-VPCP"]))
    rows = tasktable.rows(tasktable.select(store, where=DocFilter(number="447/TB-VPCP")), store)
    assert rows and {r["document"] for r in rows} == {"447/TB-VPCP, 28/02/2026"}
    assert {r["number"] for r in rows} == {"447/TB-VPCP"}
