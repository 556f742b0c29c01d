"""The task table's timeline chart."""

from __future__ import annotations

import pytest

from assistant.tasktable import timeline


def test_timeline_counts_tasks_per_month_with_undated_apart():
    rows = [{"due_end": "2026-03-31"}, {"due_end": "2026-03-15"}, {"due_end": "2026-09-30"}, {"due_end": ""}]
    fig = timeline(rows)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["2026/03", "2026/09", "không hạn"] and heights == [2, 1, 1]
    assert len(timeline([]).axes[0].patches) == 0


REPORT = """Hà Nội, ngày 10 tháng 10 năm 2025

| TT | Nhiệm vụ | Cơ quan chủ trì | Thời hạn | Tiến độ |
| 1 | Xây dựng cơ sở dữ liệu văn bằng | Bộ Giáo dục và Đào tạo | Tháng 9/2025 | Đang thực hiện |
| 2 | Xây dựng kho dữ liệu y tế | Bộ Y tế | Tháng 11/2025 | Đang thực hiện |
| 3 | Kết nối dữ liệu bảo hiểm | Bộ Y tế | Tháng 10/2025 | Đã hoàn thành |
| 4 | Số hóa hồ sơ đất đai | Bộ Nông nghiệp và Môi trường | Tháng 6/2026 | Đang thực hiện |
| 5 | Rà soát thủ tục hành chính | Bộ Tư pháp | Thường xuyên | Đang thực hiện |
"""


def _store(tmp_path):
    from index.docstore import DocStore
    from index.load import load_path
    from index.tasks import EXTRACTOR_VERSION, extract_tasks

    path = tmp_path / "bao-cao.md"
    path.write_text(REPORT, encoding="utf-8")
    (doc,) = list(load_path(path))
    store = DocStore(tmp_path / "d.sqlite")
    store.put([(doc, [], [str(path)])], "c", "m")
    store.put_tasks(doc.doc_id, extract_tasks(doc.doc_id, doc.text, doc.date), EXTRACTOR_VERSION)
    return store


def test_due_soon_lists_what_falls_due_and_what_is_past_due_and_not_done(tmp_path):
    from assistant import tasktable

    store = _store(tmp_path)
    try:
        soon = tasktable.due_soon(tasktable.select(store), 30, today="2025-11-05")
        # past due and undone (September), due within 30 days (November); done and far-off ones left out
        assert [(t.lead, t.due_end) for t in soon] == [("Bộ Giáo dục và Đào tạo", "2025-09-30"),
                                                       ("Bộ Y tế", "2025-11-30")]
        rows = tasktable.rows(soon, store)
        assert [tasktable.due_note(r, "2025-11-05") for r in rows] == ["quá hạn 36 ngày", "còn 25 ngày"]
        text = tasktable.to_due_text(rows, "2025-11-05")
        assert text.index("== Bộ Giáo dục và Đào tạo") < text.index("== Bộ Y tế")
        assert tasktable.parse_days("2w") == 14 and tasktable.parse_days("30d") == 30
        with pytest.raises(ValueError):
            tasktable.parse_days("sớm")
    finally:
        store.close()


def test_the_calendar_parses_with_two_libraries_and_keeps_the_dates(tmp_path):
    import vobject
    from icalendar import Calendar

    from assistant import tasktable

    store = _store(tmp_path)
    try:
        rows = tasktable.rows(tasktable.select(store), store)
        data = tasktable.to_ics(rows, "http://chidao.intranet", "Nhiệm vụ — Bộ Y tế")
    finally:
        store.close()
    dated = {r["task_id"]: r for r in rows if r["due_end"]}
    assert len(dated) == 4  # "Thường xuyên" has no date: no event
    events = Calendar.from_ical(data).walk("VEVENT")
    assert {str(e["UID"]).removesuffix("@chidao") for e in events} == set(dated)
    for event in events:
        row = dated[str(event["UID"]).removesuffix("@chidao")]
        assert event.decoded("DTSTART").isoformat() == row["due_end"]
        assert row["task"] in str(event["SUMMARY"]) and "http://chidao.intranet/doc/" in str(event["DESCRIPTION"])
    second = vobject.readOne(data.decode("utf-8"))
    starts = sorted(e.dtstart.value.isoformat() for e in second.vevent_list)
    assert starts == sorted(r["due_end"] for r in dated.values())
    assert all("Chủ trì:" in e.description.value for e in second.vevent_list)


def test_the_timeline_draws_one_bar_a_dated_task():
    from assistant.tasktable import gantt

    rows = [{"lead": "Bộ Y tế", "task": "A", "due_start": "2026-01-01", "due_end": "2026-03-31", "status": "late"},
            {"lead": "Bộ Y tế", "task": "B", "due_start": None, "due_end": "2026-06-30", "status": ""},
            {"lead": "Bộ Y tế", "task": "C", "due_start": None, "due_end": "", "status": ""}]
    ax = gantt(rows, today="2026-04-01").axes[0]
    bars = [p for p in ax.patches]
    assert len(bars) == 2 and bars[0].get_facecolor()[:3] != bars[1].get_facecolor()[:3]
