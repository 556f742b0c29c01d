"""What a question asks for, and what it means in the light of the conversation so far."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.facts import ASSIGNERS, find_agencies
from index.normalize import normalize_text
from index.vietnamese import expansions, fold, has_marks, words

# Cue phrases (folded). A question may ask several things ("Ai chủ trì ..., hạn khi nào?").
# Cues whose folded form is also another word ("mấy"/"máy") are matched with their marks.
_MARKED_CUES = {"may": "mấy", "han": "hạn", "ai": "ai"}
_WHO = ("ai", "co quan nao", "bo nao", "don vi nao", "nganh nao", "dau moi", "noi nao", "to chuc nao",
        "giao cho ai", "ai lo")
_WHEN = ("khi nao", "bao gio", "thoi han", "han chot", "han", "thoi gian nao", "luc nao",
         "truoc ngay nao", "den khi nao", "thang nao", "quy nao", "nam nao", "tien do", "moc", "thoi diem nao",
         "truoc khi nao", "xong khi nao")
_FIGURE = ("bao nhieu", "may", "ty le", "so luong", "con so", "muc tieu", "dat duoc", "chi tieu", "bao lau")
_LIST = ("nhung viec", "nhung nhiem vu", "nhung gi", "viec gi", "nhiem vu gi", "cac nhiem vu", "nhung co so",
         "liet ke", "gom nhung", "nhung nao", "cac viec", "nhung du an", "ke ten")

#: Words that shape a question but are not what it is about.
_STOP_TEXT = """
ai gì nào nao đâu sao thế nào bao nhiêu mấy khi bao giờ lúc hạn chót thời hạn thời gian là của cho được
bị có không chưa đã sẽ đang phải cần với và hay hoặc thì mà này đó kia ấy các những một cái việc về theo
trong ngoài trên dưới tới đến từ tại do để vậy nhé ạ à ơi hả chứ nhỉ xin hỏi cho biết biết hãy nêu liệt kê
gồm phụ trách chịu trách nhiệm giao lo trước sau vào ra lên xuống mỗi cả lần thứ nhất hai ba hay
hiện tại gần đây đơn vị cơ quan phương diễn buổi thời điểm lúc định nghĩa khái niệm nghĩa hiểu
không hay em tôi mình bạn muốn nếu thì
đảm nhiệm nhiệm vụ thực hiện triển khai hoàn thành xong
ngày tháng quý năm nay còn như thế nữa cụ thể chính xác bây giờ hiện nay ra sao đâu vụ nhiêu bao
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
STOPWORDS_FOLDED = frozenset(fold(w) for w in STOPWORDS)


def is_stop(word: str, marked: bool) -> bool:
    """A function/question word? Typed with tone marks, words compare with marks ("tài" is not "tại")."""
    return word.lower() in STOPWORDS if marked else fold(word) in STOPWORDS_FOLDED

_FOLLOW_UP = re.compile(
    r"^(?:còn|vậy còn|thế còn|vậy|thế)\s+(?P<np>.+?)\s+(?:thì sao|thế nào|ra sao|thì thế nào)\s*\??$"
    r"|(?:đó|ấy|này|trên|kia|nó)\b",
    re.I,
)


@dataclass
class Question:
    """A question, analysed."""

    text: str  # as asked
    query: str  # standalone form used for retrieval (follow-ups resolved)
    asks_who: bool = False
    asks_when: bool = False
    asks_figure: bool = False
    asks_list: bool = False
    terms: list[str] = field(default_factory=list)  # content words and pairs of the standalone query
    agencies: list[str] = field(default_factory=list)  # canonical agencies named in the question
    names: list[str] = field(default_factory=list)  # proper names and acronyms (folded), e.g. "ho chi minh"
    measure: list[str] = field(default_factory=list)  # what "bao nhiêu" counts: ["tài khoản"], ["phần trăm"]
    alternatives: list[set[str]] = field(default_factory=list)  # "sáng hay chiều": one of them will do

    @property
    def kind(self) -> str:
        """Main kind, for display."""
        if self.asks_list:
            return "list"
        if self.asks_who or self.asks_when:
            return "who/when"
        return "figure" if self.asks_figure else "fact"


