"""The task table as users see it: filtered, with conflicts and sources, exported as they need."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

from index.docstore import DocStore
from index.lang.facts import canonical_agency
from index.table_tasks import status_of
from index.tasks import Task

COLUMNS = ["lead", "collaborators", "task", "deadline_text", "due_start", "due_end", "conflict", "status",
           "status_text", "reported", "result", "group", "progress", "title", "date", "source", "sentence", "start",
           "end", "task_id", "doc_id"]
#: How the statuses read in Vietnamese (CLI, UI, answers).
STATUS_LABELS = {"done": "đã hoàn thành", "in_progress": "đang thực hiện", "late": "chậm tiến độ"}


def parse_date(value: str) -> str:
    """ISO date from ``YYYY-MM-DD`` or ``dd/mm/yyyy`` (what staff type)."""
    value = value.strip()
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", value)
    try:
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD or dd/mm/yyyy)") from None


def parse_status(value: str) -> str:
    """``done`` / ``in_progress`` / ``late`` from what staff type ("chậm", "đang thực hiện", "late")."""
    key = value.strip().lower().replace("-", "_")
    if key in STATUS_LABELS:
        return key
    found = status_of(value) or status_of("đã " + value)
    if found is None:
        raise ValueError(f"not a status: {value!r} (use done / in_progress / late, or hoàn thành / đang thực "
                         "hiện / chậm)")
    return found


def with_status(tasks: list[Task], docstore: DocStore, today: str | None = None) -> list[Task]:
    """Each task with the latest status any report gives its assignment (a later progress report updates
    an earlier row), and marked ``late`` when it was not done by its deadline: a report says "chậm" or
    "quá hạn", or says "đang thực hiện" after the deadline had passed (at the report's date)."""
    latest = docstore.latest_status(t.task_id for t in tasks)
    out = []
    for task in tasks:
        row = latest.get(task.task_id)
        if row is not None:
            task = replace(task, status=row.status, status_text=row.status_text, reported=row.reported,
                           progress=row.progress if row.doc_id != task.doc_id else task.progress)
        at = task.reported or today or date.today().isoformat()
        if task.status == "in_progress" and task.due_end and task.due_end < at:
            task = replace(task, status="late")
        out.append(task)
    return out


def select(docstore: DocStore, agency: str | None = None, due_before: str | None = None,
           due_after: str | None = None, doc: str | None = None, status: str | None = None) -> list[Task]:
    """Tasks, with the conflicts flagged across *all* documents at index time, filtered.

    Args:
        agency: any alias ("Bộ KH-CN"); matches a lead or a collaborator.
        due_before / due_after: ISO or dd/mm/yyyy; compared with the end of the deadline range.
        doc: a document id, or a part of its source path or title.
        status: done / in_progress / late (see :func:`parse_status`), after the latest report.
    """
    wanted = parse_status(status) if status else None
    out = docstore.tasks(
        agency=canonical_agency(agency) if agency else None,
        due_before=parse_date(due_before) if due_before else None,
        due_after=parse_date(due_after) if due_after else None,
    )
    if doc:
        needle = doc.lower()
        keep = {d["doc_id"] for d in docstore.catalogue() if d["doc_id"] == doc or needle in d["title"].lower()
                or any(needle in s.lower() for s in d["sources"])}
        out = [t for t in out if t.doc_id in keep]
    out = with_status(out, docstore)
    if wanted:
        out = [t for t in out if t.status == wanted]
    return out


def rows(tasks: list[Task], docstore: DocStore) -> list[dict]:
    """Flat rows with each task's document and its conflicting values (from any document)."""
    by_id = {t.task_id: t for t in docstore.tasks_by_id(c for t in tasks for c in t.conflicts)}
    # titles, dates and sources in one query, without the documents' texts (a large archive's table)
    docs = {d["doc_id"]: d for d in docstore.catalogue()} if tasks else {}
    out = []
    for t in tasks:
        doc = docs.get(t.doc_id)
        others = [by_id[c] if c in by_id else None for c in t.conflicts]
        conflict = "; ".join(f"{o.lead}: {o.deadline_text or 'không hạn'}" for o in others if o) or (
            "có" if t.conflicts else "")
        out.append({
            "lead": ", ".join(t.leads), "collaborators": ", ".join(t.collaborators), "task": t.task,
            "deadline_text": t.deadline_text or "", "due_start": t.due_start or "", "due_end": t.due_end or "",
            "conflict": conflict, "status": t.status or "", "status_text": t.status_text or "",
            "reported": t.reported or "", "result": t.result or "", "group": t.group or "",
            "progress": t.progress or "", "title": doc["title"] if doc else "",
            "date": (doc["date"] or "") if doc else "",
            "source": doc["sources"][0] if doc and doc["sources"] else "", "sentence": t.sentence,
            "start": t.start, "end": t.end,
            "task_id": t.task_id, "doc_id": t.doc_id,
        })
    return out


def to_csv(table: list[dict]) -> str:
    """CSV with a header (UTF-8; Excel opens it with the BOM the CLI writes)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def to_json(table: list[dict]) -> str:
    """JSON array of rows."""
    return json.dumps(table, ensure_ascii=False, indent=1)


def to_xlsx(table: list[dict], path: Path) -> None:
    """An Excel workbook with one sheet, a frozen header and readable column widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "Nhiệm vụ"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table:
        sheet.append([row[c] for c in COLUMNS])
    sheet.freeze_panes = "A2"
    widths = {"lead": 28, "collaborators": 28, "task": 60, "deadline_text": 20, "conflict": 30, "status_text": 16,
              "result": 30, "group": 24, "progress": 40, "title": 40, "source": 40, "sentence": 80, "task_id": 28,
              "doc_id": 22, "start": 8, "end": 8}
    for i, name in enumerate(COLUMNS):
        sheet.column_dimensions[get_column_letter(i + 1)].width = widths.get(name, 12)
    book.save(path)


def to_text(table: list[dict]) -> str:
    """A terminal table: lead, deadline, task, source; conflicts marked with '!'."""
    if not table:
        return "Không có nhiệm vụ nào khớp bộ lọc."
    lines = []
    for row in table:
        due = row["deadline_text"] or "—"
        mark = " !" if row["conflict"] else ""
        lines.append(f"{row['lead'][:32]:<32}  {due[:24]:<24}{mark}")
        lines.append(f"    {row['task'][:110]}")
        if row["collaborators"]:
            lines.append(f"    phối hợp: {row['collaborators']}")
        if row["conflict"]:
            lines.append(f"    ! nguồn khác ghi: {row['conflict']}")
        if row["status"]:
            when = f", báo cáo {row['reported']}" if row["reported"] else ""
            lines.append(f"    tiến độ: {STATUS_LABELS[row['status']]} ({row['status_text']}{when})")
        lines.append(f"    nguồn: {Path(row['source'].split('#')[0]).name} @ {row['start']}-{row['end']}")
    lines.append(f"({len(table)} nhiệm vụ)")
    return "\n".join(lines)


def timeline(table: list[dict]):
    """A bar chart (matplotlib Figure): how many tasks fall due in each month; undated ones apart."""
    import matplotlib

    matplotlib.use("Agg")
    from collections import Counter

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    months = Counter(r["due_end"][:7] for r in table if r.get("due_end"))
    undated = sum(1 for r in table if not r.get("due_end"))
    labels = sorted(months) + (["không hạn"] if undated else [])
    counts = [months[m] for m in sorted(months)] + ([undated] if undated else [])
    fig = Figure(figsize=(8, 2.6), dpi=100)
    ax = fig.add_subplot()
    bars = ax.bar(range(len(labels)), counts, color=["#b45309"] * len(months) + ["#9ca3af"] * bool(undated))
    ax.bar_label(bars, fontsize=8)
    ax.set_xticks(range(len(labels)), [m.replace("-", "/") if m[:1].isdigit() else m for m in labels],
                  rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("nhiệm vụ", fontsize=8)
    ax.set_title("Số nhiệm vụ theo tháng đến hạn", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.7, max(len(labels), 8) - 0.3)  # a few bars stay bars, not walls
    fig.tight_layout()
    return fig
