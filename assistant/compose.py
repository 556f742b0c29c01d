"""Composition: chosen units -> the answer's text, its numbered citations and its conflicts.

The lead states the short answer first (the agency, the date, the number), one fragment per part of the
question, and names the part that was not found; then each quoted unit with its ``[n]``; then, when two
sources disagree on a deadline or a lead agency, both values, each with its own source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from assistant.answer import REFUSAL, Answer
from assistant.citations import Citation, cite, verify
from assistant.retrieve import Hit
from assistant.units import INDEX, Unit
from index.docstore import DocStore
from index.lang.cues import is_stop, negated, progress_pattern, time_phrases, word_list
from index.lang.facts import ASSIGNERS, Mention, deadline_value, find_agencies, find_deadlines
from index.lang.normalize import VIET_UPPER
from index.lang.vietnamese import fold, words
from index.tasks import Task

#: At most this many characters of answer text before the references (lead and quotes together).
BUDGET = 400
_PERSON = re.compile(rf"(?<![\w.])[{VIET_UPPER}][^\W\d_]+(?:\s+[{VIET_UPPER}][^\W\d_]+){{1,3}}")
#: A number as written: "2.690", "87,2 %", "2.690/3.085" (never a piece of a longer one: "2" of "2.690").
_NUMBER = re.compile(r"(?<![\w/.,])\d+(?:[.,]\d+)*(?:/\d+(?:[.,]\d+)*)?(?:\s*%)?(?![\w/]|[.,]\d)")
_DAY_MONTH = re.compile(r"(?:[1-9]|[12]\d|3[01])/(?:[1-9]|1[0-2])")
_YEAR = re.compile(r"(?<!\d)(?:1[0-9]|20)\d\d(?!\d)")


@dataclass
class Reading:
    """What the reader chose for one part of a question (units best first; empty when not found)."""

    text: str  # the part as asked
    kinds: set[str]
    named: set[str]  # folded words of the whole question (what is not news in an answer)
    agencies: list[str]  # agencies the question names (not an answer to "ai")
    units: list[Unit]
    confidence: float


def actors(unit: Unit, reading: Reading) -> list[Mention]:
    """Who the unit says acts: agencies other than the assigner and those the question names, else a
    person's name the question does not hold."""
    named = set(reading.agencies)
    found = [m for m in unit.agencies() if m.canonical not in ASSIGNERS and m.canonical not in named]
    if found:
        return found
    return [Mention(m.group(0), m.start(), m.end(), m.group(0)) for m in _PERSON.finditer(unit.text)
            if m.start() > 0 and not {fold(w) for w in words(m.group(0))} <= reading.named
            and not find_agencies(m.group(0))]


def _asks_progress(reading: Reading) -> bool:
    """A question about progress ("tiến độ thế nào?", "đã hoàn thành chưa?"; data/progress.tsv)."""
    return bool(progress_pattern("asks_progress").search(fold(reading.text)))


def row_fragment(reading: Reading, row: Task, with_deadline: bool = True) -> str | None:
    """The short answer read off an assignment table's row, whose cells say who, by when and how far
    ('Bộ Công an; thời hạn: Tháng 3/2025; tiến độ: Quá hạn — Đang chuẩn bị hồ sơ.')."""
    parts = []
    if "who" in reading.kinds:
        parts.append(", ".join(row.leads) + (f" (phối hợp: {', '.join(row.collaborators)})" if row.collaborators
                                             else ""))
    if row.deadline_text and ("when" in reading.kinds or ("who" in reading.kinds and with_deadline)):
        parts.append(f"thời hạn: {row.deadline_text}")
    if row.status_text and (_asks_progress(reading) or not parts):
        progress = f" — {row.progress[:160].rstrip('. ')}" if row.progress else ""
        parts.append(f"tiến độ: {row.status_text}{progress}")
    return "; ".join(parts) if parts else None


