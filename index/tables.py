"""Tables in document text: every loader renders a table the same way, one row a line.

A row is ``| cell | cell | cell |``: cells separated by `` | ``, a cell's paragraphs joined by ``; ``, no
line break inside a row, no Markdown rule line (``|---|``). So a table read from .docx, .html, .pdf or
.md has one text form, its rows are lines a citation can point at, and :func:`find_tables` reads the
rows and cells (with their offsets) back from any stored document.

Merged cells: a cell spanning several rows is repeated in each row it covers (each row of an assignment
table then names its own lead); a cell spanning several columns is written once (a group heading row
"| II | Thể chế |" stays short). A table inside a cell is flattened into that cell's text.

Example:
    >>> text = render_table([["Nhiệm vụ", "Chủ trì"], ["Xây dựng đề án", "Bộ Nội vụ"]])
    >>> text
    '| Nhiệm vụ | Chủ trì |\\n| Xây dựng đề án | Bộ Nội vụ |'
    >>> [c.text for c in find_tables(text)[0].rows[0].cells]
    ['Xây dựng đề án', 'Bộ Nội vụ']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ROW = re.compile(r"^\|(.*)\|[ \t]*$", re.M)
_SPACE = re.compile(r"\s+")


def clean_cell(text: str) -> str:
    """A cell's text on one line: paragraphs joined by ``; ``, runs of spaces collapsed, no ``|``."""
    parts = [_SPACE.sub(" ", p).strip() for p in re.split(r"\s*\n\s*", text.replace("|", "/"))]
    return "; ".join(p for p in parts if p)


def render_row(cells: Sequence[str]) -> str:
    """One table row as a line (cells already :func:`clean_cell`-ed or not)."""
    return "| " + " | ".join(clean_cell(c) for c in cells) + " |"


def render_table(rows: Iterable[Sequence[str]]) -> str:
    """A table as lines, rows without any text left out."""
    return "\n".join(render_row(r) for r in rows if any(clean_cell(c) for c in r))


def flatten(rows: Iterable[Sequence[str]]) -> str:
    """A table nested in a cell, as the cell's text: cells by ``, ``, rows by ``; ``."""
    return "; ".join(", ".join(c for c in map(clean_cell, r) if c) for r in rows if any(map(clean_cell, r)))


# --------------------------------------------------------------------------- reading them back


@dataclass(frozen=True)
class Cell:
    """A cell: ``document.text[start:end] == text``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Row:
    """A row line: ``document.text[start:end]`` is the whole line."""

    start: int
    end: int
    cells: tuple[Cell, ...]

    def texts(self) -> list[str]:
        """The cells' texts."""
        return [c.text for c in self.cells]


@dataclass(frozen=True)
class Table:
    """A run of at least two row lines; the first is taken as the header."""

    start: int
    end: int
    header: Row
    rows: tuple[Row, ...]


def _row(text: str, start: int, end: int) -> Row:
    cells, at = [], start + 1  # after the opening "|"
    inner_end = text.rindex("|", start, end)
    for piece in text[start + 1 : inner_end].split("|"):
        lead = len(piece) - len(piece.lstrip())
        value = piece.strip()
        cells.append(Cell(value, at + lead, at + lead + len(value)))
        at += len(piece) + 1
    return Row(start, end, tuple(cells))


def find_tables(text: str) -> list[Table]:
    """Every table in a rendered text: runs of two or more consecutive row lines."""
    tables: list[Table] = []
    run: list[Row] = []

    def close() -> None:
        if len(run) >= 2:
            tables.append(Table(run[0].start, run[-1].end, run[0], tuple(run[1:])))
        run.clear()

    for match in _ROW.finditer(text):
        if run and text[run[-1].end : match.start()] != "\n":
            close()
        if len(match.group(1).strip()) or match.group(1).count("|"):
            run.append(_row(text, match.start(), match.end()))
    close()
    return tables


def table_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every table in ``text``."""
    return [(t.start, t.end) for t in find_tables(text)]


# --------------------------------------------------------------------------- Markdown

_MD_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!&<>~=\"'])")
_BR = re.compile(r"<br\s*/?>", re.I)


def _md_cells(line: str) -> list[str]:
    line = line.strip().replace("\\|", "/")
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [_BR.sub("\n", c) for c in line.split("|")]


def markdown_tables(text: str) -> str:
    """Markdown pipe tables rendered as rows (rule lines dropped, ``<br>`` as a paragraph break inside
    the cell), backslash escapes (``R\\&D``) undone; the rest of the text as it was."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        header = "|" in line and i + 1 < len(lines) and _MD_RULE.match(lines[i + 1]) and lines[i + 1].count("-") >= 3
        if not header:
            out.append(line)
            i += 1
            continue
        rows = [_md_cells(line)]
        i += 2
        while i < len(lines) and "|" in lines[i] and lines[i].strip():
            if not _MD_RULE.match(lines[i]):
                rows.append(_md_cells(lines[i]))
            i += 1
        out.append(render_table(rows))
    return _MD_ESCAPE.sub(r"\1", "\n".join(out))
