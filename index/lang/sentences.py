"""Sentences, list items and clauses of Vietnamese text, as exact offsets into it.

Shared by chunking (``index/chunk.py`` cuts long sections at sentences, then clauses) and answering: an
answer *unit* (:func:`unit_spans`) is a sentence, a ';'-separated list item, or a clause of an over-long
sentence. Every span is a slice of the text, so a unit can always be quoted exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lang.normalize import VIET_UPPER

SENTENCE_BREAK = re.compile(rf"(?<=[.!?…])[\"”’)]*\s+(?=[\"“‘(]?[{VIET_UPPER}0-9])")
CLAUSE_BREAK = re.compile(r"(?<=[;:])\s+")
ITEM_BREAK = re.compile(r"(?<=;)\s+")
#: "TP. Hồ Chí Minh", "PGS. TS.": a dot that does not end a sentence.
ABBREVIATION = re.compile(r"(?:^|\s)(?:TP|Tp|TS|ThS|PGS|GS|BS|KS|St|Q|P|No|Mr|Mrs|Dr)\.$")
ABBREVIATION_REACH = 8  # characters: a space, the longest abbreviation above and its dot, with room
#: Units shorter than this ("1.", "a)", a stray word) are not candidates for an answer.
MIN_UNIT_CHARS = 12
#: A sentence longer than this is cut at its clause boundaries (after a comma or colon) into units that
#: fit: an answer quotes at most two units within its 400 characters.
MAX_UNIT_CHARS = 300
CLAUSE_END = re.compile(r"(?<=[,:])\s+")


@dataclass(frozen=True)
class Span:
    """``text[start:end]``."""

    start: int
    end: int


def lines(text: str) -> list[Span]:
    """The non-blank lines of ``text``, stripped, as spans."""
    spans, pos = [], 0
    for line in text.split("\n"):
        start = pos + (len(line) - len(line.lstrip()))
        end = pos + len(line.rstrip())
        if end > start:
            spans.append(Span(start, end))
        pos += len(line) + 1
    return spans


def split(text: str, span: Span, pattern: re.Pattern[str]) -> list[Span]:
    """Cut ``span`` at the pattern's matches (the separator whitespace belongs to no piece)."""
    pieces, start = [], span.start
    for match in pattern.finditer(text, span.start, span.end):
        # Look back only as far as the longest abbreviation ("PGS." after a space): searching from the
        # span's start made one long line quadratic (a multi-megabyte line never finished).
        lookback = max(span.start, match.start() - ABBREVIATION_REACH)
        if pattern is SENTENCE_BREAK and ABBREVIATION.search(text, lookback, match.start()):
            continue
        if match.start() > start:
            pieces.append(Span(start, match.start()))
        start = match.end()
    if span.end > start:
        pieces.append(Span(start, span.end))
    return pieces


def sentence_spans(text: str, start: int, end: int, clauses: bool = False) -> list[tuple[int, int, int]]:
    """Sentences of ``text[start:end]`` as (start, end, sentence start) offsets into ``text``; with
    ``clauses``, a sentence that is a ';'-separated list is cut into its items as well (the third
    value then tells where the item's sentence begins)."""
    out: list[tuple[int, int, int]] = []
    for line in lines(text[start:end]):
        for sentence in split(text, Span(start + line.start, start + line.end), SENTENCE_BREAK):
            pieces = split(text, sentence, ITEM_BREAK) if clauses else [sentence]
            out.extend((p.start, p.end, sentence.start) for p in pieces)
    return out


def unit_spans(text: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """The answer units of ``text[start:end]``: sentences, with ';'-separated list items cut apart and
    over-long sentences cut at clause boundaries, at least :data:`MIN_UNIT_CHARS` long, as (start, end,
    sentence start). Index time (unit vectors) and answer time (candidates) both take units from here, so
    they always agree (a change here changes ``index.chunk.CHUNKER_VERSION``)."""
    out = []
    for s, e, sentence in sentence_spans(text, start, end, clauses=True):
        pieces = [(s, e)] if e - s <= MAX_UNIT_CHARS else clause_pieces(text, s, e)
        out.extend((a, b, sentence) for a, b in pieces if b - a >= MIN_UNIT_CHARS)
    return out


def clause_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut after commas and colons into pieces of at most :data:`MAX_UNIT_CHARS`,
    each as long as fits (a clause longer than that stays whole)."""
    pieces, piece, last = [], start, None  # last: the latest cut that keeps the piece within the limit
    for match in CLAUSE_END.finditer(text, start, end):
        if match.start() - piece > MAX_UNIT_CHARS and last is not None:
            pieces.append((piece, last.start()))
            piece, last = last.end(), None
        if match.start() - piece <= MAX_UNIT_CHARS:
            last = match
        elif last is None:  # one clause alone is over the limit: it ends at its own comma
            pieces.append((piece, match.start()))
            piece = match.end()
    if end - piece > MAX_UNIT_CHARS and last is not None:
        pieces.append((piece, last.start()))
        piece = last.end()
    pieces.append((piece, end))
    return pieces