def fragment(reading: Reading, with_deadline: bool = True, row: Task | None = None) -> str | None:
    """The short answer of one part, read off its best unit: 'Bộ Y tế chủ trì; thời hạn: quý 3/2026',
    a time, or a number (None when the part wants a sentence, not a value). ``with_deadline``: a "who"
    part also says the deadline (not when another part of the question asks for it). ``row``: the task
    table's row of an assignment table the unit lies in (its cells answer who, when and how far)."""
    if not reading.units:
        return None
    unit = reading.units[0]
    if row is not None and ({"who", "when"} & reading.kinds or _asks_progress(reading)):
        return row_fragment(reading, row, with_deadline)
    text = unit.text
    parts = []
    if "who" in reading.kinds:
        found = actors(unit, reading)
        if found:
            parts.append(f"{found[0].value} chủ trì" if "chủ trì" in text else found[0].value)
    if "when" in reading.kinds or ("who" in reading.kinds and with_deadline):
        deadlines = unit.deadlines()
        if deadlines:
            parts.append(f"thời hạn: {deadline_value(deadlines[0])}")
        elif "when" in reading.kinds:
            years = [y for y in _YEAR.findall(text) if y not in reading.named]
            times = [t for t in time_phrases(text) if fold(t) not in fold(reading.text)]
            if years or times:
                parts.append(f"thời gian: {years[0] if years else times[0]}")
    holds_question = unit.features is not None and unit.features[INDEX["cov"]] >= 0.7
    if "yesno" in reading.kinds and not parts and holds_question:
        # yes when the unit and the question agree on negation ("có được ... không?" / "được ..."), no
        # when one of them negates what the other does not; said only for a unit that holds the question
        parts.append("có" if negated(text) == negated(reading.text, question=True) else "không")
    if "quantity" in reading.kinds and not parts:
        amount = amount_of(text, reading.named)
        if amount:
            parts.append(f"số liệu: {amount}")
    return "; ".join(parts) if parts else None


def amount_of(text: str, named: set[str]) -> str | None:
    """The first number the question does not already hold, with its scale words and what it counts (at
    most two more words, up to punctuation or a function word): "94 triệu hồ sơ", "30 ngày"."""
    scale = word_list("number_words")
    dates = [(m.start, m.end) for m in find_deadlines(text)]
    for match in _NUMBER.finditer(text):
        if fold(match.group(0)) in named or _YEAR.fullmatch(match.group(0).strip()):
            continue
        if any(start <= match.start() < end for start, end in dates) or _DAY_MONTH.fullmatch(match.group(0)):
            continue  # "25/2" is a date, not an amount
        tokens = re.findall(r"\S+", text[match.end() : match.end() + 60])
        shown, counted = [match.group(0)], 0
        for token in tokens:
            word = token.rstrip(".,;:!?)")
            if word.lower() in scale:
                shown.append(word)
            elif counted < 2 and word and word[0].islower() and not is_stop(word, True):
                shown.append(word)
                counted += 1
            else:
                break
            if word != token:  # punctuation ends the phrase
                break
        return " ".join(shown)
    return None


def conflicts(units: list[Unit], number: dict[int, int]) -> list[dict]:
    """Different deadlines or lead agencies for the same thing in different documents, each value with
    its citation number."""
    out = []
    for field, label, values_of in (
            ("deadline", "thời hạn", lambda u: u.deadlines()),
            ("lead", "đơn vị chủ trì", lambda u: [m for m in u.agencies() if m.canonical not in ASSIGNERS])):
        values: dict[str, dict] = {}
        docs: set[str] = set()
        for i, unit in enumerate(units):
            mentions = values_of(unit)
            if i in number and mentions:
                shown = deadline_value(mentions[0]) if field == "deadline" else mentions[0].value
                values.setdefault(mentions[0].canonical, {"value": shown, "citation": number[i]})
                docs.add(unit.doc_id)
        if len(values) > 1 and len(docs) > 1:
            out.append({"field": field, "label": label, "values": list(values.values())})
    return out


def table_row(unit: Unit, docstore: DocStore) -> Task | None:
    """The task table's row of the assignment-table row a unit lies in, if any."""
    text = unit.hit.document.text
    line_start = text.rfind("\n", 0, unit.start) + 1
    if not text.startswith("|", line_start):
        return None
    return next((t for t in docstore.tasks(doc_id=unit.doc_id)
                 if t.start <= unit.start < t.end and t.sentence.startswith("|")), None)


