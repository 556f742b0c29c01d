"""What is still in force: a document that replaces, amends or restates an older one makes its values current
and the older ones history, in the task table and in answers; documents of the same standing stay equals."""

from __future__ import annotations

from index.header import Replacement, replacements

HEAD = "VĂN PHÒNG CHÍNH PHỦ\nSố: {number}\nHà Nội, ngày {day} tháng {month} năm 2026\n\nTHÔNG BÁO\n{summary}\n\n"
OLD = HEAD.format(number="447/TB-VPCP", day=28, month="02", summary="Kết luận về dữ liệu y tế") + (
    "Bộ Y tế chủ trì xây dựng cơ sở dữ liệu tiêm chủng quốc gia, hoàn thành trong quý 3/2026.\n"
    "Bộ Tài chính bố trí kinh phí cho dự án hồ sơ sức khỏe điện tử, hoàn thành trong tháng 5/2026.\n")
NEW = HEAD.format(number="512/TB-VPCP", day=20, month="03", summary="Kết luận điều chỉnh về dữ liệu y tế") + (
    "Thông báo này thay thế Thông báo số 447/TB-VPCP ngày 28/02/2026.\n"
    "Bộ Y tế chủ trì xây dựng cơ sở dữ liệu tiêm chủng quốc gia, hoàn thành trong quý 4/2026.\n")
LATER = HEAD.format(number="610/TB-VPCP", day=15, month="04", summary="Kết luận về hồ sơ sức khỏe") + (
    "Thực hiện Thông báo số 447/TB-VPCP ngày 28/02/2026, Bộ Tài chính bố trí kinh phí cho dự án hồ sơ sức khỏe "
    "điện tử, hoàn thành trong tháng 7/2026.\n")


def test_who_replaces_whom():
    assert replacements(NEW, "512/TB-VPCP") == (Replacement("thay thế", "447/TB-VPCP", None),)
    cited = "Quyết định số 929/QĐ-TTg ngày 15/5/2025 thay thế Quyết định số 598/QĐ-TTg."
    assert replacements(cited, "402-CV/VPĐU") == (Replacement("thay thế", "598/QĐ-TTg", "929/QĐ-TTg"),)
    assert replacements("Bãi bỏ Chỉ thị số 07/CT-TTg.") == (Replacement("bãi bỏ", "07/CT-TTg", None),)
    # an assignment to amend a text is not this document amending it
    assert replacements("Bộ Tư pháp sửa đổi Thông tư số 12/2020/TT-BTP trong quý 3.") == ()


def test_the_newer_document_is_current_and_the_older_is_history(assistant, tmp_path):
    from assistant import tasktable

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in (("a.txt", OLD), ("b.txt", NEW), ("c.txt", LATER)):
        (folder / name).write_text(text, encoding="utf-8")
    assistant.indexer.run([folder])
    store = assistant.docstore
    old, new, later = (next(iter(store.docs_numbered([n]))) for n in ("447/TB-VPCP", "512/TB-VPCP", "610/TB-VPCP"))
    assert store.in_force_over([old, new, later]) == {(new, old): "thay thế", (later, old): "ban hành sau"}

    current = tasktable.rows(tasktable.select(store), store)
    vaccines = [r for r in current if "tiêm chủng" in r["task"]]
    assert [(r["document"], r["deadline_text"], r["conflict"]) for r in vaccines] == [
        ("512/TB-VPCP, 20/03/2026", "trong quý 4/2026", "")]
    assert vaccines[0]["history"] == "theo 447/TB-VPCP, 28/02/2026: trong quý 3/2026"
    funds = [r for r in current if "kinh phí" in r["task"]]
    assert [(r["document"], r["deadline_text"]) for r in funds] == [("610/TB-VPCP, 15/04/2026", "trong tháng 7/2026")]
    everything = tasktable.rows(tasktable.select(store, history=True), store)
    superseded = sorted((r["document"], r["task"][:9], r["superseded_by"]) for r in everything if r["superseded_by"])
    assert superseded == [("447/TB-VPCP, 28/02/2026", "bố trí ki", "610/TB-VPCP, 15/04/2026"),
                          ("447/TB-VPCP, 28/02/2026", "xây dựng ", "512/TB-VPCP, 20/03/2026")]
    assert len(everything) == len(current) + 2

    answer = assistant.ask("Bộ Y tế phải hoàn thành cơ sở dữ liệu tiêm chủng quốc gia khi nào?")
    assert not answer.refused and {c.doc_id for c in answer.citations} == {old, new}  # both quoted
    lines = answer.text.splitlines()
    assert "quý 4/2026" in lines[0] and "quý 4/2026" in lines[1]  # the current value leads, and is quoted first
    assert answer.citations[0].doc_id == new
    assert "hiện hành" in answer.text and [c["in_force"] for c in answer.conflicts] == [1]


def test_press_reports_of_one_meeting_stay_in_conflict(indexed):
    from assistant import tasktable

    rows = tasktable.rows(tasktable.select(indexed.docstore), indexed.docstore)
    assert any(r["conflict"] for r in rows) and not any(r["history"] for r in rows)
