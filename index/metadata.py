"""Document metadata read from the text itself: header lines, dates, issuing body, title."""

from __future__ import annotations

import re
from datetime import date

from index.lang.cues import documents
from index.lang.vietnamese import fold

_HEADER_KEYS = ("date", "title", "issuer", "source")
_INLINE_DATE = re.compile(r"\A\s*date[:\s]\s*(\d{4}-\d{2}-\d{2})\b[ \t]*\n?", re.I)
_HEADER_LINE = re.compile(r"\A\s*(title|issuer|source|date)\s*:\s*(.+?)[ \t]*(?:\n|\Z)", re.I)


def split_header(text: str) -> tuple[str, dict[str, str]]:
    """Strip leading metadata lines (``date 2026-02-25``, ``title: ...``) and return them.

    Exports from news archives put ``date YYYY-MM-DD`` before the body, sometimes on the same line
    as the first sentence; both forms are accepted.

    Example:
        >>> split_header("date 2026-02-25 Chiều 25/2, ...")
        ('Chiều 25/2, ...', {'date': '2026-02-25'})
    """
    header: dict[str, str] = {}
    while True:
        match = _INLINE_DATE.match(text)
        if match and "date" not in header:
            header["date"] = match.group(1)
            text = text[match.end() :]
            continue
        match = _HEADER_LINE.match(text)
        if match and match.group(1).lower() not in header:
            header[match.group(1).lower()] = match.group(2).strip()
            text = text[match.end() :]
            continue
        return text.lstrip(), header


_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_VN_DATE = r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})"
_DATELINE = re.compile(r"^[^\n]{0,60}?,\s*" + _VN_DATE, re.I | re.M)
_DATE_LINE = re.compile(r"^\s*" + _VN_DATE + r"\s*$", re.I | re.M)
_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def _iso(y: str, m: str, d: str) -> str | None:
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def extract_date(text: str) -> str | None:
    """The document's date as ISO ``YYYY-MM-DD``, or None.

    Accepts an ISO date, ``dd/mm/yyyy`` alone, or the Vietnamese dateline of official documents
    (``Hà Nội, ngày 20 tháng 11 năm 2019``, or ``ngày ... tháng ... năm ...`` on a line of its own).
    A ``ngày ... tháng ... năm ...`` inside a sentence is a deadline or an event, not the document's
    date, so it is ignored.
    """
    if not text:
        return None
    match = _ISO.search(text[:40])
    if match:
        return _iso(*match.groups())
    match = _DMY.match(text)
    if match:
        d, m, y = match.groups()
        return _iso(y, m, d)
    for pattern in (_DATELINE, _DATE_LINE):
        match = pattern.search(text)
        if match:
            d, m, y = match.groups()
            return _iso(y, m, d)
    return None


#: How an issuing body's line begins, and lines that begin so and are not one (``data/documents.tsv``).
_ISSUER_START = tuple(fold(row[0]) + " " for row in documents("body"))
_NOT_ISSUER = tuple(fold(row[0]) + " " for row in documents("not_body"))


def extract_issuer(text: str) -> str | None:
    """The issuing body from the upper-case block that opens official documents, if any.

    Example:
        >>> extract_issuer("QUỐC HỘI\\n--------\\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
        'QUỐC HỘI'
    """
    for line in text.split("\n")[:6]:
        line = line.strip(" -_*")
        if not line or len(line) > 80 or line != line.upper():
            continue
        folded = fold(line) + " "
        if folded.startswith(_ISSUER_START) and not folded.startswith(_NOT_ISSUER):
            return line
    return None


#: Document-type lines of official documents, as they are printed (upper case).
_DOC_TYPES = frozenset(row[0].upper() for row in documents("type"))
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def guess_title(text: str, fallback: str) -> str:
    """A readable title when the file carries none.

    Official documents: the document-type line and its subject (``BỘ LUẬT`` + ``LAO ĐỘNG``).
    Otherwise the first line when it reads like a headline, else the first sentence, shortened.
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for i, line in enumerate(lines[:20]):
        if line in _DOC_TYPES:
            subject = lines[i + 1] if i + 1 < len(lines) else ""
            if subject and len(subject) <= 200:
                return f"{line} {subject}"
            return line
    if not lines:
        return fallback
    first = lines[0]
    if len(first) <= 150 and not _SENTENCE_END.search(first[-1:]):
        return first
    match = _SENTENCE_END.search(first)
    sentence = first[: match.start()] if match else first
    return _shorten(sentence, 120) or fallback