def in_force_note(conflict: dict, citations: list[Citation], pairs: dict[tuple[str, str], str],
                  docstore: DocStore) -> dict:
    """A conflict between a document and one that supersedes it is not a disagreement between equals: the
    newer value is current, the older one history. Returns the conflict with ``in_force`` (the citation
    number of the current value) and its ``note``; a conflict between equals is returned as it was."""
    doc_of = {c.n: c.doc_id for c in citations}
    values = [v for v in conflict["values"] if v["citation"] in doc_of]
    for current in values:
        rest = [v for v in values if v is not current]
        if rest and all((doc_of[current["citation"]], doc_of[v["citation"]]) in pairs for v in rest):
            label = {c.n: c.title for c in citations}
            older = "; ".join(f"{label[v['citation']]} ghi {v['value']} [{v['citation']}]" for v in rest)
            note = (f"Lưu ý: {conflict['label']} hiện hành là {current['value']} [{current['citation']}] theo "
                    f"{label[current['citation']]}; văn bản cũ hơn: {older}.")
            return {**conflict, "in_force": current["citation"], "note": note}
    return conflict


def citations_for(units: list[Unit], docstore: DocStore) -> tuple[list[Citation], dict[int, int]]:
    """Numbered, verified citations of ``units`` (a quote that fails verification is dropped)."""
    citations: list[Citation] = []
    number: dict[int, int] = {}
    for i, unit in enumerate(units):
        citation = cite(docstore, len(citations) + 1, unit.hit.document, unit.start, unit.end, unit.score,
                        unit.hit.chunk.chunk_id)
        if verify(citation, docstore):
            citations.append(citation)
            number[i] = citation.n
    return citations, number


def compose(question: str, readings: list[Reading], docstore: DocStore) -> Answer | None:
    """The answer from the parts' readings; None when no part was found (the caller refuses)."""
    units: list[Unit] = []
    for reading in readings:
        for unit in reading.units:
            if all(u.key != unit.key for u in units):
                units.append(unit)
    if not units:
        return None
    pairs = docstore.in_force_over({u.doc_id for u in units})
    if pairs:  # what is in force first: the lead speaks for it, older documents follow
        cited = {u.doc_id for u in units}
        superseded = {old for new, old in pairs if new in cited}

        def older(u: Unit) -> bool:
            return u.doc_id in superseded

        units.sort(key=older)
        readings = [replace(r, units=sorted(r.units, key=older)) for r in readings]
    citations, number = citations_for(units, docstore)
    if not citations:
        return None
    index_of = {u.key: i for i, u in enumerate(units)}
    found = conflicts(units, number)
    if pairs:
        found = [in_force_note(c, citations, pairs, docstore) for c in found]
    leads = []
    for reading in readings:
        if not reading.units:
            leads.append(f"không tìm thấy: «{reading.text.strip(' ?')}»")
            continue
        others_ask_when = any("when" in other.kinds for other in readings if other is not reading)
        short = fragment(reading, with_deadline=not others_ask_when, row=table_row(reading.units[0], docstore))
        refs = [f"[{number[index_of[u.key]]}]" for u in reading.units if index_of[u.key] in number]
        if short and refs:
            # sources that disagree: the lead speaks for its first source, the note below for the rest
            leads.append(f"{short} {refs[0] if found else ''.join(refs)}")
    head = []
    if leads:
        lead = "; ".join(leads)
        head.append(lead[:1].upper() + lead[1:] + ".")
    notes = []
    for conflict in found:
        if conflict.get("note"):
            notes.append(conflict["note"])
            continue
        values = "; ".join(f"{v['value']} [{v['citation']}]" for v in conflict["values"])
        notes.append(f"Lưu ý: các nguồn ghi khác nhau về {conflict['label']}: {values}.")
    quoted = [i for i in range(len(units)) if i in number]
    if len(readings) == 1:
        # a single-fact answer stays within the budget: each quote cut to the clauses that hold its facts
        overhead = sum(len(line) + 1 for line in head + notes) + sum(len(f"«» [{number[i]}]") + 1 for i in quoted)
        share = (BUDGET - overhead) // max(len(quoted), 1)
        terms = {t for t in readings[0].named if not is_stop(t, False)}
        for i in quoted:
            if len(units[i].text.strip()) > share:
                units[i] = shorten(units[i], terms, share)
        citations, number = citations_for(units, docstore)
        quoted = [i for i in range(len(units)) if i in number]
    lines = head + [f"«{units[i].text.strip()}» [{number[i]}]" for i in quoted] + notes
    return Answer(question, "\n".join(lines), refused=False, citations=citations, conflicts=found,
                  confidence=max(r.confidence for r in readings))


