"""The official header of Vietnamese administrative documents (Nghị định 30/2020/NĐ-CP, Phụ lục I),
and the documents a text cites.

An official document opens with a block in a fixed order, whatever the layout flattened it into::

    ĐẢNG ỦY CHÍNH PHỦ            <- the parent body (upper case)
    VĂN PHÒNG                    <- the issuing body
    Số 402-CV/VPĐU               <- number and symbol
    V/v xin ý kiến dự thảo ...   <- a letter's summary (trích yếu)
    ĐẢNG CỘNG SẢN VIỆT NAM       <- the national or Party motto (not a body)
    Hà Nội, ngày 25 tháng 5 năm 2025   <- place and date
    NGHỊ QUYẾT                   <- the type (other documents) ...
    về đột phá phát triển ...    <- ... and their summary

:func:`read_header` reads those fields from the first lines; a field the text does not give is None
(news reports have none of them). :func:`cited_documents` finds references such as "Nghị quyết số
57-NQ/TW ngày 22/12/2024" anywhere in the text.

Example:
    >>> h = read_header("VĂN PHÒNG CHÍNH PHỦ\\nSố: 447/TB-VPCP\\nHà Nội, ngày 28 tháng 02 năm 2026\\n"
    ...                 "THÔNG BÁO\\nKết luận của Thủ tướng về chuyển đổi số\\n\\nNgày 25/2, ...")
    >>> h.number, h.doc_type, h.date, h.issuer, h.summary
    ('447/TB-VPCP', 'Thông báo', '2026-02-28', 'Văn phòng Chính phủ', 'Kết luận của Thủ tướng về chuyển đổi số')
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date

from index.lang.cues import documents
from index.lang.facts import find_agencies
from index.lang.normalize import VIET_UPPER
from index.lang.vietnamese import fold

#: Document types, as their header line writes them, and the codes of their number's symbol
#: (``data/documents.tsv``, kind ``type``).
TYPES: dict[str, tuple[str, ...]] = {
    row[0]: tuple(c.strip() for c in row[1].split(",")) if len(row) > 1 else () for row in documents("type")}
#: What a reference may call a document besides its type ("văn bản số 15000-CV/VPTW").
_REFERRED = (*TYPES, *(row[0] for row in documents("referred")))
_TYPE_LINE = {fold(name): name for name in TYPES}
_CODES = {code: name for name, codes in TYPES.items() for code in codes}
_MOTTO = re.compile("|".join(r"\s*-\s*".join(map(re.escape, fold(row[0]).split(" - ")))
                             for row in documents("motto")))
_U = VIET_UPPER
#: "402-CV/VPĐU", "447/TB-VPCP", "57-NQ/TW", "88/2025/NĐ-CP", "3260-KH/ĐĐQH15", "193/2025/QH15"
NUMBER = re.compile(rf"(?<![\w/-])\d{{1,6}}(?:/\d{{4}})?[-/](?:[{_U}][{_U}0-9a-zđ&.]*)"
                    rf"(?:[-/][{_U}0-9][{_U}0-9a-zđ&.]*)*(?<![.])")
_NUMBER_LINE = re.compile(rf"^\W*(?:Số|SỐ)\s*:?\s*({NUMBER.pattern})", re.M)
_DATELINE = re.compile(r"^\W*([^\n,]{2,40}?)\W*,\s*\W*ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})",
                       re.I | re.M)
_SUBJECT = re.compile(r"^\W*V/v\s*:?\s*(.+)$", re.M)
_REFERENCE = re.compile(
    rf"\b({'|'.join(sorted(_REFERRED, key=len, reverse=True))})\s+(?:số\s+)?({NUMBER.pattern})"
    r"(?:\s*,?\s*\(?\s*ngày\s+(\d{1,2})\s*(?:/|\s+tháng\s+)(\d{1,2})\s*(?:/|\s+năm\s+)(\d{4}))?", re.I)
#: How the lines naming a body begin (folded).
BODY_START = tuple(fold(row[0]) + " " for row in documents("body"))
#: A reference to a document in a question, with the words around it that only point at it ("văn bản số
#: 447/TB-VPCP", "theo Thông báo 447/TB-VPCP", "tại Nghị quyết số 57-NQ/TW").
REFERENCE_PHRASE = re.compile(
    rf"(?:\b(?:theo|tại|trong|của)\s+)?(?:\b(?:{'|'.join(sorted(_REFERRED, key=len, reverse=True))})\s+)?"
    rf"(?:số\s+)?{NUMBER.pattern}", re.I)
#: The header lives in the first lines; a body paragraph is long.
_HEADER_LINES = 40
_BODY_LINE = 220


@dataclass(frozen=True)
class Reference:
    """A document cited in the text: its type, number and date as far as written."""

    doc_type: str
    number: str
    date: str | None
    start: int
    end: int


@dataclass(frozen=True)
class Replacement:
    """One document replacing, repealing or amending another, both by number; ``by`` None: this document."""

    how: str  # "thay thế", "bãi bỏ", "sửa đổi"
    number: str
    by: str | None = None


@dataclass(frozen=True)
class Header:
    """The fields of an official header (None where the document does not give one)."""

    issuer: str | None = None
    parent: str | None = None
    number: str | None = None
    place: str | None = None
    date: str | None = None
    doc_type: str | None = None
    summary: str | None = None
    cites: tuple[Reference, ...] = field(default=())
    replaces: tuple[Replacement, ...] = field(default=())

    def to_dict(self) -> dict:
        """JSON form (references as dicts)."""
        return asdict(self)

    @property
    def label(self) -> str | None:
        """How a citation names the document: "447/TB-VPCP, 28/02/2026", or None without a number."""
        return document_label(self.number, self.date, None)


def document_label(number: str | None, date_iso: str | None, title: str | None) -> str | None:
    """How citations and the task table name a document: "447/TB-VPCP, 28/02/2026" when it has an official
    number (without its date when it has none), else its title."""
    if not number:
        return title
    if not date_iso:
        return number
    y, m, d = date_iso.split("-")
    return f"{number}, {d}/{m}/{y}"


def _iso(y: str, m: str, d: str) -> str | None:
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def _clean(line: str) -> str:
    return " ".join(line.replace("*", " ").replace("#", " ").split()).strip(" -_–—:")


def _is_upper(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


_UNITS = frozenset(row[0] for row in documents("place_unit"))
_SUB_BODY = frozenset(row[0] for row in documents("sub_body"))


def body_name(upper: str) -> str:
    """An upper-case body line in the case the agency table writes it ("ĐẢNG ỦY CHÍNH PHỦ" ->
    "Đảng ủy Chính phủ"), else with only its first letter capital."""
    found = find_agencies(upper)
    if len(found) == 1 and len(found[0].value) >= len(upper) - 2:
        return found[0].canonical
    words = upper.lower().split()
    for i in range(1, len(words)):
        if words[i - 1] in _UNITS:  # "tỉnh quảng ninh": the place after an administrative unit is a name
            words[i:] = [w[:1].upper() + w[1:] for w in words[i:]]
            break
    name = " ".join(words)
    return name[:1].upper() + name[1:]


def doc_type_of(number: str | None) -> str | None:
    """The type a number's symbol names ("447/TB-VPCP" -> Thông báo, "57-NQ/TW" -> Nghị quyết)."""
    if not number:
        return None
    for code in re.split(r"[-/]", number)[1:]:
        if code in _CODES:
            return _CODES[code]
    return None


