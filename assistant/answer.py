"""Grounded answers: every statement cites a verified quote, or the assistant says it does not know.

The extractive backend (default, offline, deterministic) picks the sentences or list items that
answer the question, leads with the agency and the deadline for who/when questions, states
conflicting values side by side, and refuses when the evidence does not cover the question.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from assistant.citations import Citation, verify
from assistant.question import Question, analyse
from assistant.retrieve import Hit
from index.chunk import sentence_spans
from index.docstore import DocStore
from index.facts import ASSIGNERS, COLLECTIVE, Mention, deadline_value, find_agencies, find_deadlines
from index.normalize import VIET_UPPER
from index.vietnamese import expansions, fold, words

log = logging.getLogger(__name__)

REFUSAL = "Không tìm thấy thông tin này trong các văn bản đã nạp."
_PERSON = re.compile(rf"(?<!\w)[{VIET_UPPER}]\w+(?:\s+[{VIET_UPPER}]\w+){{2,3}}")
# When something happens relative to something else ("sau học kỳ 1", "khi kết thúc thời hạn",
# "không quá 01 năm", "hằng năm"): an answer to "khi nào / bao lâu" where no calendar date is given.
_TIME_UNIT = r"(?:ngày|tuần|tháng|năm|quý|học kỳ|học kì|năm học|giờ)"
_RELATIVE_TIME = re.compile(
    rf"(?<!\w)(?:(?:sau|trước|trong vòng|trong|không quá|tối đa|tối thiểu|ít nhất|chậm nhất)\s+)?"
    rf"\d+(?:[.,]\d+)?\s*{_TIME_UNIT}(?!\w)(?:\s+(?:trước|sau)\s+khi\s+[^,.;:]+)?"
    rf"|(?<!\w)(?:sau|trước)\s+khi\s+[^,.;:]+"
    rf"|(?<!\w)(?:sau|trước|đầu|cuối|giữa)\s+(?:mỗi\s+)?(?:học kỳ|học kì|năm học|khóa học|đợt)(?!\w)[^,.;:]{{0,24}}"
    rf"|(?<!\w)khi\s+(?:kết thúc|hết|bắt đầu|hoàn thành|có quyết định|được)(?!\w)[^,.;:]*"
    rf"|(?<!\w)(?:hằng|hàng|mỗi)\s+(?:năm|tháng|tuần|quý|học kỳ|học kì)(?!\w)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*\s*(?:%|nghìn|triệu|tỷ|tỉ|lượt|hồ sơ|văn bằng|sáng kiến)?")


class Answerer(Protocol):
    """What every answering backend offers (``extractive``, ``llm``)."""

    def answer(self, question: str, history: list[dict] | None = None) -> Answer: ...

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]: ...


@dataclass
class Answer:
    """An answer as data; the edges (CLI, UI, API) format it."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    elapsed_ms: float = 0.0
    backend: str = "extractive"
    note: str | None = None
    closest: list[dict] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)  # doc ids in retrieval order (for evaluation)

    def to_dict(self) -> dict:
        """The stable JSON shape of ``chidao ask --json`` (and of the HTTP API)."""
        data = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "conflicts": self.conflicts,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "backend": self.backend,
        }
        if self.note:
            data["note"] = self.note
        if self.closest:
            data["closest"] = self.closest
        return data


@dataclass
class Evidence:
    """A sentence or list item of a retrieved chunk, scored against the question."""

    hit: Hit
    start: int
    end: int
    text: str
    coverage: float = 0.0
    score: float = 0.0
    agencies: list[Mention] = field(default_factory=list)
    deadlines: list[Mention] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)  # relative times the question does not say
    inherited: list[Mention] = field(default_factory=list)  # agencies of the item's sentence
    vocabulary: set[str] = field(default_factory=set)

    @property
    def doc_id(self) -> str:
        return self.hit.document.doc_id

    def subject(self) -> set[str]:
        """Folded words before the first agency or deadline: what the statement is about."""
        cut = min([m.start for m in self.agencies + self.deadlines] or [len(self.text)])
        return {fold(w) for w in words(self.text[:cut])}


