"""The extractive backend: retrieval -> candidate units -> the trained reader -> a composed, cited answer.

Offline and deterministic. Each part of a question ("ai chủ trì ..., phối hợp với bộ nào và báo cáo khi
nào?") is read on its own: the reader (:mod:`assistant.reader`) scores every sentence, list item and
table row of the retrieved passages, the hard guards rule out what cannot answer (a named agency or
proper name missing, no time for "khi nào"), and a part whose best unit falls below the calibrated
threshold is "not found". List questions are answered from the task table first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np

from assistant.answer import Answer
from assistant.compose import BUDGET, Reading, clause_runs, compose, cut_to, listing, refusal
from assistant.question import Question, analyse, split_parts
from assistant.reader import Reader, decide, default_reader
from assistant.retrieve import Hit
from assistant.units import Featurizer, QuestionView, Unit, candidates
from index.docstore import DocStore
from index.header import NUMBER, REFERENCE_PHRASE
from index.lang.vietnamese import fold, has_marks, words

log = logging.getLogger(__name__)

#: A unit longer than this is cut to its clauses that hold most of the question (quotes stay short).
_LONG = BUDGET - 40


def question_view(featurizer: Featurizer, q: Question, text: str | None = None) -> QuestionView:
    """What the features need of a question (or of one of its parts, ``text``)."""
    view = featurizer.question(text or q.query, names=q.names, agencies=q.required_agencies)
    return view


class ExtractiveAnswerer:
    """Answers from the retrieved text itself; no language model.

    Args:
        retriever: a retriever with ``search(query, k)``, ``query_vector(query)`` and ``lexical`` (corpus
            statistics for IDF).
        docstore: the document store (unit vectors come from it; citations are verified against it).
        reader: the trained scorer (default: the shipped ``assistant/data/reader.json``).
        k: passages retrieved per question (more for lists and multi-part questions).
    """

    streams = False  # the whole answer is ready at once
    backend = "extractive"

    def __init__(self, retriever, docstore: DocStore, reader: Reader | None = None, k: int = 8, cross=None):
        self.retriever = retriever
        self.docstore = docstore
        self.reader = reader or default_reader()
        self.k = k
        self.cross = cross  # an assistant.cross.CrossReader, or None

    def featurizer(self) -> Featurizer:
        lexical = getattr(self.retriever, "lexical", None)
        if lexical is None:
            return Featurizer()
        return Featurizer(lexical.df, lexical.size)

    # -- reading ----------------------------------------------------------------------------
    def read(self, q: Question, hits: list[Hit]) -> tuple[list[Reading], list[Unit]]:
        """Each part of the question read over the units of ``hits`` (chosen units best first), and every
        unit scored for the whole question."""
        units = candidates(hits, self.docstore)
        featurizer = self.featurizer()
        vector = self.retriever.query_vector(q.query) if hasattr(self.retriever, "query_vector") else None
        named = {fold(w) for w in words(q.query)}
        readings = []
        for part in split_parts(q):
            view = question_view(featurizer, q, part.query)
            view.kinds = part.kinds
            rows = featurizer.rows(view, units, vector)
            decision = decide(self.reader, rows, featurizer.names, [u.end - u.start for u in units], BUDGET,
                              self._cross_scores(part.query, units))
            for unit, score in zip(units, decision.scores):
                unit.score = float(score)
            chosen = [units[i] for i in decision.chosen]
            if chosen:
                chosen = self._with_other_source(chosen, units, decision.scores, q.alternatives)
            chosen = [self._trim(u, view) for u in chosen]
            readings.append(Reading(part.text, part.kinds, named, q.required_agencies, chosen, decision.confidence))
        return readings, units

    def _cross_scores(self, text: str, units: list[Unit]):
        """The cross reader's scores (relative to its "no answer" score) of units by index, or None when
        :meth:`_crosses` says it does not read this question."""
        cross = self.cross
        if not self._crosses(text):
            return None
        return lambda indices: cross.logits(text, [units[i].text for i in indices]) - cross.null

    def _crosses(self, text: str) -> bool:
        """Whether the cross reader (with its stage of the reader) reads this question. A question typed
        without tone marks is left to the ranker: the cross reader learned from marked questions, and a
        word folded to plain letters is another token in its vocabulary."""
        return self.cross is not None and self.reader.cross is not None and has_marks(text)

    def ranked(self, q: Question, hits: list[Hit]) -> list[Unit]:
        """Every unit of ``hits``, best first by the reader's score (the LLM backend's passages)."""
        _, units = self.read(q, hits)
        return sorted(units, key=lambda u: -u.score)

    def _with_other_source(self, chosen: list[Unit], units: list[Unit], scores: np.ndarray,
                           alternatives: list[set[str]]) -> list[Unit]:
        """When another document states the same thing (in agreement or not), or holds the other side of
        an "A hay B" choice that the best unit does not, it takes the second place: the user sees both."""
        best = chosen[0]
        best_words = {fold(w) for w in words(best.text)}
        for i in np.argsort(-scores, kind="stable"):
            unit = units[int(i)]
            if scores[i] <= 0 or unit is best:
                continue
            other_side = any(any(fold(t) in {fold(w) for w in words(unit.text)} and fold(t) not in best_words
                                 for t in group) for group in alternatives)
            if unit.doc_id != best.doc_id and (_same_statement(best, unit) or other_side):
                return [best, unit]
        return chosen

    @staticmethod
    def _trim(unit: Unit, view: QuestionView) -> Unit:
        """A unit over :data:`_LONG` characters is cut to the run of its clauses that holds most of the
        question's weight (a quote is a sentence, not a page)."""
        if unit.end - unit.start <= _LONG:
            return unit
        text = unit.text

        def weight(span: tuple[int, int]) -> float:
            have = {fold(w) for w in words(text[span[0] : span[1]])}
            return sum(w for t, w in view.terms.items() if t in have)

        return cut_to(unit, max(clause_runs(text, _LONG), key=weight))

    # -- answering --------------------------------------------------------------------------
    def stream(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Iterator[str | Answer]:
        """Same interface as the LLM backend: the text, then the :class:`Answer`."""
        answer = self.answer(question, history, scope)
        yield answer.text
        yield answer

    def analyse(self, question: str, history: list[dict] | None, scope: frozenset[str] | None) -> Question:
        """The question analysed, with the documents to answer from: ``scope`` (a filter's documents), or
        narrowed to the documents it names by their official number ("văn bản số 447/TB-VPCP ...")."""
        q = analyse(question, history)
        named = self.docstore.docs_numbered(m.group(0) for m in NUMBER.finditer(q.query))
        if named:
            scope = named & scope if scope is not None else named
            # the document reference picks the documents; what is asked about them is the rest
            rest = " ".join(REFERENCE_PHRASE.sub(" ", question).split())
            if rest:
                q = analyse(rest, history)
                q.text = question
        q.scope = scope
        return q

    def answer(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Answer:
        """Answer one question (``history``: previous turns as ``{"role", "content"}``; ``scope``: only
        from these documents)."""
        started = time.perf_counter()
        q = self.analyse(question, history, scope)
        hits = self.retriever.search(q.query, k=self.k * 2 if q.asks_list or len(split_parts(q)) > 1 else self.k,
                                     scope=q.scope)
        result = self.answer_from(q, hits)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def answer_from(self, q: Question, hits: list[Hit]) -> Answer:
        """The answer from passages already retrieved (the LLM backend's fallback reuses its retrieval)."""
        if q.asks_list:
            from assistant.task_answers import answer_from_tasks

            listed = answer_from_tasks(q, self.docstore)  # within q.scope
            if listed is not None:
                listed.retrieved = [h.document.doc_id for h in hits]
                return listed
        readings, units = self.read(q, hits)
        result = None
        if q.asks_list:
            result = self._list(q, units)
        elif any(r.units for r in readings):
            result = compose(q.text, readings, self.docstore)
        if result is None:
            result = refusal(q.text, hits, self.docstore, max((r.confidence for r in readings), default=0.0))
        result.retrieved = [h.document.doc_id for h in hits]
        return result

    def _list(self, q: Question, units: list[Unit]) -> Answer | None:
        """A list question the task table could not answer: every unit the reader accepts, best first,
        one of each statement."""
        accepted: list[Unit] = []
        stage = self.reader.cross if self._crosses(q.query) else self.reader  # the stage that scored the units
        for unit in sorted(units, key=lambda u: -u.score):
            if unit.score < stage.threshold or len(accepted) == 12:
                break
            if not any(u.doc_id == unit.doc_id and _same_statement(u, unit, 0.7) for u in accepted):
                accepted.append(unit)
        if not accepted:
            return None
        subject = q.required_agencies[0] if q.required_agencies else "Các văn bản"
        return listing(q.text, subject, accepted, self.docstore)


def _same_statement(a: Unit, b: Unit, threshold: float = 0.5) -> bool:
    """Two units that say the same thing (most of their words shared)."""
    wa, wb = {fold(w) for w in words(a.text)}, {fold(w) for w in words(b.text)}
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold
