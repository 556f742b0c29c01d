"""Structure-aware chunking of Vietnamese official text.

Official documents are built from Phần / Chương / Mục / Điều headings, with Khoản (``1.``), Điểm
(``a)``) and bullets inside; news reports of directives use short sub-headings between paragraphs.
A chunk never crosses a heading (so each chunk has one heading path), prefers to end at a paragraph
or item boundary, falls back to sentences and then clauses for long paragraphs, and carries a small
overlap into the next chunk when one section needs several. Every chunk is an exact slice
``text[start:end]`` of the normalised document, so citations can point at the very passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.lang.sentences import CLAUSE_BREAK, SENTENCE_BREAK, Span, split
from index.lang.sentences import lines as line_spans

#: Counts tokens of several strings at once (the embedding model's tokenizer, without specials).
TokenCounter = Callable[[Sequence[str]], list[int]]

_ROMAN = r"[IVXLC]+"
# (level, pattern). Lower level = higher in the hierarchy.
_HEADINGS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"^(?:PHẦN|Phần)\s+(?:THỨ\s+\S+|thứ\s+\S+|{_ROMAN}|\d+)\b")),
    (1, re.compile(rf"^(?:CHƯƠNG|Chương)\s+(?:{_ROMAN}|\d+)\b")),
    (2, re.compile(rf"^(?:MỤC|Mục)\s+(?:\d+|{_ROMAN})\b(?!\s*(?:tiêu|đích))")),
    (3, re.compile(r"^Điều\s+\d+[a-zđ]?\s*[.:]")),
    # Roman-numbered parts of directives and conclusions ("I. KẾT QUẢ", "II. NHIỆM VỤ").
    (1, re.compile(rf"^{_ROMAN}\.\s+\S")),
]
#: Item starts: preferred places to cut, but not headings.
_ITEM = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*[.)]\s|[a-zđ]\)\s|[-–•+*]\s)")
_CAPTION = re.compile(r"^\(?(?:ẢNH|Ảnh|Nguồn|NGUỒN|Video|VIDEO)\s*:", re.I)
#: No token of a real tokenizer is longer (e5's longest piece has 16 characters; twice that for margin),
#: so a span longer than max_tokens times this surely needs splitting.
_MAX_CHARS_PER_TOKEN = 32

#: 3: a heading line with nothing below it before the next sibling is kept; 4: unit vectors stored with chunks;
#: 5: long sentences cut into clause units
#: 6: a table's header row (and group row) heads the chunks of its rows
CHUNKER_VERSION = "6"
#: A section's last piece smaller than this joins the chunk before it (a byline, a lone "TTXVN").
_MIN_TAIL_TOKENS = 24


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``document.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    headings: tuple[str, ...]
    tokens: int

    @property
    def heading_path(self) -> str:
        """Headings joined for display and metadata, e.g. ``Chương I > Điều 3. Giải thích``."""
        return " > ".join(self.headings)


def heading_level(line: str) -> int | None:
    """Level of a structural heading line (0 = Phần ... 3 = Điều), or None for body text."""
    for level, pattern in _HEADINGS:
        if pattern.match(line):
            return level
    return None


def _is_subheading(line: str, next_line: str | None) -> bool:
    """A news-style sub-heading: a short line without final punctuation before a longer paragraph."""
    if not next_line or len(line) > 120 or len(line.split()) < 3 or _ITEM.match(line) or line.startswith("|"):
        return False
    if line[-1] in ".!?…;:,\"”)" or line.isupper() and len(line) < 12:
        return False
    if _CAPTION.match(line):
        return False
    return len(next_line) > len(line) * 1.5


#: Heading levels of a table's header row and of its group rows ("| II | Thể chế |"): below every
#: structural heading, so the chunks of a long table's rows each carry the header (and their group) in
#: their heading path, which is embedded with them.
_TABLE, _TABLE_GROUP = 5, 6


def _is_row(text: str, span: Span) -> bool:
    line = text[span.start : span.end]
    return line.startswith("|") and line.endswith("|")


def _table_level(columns: int, line: str, next_line: str | None, after_row: bool) -> int | None:
    """The heading level of a table row line: the header (a row right after a non-row line, followed
    by a row), a group row (at most two filled cells where the header has four columns or more), or
    None for a body row. ``columns``: the header's column count (0 outside a table)."""
    if not after_row:
        return _TABLE if next_line and next_line.startswith("|") and next_line.endswith("|") else None
    filled = [c for c in line.strip("|").split("|") if c.strip()]
    return _TABLE_GROUP if columns >= 4 and len(filled) <= 2 else None


