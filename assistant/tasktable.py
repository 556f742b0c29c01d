"""The task table as users see it: filtered, with conflicts and sources, exported as they need."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from pathlib import Path

from index.docstore import DocStore
from index.lang.facts import canonical_agency
from index.tasks import Task

COLUMNS = ["lead", "collaborators", "task", "deadline_text", "due_start", "due_end", "conflict", "title",
           "date", "source", "sentence", "start", "end", "task_id", "doc_id"]


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


def select(docstore: DocStore, agency: str | None = None, due_before: str | None = None,
           due_after: str | None = None, doc: str | None = None) -> list[Task]:
    """Tasks, with the conflicts flagged across *all* documents at index time, filtered.

    Args:
        agency: any alias ("Bộ KH-CN"); matches the lead or a collaborator.
        due_before / due_after: ISO or dd/mm/yyyy; compared with the end of the deadline range.
        doc: a document id, or a part of its source path or title.
    """
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
            "lead": t.lead, "collaborators": ", ".join(t.collaborators), "task": t.task,
            "deadline_text": t.deadline_text or "", "due_start": t.due_start or "", "due_end": t.due_end or "",
            "conflict": conflict, "title": doc["title"] if doc else "", "date": (doc["date"] or "") if doc else "",
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

    book = Workbook()
    sheet = book.active
    sheet.title = "Nhiệm vụ"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table:
        sheet.append([row[c] for c in COLUMNS])
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJKLMNO", (28, 28, 60, 20, 12, 12, 30, 40, 12, 40, 80, 8, 8, 28, 22)):
        sheet.column_dimensions[column].width = width
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