def cited_documents(text: str) -> tuple[Reference, ...]:
    """Every "<type> số <number> [ngày dd/mm/yyyy]" reference, each number once (first mention)."""
    first: dict[str, Reference] = {}
    for m in _REFERENCE.finditer(text):
        number = m.group(2)
        when = _iso(m.group(5), m.group(4), m.group(3)) if m.group(3) else None
        if number in first:
            if first[number].date is None and when:  # the date given at a later mention
                first[number] = Reference(first[number].doc_type, number, when, first[number].start,
                                          first[number].end)
            continue
        kind = _TYPE_LINE.get(fold(m.group(1))) or doc_type_of(number) or m.group(1).capitalize()
        first[number] = Reference(kind, number, when, m.start(), m.end())
    return tuple(first.values())


def read_header(text: str) -> Header:
    """The official header's fields from the first lines of ``text`` (see the module docstring)."""
    lines = [_clean(line) for line in text.split("\n")[:_HEADER_LINES]]
    found: dict[str, str | None] = {}
    bodies: list[str] = []
    type_at: int | None = None
    for i, line in enumerate(lines):
        if not line:
            continue
        folded = fold(line)
        if len(line) > _BODY_LINE:
            break  # the body has begun
        number = _NUMBER_LINE.match(line)
        if number and "number" not in found:
            found["number"] = number.group(1)
            continue
        subject = _SUBJECT.match(line)
        if subject and "summary" not in found:
            found["summary"], found["doc_type"] = subject.group(1).strip(), "Công văn"
            continue
        dateline = _DATELINE.match(line)
        if dateline and "date" not in found:
            found["place"] = dateline.group(1).strip() or None
            found["date"] = _iso(dateline.group(4), dateline.group(3), dateline.group(2))
            continue
        if folded in _TYPE_LINE and _is_upper(line) and type_at is None:
            found.setdefault("doc_type", _TYPE_LINE[folded])
            type_at = i
            break
        if _is_upper(line) and not _MOTTO.search(folded) and len(line) <= 80 and "date" not in found and (
                (folded + " ").startswith(BODY_START) or find_agencies(line)):
            bodies.append(line)
    if type_at is not None and "summary" not in found:
        summary, issuer = _summary(lines[type_at + 1 : type_at + 8])
        found["summary"] = summary
        if issuer:
            bodies.append(issuer)
    if "number" not in found:
        _titled(text, found)
    if not found.get("doc_type"):
        found["doc_type"] = doc_type_of(found.get("number"))
    issuer = parent = None
    if not (found.get("number") or found.get("date") or type_at is not None):
        bodies = []  # upper-case lines without a number, dateline or type line: headings, not a header
    names = [body_name(b) for b in bodies[:3]] or ([found["issuer"]] if found.get("issuer") else [])
    if names:
        issuer = names[-1]
        parent = names[-2] if len(names) > 1 else None
        if parent and not find_agencies(issuer) and issuer.split()[0].lower() in _SUB_BODY:
            issuer = f"{issuer} {parent}"  # "VĂN PHÒNG" under "ĐẢNG ỦY CHÍNH PHỦ": the office of that body
    return Header(issuer=issuer, parent=parent, number=found.get("number"), place=found.get("place"),
                  date=found.get("date"), doc_type=found.get("doc_type"), summary=found.get("summary") or None,
                  cites=tuple(r for r in cited_documents(text) if r.number != found.get("number")),
                  replaces=replacements(text, found.get("number")))