_CLAUSE = re.compile(r"(?<=[,;:])\s+")


def shorten(unit: Unit, terms: set[str], limit: int) -> Unit:
    """The unit cut to the run of its clauses, at most ``limit`` characters long where one fits, that
    keeps its facts (deadlines, agencies, numbers: what an answer's lead reads off it) and most of the
    question's words (``terms``, folded). The cut is a span of the document, so its citation stays exact."""
    text = unit.text
    facts = [(m.start, m.end) for m in unit.deadlines()] + [
        (m.start, m.end) for m in unit.agencies() if m.canonical not in ASSIGNERS] + [
        (m.start(), m.end()) for m in _NUMBER.finditer(text)]

    def key(span: tuple[int, int]) -> tuple:
        a, b = span
        have = {fold(w) for w in words(text[a:b])}
        return sum(1 for s, e in facts if a <= s and e <= b), len(terms & have), -(b - a)

    return cut_to(unit, max(clause_runs(text, limit), key=key))


def clause_runs(text: str, limit: int) -> Iterator[tuple[int, int]]:
    """(start, end) in ``text`` of every run of whole clauses (cut after ',', ';' or ':') at most ``limit``
    characters long; a single clause is always a run, however long."""
    cuts = [0] + [m.end() for m in _CLAUSE.finditer(text)] + [len(text)]
    for a in range(len(cuts) - 1):
        for b in range(a + 1, len(cuts)):
            piece = text[cuts[a] : cuts[b]].rstrip()
            if len(piece) > limit and b > a + 1:
                break
            yield cuts[a], cuts[a] + len(piece)


def cut_to(unit: Unit, span: tuple[int, int]) -> Unit:
    """The unit narrowed to ``span`` (offsets in its text): still a span of the document, so its citation
    stays exact."""
    if span == (0, len(unit.text)):
        return unit
    start = unit.start + span[0]
    return replace(unit, start=start, end=unit.start + span[1], sentence_start=min(unit.sentence_start, start))


def refusal(question: str, hits: list[Hit], docstore: DocStore, confidence: float | None = None) -> Answer:
    """The honest answer: not found, with the closest passages to look at."""
    closest = [
        {"title": h.document.title, "source": docstore.public_source(h.document.source),
         "doc_id": h.document.doc_id, "start": h.chunk.start, "end": h.chunk.end, "text": h.chunk.text[:300]}
        for h in hits[:3]
    ]
    lines = [REFUSAL]
    if closest:
        lines.append("Các đoạn gần nhất (không trả lời trực tiếp câu hỏi):")
        lines += [f"- {c['title'][:80]}: {c['text'][:160].strip()}…" for c in closest]
    return Answer(question, "\n".join(lines), refused=True, closest=closest, confidence=confidence)


def listing(question: str, subject: str, units: list[Unit], docstore: DocStore) -> Answer | None:
    """A list answer: each unit an item with its citation."""
    citations, number = citations_for(units, docstore)
    if not citations:
        return None
    lines = [f"{subject} — {len(citations)} nội dung tìm thấy:"]
    lines += [f"- «{u.text.strip()}» [{number[i]}]" for i, u in enumerate(units) if i in number]
    return Answer(question, "\n".join(lines), refused=False, citations=citations)
