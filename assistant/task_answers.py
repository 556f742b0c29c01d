"""List and aggregate questions answered from the task table, each item cited to its sentence.

"Bộ Công an được giao những nhiệm vụ gì?", "Những nhiệm vụ nào phải xong trong quý 3/2026?",
"Bộ Nội vụ chủ trì những cơ sở dữ liệu nào?": the table already holds every assignment with its
lead, deadline and sentence, so these are filters, not searches.
"""

from __future__ import annotations

import re

from assistant.answer import Answer
from assistant.citations import Citation, verify
from assistant.question import Question, is_stop
from assistant.tasktable import STATUS_LABELS, in_force, with_status
from index.docstore import DocStore
from index.lang.cues import progress_pattern
from index.lang.facts import ASSIGNERS, COLLECTIVE, find_agencies, find_deadlines
from index.lang.vietnamese import fold, has_marks, words
from index.table_tasks import STATUSES
from index.tasks import normalize_deadline

#: Words of list questions that name the kind of thing, not the topic.
_GENERIC = frozenset(fold(w) for w in "nhiệm vụ việc công việc gì nào những các được giao chủ trì phải xong".split())
_PERIOD = re.compile(r"(?:quý\s+(?:IV|I{1,3}|[1-4])|tháng\s+\d{1,2})(?:\s*[/.]\s*|\s+năm\s+)\d{4}|năm\s+\d{4}", re.I)


def _period(text: str) -> tuple[str | None, str | None]:
    mentions = find_deadlines(text)
    if mentions:
        return normalize_deadline(mentions[0].value, None)
    m = _PERIOD.search(text)
    return normalize_deadline(m.group(0), None) if m else (None, None)


def _status_asked(text: str) -> tuple[str | None, set[str]]:
    """(the status a question asks for, the folded words asking it: not topic words)."""
    folded = fold(text)
    for status in STATUSES:  # data/progress.tsv, kinds asks_late / asks_done / asks_in_progress
        m = progress_pattern(f"asks_{status}").search(folded)
        if m:
            return status, set(m.group(0).split())
    return None, set()


def _topic(q: Question, text: str) -> list[str]:
    """Folded words that the task sentence must hold (the question minus agencies, dates, cue words)."""
    for mention in reversed(find_agencies(text)):
        text = text[: mention.start] + " " + text[mention.end :]
    text = _PERIOD.sub(" ", text)
    marked = has_marks(text)
    return [fold(w) for w in words(text)
            if not is_stop(w, marked) and fold(w) not in _GENERIC and not w.isdigit()]


def answer_from_tasks(q: Question, docstore: DocStore) -> Answer | None:
    """A cited list from the task table, or None when the question is not a filter on it."""
    agencies = [a for a in q.agencies if a not in ASSIGNERS and a not in COLLECTIVE]
    status, asking = _status_asked(q.query)
    start, end = _period(q.query)
    if not agencies and not end and not status:
        return None
    lead_only = "chu tri" in fold(q.query)
    rows = docstore.tasks(agency=agencies[0] if agencies else None)
    if q.scope is not None:
        rows = [t for t in rows if t.doc_id in q.scope]
    if lead_only and agencies:
        rows = [t for t in rows if agencies[0] in t.leads]
    if end:
        rows = [t for t in rows if t.due_end and t.due_end <= end and (t.due_start or t.due_end) >= (start or "")]
    rows = [t for t in in_force(rows, docstore) if t.superseded_by is None]  # what a newer document restated
    if status:
        rows = [t for t in with_status(rows, docstore) if t.status == status]
    topic = [w for w in _topic(q, q.query) if w not in asking]
    # a topic word is in the task's own sentence, or in its document's title ("tại phiên họp này" is the
    # meeting the document reports)
    titles: dict[str, str] = {}

    def holds(task) -> bool:
        if task.doc_id not in titles:
            doc = docstore.document(task.doc_id)
            titles[task.doc_id] = fold(doc.title) if doc else ""
        here = fold(task.sentence + " " + task.task)
        return all(w in here or w in titles[task.doc_id] for w in topic)

    rows = [t for t in rows if holds(t)]
    if not rows:
        return None
    # Conflicts were flagged at index time against every other document's version of the assignment,
    # also those filtered out here by the period or topic.
    by_id = {t.task_id: t for t in docstore.tasks_by_id(c for r in rows for c in (*r.conflicts, *r.history))}
    citations: list[Citation] = []
    lines = []
    conflicts = []
    for task in rows:
        doc = docstore.document(task.doc_id)
        if doc is None:
            continue
        citation = Citation(len(citations) + 1, doc.doc_id, doc.label, docstore.public_source(doc.source), doc.date,
                            task.sentence,
                            task.start, task.end, 1.0)
        if not verify(citation, docstore):
            continue
        citations.append(citation)
        due = task.deadline_text or "không nêu thời hạn"
        partners = f" (phối hợp: {', '.join(task.collaborators)})" if task.collaborators else ""
        # a table row is quoted by its task cell (the citation opens the whole row)
        quoted = task.task if task.sentence.startswith("|") else task.sentence.strip()
        progress = ""
        if task.status:
            when = f", báo cáo ngày {task.reported}" if task.reported else ""
            progress = f" — tiến độ: {STATUS_LABELS[task.status]} ({task.status_text}{when})"
        line = f"- {', '.join(task.leads)}{partners} — {due}: «{quoted}» [{citation.n}]{progress}"
        older = [by_id[h] for h in task.history if h in by_id]
        if older:
            labels = {doc_id: (found.label if (found := docstore.document(doc_id)) else doc_id)
                      for doc_id in {o.doc_id for o in older}}
            line += " (văn bản cũ hơn ghi: " + "; ".join(
                f"{o.deadline_text or 'không hạn'} theo {labels[o.doc_id]}" for o in older) + ")"
        others = [by_id[c] for c in task.conflicts if c in by_id]
        if others:
            line += " ⚠ nguồn khác ghi: " + "; ".join(f"{o.lead}, {o.deadline_text or 'không hạn'}" for o in others)
            conflicts.append({"field": "deadline", "label": "thời hạn", "task": task.task,
                              "values": [{"value": task.deadline_text, "citation": citation.n}]
                              + [{"value": o.deadline_text, "task_id": o.task_id} for o in others]})
        lines.append(line)
    if not citations:
        return None
    subject = agencies[0] if agencies else "Các nhiệm vụ"
    if status:
        subject += f" ({STATUS_LABELS[status]})"
    header = f"{subject}: {len(citations)} nhiệm vụ trong các văn bản đã nạp"
    return Answer(q.text, "\n".join([header + ":"] + lines), refused=False, citations=citations,
                  conflicts=conflicts)

