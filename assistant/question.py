"""What a question asks for, and what it means in the light of the conversation so far."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.lang.cues import discourse, is_stop, question_kinds, without_cues
from index.lang.facts import ASSIGNERS, COLLECTIVE, find_agencies
from index.lang.normalize import normalize_text
from index.lang.vietnamese import expansions, fold, has_marks, words


def _any(role: str) -> str:
    """A regular-expression alternation of the phrases of one role of ``index/lang/data/discourse.tsv``."""
    return "(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in discourse(role)) + ")"


#: A follow-up: "Còn X thì sao?" (X replaces its like in the previous question), a question pointing back
#: ("nhiệm vụ đó"), or "Còn X?" (what about X, asked the way the previous one was).
_FOLLOW_UP = re.compile(
    rf"^(?:{_any('contrast')}|{_any('contrast_loose')})\s+(?P<np>.+?)\s+{_any('tail')}\s*\??$"
    rf"|{_any('anaphor')}\b"
    rf"|^{_any('contrast')}\b",
    re.I,
)


@dataclass
class Question:
    """A question, analysed."""

    text: str  # as asked
    query: str  # standalone form used for retrieval (follow-ups resolved)
    kinds: set[str] = field(default_factory=set)  # what it asks for (index.lang.cues.question_kinds)
    terms: list[str] = field(default_factory=list)  # content words and pairs of the standalone query
    agencies: list[str] = field(default_factory=list)  # canonical agencies named in the question
    names: list[str] = field(default_factory=list)  # proper names and acronyms (folded), e.g. "ho chi minh"
    alternatives: list[set[str]] = field(default_factory=list)  # "sáng hay chiều": one of them will do
    #: the documents to answer from (a filter, or the document the question names by its number); None: all
    scope: frozenset[str] | None = None

    @property
    def asks_who(self) -> bool:
        return "who" in self.kinds

    @property
    def asks_when(self) -> bool:
        return "when" in self.kinds

    @property
    def asks_figure(self) -> bool:
        return "quantity" in self.kinds

    @property
    def asks_list(self) -> bool:
        return "list" in self.kinds

    @property
    def required_agencies(self) -> list[str]:
        """Agencies named in the question that the evidence must name too (those who assign and the
        collective addressees name no one in particular)."""
        return [a for a in self.agencies if a not in ASSIGNERS and a not in COLLECTIVE]

    @property
    def kind(self) -> str:
        """Main kind, for display."""
        if self.asks_list:
            return "list"
        if self.asks_who or self.asks_when:
            return "who/when"
        return "figure" if self.asks_figure else "fact"


def content_terms(text: str, keep_marks: bool = False) -> list[str]:
    """Words of ``text`` that carry meaning, then its two-word phrases ("y_tế").

    Question words and function words are dropped; phrases are pairs of neighbouring content words,
    which favour evidence that holds the question's phrases rather than its scattered syllables.
    With ``keep_marks`` the words keep their tone marks ("giáo" is not "giao"); otherwise folded.
    """
    seen: list[str] = []
    marked = has_marks(text)
    for part in [text] + expansions(text):
        found = words(part)
        shown = [w if keep_marks else fold(w) for w in found]
        for word, form in zip(found, shown):
            if not is_stop(word, marked) and form not in seen:
                seen.append(form)
        for i in range(len(found) - 1):
            pair = f"{shown[i]}_{shown[i + 1]}"
            if not is_stop(found[i], marked) and not is_stop(found[i + 1], marked) and pair not in seen:
                seen.append(pair)
    return seen


def _previous_question(history: list[dict]) -> str | None:
    for turn in reversed(history or []):
        if turn.get("role") == "user" and turn.get("content", "").strip():
            return normalize_text(turn["content"])
    return None


#: Words that end a noun phrase in a question ("Cơ sở dữ liệu về an sinh xã hội | do ai chủ trì?").
_NP_END = frozenset(fold(w) for w in discourse("np_end"))


def resolve_follow_up(question: str, history: list[dict]) -> str:
    """A standalone form of a follow-up question, built from the previous user turn.

    * "Còn Bộ Y tế thì sao?" after "Bộ Công an chủ trì cơ sở dữ liệu nào?" swaps the agency;
      after "Ai chủ trì Cơ sở dữ liệu ngành Nông nghiệp?" it swaps the phrase with the same head
      ("Cơ sở dữ liệu ngành Y tế"), or appends it when nothing matches.
    * "Hạn của nhiệm vụ đó là khi nào?" (đó, này, ấy, trên) adds the previous question's subject, and
      so does "Còn số tài khoản đã kích hoạt?" (what about ..., asked the way the previous one was).
    """
    previous = _previous_question(history)
    if not previous:
        return question
    match = _FOLLOW_UP.search(question)
    if not match:
        # An elliptical question ("Hạn hoàn thành là khi nào?") has almost nothing of its own to search.
        if len([t for t in content_terms(without_cues(question)) if "_" not in t]) <= 1:
            return f"{question} ({previous})"
        return question
    np = match.group("np") if match.group("np") else None
    if np is None:
        # An anaphoric follow-up: keep its own words and add the subject of the previous turn.
        return f"{question} ({previous})"
    new_agencies = find_agencies(np)
    old_agencies = find_agencies(previous)
    if new_agencies and old_agencies:
        old = old_agencies[0]
        return previous[: old.start] + np + previous[old.end :]
    head = fold(np.split()[0])
    tokens = previous.split()
    for i, token in enumerate(tokens):
        if fold(token) == head:
            # Replace the phrase starting with the same head word up to a comma/question mark/verb.
            j = i + 1
            while j < len(tokens) and not re.search(r"[,?;]$", tokens[j - 1]) and fold(tokens[j]) not in _NP_END:
                j += 1
            tail = " ".join(tokens[j:])
            return " ".join(tokens[:i] + [np]) + ("" if tail.startswith((",", "?")) else " ") + tail
    return f"{previous} {np}"


#: "những X nào" (which Xs, plural): a list, whatever X is.
_PLURAL_WHICH = re.compile(rf"\b{_any('plural')}\b.*\bnào\b", re.I)


def analyse(question: str, history: list[dict] | None = None) -> Question:
    """Classify the question and resolve it against the conversation."""
    text = normalize_text(question)
    query = resolve_follow_up(text, history or [])
    q = Question(text=text, query=query, kinds=question_kinds(text))
    if query != text and not q.kinds - {"which"}:
        q.kinds |= question_kinds(query)  # "Còn Bộ Y tế thì sao?" asks what the previous question asked
    if _PLURAL_WHICH.search(text):
        q.kinds.add("list")
    mentions = find_agencies(query)
    q.agencies = [m.canonical for m in mentions]
    # The assigner ("Thủ tướng", "Ban Chỉ đạo") is named in every directive: it tells nothing apart.
    topical = query
    for m in reversed(mentions):
        if m.canonical in ASSIGNERS:
            topical = topical[: m.start] + " " + topical[m.end :]
    q.terms = content_terms(topical, keep_marks=has_marks(query))
    # Names are read per utterance: each one's first word is capitalised only because it starts it.
    q.names = proper_names(text) + (proper_names(query[len(text):].strip(" ()")) if query.startswith(text) else [])
    q.alternatives = alternatives(text, q.terms)
    return q


_ALTERNATIVE = re.compile(r"(\w+(?:\s+\w+)?)\s+hay\s+(\w+(?:\s+\w+)?)", re.I)


def alternatives(text: str, terms: list[str]) -> list[set[str]]:
    """Content words of "A hay B" choices: the evidence needs one side, not both."""
    groups = []
    for match in _ALTERNATIVE.finditer(text):
        sides = [content_terms(side, keep_marks=has_marks(text)) for side in match.groups()]
        group = {t for side in sides for t in side if t in terms and "_" not in t}
        if len(group) >= 2:
            groups.append(group)
    return groups


def proper_names(text: str) -> list[str]:
    """Names the evidence must contain (lower case, tone marks as typed): runs of capitalised words, not
    counting the question's first word ("TP Hồ Chí Minh", "Phạm Minh Chính", "Gandhi", "Giáo" of "ngành
    Giáo dục"), and acronyms ("VNeID", "KPI"). A run stops at the first word in lower case: names are not
    guessed beyond it."""
    # Agencies and abbreviations are checked their own way: blank them out first.
    for mention in reversed(find_agencies(text)):
        text = text[: mention.start] + " , " + text[mention.end :]
    tokens = re.findall(r"[^\W_]+(?:[&-][^\W_]+)*|[,.;:?!\"“”()]", text)

    def capital(token: str) -> bool:
        return token[0].isupper() and not token.isdigit() and not expansions(token)

    names: list[str] = []
    i = 1  # the first word is capitalised because it starts the question
    while i < len(tokens):
        if not capital(tokens[i]):
            i += 1
            continue
        j = i
        while j < len(tokens) and capital(tokens[j]):
            j += 1
        names.append(" ".join(tokens[i:j]).lower())
        i = j
    return names


@dataclass
class Part:
    """One thing a question asks: its words, what the reader reads it with, and its kinds."""

    text: str
    query: str
    kinds: set[str]


#: Where a question joins the things it asks: a comma, a semicolon, an inner question mark, a join word.
_JOINS = re.compile(rf"\s*(?:[,;]|\?(?=\s*\S)|\b{_any('join')}\b)\s*", re.I)


def split_parts(q: Question) -> list[Part]:
    """The parts of a multi-part question ("Ai chủ trì X, phối hợp với bộ nào và báo cáo khi nào?"):
    pieces between joins that each ask something (a piece that asks nothing, such as the second half of
    "A và B", stays with its neighbour). Each part is read with its own words plus the other parts'
    content words (the shared topic); a question that asks one thing is one part.

    Example:
        >>> [p.text for p in split_parts(analyse("Ai chủ trì đề án, hạn khi nào?"))]
        ['Ai chủ trì đề án', 'hạn khi nào']
    """
    whole = Part(q.text, q.query, set(q.kinds))
    if q.asks_list or q.query != q.text:
        return [whole]
    pieces: list[str] = []
    for piece in _JOINS.split(q.text):
        piece = piece.strip(" ?")
        if not piece:
            continue
        if pieces and not question_kinds(piece) - {"which"}:
            pieces[-1] = f"{pieces[-1]}, {piece}"  # asks nothing of its own: part of the previous piece
        elif pieces and not question_kinds(pieces[-1]) - {"which"}:
            pieces[-1] = f"{pieces[-1]}, {piece}"
        else:
            pieces.append(piece)
    if len(pieces) < 2:
        return [whole]
    marked = has_marks(q.text)
    parts = []
    for i, piece in enumerate(pieces):
        others = [w for j, other in enumerate(pieces) if j != i for w in words(other) if not is_stop(w, marked)]
        parts.append(Part(piece, f"{piece} ({' '.join(others)})" if others else piece, question_kinds(piece)))
    return parts
