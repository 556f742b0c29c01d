"""Tables kept as tables by every loader, their header carried by chunks, and assignment tables read as tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluate import score_tasks
from index.chunk import Chunker
from index.load import Document, load_path
from index.table_tasks import agencies_in, columns_of, status_of
from index.tables import find_tables
from index.tasks import extract_tasks
from tests.conftest import ROOT, corpus

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
GOLD = ROOT / "data" / "eval" / "tasks-gold-directives.jsonl"

HEADER = ["TT", "Nội dung công việc", "Thời hạn", "Đơn vị chủ trì", "Đơn vị phối hợp", "Tình hình thực hiện"]
ROWS = [
    ["I", "Thể chế"],
    ["1", "Xây dựng Nghị định về dữ liệu mở", "Quý III/2026", "Bộ Công an", "Bộ Tư pháp, Bộ Nội vụ", "Đang thực hiện"],
    ["2", "Sản xuất chương trình phổ biến kiến thức số", "Thường xuyên", "VTV, VOV, TTXVN", "", "Đã hoàn thành"],
    ["II", "Hạ tầng"],
    ["3", "Hoàn thành trục tích hợp dữ liệu quốc gia", "2025 và những năm tiếp theo", "Văn phòng Chính phủ", "",
     "Chậm tiến độ"],
    ["4", "Phủ sóng 5G các khu công nghiệp", "Năm 2027", "Bộ KH&CN", "Các doanh nghiệp viễn thông", ""],
]


def only(path: Path) -> Document:
    items = list(load_path(path))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def rows_of(doc: Document) -> list[list[str]]:
    (table,) = find_tables(doc.text)
    return [table.header.texts()] + [r.texts() for r in table.rows]


def _docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("PHỤ LỤC: DANH MỤC NHIỆM VỤ")
    table = document.add_table(rows=len(ROWS) + 1, cols=len(HEADER))
    for j, text in enumerate(HEADER):
        table.cell(0, j).text = text
    for i, row in enumerate(ROWS, start=1):
        if len(row) == 2:  # a group heading spanning the row after its number
            table.cell(i, 0).text = row[0]
            merged = table.cell(i, 1).merge(table.cell(i, len(HEADER) - 1))
            merged.text = row[1]
            continue
        for j, text in enumerate(row):
            table.cell(i, j).text = text
    document.add_paragraph("Bộ Tư pháp báo cáo kết quả trước ngày 15/12/2026.")
    document.save(str(path))


def _html(path: Path) -> None:
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = "".join(
        f"<tr><td>{r[0]}</td><td colspan='5'><b>{r[1]}</b></td></tr>" if len(r) == 2
        else "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in ROWS)
    path.write_text(f"<html><body><h1>Phụ lục</h1><table><tr>{head}</tr>{body}</table>"
                    "<p>Bộ Tư pháp báo cáo kết quả trước ngày 15/12/2026.</p></body></html>", encoding="utf-8")


def _md(path: Path) -> None:
    lines = ["# Phụ lục", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r + [""] * (len(HEADER) - len(r))) + " |" for r in ROWS]
    lines += ["", "Bộ Tư pháp báo cáo kết quả trước ngày 15/12/2026."]
    path.write_text("\n".join(lines), encoding="utf-8")


def _pdf(path: Path) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L")
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=9)
    pdf.add_page()
    pdf.multi_cell(0, 8, "PHỤ LỤC: DANH MỤC NHIỆM VỤ", new_x="LMARGIN", new_y="NEXT")
    with pdf.table(headings_style=FontFace()) as table:
        for row in [HEADER] + [r + [""] * (len(HEADER) - len(r)) for r in ROWS]:
            cells = table.row()
            for text in row:
                cells.cell(text)
    pdf.multi_cell(0, 8, "Bộ Tư pháp báo cáo kết quả trước ngày 15/12/2026.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


MAKERS = {"docx": _docx, "html": _html, "md": _md, "pdf": _pdf}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_every_format_keeps_the_table_and_its_tasks(tmp_path, kind):
    if kind == "pdf" and not FONT.exists():
        pytest.skip("DejaVuSans.ttf (Debian fonts-dejavu-core) is needed")
    path = tmp_path / f"phu-luc.{kind}"
    MAKERS[kind](path)
    doc = only(path)
    rows = rows_of(doc)
    assert rows[0] == HEADER
    task_rows = [r for r in rows[1:] if len([c for c in r if c]) > 2]
    assert [r[3] for r in task_rows] == [r[3] for r in ROWS if len(r) > 2]  # every lead in its row
    tasks = extract_tasks(doc.doc_id, doc.text, "2026-03-01")
    table = [t for t in tasks if t.sentence.startswith("|")]
    assert [t.leads for t in table] == [
        ("Bộ Công an",), ("Đài Truyền hình Việt Nam", "Đài Tiếng nói Việt Nam", "Thông tấn xã Việt Nam"),
        ("Văn phòng Chính phủ",), ("Bộ Khoa học và Công nghệ",)]
    assert table[0].collaborators == ("Bộ Tư pháp", "Bộ Nội vụ")
    assert [(t.deadline_text, t.due_start, t.due_end) for t in table] == [
        ("Quý III/2026", "2026-07-01", "2026-09-30"), ("Thường xuyên", None, None),
        ("2025 và những năm tiếp theo", None, None), ("Năm 2027", "2027-01-01", "2027-12-31")]
    assert [t.group.split()[-1] for t in table] == ["chế", "chế", "tầng", "tầng"]  # "I Thể chế", "II Hạ tầng"
    assert [t.status for t in table] == ["in_progress", "done", "late", None]
    assert all(doc.text[t.start : t.end] == t.sentence for t in tasks)  # the citation is the row itself
    # prose after the table is still read
    prose = [t for t in tasks if not t.sentence.startswith("|")]
    assert [(t.lead, t.due_end) for t in prose] == [("Bộ Tư pháp", "2026-12-15")]


def test_markdown_rules_breaks_and_escapes():
    from index.tables import markdown_tables

    text = "Trước\n| A | B |\n|:--|--:|\n| x<br>y | R\\&D \\| z |\nSau \\- hết"
    assert markdown_tables(text) == "Trước\n| A | B |\n| x; y | R&D / z |\nSau - hết"


def test_html_spans_and_nested_tables():
    from index.html import html_text

    page = html_text("<table><tr><th>Nhiệm vụ</th><th>Chủ trì</th></tr><tr><td>A</td><td rowspan='2'>Bộ Y tế</td>"
                     "</tr><tr><td>B <table><tr><td>b1</td><td>b2</td></tr></table></td></tr></table>")
    (table,) = find_tables(page.text.strip())
    assert [r.texts() for r in table.rows] == [["A", "Bộ Y tế"], ["B b1, b2", "Bộ Y tế"]]


def test_header_roles_in_any_order_and_progress_columns():
    text = ("| Tiến độ | Cơ quan thực hiện | Nhiệm vụ | Kết quả hiện nay |\n"
            "| Hoàn thành | Bộ Y tế | Ban hành quy chế | Đã ban hành ngày 3/4 |\n"
            "| Đang thực hiện | Bộ Nội vụ | Sắp xếp bộ máy | Đang lấy ý kiến |")
    (table,) = find_tables(text)
    columns = columns_of(table)
    assert (columns.status, columns.lead, columns.task, columns.progress, columns.deadline) == (0, 1, 2, 3, None)
    dated = text.replace("Hoàn thành |", "Tháng 6/2026 |").replace("Đang thực hiện |", "Quý 4/2026 |")
    assert columns_of(find_tables(dated)[0]).deadline == 0  # "Tiến độ" holding dates is the deadline
    assert columns_of(find_tables("| Lĩnh vực | Chỉ đạo cụ thể |\n| Y tế | Bộ Y tế làm A |")[0]) is None
    assert status_of("Chưa hoàn thành") == "late" and status_of("Quá hạn") == "late"


def test_cell_agencies():
    assert agencies_in("Chính phủ (Bộ Công an, Bộ TTTT), doanh nghiệp công nghệ") == [
        "Chính phủ", "doanh nghiệp công nghệ"]
    assert agencies_in("Các bộ, ngành, địa phương") == ["Các bộ, ngành"]
    assert agencies_in("") == []


def test_chunks_of_a_long_table_carry_its_header():
    header = "| TT | Nhiệm vụ | Cơ quan chủ trì | Thời hạn |"
    rows = [f"| {i} | Nhiệm vụ số {i} về chuyển đổi số và dữ liệu của ngành {i} | Bộ Y tế | Tháng {i % 12 + 1}/2026 |"
            for i in range(1, 40)]
    text = "\n".join(["Mở đầu văn bản.", header, *rows[:20], "| II | Nhóm hai | | |", *rows[20:], "Kết thúc văn bản."])
    chunks = Chunker(lambda ts: [len(t.split()) for t in ts], max_tokens=60, overlap_tokens=8).split("d", text)
    in_table = [c for c in chunks if "| Bộ Y tế |" in c.text]
    assert len(in_table) > 3
    assert all(c.headings and c.headings[0] == header for c in in_table)
    assert any(c.headings[-1] == "| II | Nhóm hai | | |" for c in in_table)
    assert chunks[-1].headings == () and chunks[-1].text.endswith("Kết thúc văn bản.")
    assert all(text[c.start : c.end] == c.text for c in chunks)


def _directives() -> dict[str, tuple[str, list]]:
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = {}
    for name in sorted({g["doc"] for g in gold}):
        doc = only(corpus(f"directives/{name}"))
        out[name] = (doc.text, [t for t in extract_tasks(doc.doc_id, doc.text, doc.date) if t.sentence.startswith("|")])
    return gold, out


def test_directive_tables_against_the_gold():
    gold, predicted = _directives()
    scores = score_tasks(gold, predicted)
    assert scores["precision"] >= 0.9 and scores["recall"] >= 0.9, scores
    assert scores["status_right"] >= 0.9, scores


def test_the_report_table_read_from_docx_gives_the_same_tasks(tmp_path):
    import docx

    md = only(corpus("directives/CPbaocaot5.md"))
    table = next(t for t in find_tables(md.text) if columns_of(t) is not None)
    document = docx.Document()
    document.add_paragraph("Hà Nội, ngày 25 tháng 5 năm 2025")
    grid = document.add_table(rows=len(table.rows) + 1, cols=len(table.header.cells))
    for i, row in enumerate((table.header, *table.rows)):
        for j, cell in enumerate(row.cells):
            grid.cell(i, j).text = cell.text
    path = tmp_path / "phu-luc.docx"
    document.save(str(path))
    doc = only(path)
    from_docx = [t for t in extract_tasks(doc.doc_id, doc.text, doc.date) if t.sentence.startswith("|")]
    from_md = [t for t in extract_tasks(md.doc_id, md.text, md.date) if t.sentence.startswith("|")]
    assert len(from_md) == 37
    key = [(t.leads, t.task, t.due_end, t.status, t.group) for t in from_md]
    assert [(t.leads, t.task, t.due_end, t.status, t.group) for t in from_docx] == key


REPORT = """BÁO CÁO TIẾN ĐỘ
Hà Nội, ngày {day} tháng {month} năm 2025

