"""The task table: every assignment in every directive (who leads, with whom, what, by when).

Extraction works offline on the regular forms of Vietnamese directive language:

* "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026"
* "Bộ Khoa học và Công nghệ chủ trì, phối hợp với Bộ Công an, Bộ Nội vụ hướng dẫn ..., hoàn thành trong ..."
* "Thủ tướng giao / chỉ đạo Bộ Công an trình ... trong tháng 3/2026"
* "Bộ Công an ... trong quý 1/2026; cơ chế ... trong quý 2/2026": list items keep their sentence's agency.

Every field comes from the sentence it cites (with its offsets), and deadlines are normalised to an
ISO date range: quý 3/2026 -> 2026-07-01..2026-09-30; tháng 6.2026 -> 2026-06-01..2026-06-30; a
day or month without a year takes the document's year.
"""

from __future__ import annotations

import calendar
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta

from index.lang.facts import ASSIGNERS, COLLECTIVE, Mention, find_agencies, find_deadlines, urgency
from index.lang.sentences import sentence_spans
from index.lang.vietnamese import canonical_dates, fold, words
from index.table_tasks import TableTask, assignment_tables, open_ended, table_rows, year_range

#: 5: topic terms and conflict flags stored with the rows; 6: assignment tables, status, several leads
EXTRACTOR_VERSION = "6"

_ACTION = re.compile(
    r"\b(chủ trì|phối hợp|trình|triển khai|hoàn thành|xây dựng|nghiên cứu|khẩn trương|chỉ đạo|đưa|bảo đảm|"
    r"đảm bảo|thực hiện|ban hành|tổ chức|rà soát|hướng dẫn|đẩy mạnh|tập trung|hoàn thiện|chịu trách nhiệm|"
    r"phụ trách|tham mưu|đề xuất|báo cáo|theo dõi|đôn đốc|kiểm tra|sửa đổi|bổ sung|cung cấp|vận hành)\b",
    re.I,
)
_REPORTED = re.compile(r"\b(đã|đang|vừa)\b", re.I)
#: What makes a clause an assignment rather than a report: an assigning verb, a duty, a modal or
#: urgency, leading ("chủ trì") a task, or a completion deadline.
_FRAME = re.compile(
    r"(?<!\w)(?:giao(?:\s+cho)?|yêu cầu|đề nghị|(?<!sự )(?<!Sự )(?<!Ban )(?<!ban )chỉ đạo(?!\s+của)|"
    r"có trách nhiệm|chịu trách nhiệm|"
    r"phải|khẩn trương|sớm|nghiên cứu|(?<!chương )(?<!quá )(?<!lộ )(?<!công )(?<!đệ )trình|tham mưu|chủ trì,|"
    r"chủ trì\s+(?:xây dựng|hoàn thành|triển khai|thực hiện|tổ chức)|hoàn thành|nhanh chóng|quyết liệt|"
    r"đẩy nhanh|khẩn cấp|ngay|báo cáo\s+(?:trước|trong|chậm nhất)|trước ngày|chậm nhất|hạn chót|"
    r"tổ chức thực hiện)(?!\w)"
    r"|(?<!\w)cần(?!\s+Thơ)(?!\w)",  # "cần" (must), not the city Cần Thơ
    re.I,
)
#: Clauses that only tell what someone said, or who chaired a meeting, assign nothing.
_NOT_A_TASK = re.compile(
    r"\b(?:cho biết|cho rằng|nhận định|khẳng định|phát biểu|trả lời|thông tin thêm|chia sẻ với|nhấn mạnh rằng|"
    r"dưới sự chủ trì|đã\s+(?:yêu cầu|giao|chỉ đạo|đề nghị)|"
    r"(?:họp|hội nghị|hội thảo|buổi làm việc|cuộc họp|họp báo|phiên họp|lễ)\s[^.;]{0,60}?do\s[^.;]{0,80}?chủ trì|"
    r"chủ trì\s+(?:cuộc họp|hội nghị|buổi|phiên|họp|lễ|hội thảo))\b"
    r"|^\W*Ảnh\s*:",  # a photo credit
    re.I,
)
_DO_LEAD = re.compile(r"\bdo\s*$", re.I)
_GIVE = re.compile(r"\b(?:giao|chỉ đạo|đề nghị|yêu cầu)\s+(?:cho\s+)?$", re.I)
_WITH = re.compile(r"\bphối hợp(?:\s+chặt chẽ)?\s+với\b", re.I)


@dataclass(frozen=True)
class Task:
    """One assignment, quoted: ``document.text[start:end] == sentence``."""

    task_id: str
    doc_id: str
    lead: str
    collaborators: tuple[str, ...]
    task: str
    deadline_text: str | None
    due_start: str | None
    due_end: str | None
    sentence: str
    start: int
    end: int
    urgent: bool = False
    conflicts: tuple[str, ...] = field(default=())
    #: further leads of a row that names several ("VTV, VOV, TTXVN"): ``lead`` is the first
    co_leads: tuple[str, ...] = field(default=())
    #: from assignment tables: the expected result, the group heading row ("II Thể chế") above the row
    result: str | None = None
    group: str | None = None
    #: from progress reports: ``done`` / ``in_progress`` / ``late``, as written, the report's date, and
    #: what the report says has been done
    status: str | None = None
    status_text: str | None = None
    reported: str | None = None
    progress: str | None = None
    #: at read time: the rows of older documents this row's document supersedes (their values are history),
    #: and the row of a newer document that supersedes this one
    history: tuple[str, ...] = field(default=())
    superseded_by: str | None = None

    @property
    def leads(self) -> tuple[str, ...]:
        """Every lead of the row."""
        return (self.lead, *self.co_leads)

    def to_dict(self) -> dict:
        """JSON form."""
        data = asdict(self)
        for key in ("collaborators", "conflicts", "co_leads", "history"):
            data[key] = list(data[key])
        return data


# ------------------------------------------------------------------------------ deadlines

def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def normalize_deadline(text: str, year: int | None) -> tuple[str | None, str | None]:
    """ISO (start, end) of a deadline as written; a missing year is ``year`` (the document's).

    Example:
        >>> normalize_deadline("trong quý III/2026", None)
        ('2026-07-01', '2026-09-30')
        >>> normalize_deadline("trước ngày 10/2", 2026)
        (None, '2026-02-10')
    """
    canonical = canonical_dates(text.lower())
    before = bool(re.search(r"\b(trước|chậm nhất|đến hết|đến)\b", canonical))
    try:
        m = re.search(r"quý\s+([1-4])(?:\s*/\s*|\s+năm\s+)?(\d{4})?", canonical)
        if m and (m.group(2) or year):
            y, q = int(m.group(2) or year), int(m.group(1))
            start, end = date(y, 3 * q - 2, 1), _month_end(y, 3 * q)
            return (None if before else start.isoformat()), end.isoformat()
        m = re.search(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s+năm\s+(\d{4}))?", canonical) or re.search(
            r"(?:ngày\s+)?\b(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\b(?!\s*/)", canonical)
        if m and not re.search(r"tháng\s+\d{1,2}/\d{4}", canonical) and (m.group(3) or year):
            day = date(int(m.group(3) or year), int(m.group(2)), int(m.group(1))).isoformat()
            return (None if before else day), day
        strictly_before = bool(re.search(r"\btrước\s+(?:tháng|năm)\b", canonical))  # "trước tháng 6": by May
        m = re.search(r"tháng\s+(\d{1,2})(?:\s*/\s*|\s+năm\s+)?(\d{4})?", canonical)
        if m and (m.group(2) or year):
            y, month = int(m.group(2) or year), int(m.group(1))
            if strictly_before:
                return None, (date(y, month, 1) - timedelta(days=1)).isoformat()
            return (None if before else date(y, month, 1).isoformat()), _month_end(y, month).isoformat()
        m = re.search(r"(?:năm|giai đoạn)\s+(\d{4})(?:\s*-\s*(\d{4}))?", canonical)
        if m:
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            if strictly_before:
                return None, date(first - 1, 12, 31).isoformat()
            return (None if before else date(first, 1, 1).isoformat()), date(last, 12, 31).isoformat()
    except ValueError:  # "31/2": not a date
        return None, None
    return None, None


