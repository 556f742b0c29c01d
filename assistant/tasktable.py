"""The task table as users see it: filtered, with conflicts and sources, exported as they need."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, date
from pathlib import Path

from index.docstore import DocFilter, DocStore
from index.header import document_label
from index.lang.facts import canonical_agency
from index.table_tasks import status_of
from index.tasks import Task

COLUMNS = ["lead", "collaborators", "task", "deadline_text", "due_start", "due_end", "conflict", "history",
           "superseded_by", "status",
           "status_text", "reported", "result", "group", "progress", "document", "number", "title", "date", "source",
           "sentence", "start", "end", "task_id", "doc_id"]
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


def doc_filter(doc_type: str | None = None, issuer: str | None = None, number: str | None = None,
               since: str | None = None, until: str | None = None) -> DocFilter | None:
    """A filter on the documents' official header from what staff type (dates ISO or dd/mm/yyyy); None when
    every field is empty."""
    where = DocFilter(doc_type=(doc_type or "").strip() or None, issuer=(issuer or "").strip() or None,
                      number=(number or "").strip() or None,
                      since=parse_date(since) if since and since.strip() else None,
                      until=parse_date(until) if until and until.strip() else None)
    return where or None


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
                           progress=row.progress)
        at = task.reported or today or date.today().isoformat()
        if task.status == "in_progress" and task.due_end and task.due_end < at:
            task = replace(task, status="late")
        out.append(task)
    return out


def in_force(tasks: list[Task], docstore: DocStore) -> list[Task]:
    """Each task with what supersedes it: a row whose assignment a newer document restates (it replaces,
    repeals or amends this one's document, or is a later official document citing it) gets
    ``superseded_by``; the newer row keeps the older rows as ``history`` and no longer counts them as
    conflicts. Rows of documents of the same standing (two press reports of one meeting) stay in conflict."""
    if not tasks:
        return tasks
    same = docstore.same_links(t.task_id for t in tasks)
    linked = {o for t in tasks for o in (*t.conflicts, *same.get(t.task_id, ()))}
    others = {o.task_id: o for o in docstore.tasks_by_id(linked)}
    pairs = docstore.in_force_over({t.doc_id for t in tasks} | {o.doc_id for o in others.values()})
    if not pairs:
        return tasks
    out = []
    for task in tasks:
        older, newer = [], []
        for other_id in dict.fromkeys((*task.conflicts, *sorted(same.get(task.task_id, ())))):
            other = others.get(other_id)
            if other is None:
                continue
            if (task.doc_id, other.doc_id) in pairs:
                older.append(other_id)
            elif (other.doc_id, task.doc_id) in pairs:
                newer.append(other)
        # the newest: the superseding row no other superseding row supersedes in turn
        newest = next((o for o in newer if not any((n.doc_id, o.doc_id) in pairs for n in newer)),
                      newer[0] if newer else None)
        out.append(replace(task, history=tuple(older), conflicts=tuple(c for c in task.conflicts if c not in older
                                                                        and (newest is None or c != newest.task_id)),
                           superseded_by=newest.task_id if newest else None))
    return out


def select(docstore: DocStore, agency: str | None = None, due_before: str | None = None,
           due_after: str | None = None, doc: str | None = None, status: str | None = None,
           where: DocFilter | None = None, history: bool = False) -> list[Task]:
    """Tasks, with the conflicts flagged across *all* documents at index time, filtered.

    Args:
        agency: any alias ("Bộ KH-CN"); matches a lead or a collaborator.
        due_before / due_after: ISO or dd/mm/yyyy; compared with the end of the deadline range.
        doc: a document id, or a part of its source path or title.
        status: done / in_progress / late (see :func:`parse_status`), after the latest report.
        where: the documents' official header (type, issuer, number, date range).
        history: also the rows a newer document supersedes (marked); by default only what is in force.
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
    if where:
        keep = docstore.select_docs(where)
        out = [t for t in out if t.doc_id in keep]
    out = in_force(with_status(out, docstore), docstore)
    if not history:
        out = [t for t in out if t.superseded_by is None]
    if wanted:
        out = [t for t in out if t.status == wanted]
    return out


def rows(tasks: list[Task], docstore: DocStore) -> list[dict]:
    """Flat rows with each task's document, its conflicting values (from any document), the values older
    documents gave it (history) and, for a superseded row, the document that supersedes it."""
    by_id = {t.task_id: t for t in docstore.tasks_by_id(
        c for t in tasks for c in (*t.conflicts, *t.history, *([t.superseded_by] if t.superseded_by else [])))}
    # titles, dates and sources in one query, without the documents' texts (a large archive's table)
    docs = {d["doc_id"]: d for d in docstore.catalogue()} if tasks else {}
    out = []
    for t in tasks:
        doc = docs.get(t.doc_id)
        others = [by_id[c] if c in by_id else None for c in t.conflicts]
        conflict = "; ".join(f"{o.lead}: {o.deadline_text or 'không hạn'}" for o in others if o) or (
            "có" if t.conflicts else "")
        history = "; ".join(
            f"theo {_label(docs[o.doc_id]) if o.doc_id in docs else o.doc_id}: {o.deadline_text or 'không hạn'}"
            for o in (by_id.get(h) for h in t.history) if o)
        newer = by_id.get(t.superseded_by) if t.superseded_by else None
        out.append({
            "history": history,
            "superseded_by": (_label(docs[newer.doc_id]) if newer.doc_id in docs else newer.doc_id) if newer else "",
            "lead": ", ".join(t.leads), "collaborators": ", ".join(t.collaborators), "task": t.task,
            "deadline_text": t.deadline_text or "", "due_start": t.due_start or "", "due_end": t.due_end or "",
            "conflict": conflict, "status": t.status or "", "status_text": t.status_text or "",
            "reported": t.reported or "", "result": t.result or "", "group": t.group or "",
            "progress": t.progress or "", "document": _label(doc) if doc else "",
            "number": (doc.get("number") or "") if doc else "", "title": doc["title"] if doc else "",
            "date": (doc["date"] or "") if doc else "",
            "source": doc["sources"][0] if doc and doc["sources"] else "", "sentence": t.sentence,
            "start": t.start, "end": t.end,
            "task_id": t.task_id, "doc_id": t.doc_id,
        })
    return out


def _label(doc: dict) -> str:
    """"447/TB-VPCP, 28/02/2026" for a document with an official number, else its title."""
    return document_label(doc.get("number"), doc.get("date"), doc["title"]) or doc["title"]


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
              "result": 30, "group": 24, "progress": 40, "document": 26, "number": 16, "title": 40, "source": 40,
              "sentence": 80, "task_id": 28, "doc_id": 22, "start": 8, "end": 8}
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
        if row["history"]:
            lines.append(f"    trước đây: {row['history']}")
        if row["superseded_by"]:
            lines.append(f"    (đã được thay bằng {row['superseded_by']})")
        if row["status"]:
            when = f", báo cáo {row['reported']}" if row["reported"] else ""
            lines.append(f"    tiến độ: {STATUS_LABELS[row['status']]} ({row['status_text']}{when})")
        where = f"{row['number']}, " if row["number"] else ""
        lines.append(f"    nguồn: {where}{Path(row['source'].split('#')[0]).name} @ {row['start']}-{row['end']}")
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


# ------------------------------------------------------------------------------ what falls due


def parse_days(value: str) -> int:
    """A span as staff type it: "30d", "30", "2w" (weeks), "1m" (30 days)."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*([dwm]|ngày|tuần|tháng)?\s*", value.lower())
    if not m:
        raise ValueError(f"not a span of days: {value!r} (use e.g. 30d, 2w, 1m)")
    unit = m.group(2) or "d"
    return int(m.group(1)) * {"d": 1, "ngày": 1, "w": 7, "tuần": 7, "m": 30, "tháng": 30}[unit]


def due_soon(tasks: list[Task], days: int, today: str | None = None) -> list[Task]:
    """Tasks falling due within ``days`` from ``today``, and those past due that no report says are done,
    by lead agency, then deadline."""
    from datetime import timedelta

    start = date.fromisoformat(today) if today else date.today()
    horizon = (start + timedelta(days=days)).isoformat()
    found = [t for t in tasks if t.due_end and t.status != "done" and t.due_end <= horizon]
    return sorted(found, key=lambda t: (t.lead, t.due_end, t.task_id))


def due_note(row: dict, today: str | None = None) -> str:
    """"quá hạn 12 ngày" / "còn 5 ngày" / "đến hạn hôm nay" for a row with a deadline."""
    if not row.get("due_end"):
        return ""
    days = (date.fromisoformat(row["due_end"]) - (date.fromisoformat(today) if today else date.today())).days
    if days < 0:
        return f"quá hạn {-days} ngày"
    return "đến hạn hôm nay" if days == 0 else f"còn {days} ngày"


def to_due_text(table: list[dict], today: str | None = None) -> str:
    """Tasks falling due, grouped by lead agency (the view of ``chidao tasks --due-within``)."""
    if not table:
        return "Không có nhiệm vụ nào sắp đến hạn hoặc quá hạn."
    lines, lead = [], None
    for row in table:
        if row["lead"] != lead:
            lead = row["lead"]
            lines.append(f"== {lead}")
        lines.append(f"  {row['due_end']}  {due_note(row, today):<18} {row['task'][:100]}")
        lines.append(f"      {row['deadline_text']} — {row['document'][:60]} @ {row['start']}-{row['end']}")
    lines.append(f"({len(table)} nhiệm vụ)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ calendars


def to_ics(table: list[dict], base: str, name: str = "Nhiệm vụ") -> bytes:
    """An iCalendar file: one all-day event on each dated task's deadline, whose description holds the task,
    its document and a link to the cited passage (a calendar client can subscribe to /api/tasks.ics)."""
    from datetime import datetime, timedelta

    from icalendar import Calendar, Event

    from assistant.render import doc_url

    calendar = Calendar()
    calendar.add("prodid", "-//chidao//nhiem vu//VI")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    stamp = datetime.now(UTC)
    for row in table:
        if not row["due_end"]:
            continue
        due = date.fromisoformat(row["due_end"])
        link = doc_url(base, row["doc_id"], row["start"], row["end"]) if base else ""
        event = Event()
        event.add("uid", f"{row['task_id']}@chidao")
        event.add("dtstamp", stamp)
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(days=1))
        event.add("summary", f"{row['lead']}: {row['task'][:120]}")
        lines = [row["task"], f"Chủ trì: {row['lead']}",
                 f"Phối hợp: {row['collaborators']}" if row["collaborators"] else "",
                 f"Thời hạn: {row['deadline_text']}", f"Văn bản: {row['document']}",
                 f"Trích dẫn: {link}" if link else ""]
        event.add("description", "\n".join(x for x in lines if x))
        event.add("categories", [row["lead"]])
        if link:
            event.add("url", link)
        calendar.add_component(event)
    return calendar.to_ical()


# ------------------------------------------------------------------------------ an agency's timeline


def gantt(table: list[dict], today: str | None = None, most: int = 25):
    """A timeline (matplotlib Figure): one bar a dated task, from the start of its deadline range to its end,
    coloured by progress (late red, done green, in progress amber, unknown grey), today as a line."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import timedelta

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    dated = sorted((r for r in table if r.get("due_end")), key=lambda r: r["due_end"])[:most]
    fig = Figure(figsize=(8, 0.8 + 0.28 * max(len(dated), 1)), dpi=100)
    ax = fig.add_subplot()
    colours = {"late": "#dc2626", "done": "#16a34a", "in_progress": "#d97706"}
    for i, row in enumerate(dated):
        end = date.fromisoformat(row["due_end"])
        start = date.fromisoformat(row["due_start"]) if row.get("due_start") else end - timedelta(days=6)
        ax.barh(i, date2num(end + timedelta(days=1)) - date2num(start), left=date2num(start), height=0.6,
                color=colours.get(row.get("status") or "", "#9ca3af"))
    ax.set_yticks(range(len(dated)), [f"{r['lead'][:18]}: {r['task'][:38]}" for r in dated], fontsize=7)
    ax.invert_yaxis()
    now = date.fromisoformat(today) if today else date.today()
    ax.axvline(date2num(now), color="#1d4ed8", linewidth=1)
    months = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(months)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(months))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title("Tiến trình nhiệm vụ (đỏ: chậm, xanh: xong, cam: đang làm; vạch: hôm nay)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