def _windows(text: str, span: Span, size: int) -> list[Span]:
    """Cut ``span`` into pieces of at most ``size`` characters, at a space where there is one."""
    pieces, start = [], span.start
    while span.end - start > size:
        cut = text.rfind(" ", start + 1, start + size)
        cut = cut if cut > start else start + size  # one endless "word" (base64, a table rule): cut anyway
        pieces.append(Span(start, cut))
        start = cut
        while start < span.end and text[start] == " ":
            start += 1
    if span.end > start:
        pieces.append(Span(start, span.end))
    return pieces


class Chunker:
    """Split documents into heading-scoped, token-bounded, overlapping chunks.

    Args:
        count_tokens: the embedding model's token counter (no special tokens).
        max_tokens: upper bound of a chunk's own text; title and headings are added at embed time,
            so keep a margin under the model window (512 for e5-small).
        overlap_tokens: how much of a chunk's tail is repeated at the head of the next chunk of the
            same section.

    Example:
        >>> chunker = Chunker(lambda texts: [len(t.split()) for t in texts], max_tokens=64)
        >>> [c.heading_path for c in chunker.split("d1", "Điều 1. Phạm vi\\nLuật này quy định.")]
        ['Điều 1. Phạm vi']
    """

    def __init__(self, count_tokens: TokenCounter, max_tokens: int = 320, overlap_tokens: int = 48):
        if overlap_tokens >= max_tokens // 2:
            raise ValueError("overlap_tokens must be less than half of max_tokens")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    @property
    def version(self) -> str:
        """Identifies the chunking rules and sizes: a change means documents must be re-chunked."""
        return f"{CHUNKER_VERSION}:{self.max_tokens}:{self.overlap_tokens}"

    # -- sections -------------------------------------------------------------------------
    def _sections(self, text: str) -> list[tuple[tuple[str, ...], list[Span], int]]:
        """(heading path, line spans, how many of the first spans are the heading itself)."""
        lines = line_spans(text)
        stack: list[tuple[int, str]] = []
        sections: list[tuple[tuple[str, ...], list[Span], int]] = []
        current: list[Span] = []
        n_heading = 0
        columns = 0  # of the table being read
        i = 0
        while i < len(lines):
            line = text[lines[i].start : lines[i].end]
            nxt = text[lines[i + 1].start : lines[i + 1].end] if i + 1 < len(lines) else None
            level = heading_level(line)
            if line.startswith("|") and line.endswith("|"):
                level = _table_level(columns, line, nxt, i > 0 and _is_row(text, lines[i - 1]))
                if level == _TABLE:
                    columns = line.count("|") - 1
            elif stack and stack[-1][0] >= _TABLE:  # the line after a table: its header and groups end
                if current:
                    sections.append((tuple(h for _, h in stack), current, n_heading))
                while stack and stack[-1][0] >= _TABLE:
                    stack.pop()
                current, n_heading, columns = [], 0, 0
            if level is None and i > 0 and _is_subheading(line, nxt):
                level = 4
            if level is None:
                current.append(lines[i])
                i += 1
                continue
            block = [lines[i]]
            title = line
            # "Chương I" followed by its upper-case name on the next line: one heading.
            if level <= 2 and nxt and nxt.isupper() and len(nxt) < 150 and heading_level(nxt) is None:
                block.append(lines[i + 1])
                title = f"{line} {nxt}"
                i += 1
            if current:
                sections.append((tuple(h for _, h in stack), current, n_heading))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title[:160]))
            current, n_heading = block, len(block)
            i += 1
        if current:
            sections.append((tuple(h for _, h in stack), current, n_heading))
        return sections

    # -- units ----------------------------------------------------------------------------
    def _fit(self, text: str, spans: list[Span]) -> list[tuple[Span, int]]:
        """Break spans until each fits ``max_tokens``: paragraphs, then sentences, clauses, words."""
        # A span this long cannot fit, whatever its words: it is split before it is counted, because
        # tokenizing one multi-megabyte string is superlinear (a 2 MB line took seconds, 8 MB minutes).
        longest = self.max_tokens * _MAX_CHARS_PER_TOKEN
        measured = [s for s in spans if s.end - s.start <= longest]
        counted = iter(self.count_tokens([text[s.start : s.end] for s in measured]))
        out: list[tuple[Span, int]] = []
        for span in spans:
            count = next(counted) if span.end - span.start <= longest else None
            if count is not None and count <= self.max_tokens:
                out.append((span, count))
                continue
            for pattern in (SENTENCE_BREAK, CLAUSE_BREAK):
                pieces = split(text, span, pattern)
                if len(pieces) > 1:
                    out.extend(self._fit(text, pieces))
                    break
            else:
                if count is None:
                    out.extend(self._fit(text, _windows(text, span, longest)))
                else:
                    out.extend(self._fit_words(text, span, count))
        return out

    def _fit_words(self, text: str, span: Span, count: int) -> list[tuple[Span, int]]:
        words = [m.span() for m in re.finditer(r"\S+", text[span.start : span.end])]
        per_piece = max(1, int(len(words) * self.max_tokens / count * 0.9))
        out = []
        for i in range(0, len(words), per_piece):
            group = words[i : i + per_piece]
            piece = Span(span.start + group[0][0], span.start + group[-1][1])
            out.append((piece, self.count_tokens([text[piece.start : piece.end]])[0]))
        return out

    def _tail(self, text: str, units: list[tuple[Span, int]]) -> list[tuple[Span, int]]:
        """The last sentences of ``units`` that fit in the overlap budget."""
        if not self.overlap_tokens:
            return []
        last = units[-1][0]
        sentences = split(text, last, SENTENCE_BREAK)
        if len(sentences) < 2 and len(units) < 2:
            return []
        candidates = sentences[1:] if len(sentences) > 1 else [last]
        counts = self.count_tokens([text[s.start : s.end] for s in candidates])
        tail: list[tuple[Span, int]] = []
        budget = self.overlap_tokens
        for span, count in reversed(list(zip(candidates, counts))):
            if count > budget:
                break
            tail.insert(0, (span, count))
            budget -= count
        return tail

    # -- chunks ---------------------------------------------------------------------------
    def split(self, doc_id: str, text: str) -> list[Chunk]:
        """Chunks of one document, in reading order, each an exact slice of ``text``."""
        chunks: list[Chunk] = []

        def emit(headings: tuple[str, ...], units: list[tuple[Span, int]]) -> None:
            start, end = units[0][0].start, units[-1][0].end
            chunks.append(Chunk(
                chunk_id=f"{doc_id}-{len(chunks):05d}", doc_id=doc_id, ordinal=len(chunks),
                text=text[start:end], start=start, end=end, headings=headings,
                tokens=sum(c for _, c in units),
            ))

        sections = self._sections(text)
        for i, (headings, spans, n_heading_lines) in enumerate(sections):
            below = sections[i + 1][0] if i + 1 < len(sections) else ()
            if len(spans) == n_heading_lines and below[: len(headings)] == headings and below != headings:
                continue  # a heading with nothing under it lives on in the paths of what follows
            # Otherwise the heading line is the content ("Điều 1. Luật này quy định ..." on one line,
            # then "Điều 2."): skipping it lost that text from the index.
            units = self._fit(text, spans)
            current: list[tuple[Span, int]] = []  # the chunk being built: overlap + new units
            new: list[tuple[Span, int]] = []  # its units that no earlier chunk holds
            previous: list[tuple[Span, int]] = []
            for unit in units:
                if current and sum(c for _, c in current) + unit[1] > self.max_tokens:
                    emit(headings, current)
                    previous, new = current, []
                    current = self._tail(text, current)
                    if sum(c for _, c in current) + unit[1] > self.max_tokens:
                        current = []
                current.append(unit)
                new.append(unit)
            if not current:
                continue
            new_tokens = sum(c for _, c in new)
            small_tail = new_tokens < _MIN_TAIL_TOKENS
            if previous and small_tail and chunks[-1].tokens + new_tokens <= self.max_tokens + _MIN_TAIL_TOKENS:
                chunks.pop()
                current = previous + new
            emit(headings, current)
        return chunks
