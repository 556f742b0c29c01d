"""Cue words of Vietnamese questions and answers, read from the data files beside this module.

Every list here is data with a note of its source (``data/*.tsv``, ``data/*.txt``), not literals in code.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path

from index.lang.normalize import nfc
from index.lang.vietnamese import fold, has_marks

DATA = Path(__file__).with_name("data")


def _rows(name: str) -> list[list[str]]:
    out = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append([nfc(part.strip()) for part in line.split("\t") if part.strip()])
    return out


@lru_cache(maxsize=1)
def _question_cues() -> tuple[tuple[str, str], ...]:
    """(kind, cue) rows of ``data/question_cues.tsv``."""
    return tuple((kind, cue) for kind, cue in _rows("question_cues.tsv"))


@lru_cache(maxsize=1)
def answer_cues() -> dict[str, tuple[str, ...]]:
    """Words by which a sentence states a reason, a manner or a permission (``data/answer_cues.tsv``), by
    kind, folded and padded with spaces for whole-word matching."""
    cues: dict[str, list[str]] = {}
    for kind, cue in _rows("answer_cues.tsv"):
        cues.setdefault(kind, []).append(" " + fold(cue) + " ")
    return {kind: tuple(found) for kind, found in cues.items()}


@cache
def discourse(role: str) -> tuple[str, ...]:
    """Phrases of one role in ``data/discourse.tsv`` (follow-up markers, joins, noun-phrase ends, ...),
    lower case, longest first (so that a regular expression built from them prefers "vậy còn" to "còn")."""
    found = [phrase.lower() for kind, phrase in _rows("discourse.tsv") if kind == role]
    if not found:
        raise KeyError(f"no phrases of role {role!r} in data/discourse.tsv")
    return tuple(sorted(found, key=len, reverse=True))


@cache
def documents(kind: str) -> tuple[tuple[str, ...], ...]:
    """The rows of one kind of ``data/documents.tsv`` (the vocabulary of official documents: types, bodies,
    mottos, amending verbs, assignment-table columns), each as its values after the kind, in file order."""
    found = tuple(tuple(row[1:]) for row in _rows("documents.tsv") if row[0] == kind)
    if not found:
        raise KeyError(f"no rows of kind {kind!r} in data/documents.tsv")
    return found


@lru_cache(maxsize=8)
def word_list(name: str) -> frozenset[str]:
    """A one-word-or-phrase-per-line list (``data/<name>.txt``), lower case."""
    return frozenset(line[0].lower() for line in _rows(f"{name}.txt"))


def _plain(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text)) + " "


def question_kinds(text: str) -> set[str]:
    """What a question asks for: ``who``, ``when``, ``quantity``, ``where``, ``why``, ``how``, ``what``,
    ``which``, ``yesno``, ``list`` (several may hold: "Ai chủ trì, hạn khi nào?" is who and when).

    Example:
        >>> sorted(question_kinds("Ai chủ trì, hoàn thành khi nào?"))
        ['when', 'which', 'who']
    """
    text = nfc(text).strip().rstrip("?!. ")
    # Typed with tone marks, a question is read with them ("phạm vi nào" does not hold "vị nào", "máy" is
    # not "mấy"); typed without, every cue is compared without.
    marked = has_marks(text)
    haystack = _plain(text.lower() if marked else fold(text))
    kinds: set[str] = set()
    for kind, cue in _question_cues():
        needle = _plain(cue.lower() if marked else fold(cue))
        if kind == "yesno_end":
            hit = haystack.endswith(needle)
        elif kind == "yesno_start":
            hit = haystack.startswith(needle)
        else:
            hit = needle in haystack
        if hit:
            kinds.add(kind.split("_")[0])
    return kinds


@lru_cache(maxsize=1)
def _time_pattern() -> re.Pattern[str]:
    words: dict[str, list[str]] = {}
    for kind, phrase in _rows("time_words.tsv"):
        words.setdefault(kind, []).append(re.escape(phrase.lower()))

    def alternatives(kind: str) -> str:
        return "|".join(sorted(words.get(kind, []), key=len, reverse=True))

    unit = rf"(?:{alternatives('unit')})"
    return re.compile(
        rf"(?<!\w)(?:\d+(?:[.,]\d+)?\s*{unit}|{unit}\s+(?:\d+|[ivxlc]+)(?!\w)"
        rf"|(?:{alternatives('before')})\s+(?:\d+\s*)?{unit}"
        rf"|(?:{alternatives('connective')}))(?!\w)")


def has_time(text: str) -> bool:
    """Does the text say when (a duration, a recurring or bounding time, a temporal clause)? Dates and
    years are told by :func:`index.lang.facts.find_deadlines` and year patterns; this covers the rest.

    Example:
        >>> has_time("Sinh viên nộp hồ sơ trong vòng 30 ngày."), has_time("Sinh viên nộp hồ sơ.")
        (True, False)
    """
    return bool(_time_pattern().search(nfc(text).lower()))


@lru_cache(maxsize=1)
def folded_stopwords() -> frozenset[str]:
    """The stop words without tone marks (for questions typed without them)."""
    return frozenset(fold(w) for w in word_list("stopwords"))


def is_stop(word: str, marked: bool) -> bool:
    """A function word (``data/stopwords.txt``)? Typed with tone marks, words compare with marks ("tài" is
    not "tại"); typed without, they compare without."""
    return word.lower() in word_list("stopwords") if marked else fold(word) in folded_stopwords()


def time_phrases(text: str) -> list[str]:
    """The time phrases of :func:`has_time`, as written ("trong vòng 30 ngày" gives "30 ngày")."""
    text = nfc(text)
    lower = text.lower()
    if len(lower) != len(text):  # a rare letter whose lower case is longer: show the lower-case form
        text = lower
    return [text[m.start() : m.end()] for m in _time_pattern().finditer(lower)]


def without_cues(text: str) -> str:
    """The question with its question-word phrases taken out ("Hạn hoàn thành là khi nào?" -> "là"): what
    is left is its topic, which an elliptical follow-up lacks."""
    marked = has_marks(text)
    plain = _plain(nfc(text).lower() if marked else fold(nfc(text)))
    for _, cue in sorted(_question_cues(), key=lambda row: -len(row[1])):
        needle = _plain(cue.lower() if marked else fold(cue))
        while needle in plain:
            plain = plain.replace(needle, " ")
    return plain.strip()


def negated(text: str, question: bool = False) -> bool:
    """Does the text say one of the negations (``data/negations.txt``)? For a question, its final
    particle ("... không?", "... chưa?") is not a negation: it is what makes it a question."""
    plain = _plain(nfc(text).lower().rstrip("?!. "))
    if question:
        for kind, cue in _question_cues():
            needle = _plain(cue.lower())
            if kind == "yesno_end" and plain.endswith(needle):
                plain = plain[: -len(needle)] + " "
                break
    return any(_plain(word) in plain for word in word_list("negations"))


def measured(text: str) -> list[str]:
    """What a "bao nhiêu / mấy" question counts: the words right after it, up to a function word ("bao
    nhiêu tỷ đồng" -> ["tỷ", "đồng"]; "là bao nhiêu?" -> [])."""
    tokens = re.findall(r"\w+", nfc(text).lower())
    marked = has_marks(text)
    # typed without tone marks, a one-syllable cue is ambiguous ("may" is "mấy" or "máy"): phrases only
    cues = [c.split() for c in discourse("counts")] if marked else [
        fold(c).split() for c in discourse("counts") if " " in c]
    for i in range(len(tokens)):
        cue = next((c for c in cues if tokens[i : i + len(c)] == c), None)
        if cue is not None:
            start = i + len(cue)
            out = []
            for word in tokens[start : start + 3]:
                if is_stop(word, marked) or word.isdigit():
                    break
                out.append(word)
            return out
    return []


@lru_cache(maxsize=16)
def progress_pattern(kind: str) -> re.Pattern[str]:
    """Whole-word folded pattern of the phrases of one kind of ``data/progress.tsv`` (longest first, so
    the match names the whole phrase: "chậm tiến độ" before "chậm")."""
    phrases = sorted({fold(phrase) for k, phrase in _rows("progress.tsv") if k == kind}, key=len, reverse=True)
    if not phrases:
        raise KeyError(f"no phrases of kind {kind!r} in progress.tsv")
    return re.compile(r"\b(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases) + r")\b")
