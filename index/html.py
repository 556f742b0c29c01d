"""HTML pages -> their text, title and date, in one linear pass over the parser's events."""

from __future__ import annotations

from dataclasses import dataclass, field

from index.tables import flatten, render_table


@dataclass(frozen=True)
class Page:
    """What a page says: its text (blocks on their own lines), title (first ``<h1>``, else
    ``<title>``) and date (from ``<meta>``)."""

    text: str
    title: str | None = None
    date: str | None = None


_BLOCK_TAGS = frozenset({
    "p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "table", "ul", "ol", "blockquote", "pre", "header", "footer",
})
_CELL_TAGS = frozenset({"td", "th"})


@dataclass
class _Table:
    """A table being read: finished rows, the open row and cell, and cells spanning rows below."""

    rows: list[list[str]] = field(default_factory=list)
    row: list[str] | None = None
    cell: list[str] | None = None
    cell_rows: int = 1
    spans: dict[int, tuple[int, str]] = field(default_factory=dict)  # column -> (rows left, text)
    loose: list[str] = field(default_factory=list)  # text outside any cell (a caption)

    def add_cell(self, text: str) -> None:
        if self.row is None:
            self.row = []
        while len(self.row) in self.spans:  # a cell from a row above covers this column
            self._carry(len(self.row))
        if self.cell_rows > 1:
            self.spans[len(self.row)] = (self.cell_rows - 1, text)
        self.row.append(text)

    def _carry(self, column: int) -> None:
        left, text = self.spans.pop(column)
        self.row.append(text)  # type: ignore[union-attr]
        if left > 1:
            self.spans[column] = (left - 1, text)

    def end_row(self) -> None:
        if self.row is None:
            return
        while len(self.row) in self.spans:
            self._carry(len(self.row))
        self.rows.append(self.row)
        self.row = None


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "nav"})
_DATE_META = ("date", "dc.date", "article:published_time", "pubdate")


class _PageText:
    """An lxml parser target: the text, title, first ``<h1>`` and date metadata of a page in one pass.

    Parse events are handled as they come, without building a tree: linear in the input, with no
    recursion and no depth limit (100,000 nested ``<div>`` took 500 s through BeautifulSoup, which
    inserted a newline node around every block tag; libxml2's tree builder stops at depth 256).
    Block elements are separated by newlines; script, style, navigation and the like are dropped.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.body: list[int] = []  # indexes into parts where <body> opened and closed
        self.skip_tag: str | None = None  # the dropped element we are inside, and how deep
        self.skip_depth = 0
        self.title: list[str | None] | None = None
        self.title_done = False
        self.h1: list[str | None] | None = None  # None marks a tag between two text nodes
        self.h1_depth = 0
        self.h1_done = False
        self.meta: dict[str, str] = {}
        self.tables: list[_Table] = []  # open tables, innermost last

    def _out(self, text: str) -> None:
        """Text goes to the open cell of the innermost table, else to the page."""
        if self.tables:
            table = self.tables[-1]
            (table.cell if table.cell is not None else table.loose).append(text)
        else:
            self.parts.append(text)

    def _table_start(self, tag, attrib) -> None:
        if tag == "table":
            self.tables.append(_Table())
            return
        table = self.tables[-1]
        if tag == "tr":
            table.end_row()
            table.row = []
        elif tag in _CELL_TAGS:
            table.cell, table.cell_rows = [], _span(attrib.get("rowspan"))

    def _table_end(self, tag) -> None:
        table = self.tables[-1]
        if tag in _CELL_TAGS and table.cell is not None:
            table.add_cell("".join(table.cell))
            table.cell = None
        elif tag == "tr":
            table.end_row()
        elif tag == "table":
            table.end_row()
            self.tables.pop()
            caption = "".join(table.loose).strip()
            if self.tables:  # a table inside a cell: flattened into the cell's text
                self._out(" " + " ".join(x for x in (caption, flatten(table.rows)) if x) + " ")
            else:
                self.parts.append("\n" + "\n".join(x for x in (caption, render_table(table.rows)) if x) + "\n")

    def start(self, tag, attrib) -> None:
        if self.h1_depth:
            self.h1.append(None)  # type: ignore[union-attr]
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        if tag in _SKIPPED_TAGS:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "table" or (self.tables and tag in ("tr", *_CELL_TAGS)):
            self._table_start(tag, attrib)
        elif tag in _BLOCK_TAGS:
            self._out("\n")
        if tag == "body":
            self.body.append(len(self.parts))
        elif tag == "title" and not self.title_done:
            self.title = []
        elif tag == "h1" and not self.h1_done:
            self.h1 = self.h1 if self.h1 is not None else []
            self.h1_depth += 1
        elif tag == "meta" and attrib.get("content"):
            for key in (attrib.get("name"), attrib.get("property")):
                if key in _DATE_META:
                    self.meta.setdefault(key, attrib["content"])

    def end(self, tag) -> None:
        if self.h1_depth:
            self.h1.append(None)  # type: ignore[union-attr]
        if self.skip_tag is not None:
            self.skip_depth -= tag == self.skip_tag
            if self.skip_depth == 0:
                self.skip_tag = None
            return
        if self.tables and tag in ("table", "tr", *_CELL_TAGS):
            self._table_end(tag)
        elif tag in _BLOCK_TAGS:
            self._out("\n")
        if tag == "body":
            self.body.append(len(self.parts))
        elif tag == "title" and self.title is not None and not self.title_done:
            self.title_done = True
        elif tag == "h1" and self.h1_depth:
            self.h1_depth -= 1
            self.h1_done = self.h1_depth == 0

    def comment(self, text: str) -> None:
        if self.h1_depth:
            self.h1.append(None)  # type: ignore[union-attr]  # a comment ends a text node, adds no text

    def data(self, text: str) -> None:
        if self.skip_tag is not None:
            return
        self._out(text)
        if self.title is not None and not self.title_done:
            self.title.append(text)
        if self.h1_depth:
            self.h1.append(text)  # type: ignore[union-attr]

    def close(self) -> Page:
        while self.tables:  # a page cut short inside a table keeps what it had
            self._table_end("table")
        def joined(pieces: list[str | None] | None) -> str | None:
            # Like BeautifulSoup's get_text(" ", strip=True): text nodes stripped, joined by a space
            # (the parser may hand one node over in several pieces, at an entity for instance).
            nodes, node = [], ""
            for piece in [*(pieces or []), None]:
                if piece is None:
                    nodes.append(node.strip())
                    node = ""
                else:
                    node += piece
            return " ".join(n for n in nodes if n) or None

        text = self.parts[self.body[0] : self.body[-1]] if len(self.body) > 1 else self.parts
        return Page("".join(text), title=joined(self.h1) or joined(self.title),
                    date=next((self.meta[k] for k in _DATE_META if k in self.meta), None))


def html_text(text: str) -> Page:
    """The text, title and date of an HTML page, linear in its size, however deeply it nests.

    Raises:
        ValueError: the parser could not read it at all.

    Example:
        >>> html_text("<title>T</title><p>Bộ Y tế</p><script>x()</script><p>chủ trì</p>").text
        '\\nBộ Y tế\\n\\nchủ trì\\n'
    """
    from lxml import etree

    parser = etree.HTMLParser(target=_PageText(), encoding="utf-8", huge_tree=True)
    try:
        parser.feed(text.encode("utf-8"))
        return parser.close()
    except etree.LxmlError as exc:
        raise ValueError(str(exc)) from None