| TT | Nhiệm vụ | Cơ quan chủ trì | Thời gian hoàn thành | Tiến độ |
| 1 | Xây dựng cơ sở dữ liệu quốc gia về văn bằng, chứng chỉ | Bộ Giáo dục và Đào tạo | Tháng 3/2025 | {first} |
| 2 | Ban hành quy chế khai thác dữ liệu dân cư cho dịch vụ công | Bộ Công an | Tháng 9/2025 | {second} |
| 3 | Xây dựng kho dữ liệu y tế dùng chung | Bộ Y tế | Tháng 12/2025 | Hoàn thành |
"""


def _report_store(tmp_path: Path):
    from index.docstore import DocStore
    from index.tasks import EXTRACTOR_VERSION

    store = DocStore(tmp_path / "d.sqlite")
    for name, day, month, first, second in (("bao-cao-5.md", 25, 5, "Đang thực hiện", "Đang thực hiện"),
                                            ("bao-cao-7.md", 1, 7, "Đã hoàn thành", "Đang thực hiện")):
        path = tmp_path / name
        path.write_text(REPORT.format(day=day, month=month, first=first, second=second), encoding="utf-8")
        doc = only(path)
        store.put([(doc, [], [str(path)])], "c", "m")
        store.put_tasks(doc.doc_id, extract_tasks(doc.doc_id, doc.text, doc.date), EXTRACTOR_VERSION)
    return store


def test_a_later_report_updates_the_status_and_late_means_past_due_undone(tmp_path):
    from assistant import tasktable

    store = _report_store(tmp_path)
    try:
        every = tasktable.select(store)
        assert len(every) == 6 and all(t.reported for t in every)
        by_lead = {}
        for t in every:
            by_lead.setdefault(t.lead, set()).add((t.status, t.reported))
        # both rows of the database task take the July report's "done"; the May report's "Đang thực hiện"
        # of a March deadline was late when it was written, and is superseded
        assert by_lead["Bộ Giáo dục và Đào tạo"] == {("done", "2025-07-01")}
        # not due yet at either report: in progress
        assert by_lead["Bộ Công an"] == {("in_progress", "2025-07-01")}
        late = tasktable.select(store, status="chậm")
        assert late == []
        done = tasktable.select(store, status="hoàn thành")
        assert {t.lead for t in done} == {"Bộ Giáo dục và Đào tạo", "Bộ Y tế"}
        rows = tasktable.rows(every, store)
        assert {r["status_text"] for r in rows} >= {"Đã hoàn thành", "Hoàn thành", "Đang thực hiện"}
        with pytest.raises(ValueError, match="not a status"):
            tasktable.select(store, status="mai")
    finally:
        store.close()


def test_in_progress_after_the_deadline_is_late_and_answers_list_it(tmp_path):
    from assistant import tasktable
    from assistant.question import analyse
    from assistant.task_answers import answer_from_tasks
    from index.docstore import DocStore
    from index.tasks import EXTRACTOR_VERSION

    path = tmp_path / "bao-cao.md"
    path.write_text(REPORT.format(day=10, month=10, first="Đang thực hiện", second="Chậm"), encoding="utf-8")
    doc = only(path)
    store = DocStore(tmp_path / "d.sqlite")
    try:
        store.put([(doc, [], [str(path)])], "c", "m")
        store.put_tasks(doc.doc_id, extract_tasks(doc.doc_id, doc.text, doc.date), EXTRACTOR_VERSION)
        late = tasktable.select(store, status="late")
        assert {t.lead for t in late} == {"Bộ Giáo dục và Đào tạo", "Bộ Công an"}  # past due in progress; "Chậm"
        answer = answer_from_tasks(analyse("Những nhiệm vụ nào chậm tiến độ?"), store)
        assert answer is not None and not answer.refused
        assert "Bộ Giáo dục và Đào tạo" in answer.text and "Bộ Công an" in answer.text and "Bộ Y tế" not in answer.text
        assert len(answer.citations) == 2
        assert all(doc.text[c.start : c.end].startswith("| ") for c in answer.citations)  # each cites its row
        done = answer_from_tasks(analyse("Bộ Y tế đã hoàn thành những nhiệm vụ nào?"), store)
        assert done is not None and len(done.citations) == 1 and "kho dữ liệu y tế" in done.text
    finally:
        store.close()


def test_docx_cells_merged_down_rows_and_tables_inside_cells(tmp_path):
    import docx

    document = docx.Document()
    table = document.add_table(rows=3, cols=3)
    for j, text in enumerate(["Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn"]):
        table.cell(0, j).text = text
    table.cell(1, 0).text = "Xây dựng đề án A"
    table.cell(2, 0).text = "Xây dựng đề án B"
    table.cell(1, 1).merge(table.cell(2, 1)).text = "Bộ Nội vụ"  # one lead for both rows
    table.cell(1, 2).text = "Tháng 6/2026"
    inner = table.cell(2, 2).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "Giai đoạn 1", "Quý 4/2026"
    path = tmp_path / "gop.docx"
    document.save(str(path))
    rows = rows_of(only(path))
    assert rows[1][:2] == ["Xây dựng đề án A", "Bộ Nội vụ"] and rows[2][:2] == ["Xây dựng đề án B", "Bộ Nội vụ"]
    assert "Giai đoạn 1, Quý 4/2026" in rows[2][2]