def document_year(text: str, date_iso: str | None) -> int | None:
    """The year a deadline without one belongs to: the document's date, else its most cited year."""
    if date_iso:
        return int(date_iso[:4])
    years = Counter(int(y) for y in re.findall(r"\b(20\d\d)\b", text))
    return years.most_common(1)[0][0] if years else None


# ------------------------------------------------------------------------------ roles

def _bodies(mentions: list[Mention]) -> list[Mention]:
    return [m for m in mentions if m.canonical not in ASSIGNERS and m.canonical not in COLLECTIVE]


_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")


def _roles(unit: str, offset: int, inherited: list[Mention]) -> tuple[Mention | None, list[Mention]]:
    """(lead, collaborators) of one sentence or list item. Bodies named inside a quotation (the title of
    a task being discussed, a passage proposed for a draft) are not the clause's own roles."""
    quoted = [m.span() for m in _QUOTED.finditer(unit)]
    mentions = [m for m in _bodies(find_agencies(unit)) if not any(a <= m.start < b for a, b in quoted)]
    if not mentions:
        return (inherited[0] if inherited else None), []
    lead = None
    for m in mentions:
        before = unit[: m.start]
        after = unit[m.end : m.end + 12].lower()
        if _DO_LEAD.search(before) and "chủ trì" in unit[m.end : m.end + 40].lower():
            lead = m
            break
        if after.lstrip(" ,").startswith("chủ trì"):
            lead = m
            break
        # "Thủ tướng giao Bộ X ...", "Bộ Y đề nghị Bộ X ...": X acts; but not "Bộ Y chỉ đạo Tập đoàn Z",
        # where Bộ Y leads.
        give = _GIVE.search(before)
        if give and (not _bodies(find_agencies(before)) or not give.group(0).lower().startswith("chỉ đạo")):
            lead = m
            break
    give = re.search(r"\b(?:giao(?:\s+cho)?|yêu cầu|đề nghị)\s+(\S+)", unit, re.I)
    if lead is None and give and not any(m.start >= give.start(1) and m.start - give.start(1) < 3 for m in mentions):
        # Somebody is asked to act, but it is not a body we recognise ("yêu cầu Giám đốc Sở ...",
        # "đề nghị lãnh đạo các sở"): no lead rather than the wrong one (the one who asks).
        if all(m.end <= give.start() for m in mentions):
            return None, []
    with_at = _WITH.search(unit)
    if lead is None:
        # "Bộ A phối hợp với Bộ B": the body before "phối hợp với" leads.
        candidates = [m for m in mentions if not with_at or m.start < with_at.start()] or mentions
        lead = candidates[0] if not inherited or candidates[0].start < 40 else inherited[0]
    collaborators = [m for m in mentions if m is not lead and m.canonical != lead.canonical]
    if inherited and lead is inherited[0]:
        collaborators = [m for m in collaborators if m.canonical != lead.canonical]
    return lead, collaborators


def _task_phrase(unit: str, lead: Mention | None, collaborators: list[Mention], deadline: Mention | None) -> str:
    """A short phrase for the task, taken from the text: what is assigned, without who and when."""
    cut = deadline.start if deadline is not None else len(unit)
    m = re.search(r",?\s*(?:cần\s+)?hoàn thành\s*$", unit[:cut])
    if m:
        cut = m.start()
    if lead is None:
        phrase = unit[:cut]
    elif _DO_LEAD.search(unit[: lead.start]):  # "<task> do <lead> chủ trì"
        phrase = unit[: _DO_LEAD.search(unit[: lead.start]).start()]
    else:
        begin = lead.end
        for partner in sorted(collaborators, key=lambda p: p.start):
            # "Bộ A, Bộ B và Bộ C khẩn trương ...": bodies listed with the lead share the task.
            if partner.start >= begin and re.fullmatch(r"[\s,]*(?:và\s+)?", unit[begin : partner.start]):
                begin = partner.end
        with_at = _WITH.search(unit, lead.end)
        if with_at and with_at.start() - lead.end < 20:
            # "<lead> chủ trì, phối hợp với <A>, <B> <task>": the task starts after the last partner.
            begin = with_at.end()
            for partner in sorted(collaborators, key=lambda p: p.start):
                if partner.start >= begin and partner.start - begin < 12:
                    begin = partner.end
        phrase = unit[begin:cut]
    phrase = re.sub(r"^[\s,;:]*(?:chủ trì[\s,]*)?", "", phrase)
    phrase = re.sub(r"^(?:(?:Trong đó|Cạnh đó|Bên cạnh đó|Đồng thời|Ngoài ra),\s*)?(?:Thủ tướng(?: Chính phủ)?\s+)?"
                    r"(?:giao\s+)?(?:việc\s+)?", "", phrase.strip())
    phrase = phrase.strip(" ,;.:")
    return (phrase[:157] + "…") if len(phrase) > 160 else phrase


# ------------------------------------------------------------------------------ extraction

def extract_tasks(doc_id: str, text: str, date_iso: str | None = None) -> list[Task]:
    """Every assignment in a document, in reading order: the rows of its assignment tables and the
    assignments written in prose (around the tables, and inside the cells of other tables).

    Example:
        >>> text = "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026."
        >>> [(t.lead, t.due_end) for t in extract_tasks("d", text)]
        [('Bộ Y tế', '2026-09-30')]
    """
    year = document_year(text, date_iso)
    found: list[Task] = []
    prose: list[tuple[int, int]] = []
    at = 0
    for table, columns in assignment_tables(text):
        prose.append((at, table.start))
        at = table.end
        if columns is None:
            prose += [(c.start, c.end) for row in (table.header, *table.rows) for c in row.cells if c.text]
            continue
        found += [_row_task(doc_id, text, item, year, date_iso) for item in table_rows(table, columns)]
    prose.append((at, len(text)))
    for start, end in prose:
        if end > start:
            found += _prose_tasks(doc_id, text, start, end, year)
    found.sort(key=lambda t: t.start)
    return [replace(t, task_id=f"{doc_id}-t{i:03d}") for i, t in enumerate(found)]


#: A task cell is quoted up to this many characters (the row it cites holds all of it).
_TASK_CHARS = 300


def _row_task(doc_id: str, text: str, item: TableTask, year: int | None, date_iso: str | None) -> Task:
    """A task table row from one row of an assignment table."""
    deadline_text = item.deadline.text if item.deadline else None
    if deadline_text is None:  # no deadline column, or an empty cell: a date written in the task itself
        written = find_deadlines(item.task)
        deadline_text = written[0].value if written else None
    due: tuple[str | None, str | None] = (None, None)
    if deadline_text and not open_ended(deadline_text):
        due = normalize_deadline(deadline_text, year)
        if due == (None, None):
            due = year_range(deadline_text)
    task = item.task if len(item.task) <= _TASK_CHARS else item.task[: _TASK_CHARS - 1] + "…"
    return Task(
        task_id="", doc_id=doc_id, lead=item.leads[0], collaborators=item.partners, task=task.rstrip(" ."),
        deadline_text=deadline_text, due_start=due[0], due_end=due[1],
        sentence=text[item.row.start : item.row.end], start=item.row.start, end=item.row.end,
        co_leads=item.leads[1:], result=item.result, group=item.group, status=item.status,
        status_text=item.status_text, reported=date_iso if item.status_text else None, progress=item.progress,
    )


