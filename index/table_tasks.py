"""Assignment tables: the form in which most tasks are actually assigned and reported.

A table is an assignment table when its header names a task column and a lead column, in any order and
wording: "Nhiệm vụ / Tên nhiệm vụ / Nội dung", "Cơ quan chủ trì / Đơn vị chủ trì / Cơ quan thực hiện",
optionally "Cơ quan phối hợp", "Thời gian hoàn thành / Thời hạn / Tiến độ", "Kết quả / Sản phẩm",
"Tình hình thực hiện". Each row under it is one task, cited by its row line; a row with at most two
filled cells ("| II | Thể chế |") is the group heading of the rows after it.

A column headed "Tiến độ" is a deadline when its cells read as dates and a status when they read as
progress ("Đã hoàn thành", "Đang thực hiện", "Chậm", "Quá hạn"); "Kết quả" is the expected result unless
the header says it is the result so far ("Kết quả hiện nay", "Kết quả thực hiện").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lang.cues import documents, progress_pattern
from index.lang.facts import find_agencies
from index.lang.vietnamese import fold
from index.tables import Cell, Row, Table, find_tables


def _column_roles() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Column roles, each recognised by the folded words of its header cell (``data/documents.tsv``, kind
    ``column``: a phrase the header contains, or with "=" the whole header); tried in the file's order,
    the first match wins."""
    phrases: dict[str, list[str]] = {}
    for role, phrase in documents("column"):
        whole = phrase.startswith("=")
        folded = re.escape(" ".join(fold(phrase.lstrip("=")).split()))
        phrases.setdefault(role, []).append(f"^{folded}$" if whole else folded)
    return tuple((role, re.compile("|".join(found))) for role, found in phrases.items())


_ROLES = _column_roles()

#: The statuses of a progress cell, in the order they are tried (data/progress.tsv: "chưa hoàn thành" is late).
STATUSES = ("late", "in_progress", "done")
_YEARS = re.compile(r"(?:nam\s+)?(\d{4})(?:\s*[-–]\s*(\d{4}))?")
_ROMAN_OR_LETTER = re.compile(r"^(?:[IVXLC]+|[A-ZĐ])\.?$")


def status_of(text: str) -> str | None:
    """``done``, ``in_progress`` or ``late`` for a progress cell as written, else None.

    Example:
        >>> status_of("Đang thực hiện"), status_of("Chưa hoàn thành"), status_of("Hoàn thành")
        ('in_progress', 'late', 'done')
    """
    folded = fold(text)[:80]
    return next((status for status in STATUSES if progress_pattern(status).search(folded)), None)


@dataclass(frozen=True)
class Columns:
    """Which column of a table holds what (indexes into a row's cells)."""

    task: int
    lead: int
    partners: int | None = None
    deadline: int | None = None
    result: int | None = None
    status: int | None = None
    progress: int | None = None
    index: int | None = None


def _role(header: str) -> str | None:
    folded = " ".join(fold(header).replace("/", " ").split())
    for role, pattern in _ROLES:
        if pattern.search(folded):
            return role
    return None


def _values(table: Table, column: int) -> list[str]:
    return [r.cells[column].text for r in table.rows if column < len(r.cells) and r.cells[column].text]


def _reads_as_status(values: list[str]) -> bool:
    return bool(values) and sum(status_of(v) is not None for v in values) >= len(values) / 2


def columns_of(table: Table) -> Columns | None:
    """The roles of an assignment table's columns, or None when the table assigns nothing."""
    roles: dict[str, int] = {}
    for i, cell in enumerate(table.header.cells):
        role = _role(cell.text)
        if role == "deadline" and "tien do" in fold(cell.text) and _reads_as_status(_values(table, i)):
            role = "status"  # "Tiến độ: Hoàn thành / Đang thực hiện" is progress, not a date
        if role == "status" and not _reads_as_status(_values(table, i)):
            role = "progress"  # "Tình hình thực hiện" written out in sentences
        if role is not None and role not in roles:
            roles[role] = i
    if "task" not in roles or "lead" not in roles:
        return None
    return Columns(**roles)


# --------------------------------------------------------------------------- agencies in a cell


def _top_level_parts(text: str) -> list[str]:
    """A cell split at commas, semicolons and line breaks outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")" and depth > 0
        if ch in ",;\n" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip(" .") for p in parts if p.strip(" .")]


def _names(text: str) -> list[str] | None:
    """The canonical names when known agencies make up all of ``text`` (but for "và" and punctuation),
    else None."""
    found = find_agencies(text)
    if not found:
        return None
    rest = text
    for m in reversed(found):
        rest = rest[: m.start] + " " + rest[m.end :]
    return [m.canonical for m in found] if not [w for w in re.findall(r"\w+", rest) if w != "và"] else None


def agencies_in(cell: str) -> list[str]:
    """The bodies a lead or partner cell names, in order, each once: known agencies by their canonical
    name, anything else as written (a company, "tổ chức chính trị - xã hội"). Parenthesised details
    ("Chính phủ (Bộ Công an, Bộ TTTT)") are left out.

    Example:
        >>> agencies_in("Bộ KHCN, Bộ Tài chính và Bộ Nội vụ")
        ['Bộ Khoa học và Công nghệ', 'Bộ Tài chính', 'Bộ Nội vụ']
    """
    bare = " ".join(re.sub(r"\([^)]*\)?", " ", cell).split()).strip(" .,;")
    if not bare:
        return []
    whole = _names(bare)  # "Các bộ, ngành, địa phương" is one collective name, commas and all
    if whole is not None and len(whole) == 1:
        return whole
    out: list[str] = []
    for part in _top_level_parts(bare):
        for name in _names(part) or [part]:
            if name not in out:
                out.append(name)
    return out


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class TableTask:
    """One row of an assignment table, read (the task table's row is built from it)."""

    row: Row
    leads: tuple[str, ...]
    partners: tuple[str, ...]
    task: str
    deadline: Cell | None
    result: str | None
    status: str | None
    status_text: str | None
    progress: str | None
    group: str | None


def year_range(text: str) -> tuple[str | None, str | None]:
    """A deadline cell that is only a year or a span of years: ``2025`` or ``2025-2026``."""
    m = _YEARS.fullmatch(fold(text).strip(" ."))
    if not m:
        return None, None
    first, last = m.group(1), m.group(2) or m.group(1)
    return f"{first}-01-01", f"{last}-12-31"


def open_ended(text: str) -> bool:
    """A recurring or open deadline ("Thường xuyên", "Hằng năm", "2025 và những năm tiếp theo")."""
    return bool(progress_pattern("open").search(fold(text)))


def _cell(row: Row, column: int | None) -> Cell | None:
    if column is None or column >= len(row.cells) or not row.cells[column].text:
        return None
    return row.cells[column]


def _is_group(row: Row, columns: Columns) -> bool:
    filled = [c for c in row.cells if c.text]
    if not filled:
        return False
    index = _cell(row, columns.index)
    if index is not None and _ROMAN_OR_LETTER.match(index.text) and _cell(row, columns.lead) is None:
        return True
    return len(row.cells) >= 4 and len(filled) <= 2 and _cell(row, columns.lead) is None


def table_rows(table: Table, columns: Columns) -> list[TableTask]:
    """The task rows of an assignment table, each with the group heading it sits under."""
    out: list[TableTask] = []
    group: str | None = None
    for row in table.rows:
        if _is_group(row, columns):
            group = " ".join(c.text for c in row.cells if c.text)
            continue
        task, lead = _cell(row, columns.task), _cell(row, columns.lead)
        if task is None or lead is None:
            continue
        leads = agencies_in(lead.text)
        if not leads:
            continue
        partners = _cell(row, columns.partners)
        status = _cell(row, columns.status)
        result, progress = _cell(row, columns.result), _cell(row, columns.progress)
        out.append(TableTask(
            row=row, leads=tuple(leads),
            partners=tuple(p for p in agencies_in(partners.text) if p not in leads) if partners else (),
            task=task.text, deadline=_cell(row, columns.deadline),
            result=result.text if result else None,
            status=status_of(status.text) if status else None, status_text=status.text if status else None,
            progress=progress.text if progress else None, group=group,
        ))
    return out


def assignment_tables(text: str) -> list[tuple[Table, Columns | None]]:
    """Every table of a document, with its column roles when it is an assignment table."""
    return [(t, columns_of(t)) for t in find_tables(text)]