def _has(text: str, cues: tuple[str, ...]) -> bool:
    """Whole-word match of any cue phrase (so "tài khoản" does not contain "ai"); with tone marks
    when the question has them and the cue is ambiguous without ("máy" is not "mấy")."""
    marked = has_marks(text)
    plain = " " + " ".join(re.findall(r"\w+", fold(text))) + " "
    exact = " " + " ".join(re.findall(r"\w+", text.lower())) + " "
    for cue in cues:
        if marked and cue in _MARKED_CUES:
            if f" {_MARKED_CUES[cue]} " in exact:
                return True
        elif f" {cue} " in plain:
            return True
    return False


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
_NP_END = frozenset(fold(w) for w in "do được phải là có đã sẽ cần hoàn chủ ai bao khi thì giao nào gì".split())


def resolve_follow_up(question: str, history: list[dict]) -> str:
    """A standalone form of a follow-up question, built from the previous user turn.

    * "Còn Bộ Y tế thì sao?" after "Bộ Công an chủ trì cơ sở dữ liệu nào?" swaps the agency;
      after "Ai chủ trì Cơ sở dữ liệu ngành Nông nghiệp?" it swaps the phrase with the same head
      ("Cơ sở dữ liệu ngành Y tế"), or appends it when nothing matches.
    * "Hạn của nhiệm vụ đó là khi nào?" (đó, này, ấy, trên) adds the previous question's subject.
    """
    previous = _previous_question(history)
    if not previous:
        return question
    match = _FOLLOW_UP.search(question)
    if not match:
        # An elliptical question ("Hạn hoàn thành là khi nào?") has almost nothing of its own to search.
        if len([t for t in content_terms(question) if "_" not in t]) <= 1:
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


def analyse(question: str, history: list[dict] | None = None) -> Question:
    """Classify the question and resolve it against the conversation."""
    text = normalize_text(question)
    query = resolve_follow_up(text, history or [])
    q = Question(text=text, query=query)
    follow = query != text
    q.asks_who = _has(text, _WHO) or (follow and _has(query, _WHO) and not _has(text, _WHEN))
    q.asks_when = _has(text, _WHEN) or (follow and _has(query, _WHEN) and not _has(text, _WHO))
    q.asks_figure = _has(text, _FIGURE)
    q.asks_list = _has(text, _LIST) or bool(re.search(r"\bnhững\b.*\bnào\b", text, re.I))
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
    q.measure = measured(text)
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
    """Names the evidence must contain (folded): runs of two or more capitalised words, not counting
    the question's first word ("TP Hồ Chí Minh", "Phạm Minh Chính"), and acronyms ("VNeID", "KPI")."""
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
        run = tokens[i:j]
        if len(run) == 1 and sum(c.isupper() for c in run[0]) < 2:
            # "ngành Giáo dục", "Quy chế": a name capitalises its first syllable only.
            if j < len(tokens) and tokens[j].isalpha() and not is_stop(tokens[j], True):
                run.append(tokens[j])
            else:
                run = []
        if run:
            names.append(fold(" ".join(run)))
        i = j
    return names


_MEASURE = re.compile(r"bao\s+nhiêu\s+(\w+(?:\s+\w+)?)", re.I)


def measured(text: str) -> list[str]:
    """What a "bao nhiêu" question counts: "bao nhiêu tài khoản" -> ["tài khoản"]; when nothing
    follows ("Kinh phí ... là bao nhiêu?"), the question's subject (its first two content words)."""
    match = _MEASURE.search(text)
    if match:
        found = [w for w in match.group(1).lower().split() if not is_stop(w, True)]
        if found:
            return [" ".join(found)]
    if re.search(r"bao\s+nhiêu", text, re.I):
        subject = [w for w in words(text) if not is_stop(w, has_marks(text))][:2]
        return [" ".join(subject)] if subject else []
    return []
