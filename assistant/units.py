"""Candidate answer units and what is measured about them.

A unit is a sentence, list item or table row of a retrieved chunk. For every unit the reader
(:mod:`assistant.reader`) gets one row of numbers: how much of the question it holds (IDF-weighted, with
and without tone marks, as phrases, in its sentence and around it), how close its vector is to the
question's, where its passage ranked, what kind of answer the question wants and whether the unit holds
that kind of thing (a date for "khi nào", a new number for "bao nhiêu", a name for "ai"). The weights
that turn these numbers into a score are learned (``scripts/train_reader.py``), not written here.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass, field

import numpy as np

from assistant.retrieve import Hit
from index.lang.cues import answer_cues, is_stop, measured, question_kinds, time_phrases, word_list
from index.lang.facts import ASSIGNERS, Mention, find_agencies, find_deadlines
from index.lang.normalize import VIET_UPPER, nfc
from index.lang.sentences import unit_spans
from index.lang.vietnamese import expansions, fold, has_marks, words

KINDS = ("who", "when", "quantity", "where", "why", "how", "what", "which", "yesno", "list")

_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"(?<![\w/])\d+(?:[.,]\d+)*(?![\w/])")
_YEAR = re.compile(r"(?<!\d)(?:1[0-9]|20)\d\d(?!\d)")
_CAPITAL = re.compile(rf"(?<![\w.])[{VIET_UPPER}][^\W\d_]+")

FEATURES = (
    "cov", "cov_marked", "cov_pairs", "cov_context", "cov_chunk", "cov_rel", "cov_context_rel",
    "shared", "bm25", "bm25_rel", "cov_prev", "cov_next", "cov_title", "cov_rank", "dense_rank",
    "dense_context", "capital_near", "number_near", "time_near", "answer_near", "miss_idf", "miss_idf_context",
    "miss_share", "measure",
    "longest_run", "novelty", "length", "dense", "dense_rel", "dense_chunk", "rank", "fused", "lexical",
    "position", "first_of_doc", "names_in_unit", "names_in_chunk", "names_before", "agencies_in_unit",
    *(f"asks_{k}" for k in KINDS),
    "new_numbers", "years", "dates", "times", "new_capitals", "new_agencies", "cue_why", "cue_how", "cue_yesno",
    "who_x_capitals", "who_x_agencies", "when_x_dates", "when_x_years", "when_x_times", "quantity_x_numbers",
    "where_x_capitals", "why_x_cue", "how_x_cue", "yesno_x_cue", "what_x_novelty",
)
INDEX = {name: i for i, name in enumerate(FEATURES)}



@functools.lru_cache(maxsize=16384)
def _agencies_in(text: str) -> list[Mention]:
    """:func:`find_agencies`, remembered: the units of often retrieved passages come back question after
    question, and finding agencies is the largest cost of reading (about half a millisecond a unit)."""
    return find_agencies(text)

@dataclass
class Unit:
    """A sentence, list item or table row of a retrieved chunk."""

    hit: Hit
    rank: int  # the chunk's rank in retrieval (0 = first)
    start: int
    end: int
    sentence_start: int  # where the sentence holding this item begins (== start for a whole sentence)
    position: int  # the unit's place in its chunk (0 = first)
    vector: np.ndarray | None = None
    features: np.ndarray | None = None
    score: float = 0.0

    @property
    def text(self) -> str:
        return self.hit.document.text[self.start : self.end]

    @property
    def doc_id(self) -> str:
        return self.hit.document.doc_id

    @property
    def key(self) -> tuple[str, int, int]:
        return self.doc_id, self.start, self.end

    def agencies(self) -> list[Mention]:
        """Agencies the unit names (found once)."""
        if "_agencies" not in self.__dict__:
            self.__dict__["_agencies"] = _agencies_in(self.text)
        return self.__dict__["_agencies"]

    def deadlines(self) -> list[Mention]:
        """Deadline phrases of the unit (found once)."""
        if "_deadlines" not in self.__dict__:
            self.__dict__["_deadlines"] = find_deadlines(self.text)
        return self.__dict__["_deadlines"]

    def inherited(self) -> list[Mention]:
        """For a list item ("Bộ X làm A; làm B; làm C"), the agencies its sentence names before it (the
        item's subject), the assigner excepted."""
        if self.sentence_start >= self.start:
            return []
        before = self.hit.document.text[self.sentence_start : self.start]
        return [m for m in find_agencies(before) if m.canonical not in ASSIGNERS]


def candidates(hits: list[Hit], docstore=None) -> list[Unit]:
    """Every unit of the hits, once (overlapping chunks share units; the better-ranked chunk keeps it),
    with the vector stored for it at index time when ``docstore`` is given."""
    stored = docstore.unit_vectors(h.chunk.chunk_id for h in hits) if docstore is not None else {}
    seen: set[tuple[str, int, int]] = set()
    units: list[Unit] = []
    for rank, hit in enumerate(hits):
        vectors = stored.get(hit.chunk.chunk_id, {})
        for position, (start, end, sentence_start) in enumerate(
                unit_spans(hit.document.text, hit.chunk.start, hit.chunk.end)):
            key = (hit.document.doc_id, start, end)
            if key in seen:
                continue
            seen.add(key)
            units.append(Unit(hit, rank, start, end, sentence_start, position, vectors.get((start, end))))
    return units


@dataclass
class QuestionView:
    """What the features need to know of a question."""

    text: str
    kinds: set[str]
    terms: dict[str, float]  # folded content word -> IDF weight
    marked_terms: dict[str, float]  # the same words with their tone marks (when the question has them)
    pairs: set[str]  # folded neighbouring word pairs
    sequence: list[str]  # folded words in order (for the longest common run)
    numbers: set[str]
    names: list[str]  # folded proper names and acronyms the evidence must hold
    agencies: list[str]  # canonical agencies the evidence must name
    words: set[str]  # every folded word of the question
    syllables: set[str]  # every word of the question as typed (lower case)
    marked: bool = True  # typed with tone marks
    measure: list[str] = field(default_factory=list)  # folded words of what "bao nhiêu" counts


class Featurizer:
    """Turns (question, units) into the reader's feature rows.

    Args:
        df: document frequency of folded and marked words over the chunks (the lexical index's).
        n_chunks: how many chunks those frequencies were counted over.
    """

    names = FEATURES

    def __init__(self, df: dict[str, int] | None = None, n_chunks: int = 0):
        self.df = df or {}
        self.n = n_chunks

    def common(self, word: str) -> bool:
        """A common word (a function word, or one that a twentieth of the passages use)?"""
        lower = word.lower()
        return is_stop(lower, True) or (self.n >= 200 and self.df.get(lower, 0) > self.n / 20)

    def idf(self, word: str) -> float:
        if not self.n:
            return 1.0
        return 1.0 + math.log((self.n + 1) / (self.df.get(word, 0) + 1))

    def question(self, text: str, names: list[str] | None = None, agencies: list[str] | None = None) -> QuestionView:
        """Analyse the question once for all its units."""
        marked = has_marks(text)
        parts = [text] + expansions(text)
        found = [w for part in parts for w in words(part)]
        content = [w for w in found if not is_stop(w, marked)]
        terms = {fold(w): self.idf(fold(w)) for w in content}
        marked_terms = {w: self.idf(w) for w in content} if marked else dict(terms)
        sequence = [fold(w) for w in words(text)]
        pairs = {f"{a} {b}" for a, b in zip(sequence, sequence[1:]) if not (is_stop(a, False) and is_stop(b, False))}
        return QuestionView(text, question_kinds(text), terms, marked_terms, pairs, sequence,
                            set(_NUMBER.findall(text)), names or [], agencies or [], set(sequence),
                            set(words(text)), marked, [fold(w) for w in measured(text)])

    def rows(self, q: QuestionView, units: list[Unit], query_vector: np.ndarray | None = None) -> np.ndarray:
        """One feature row per unit (also stored on each unit)."""
        out = np.zeros((len(units), len(FEATURES)), dtype=np.float32)
        if not units:
            return out
        f = INDEX
        total = sum(q.terms.values()) or 1.0
        total_marked = sum(q.marked_terms.values()) or 1.0
        max_lexical = max((u.hit.lexical for u in units), default=0.0) or 1.0
        by_hit: dict[int, list[Unit]] = {}
        for unit in units:
            by_hit.setdefault(id(unit.hit), []).append(unit)
        folded = [[fold(w) for w in words(u.text)] for u in units]
        word_sets = [set(ws) for ws in folded]
        cover = np.asarray([sum(w for t, w in q.terms.items() if t in have) / total for have in word_sets])
        where = {id(u): i for i, u in enumerate(units)}
        chunk_cov: dict[int, tuple[float, float]] = {}
        passage_words: dict[int, str] = {}
        passage_named: dict[int, float] = {}  # per passage: whether it holds every name of the question
        asked = nfc(q.text).lower()
        title_words_of: dict[int, set[str]] = {}
        top_idf = max(q.terms.values(), default=1.0) or 1.0
        average_length = float(np.mean([len(ws) for ws in folded])) or 1.0
        for i, unit in enumerate(units):
            text = unit.text
            folded_words, have = folded[i], word_sets[i]
            have_marked = set(words(text))
            siblings = by_hit[id(unit.hit)]
            at = siblings.index(unit)
            before = where[id(siblings[at - 1])] if at > 0 else None
            after = where[id(siblings[at + 1])] if at + 1 < len(siblings) else None
            around = have | (word_sets[before] if before is not None else set()) | (
                word_sets[after] if after is not None else set())
            if id(unit.hit) not in chunk_cov:
                hit = unit.hit
                chunk_words = {fold(w) for w in words(" ".join([hit.document.title, *hit.chunk.headings,
                                                                 hit.chunk.text]))}
                title_words = {fold(w) for w in words(hit.document.title)}
                title_words_of[id(unit.hit)] = title_words
                chunk_cov[id(unit.hit)] = (sum(w for t, w in q.terms.items() if t in chunk_words) / total,
                                           sum(w for t, w in q.terms.items() if t in title_words) / total)
            row = out[i]
            row[f["cov"]] = cover[i]
            row[f["cov_marked"]] = sum(w for t, w in q.marked_terms.items()
                                       if t in have_marked or t in have) / total_marked
            unit_pairs = {f"{a} {b}" for a, b in zip(folded_words, folded_words[1:])}
            row[f["cov_pairs"]] = len(q.pairs & unit_pairs) / len(q.pairs) if q.pairs else 0.0
            row[f["cov_context"]] = sum(w for t, w in q.terms.items() if t in around) / total
            row[f["cov_chunk"]], row[f["cov_title"]] = chunk_cov[id(unit.hit)]
            # The rarest question word the unit does not hold: a unit without "đất đai" is about another
            # database than the one asked, however much else it shares with the question.
            missing = [w for t, w in q.terms.items() if t not in have]
            row[f["miss_idf"]] = max(missing, default=0.0) / top_idf
            row[f["miss_idf_context"]] = max((w for t, w in q.terms.items() if t not in around
                                              and t not in title_words_of[id(unit.hit)]), default=0.0) / top_idf
            row[f["miss_share"]] = len(missing) / max(len(q.terms), 1)
            row[f["measure"]] = float(all(w in have for w in q.measure)) if q.measure else 0.0
            row[f["cov_prev"]] = cover[before] if before is not None else 0.0
            row[f["cov_next"]] = cover[after] if after is not None else 0.0
            row[f["shared"]] = len(q.syllables & have_marked) / max(len(q.syllables), 1)
            counts = {}
            for word in folded_words:
                counts[word] = counts.get(word, 0) + 1
            norm = 1.2 * (0.25 + 0.75 * len(folded_words) / average_length)
            row[f["bm25"]] = sum(w * counts[t] * 2.2 / (counts[t] + norm) for t, w in q.terms.items()
                                 if t in counts) / total
            row[f["longest_run"]] = _longest_run(q.sequence, folded_words) / max(len(q.sequence), 1)
            row[f["novelty"]] = (len(have - q.words) / len(have)) if have else 0.0
            row[f["length"]] = math.log1p(len(folded_words))
            if unit.vector is not None and query_vector is not None:
                row[f["dense"]] = float(np.dot(query_vector, unit.vector))
            near = _nearness(text, q, self.common)
            row[f["capital_near"]], row[f["number_near"]], row[f["time_near"]] = near
            row[f["answer_near"]] = _answer_near(q.kinds, near)
            row[f["dense_chunk"]] = unit.hit.dense
            row[f["rank"]] = 1.0 / (unit.rank + 1)
            row[f["fused"]] = unit.hit.score
            row[f["lexical"]] = unit.hit.lexical / max_lexical
            row[f["position"]] = 1.0 / (unit.position + 1)
            row[f["first_of_doc"]] = float(unit.start == 0)
            folded_text = " " + " ".join(folded_words) + " "
            if id(unit.hit) not in passage_words:
                passage = " ".join(words(unit.hit.chunk.text + " . " + unit.hit.document.title))
                passage_words[id(unit.hit)] = passage if q.marked else fold(passage)
            unit_words = " ".join(words(text)) if q.marked else " ".join(folded_words)
            row[f["names_in_unit"]] = float(all(_named(n, unit_words, q.marked) for n in q.names))
            if id(unit.hit) not in passage_named:
                passage_named[id(unit.hit)] = float(all(_named(n, passage_words[id(unit.hit)], q.marked)
                                                        for n in q.names))
            row[f["names_in_chunk"]] = passage_named[id(unit.hit)]
            if row[f["names_in_unit"]] or not row[f["names_in_chunk"]]:
                row[f["names_before"]] = row[f["names_in_unit"]]
            else:  # said just before the unit, which refers back ("Ông ...", "Bộ này ..."), or in a heading
                chunk = unit.hit.chunk
                lead = siblings[at - 1].start if at > 0 else unit.start
                head = " . ".join((unit.hit.document.title, *chunk.headings, unit.hit.document.text[lead : unit.end]))
                head = " ".join(words(head))
                row[f["names_before"]] = float(all(_named(n, head if q.marked else fold(head), q.marked)
                                                   for n in q.names))
            agencies = unit.agencies()
            if q.agencies:
                named = {m.canonical for m in agencies}
                if not all(a in named for a in q.agencies):
                    named |= {m.canonical for m in unit.inherited()}
                row[f["agencies_in_unit"]] = float(all(a in named for a in q.agencies))
            else:
                row[f["agencies_in_unit"]] = 1.0
            for kind in KINDS:
                row[f[f"asks_{kind}"]] = float(kind in q.kinds)
            numerals = word_list("numerals")
            row[f["new_numbers"]] = min(3, sum(1 for n in _NUMBER.findall(text) if n not in q.numbers)
                                        + sum(1 for w in have_marked if w in numerals and w not in q.syllables))
            row[f["years"]] = min(2, sum(1 for y in _YEAR.findall(text) if y not in q.numbers))
            # Dates and numbered times the question states itself are not what it asks ("bao nhiêu trạm ...
            # trong năm 2026?" is not answered by "trong năm 2026"); a temporal clause ("khi ...") always is.
            row[f["dates"]] = min(2, sum(1 for m in unit.deadlines() if m.value.lower() not in asked))
            row[f["times"]] = float(any(not (_DIGIT.search(p) and p.lower() in asked) for p in time_phrases(text)))
            capitals = {fold(m.group(0)) for m in _CAPITAL.finditer(text) if m.start() > 0}
            row[f["new_capitals"]] = min(3, len(capitals - q.words))
            row[f["new_agencies"]] = min(2, sum(1 for m in agencies if m.canonical not in q.agencies
                                                and m.canonical not in ASSIGNERS))
            for kind in ("why", "how", "yesno"):
                row[f[f"cue_{kind}"]] = float(any(cue in folded_text for cue in answer_cues().get(kind, ())))
        for i, unit in enumerate(units):  # the neighbours' closeness to the question (context)
            siblings = by_hit[id(unit.hit)]
            at = siblings.index(unit)
            near = [where[id(s)] for s in siblings[max(0, at - 1) : at + 2] if s is not unit]
            out[i, f["dense_context"]] = max((out[j, f["dense"]] for j in near), default=0.0)
        _interactions(out)
        _relative(out)
        for unit, row in zip(units, out):
            unit.features = row
        return out


_TOKEN = re.compile(r"\d+(?:[/.,]\d+)*%?|[^\W\d_]+(?:[-&][^\W\d_]+)*")


def _nearness(text: str, q: QuestionView, common=None) -> tuple[float, float, float]:
    """How close the unit puts a candidate answer to what the question asks about: for a new name (a
    capitalised word the question does not hold), a new number and a time, 1 / (1 + the fewest words
    between it and a focus word of the question); 0 when the unit has none (or holds no question word).
    An answer stands next to what is asked ("Athena là con gái của Zeus"). ``common(word)`` tells a common
    word, whose capital at the start of the sentence says nothing, from a name that starts it."""
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return 0.0, 0.0, 0.0
    folded = [fold(t) for t, _ in tokens]
    # Measured from the question's focus (its content words outside the names it mentions: "mẹ" in "Mẹ của
    # Donald Trump là ai?"); a question that is all names measures from any of its words.
    name_words = {fold(w) for name in q.names for w in name.split()}
    focus = [i for i, w in enumerate(folded) if w in q.terms and w not in name_words]
    asked = focus or [i for i, w in enumerate(folded) if w in q.terms]
    if not asked:
        return 0.0, 0.0, 0.0
    times = [m.start for m in find_deadlines(text)] + [m.start() for m in _YEAR.finditer(text)]
    starts = [start for _, start in tokens]
    time_at = {bisect.bisect_right(starts, t) - 1 for t in times}

    def nearest(positions: list[int]) -> float:
        if not positions:
            return 0.0
        return 1.0 / (1.0 + min(abs(p - a) for p in positions for a in asked))

    capitals = [i for i, (t, _) in enumerate(tokens) if t[:1].isupper() and folded[i] not in q.words
                and (i > 0 or common is None or not common(t))]
    numbers = [i for i, (t, _) in enumerate(tokens) if t[:1].isdigit() and t not in q.numbers]
    return nearest(capitals), nearest(numbers), nearest(sorted(time_at))


def _answer_near(kinds: set[str], near: tuple[float, float, float]) -> float:
    """The nearness of the kind of thing the question asks for (a name for who/where/which, a number for
    how many, a time for when; the best of them otherwise)."""
    capital, number, time = near
    wanted = [capital] if kinds & {"who", "where", "which"} else []
    wanted += [number] if "quantity" in kinds else []
    wanted += [time] if "when" in kinds else []
    return max(wanted) if wanted else max(near)


def _named(name: str, text: str, marked: bool) -> bool:
    """Is a proper name of the question in a text? Compared with tone marks when the question has them
    ("Giáo" is not the verb "giao"), as a run of whole words. Names are spelled in more than one way
    (transliterations, typing slips: "Richarson" / "Richardson", "Geogre" / "George", "Sho Toku" /
    "Shotoku"), so a foreign word also matches one a single edit away (see :func:`_close`), a name's
    words may be written as one, and a name of three words or more is also found when all but one of
    them are there in a row.

    Args:
        name: the name, lower case, as the question spells it.
        text: the text searched, lower case with its marks (the caller folds both when unmarked).
        marked: whether the question was typed with tone marks.
    """
    words_ = name.split() if marked else fold(name).split()
    padded = " " + text + " "
    if " " + " ".join(words_) + " " in padded:
        return True
    tokens = text.split()
    if _run(words_, tokens) or (len(words_) > 1 and _run(["".join(words_)], tokens)):
        return True
    if len(words_) >= 3:
        return any(_run(words_[:i] + words_[i + 1 :], tokens) for i in range(len(words_)))
    return False


def _run(name: list[str], tokens: list[str]) -> bool:
    """Whether ``name``'s words occur in a row in ``tokens``, each the same or one edit away."""
    n = len(name)
    return any(all(_close(a, b) for a, b in zip(name, tokens[i : i + n])) for i in range(len(tokens) - n + 1))


def _close(a: str, b: str) -> bool:
    """The same word, or, for a foreign name (six letters or more, no Vietnamese letters or tone marks),
    one insertion, deletion, substitution or swap of two neighbouring letters away. Vietnamese syllables
    are never matched loosely: one letter or one tone mark apart they are different words ("giáo" /
    "giao", "trung" / "trong")."""
    if a == b:
        return True
    if min(len(a), len(b)) < 6 or abs(len(a) - len(b)) > 1 or not (a.isascii() and b.isascii()):
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1 :] == shorter[i:]