def _weights(q: Question, df: dict[str, int], n_chunks: int) -> dict[str, float]:
    """Rarer words weigh more (IDF over the corpus); a phrase weighs as its rarer word."""

    def idf(word: str) -> float:
        if not n_chunks:
            return 1.0
        if not df.get(word) and word.isalpha() and not expansions(word):
            # A word no document uses is as specific as it gets: evidence without it hardly answers.
            return 2.0 * (1.0 + math.log(n_chunks + 1))
        return 1.0 + math.log((n_chunks + 1) / (df.get(word, 0) + 1))

    return {term: max(idf(w) for w in term.split("_")) for term in q.terms}


def _typo_tolerant(weights: dict[str, float], df: dict[str, int]) -> dict[str, float]:
    """A word whose tone marks match nothing in the corpus ("xứ lý" for "xử lý") is matched without
    them, keeping the weight of an unknown word: a loose match must still be earned."""
    if not df:
        return weights
    out: dict[str, float] = {}
    for term, weight in weights.items():
        parts = term.split("_")
        loose = "_".join(fold(p) if p.isalpha() and not df.get(p) and df.get(fold(p)) else p for p in parts)
        out[loose] = max(weight, out.get(loose, 0.0))
    return out


def _vocabulary(text: str) -> set[str]:
    """Words and word pairs of a text and of its abbreviation expansions, with and without marks."""
    out: set[str] = set()
    for part in [text] + expansions(text):
        for found in (words(part), [fold(w) for w in words(part)]):
            out.update(found)
            out.update(f"{a}_{b}" for a, b in zip(found, found[1:]))
    return out


def relative_times(text: str, question: str) -> list[str]:
    """Relative time phrases of ``text`` that the question does not already say."""
    asked = fold(question)
    return [m.group(0).strip() for m in _RELATIVE_TIME.finditer(text) if fold(m.group(0).strip()) not in asked]


def _numbers(text: str) -> list[str]:
    return [m.group(0).strip() for m in _NUMBER.finditer(text)]