#: The verbs of an amending clause and the effect each names (the first verb of its kind in the data).
_EFFECT = {row[0].lower(): documents(kind)[0][0] for kind in ("replace", "repeal", "amend") for row in documents(kind)}
_REPLACING = re.compile(rf"\b({'|'.join(map(re.escape, sorted(_EFFECT, key=len, reverse=True)))})\b", re.I)
_THIS = re.compile(r"\b(?:này|nay)\s*$", re.I)


def replacements(text: str, own: str | None = None) -> tuple[Replacement, ...]:
    """Who replaces, repeals or amends what, by number: "Quyết định này thay thế Quyết định số 598/QĐ-TTg"
    (this document; also a sentence without any other subject), "Quyết định số 929/QĐ-TTg ... thay thế
    Quyết định số 598/QĐ-TTg" (a document this one cites). The verb must be followed, in its clause, by
    the replaced document's reference."""
    out: list[Replacement] = []
    refs = list(_REFERENCE.finditer(text))
    for verb in _REPLACING.finditer(text):
        target = next((r for r in refs if 0 <= r.start() - verb.end() <= 40 and
                       not re.search(r"[.;]", text[verb.end() : r.start()])), None)
        if target is None or target.group(2) == own:
            continue
        sentence_start = max(text.rfind(".", 0, verb.start()), text.rfind("\n", 0, verb.start()), -1) + 1
        before = text[sentence_start : verb.start()]
        subject = [r for r in refs if sentence_start <= r.start() and r.end() <= verb.start()]
        if subject and not _THIS.search(before.strip()):
            by = subject[-1].group(2)
            by = None if by == own else by
        elif subject or _THIS.search(before.strip()) or not before.strip():
            by = None
        else:
            continue  # "Bộ Tư pháp sửa đổi Thông tư 12/2020/TT-BTP": an assignment, not this document's effect
        how = _EFFECT[verb.group(1).lower()]
        item = Replacement(how, target.group(2), by)
        if item not in out:
            out.append(item)
    return tuple(out)


def _titled(text: str, found: dict[str, str | None]) -> None:
    """A text without an official header whose title line is "<type> số <number>" (a published copy):
    the type and number from it, the date from where the opening paragraphs cite the same number."""
    first = next((_clean(line) for line in text.split("\n")[:3] if _clean(line)), "")
    m = _REFERENCE.match(first)
    if not m or len(first) > 120:
        return
    found["number"] = m.group(2)
    found["doc_type"] = _TYPE_LINE.get(fold(m.group(1)), m.group(1))
    for m in re.finditer(re.escape(found["number"]), text[:3000]):
        after = text[m.end() : m.end() + 80]
        when = re.match(r"\s*\(?\s*ngày\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})\)?", after)
        if when and "date" not in found:
            found["date"] = _iso(when.group(3), when.group(2), when.group(1))
            after = after[when.end() :]
        by = re.match(r"\s*của\s+", after)
        names = find_agencies(after[by.end() :]) if by else []
        if names and names[0].start == 0 and "issuer" not in found:
            found["issuer"] = names[0].canonical  # "... (ngày 22/12/2024) của Bộ Chính trị"


def _summary(lines: list[str]) -> tuple[str | None, str | None]:
    """The summary lines after the type line (until a blank line), and a "CỦA <BODY>" line naming the
    issuer ("NGHỊ QUYẾT / CỦA BỘ CHÍNH TRỊ / về ...")."""
    parts: list[str] = []
    issuer = None
    for line in lines:
        if not line:
            if parts:
                break
            continue
        if len(line) > _BODY_LINE or set(line) <= set("-_=*"):
            break
        of = re.match(r"^(?:CỦA|của)\s+(.+)$", line)
        if of and _is_upper(of.group(1)) and not parts:
            issuer = of.group(1)
            continue
        parts.append(line)
    return (" ".join(parts) or None), issuer