def _relative(out: np.ndarray) -> None:
    """How each unit compares with the other candidates of the same question: the gap to the best, and
    its rank (1 for the best, 1/2 for the second...)."""
    f = INDEX
    for column, relative in (("cov", "cov_rel"), ("cov_context", "cov_context_rel"), ("dense", "dense_rel"),
                             ("bm25", "bm25_rel")):
        out[:, f[relative]] = out[:, f[column]] - out[:, f[column]].max()
    for column, rank in (("cov_marked", "cov_rank"), ("dense", "dense_rank")):
        order = np.argsort(-out[:, f[column]], kind="stable")
        ranks = np.empty(len(order))
        ranks[order] = np.arange(1, len(order) + 1)
        out[:, f[rank]] = 1.0 / ranks


def _interactions(out: np.ndarray) -> None:
    """Products of what the question asks and what the unit holds (for a linear scorer)."""
    f = INDEX
    for product, (a, b) in {
        "who_x_capitals": ("asks_who", "new_capitals"), "who_x_agencies": ("asks_who", "new_agencies"),
        "when_x_dates": ("asks_when", "dates"), "when_x_years": ("asks_when", "years"),
        "when_x_times": ("asks_when", "times"),
        "quantity_x_numbers": ("asks_quantity", "new_numbers"), "where_x_capitals": ("asks_where", "new_capitals"),
        "why_x_cue": ("asks_why", "cue_why"), "how_x_cue": ("asks_how", "cue_how"),
        "yesno_x_cue": ("asks_yesno", "cue_yesno"), "what_x_novelty": ("asks_what", "novelty"),
    }.items():
        out[:, f[product]] = out[:, f[a]] * out[:, f[b]]


def _longest_run(question: list[str], unit: list[str]) -> int:
    """Length of the longest run of consecutive question words that the unit also has consecutively."""
    if not question or not unit:
        return 0
    best = 0
    previous = [0] * (len(unit) + 1)
    for word in question:
        current = [0] * (len(unit) + 1)
        for j, other in enumerate(unit, start=1):
            if word == other:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best = current[j]
        previous = current
    return best