def _prose_tasks(doc_id: str, text: str, begin: int, finish: int, year: int | None) -> list[Task]:
    """Assignments written in sentences, between ``begin`` and ``finish``."""
    tasks: list[Task] = []
    assigning: set[int] = set()  # sentences whose first item is an assignment
    for start, end, sentence_start in sentence_spans(text, begin, finish, clauses=True):
        unit = text[start:end]
        inherited: list[Mention] = []
        if sentence_start < start and sentence_start in assigning:
            # A list item continues its sentence's assignment ("Bộ X làm A; làm B").
            inherited = _bodies(find_agencies(text[sentence_start:start]))[:1]
        deadlines = find_deadlines(unit)
        lead, collaborators = _roles(unit, start, inherited)
        if lead is None:
            continue
        if not (_ACTION.search(unit) or deadlines):
            continue
        if _NOT_A_TASK.search(unit):
            continue
        inherited_frame = bool(inherited)
        if not inherited_frame and not _FRAME.search(unit):
            continue
        predicate = unit[lead.end : lead.end + 40] if lead.value in unit else unit[:40]
        if not deadlines and not inherited_frame and _REPORTED.search(predicate):
            continue  # "Bộ X đã ...": a report of what was done, not an assignment
        own = lead.value in unit
        deadline = deadlines[0] if deadlines else None
        due_start, due_end = normalize_deadline(deadline.value, year) if deadline else (None, None)
        if sentence_start == start or sentence_start in assigning:
            assigning.add(sentence_start)
        tasks.append(Task(
            task_id="", doc_id=doc_id, lead=lead.canonical,
            collaborators=tuple(dict.fromkeys(m.canonical for m in collaborators)),
            task=_task_phrase(unit, lead if own else None, collaborators, deadline),
            deadline_text=deadline.value if deadline else urgency(unit),
            due_start=due_start, due_end=due_end, sentence=unit, start=start, end=end,
            urgent=urgency(unit) is not None,
        ))
    return tasks


#: Two rows describe one assignment when their task phrases share this much (Jaccard of folded words).
SAME_ASSIGNMENT = 0.7


def topic_terms(task: Task) -> set[str]:
    """The folded words of a task phrase (what :func:`same_assignment` compares)."""
    return {fold(w) for w in words(task.task) if len(w) > 1}


def similar_terms(ta: set[str], tb: set[str]) -> bool:
    """Two rows' :func:`topic_terms` close enough for one assignment."""
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) >= SAME_ASSIGNMENT



def same_assignment(a: Task, b: Task) -> bool:
    """Two rows describing one assignment (in two documents): similar task phrases."""
    return similar_terms(topic_terms(a), topic_terms(b))


def probe_terms(terms: set[str], frequency: dict[str, int]) -> list[str]:
    """The rarest terms of a task that every task similar enough to be the same assignment must share.

    Prefix filtering: if Jaccard(a, b) >= t then |a & b| >= t * |a|, so b holds at least one of any
    ``|a| - ceil(t * |a|) + 1`` terms of a. Taking the rarest ones (by ``frequency``, the number of stored
    tasks holding each term) keeps the candidate lists short; the candidates are then checked exactly.
    The result is exact: no pair above the threshold is missed.
    """
    if not terms:
        return []
    needed = math.ceil(SAME_ASSIGNMENT * len(terms) - 1e-9)
    ordered = sorted(terms, key=lambda t: (frequency.get(t, 0), t))
    return ordered[: len(terms) - needed + 1]


def _overlap(a: Task, b: Task) -> bool:
    if not a.due_end or not b.due_end:
        return True  # one has no date: nothing to contradict
    a0, b0 = a.due_start or a.due_end, b.due_start or b.due_end
    return a0 <= b.due_end and b0 <= a.due_end


def in_conflict(a: Task, b: Task, ta: set[str] | None = None, tb: set[str] | None = None) -> bool:
    """Two documents state one assignment with another lead or an incompatible (non-overlapping)
    deadline. ``ta``/``tb``: the rows' :func:`topic_terms` when already known."""
    if a.doc_id == b.doc_id:
        return False
    if not similar_terms(topic_terms(a) if ta is None else ta, topic_terms(b) if tb is None else tb):
        return False
    return a.lead != b.lead or not _overlap(a, b)


def flag_conflicts(tasks: list[Task]) -> list[Task]:
    """Mark rows whose assignment another document states with another lead or an incompatible
    (non-overlapping) deadline; each flagged row lists the ids it conflicts with.

    Compares every pair: the reference for the stored flags, which the document store keeps up to date
    at index time with :func:`probe_terms` (see ``DocStore.put_tasks``)."""
    found: dict[str, list[str]] = {t.task_id: [] for t in tasks}
    terms = [topic_terms(t) for t in tasks]
    for i, a in enumerate(tasks):
        for j in range(i + 1, len(tasks)):
            if in_conflict(a, tasks[j], terms[i], terms[j]):
                found[a.task_id].append(tasks[j].task_id)
                found[tasks[j].task_id].append(a.task_id)
    return [replace(t, conflicts=tuple(found[t.task_id])) for t in tasks]