class ExtractiveAnswerer:
    """Answers from the retrieved text itself; no language model.

    Args:
        retriever: a retriever with ``search(query, k)`` (and ``lexical`` for corpus statistics).
        docstore: the document store (citations are verified against it).
        k: passages retrieved per question (more for list questions).
        min_coverage: share of the question's weighted content words the chosen evidence must hold.
    """

    streams = False  # the whole answer is ready at once

    def __init__(self, retriever, docstore: DocStore, k: int = 8, min_coverage: float = 0.6):
        self.retriever = retriever
        self.docstore = docstore
        self.k = k
        self.min_coverage = min_coverage

    # -- evidence --------------------------------------------------------------------------
    def _corpus_stats(self) -> tuple[dict[str, int], int]:
        lexical = getattr(self.retriever, "lexical", None)
        if lexical is None:
            return {}, 0
        return lexical.df, len(lexical.chunk_ids)

    def evidence(self, q: Question, hits: list[Hit]) -> list[Evidence]:
        """Every sentence / list item of the hits, scored (best first)."""
        df, n_chunks = self._corpus_stats()
        weights = _typo_tolerant(_weights(q, df, n_chunks), df)
        # "A hay B": the choice counts once, as its heaviest side, and is met by either side.
        choices = [(group, max(weights.get(t, 0.0) for t in group)) for group in q.alternatives]
        chosen = set().union(*q.alternatives) if q.alternatives else set()
        weights = {t: w for t, w in weights.items() if t not in chosen}
        total = (sum(weights.values()) + sum(w for _, w in choices)) or 1.0
        seen: set[tuple[str, int, int]] = set()
        units: list[Evidence] = []
        for rank, hit in enumerate(hits):
            text = hit.document.text
            for start, end, sentence_start in sentence_spans(text, hit.chunk.start, hit.chunk.end, clauses=True):
                key = (hit.document.doc_id, start, end)
                if key in seen or end - start < 12:
                    continue
                seen.add(key)
                unit_text = text[start:end]
                unit = Evidence(hit, start, end, unit_text)
                unit.vocabulary = _vocabulary(unit_text)
                unit.agencies = find_agencies(unit_text)
                if not unit.agencies and sentence_start < start:
                    # "Bộ X làm A; làm B; làm C.": items after the first keep the sentence's subject.
                    before = find_agencies(text[sentence_start:start])
                    unit.inherited = [m for m in before if m.canonical not in ASSIGNERS]
                    unit.vocabulary |= _vocabulary(" ".join(m.value for m in unit.inherited))
                met = sum(w for t, w in weights.items() if t in unit.vocabulary)
                met += sum(w for group, w in choices if group & unit.vocabulary)
                unit.coverage = met / total
                unit.deadlines = find_deadlines(unit_text)
                unit.times = relative_times(unit_text, q.query) if q.asks_when else []
                unit.numbers = _numbers(unit_text)
                fit = 0.0
                if q.asks_who and self._actors(unit, q):
                    fit += 0.15
                if q.asks_when and (unit.deadlines or unit.times):
                    fit += 0.15
                if q.asks_figure and self._new_numbers(unit, q):
                    fit += 0.15
                if self._required(q) and not self._names(unit, self._required(q)):
                    fit -= 0.3
                unit.score = unit.coverage + fit + 0.05 / (rank + 1)
                units.append(unit)
        units.sort(key=lambda u: -u.score)
        return units


    @staticmethod
    def _required(q: Question) -> list[str]:
        """Agencies named in the question that the evidence must name too (assigners excepted)."""
        return [a for a in q.agencies if a not in ASSIGNERS and a not in COLLECTIVE]

    @staticmethod
    def _new_numbers(unit: Evidence, q: Question) -> list[str]:
        """Numbers of the unit that the question does not already contain (the asked figure)."""
        asked = set(_numbers(q.query))
        return [n for n in unit.numbers if n not in asked and not re.fullmatch(r"20\d\d", n)]

    def _actors(self, unit: Evidence, q: Question) -> list[Mention]:
        """Who the unit says does something: agencies (not the assigner, not those the question
        names) or people ("Phạm Minh Chính")."""
        named = set(self._required(q))
        actors = [m for m in unit.agencies if m.canonical not in ASSIGNERS and m.canonical not in named]
        if actors:
            return actors
        folded_question = fold(q.query)
        return [Mention(m.group(0), m.start(), m.end(), m.group(0)) for m in _PERSON.finditer(unit.text)
                if fold(m.group(0)) not in folded_question and not find_agencies(m.group(0))]

    @staticmethod
    def _names(unit: Evidence, agencies: list[str]) -> bool:
        have = {m.canonical for m in unit.agencies + unit.inherited}
        return all(a in have for a in agencies)

    def _answers(self, unit: Evidence, q: Question, relaxed: bool = False) -> bool:
        """Does this unit hold what the question asks for? (Refusal is the absence of such a unit.)
        ``relaxed`` lowers the coverage bar (lists; a second source beside an accepted answer)."""
        if unit.coverage < (self.min_coverage * 0.75 if q.asks_list or relaxed else self.min_coverage):
            return False
        if not self._names(unit, self._required(q)):
            return False
        folded = fold(unit.text)
        if any(name not in folded for name in q.names):
            return False
        if q.asks_when and not unit.deadlines and not unit.times:
            return False
        if q.asks_who and not q.asks_when and not q.asks_list and not self._actors(unit, q):
            return False
        if q.asks_figure:
            if not self._new_numbers(unit, q):
                return False
            if any(not _measure_in(m, unit) for m in q.measure):
                return False
        return True

    # -- answer ----------------------------------------------------------------------------
    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Same interface as the LLM backend: the text, then the :class:`Answer`."""
        answer = self.answer(question, history)
        yield answer.text
        yield answer

    def answer(self, question: str, history: list[dict] | None = None) -> Answer:
        """Answer one question (``history``: previous turns as ``{"role", "content"}``)."""
        started = time.perf_counter()
        q = analyse(question, history)
        hits = self.retriever.search(q.query, k=self.k * 2 if q.asks_list else self.k)
        units = self.evidence(q, hits)
        if q.asks_list:
            from assistant.task_answers import answer_from_tasks

            listed = answer_from_tasks(q, self.docstore)
            if listed is not None:
                listed.retrieved = [h.document.doc_id for h in hits]
                listed.elapsed_ms = (time.perf_counter() - started) * 1000
                return listed
        answering = [u for u in units if self._answers(u, q)]
        if not answering:
            result = self.refuse(q, hits)
        elif q.asks_list:
            result = self._list(q, answering)
        else:
            # Other documents may state the same thing differently: let them speak too.
            others = [u for u in units if u.doc_id != answering[0].doc_id and u not in answering
                      and self._answers(u, q, relaxed=True)]
            result = self._single(q, answering + others)
        result.retrieved = [h.document.doc_id for h in hits]
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def refuse(self, q: Question, hits: list[Hit]) -> Answer:
        """The honest answer: not found, with the closest passages to look at."""
        closest = [
            {"title": h.document.title, "source": h.document.source, "doc_id": h.document.doc_id,
             "start": h.chunk.start, "end": h.chunk.end, "text": h.chunk.text[:300]}
            for h in hits[:3]
        ]
        lines = [REFUSAL]
        if closest:
            lines.append("Các đoạn gần nhất (không trả lời trực tiếp câu hỏi):")
            lines += [f"- {c['title'][:80]}: {c['text'][:160].strip()}…" for c in closest]
        return Answer(q.text, "\n".join(lines), refused=True, closest=closest)

    def _cite(self, units: list[Evidence]) -> tuple[list[Citation], dict[int, int]]:
        citations: list[Citation] = []
        number: dict[int, int] = {}
        for i, unit in enumerate(units):
            doc = unit.hit.document
            citation = Citation(len(citations) + 1, doc.doc_id, doc.title, doc.source, doc.date, unit.text,
                                unit.start, unit.end, unit.score, unit.hit.chunk.chunk_id)
            if verify(citation, self.docstore):
                citations.append(citation)
                number[i] = citation.n
            else:
                log.warning("dropped a citation whose quote is not in its chunk: %s", citation.chunk_id)
        return citations, number

    def _supporting(self, q: Question, answering: list[Evidence]) -> list[Evidence]:
        """The best unit, plus close runners-up from other documents (agreement or conflict)."""
        best = answering[0]
        chosen = [best]
        for unit in answering[1:]:
            if len(chosen) == 3:
                break
            if unit.score < best.score - 0.25 or unit.text == best.text:
                continue
            same_doc = any(c.doc_id == unit.doc_id for c in chosen)
            if not same_doc and (_similar(unit, best) or unit.score >= best.score - 0.2):
                chosen.append(unit)
        return chosen

    def _single(self, q: Question, answering: list[Evidence]) -> Answer:
        units = self._supporting(q, answering)
        citations, number = self._cite(units)
        if not citations:
            return self.refuse(q, [u.hit for u in answering])
        refs = "".join(f"[{number[i]}]" for i in range(len(units)) if i in number)
        lines: list[str] = []
        lead = self._lead(q, units[0])
        conflicts = self.conflicts(units, number)
        if lead and not conflicts:
            lines.append(f"{lead} {refs}.")
        elif lead:
            lines.append(f"{lead} [{number.get(0, 1)}].")
        for i, unit in enumerate(units):
            if i in number:
                lines.append(f"«{unit.text.strip()}» [{number[i]}]")
        for conflict in conflicts:
            values = "; ".join(f"{v['value']} [{v['citation']}]" for v in conflict["values"])
            lines.append(f"Lưu ý: các nguồn ghi khác nhau về {conflict['label']}: {values}.")
        return Answer(q.text, "\n".join(lines), refused=False, citations=citations, conflicts=conflicts)

    def _lead(self, q: Question, unit: Evidence) -> str | None:
        """'Bộ Y tế chủ trì; thời hạn: quý 3/2026' for who/when questions."""
        parts = []
        actors = self._actors(unit, q)
        if q.asks_who and actors:
            parts.append(f"{actors[0].value} chủ trì" if "chủ trì" in unit.text else actors[0].value)
        if (q.asks_when or q.asks_who) and unit.deadlines:
            parts.append(f"thời hạn: {deadline_value(unit.deadlines[0])}")
        elif q.asks_when and unit.times:
            parts.append(f"thời gian: {unit.times[0]}")
        return "; ".join(parts) if parts else None

    def conflicts(self, units: list[Evidence], number: dict[int, int]) -> list[dict]:
        """Different deadlines or leads for the same thing, each with its citation number."""
        out = []
        for label, values_of in (("thời hạn", lambda u: u.deadlines), ("đơn vị chủ trì", lambda u: [
                m for m in u.agencies if m.canonical not in ASSIGNERS])):
            values: dict[str, dict] = {}
            for i, unit in enumerate(units):
                mentions = values_of(unit)
                if i in number and mentions:
                    canonical = mentions[0].canonical
                    shown = deadline_value(mentions[0]) if label == "thời hạn" else mentions[0].value
                    values.setdefault(canonical, {"value": shown, "citation": number[i]})
            if len(values) > 1:
                out.append({"field": "deadline" if label == "thời hạn" else "lead", "label": label,
                            "values": list(values.values())})
        return out

    def _list(self, q: Question, answering: list[Evidence]) -> Answer:
        items: list[Evidence] = []
        for unit in sorted(answering, key=lambda u: (u.doc_id, u.start)):
            duplicate = next((i for i in items if _similar(i, unit, 0.7)), None)
            if duplicate is None or duplicate.doc_id != unit.doc_id:
                items.append(unit)
            if len(items) == 12:
                break
        items.sort(key=lambda u: -u.score)
        citations, number = self._cite(items)
        if not citations:
            return self.refuse(q, [u.hit for u in answering])
        subject = self._required(q)[0] if self._required(q) else "Các văn bản"
        lines = [f"{subject} — {len(citations)} nội dung tìm thấy:"]
        lines += [f"- «{u.text.strip()}» [{number[i]}]" for i, u in enumerate(items) if i in number]
        return Answer(q.text, "\n".join(lines), refused=False, citations=citations)


_PERCENT = ("phần trăm", "%")
_MONEY = ("tỷ đồng", "tỉ đồng", "triệu đồng", "nghìn tỷ", "nghìn tỉ", "đồng")


def _measure_in(measure: str, unit: Evidence) -> bool:
    """Does the unit count what the question counts? ("phần trăm" is also "%"; money units agree;
    abbreviations count as their full form)."""
    text = unit.text
    folded = fold(text)
    if measure in _PERCENT:
        return "%" in text or "phan tram" in folded
    if measure in _MONEY:
        return any(fold(m) in folded for m in _MONEY if m != "đồng") or " dong" in folded
    return all(fold(w) in unit.vocabulary for w in words(measure))


def _similar(a: Evidence, b: Evidence, threshold: float = 0.5) -> bool:
    """Two statements about the same thing (overlap of their subjects, or of all their words)."""
    sa, sb = a.subject(), b.subject()
    if len(sa) >= 3 and len(sb) >= 3 and len(sa & sb) / len(sa | sb) >= threshold:
        return True
    wa, wb = {fold(w) for w in words(a.text)}, {fold(w) for w in words(b.text)}
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold
