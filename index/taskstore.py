"""The task rows of the document store: writing a document's tasks with their conflict and same-assignment
links (found at write time, by blocking on rare topic terms), and reading them back.

A mixin of :class:`index.docstore.DocStore` (its tables are in the same schema and database): it uses the
store's ``db`` connection and ``_wrote`` counter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from index.tasks import Task, in_conflict, probe_terms, similar_terms, topic_terms


class TaskRows:
    """Task rows in the document store's database (see the module docstring)."""

    db: object

    def _wrote(self) -> None:  # the store's write counter (DocStore overrides)
        raise NotImplementedError

    def _rows_in(self, sql: str, values: list[str], extra: tuple = (), times: int = 1):
        """The rows of ``sql`` for ``values`` bound to its ``{marks}`` IN lists (``times`` of them), 500 at a
        time (SQLite's limit on parameters), then ``extra`` parameters."""
        for i in range(0, len(values), 500):
            part = values[i : i + 500]
            yield from self.db.execute(sql.format(marks=",".join("?" * len(part))), [*part * times, *extra])

    def docs_without_tasks(self, version: str) -> list[str]:
        """Documents whose tasks were never extracted, or by another extractor version."""
        return [r[0] for r in self.db.execute(
            "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM task_docs WHERE version = ?)",
            (version,))]

    def put_tasks(self, doc_id: str, tasks: list[Task], version: str) -> None:
        """Replace a document's tasks (see :meth:`put_tasks_of`)."""
        self.put_tasks_of([(doc_id, tasks)], version)

    def put_tasks_of(self, items: Iterable[tuple[str, list[Task]]], version: str) -> None:
        """Replace the tasks of several documents in one transaction, and bring the conflict flags between
        documents up to date.

        Conflicts are found at write time, not per request: each new row is compared only with the
        stored rows that share one of its rarest topic terms (:func:`index.tasks.probe_terms`, exact for
        the similarity threshold), so the cost grows with the candidates, not with the whole table.
        The old rows' flags go with them (``ON DELETE CASCADE``), on both sides.
        """
        with self.db:
            self.db.execute("BEGIN")
            self._wrote()
            for doc_id, tasks in items:
                self.db.execute("DELETE FROM tasks WHERE doc_id = ?", (doc_id,))
                self.db.executemany(
                    f"INSERT INTO tasks VALUES ({','.join('?' * 19)})",
                    [(t.task_id, t.doc_id, t.lead, json.dumps(list(t.collaborators), ensure_ascii=False), t.task,
                      t.deadline_text, t.due_start, t.due_end, t.sentence, t.start, t.end, int(t.urgent),
                      json.dumps(list(t.co_leads), ensure_ascii=False), t.result, t.group, t.status, t.status_text,
                      t.reported, t.progress)
                     for t in tasks],
                )
                terms = {t.task_id: topic_terms(t) for t in tasks}
                self.db.executemany("INSERT OR IGNORE INTO task_terms VALUES (?, ?)",
                                    [(term, task_id) for task_id, ts in terms.items() for term in ts])
                conflicts, same = self._links_of(doc_id, tasks, terms) if tasks else ([], [])
                self.db.executemany("INSERT OR IGNORE INTO task_conflicts VALUES (?, ?)",
                                    conflicts + [(b, a) for a, b in conflicts])
                self.db.executemany("INSERT OR IGNORE INTO task_same VALUES (?, ?)", same + [(b, a) for a, b in same])
                self.db.execute("INSERT OR REPLACE INTO task_docs VALUES (?, ?)", (doc_id, version))

    def _links_of(self, doc_id: str, tasks: list[Task], terms: dict[str, set[str]]
                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(new row, stored row of another document) pairs: those in conflict, and all that state the same
        assignment (how a later report's status reaches an earlier row)."""
        vocabulary = sorted({term for ts in terms.values() for term in ts})
        frequency: dict[str, int] = {}
        frequency.update(self._rows_in("SELECT term, COUNT(*) FROM task_terms WHERE term IN ({marks}) GROUP BY term",
                                       vocabulary))
        probes = {t.task_id: probe_terms(terms[t.task_id], frequency) for t in tasks}
        wanted = sorted({term for p in probes.values() for term in p})
        holders: dict[str, set[str]] = {}
        for term, task_id in self._rows_in("SELECT t.term, t.task_id FROM task_terms t JOIN tasks k USING(task_id) "
                                           "WHERE t.term IN ({marks}) AND k.doc_id != ?", wanted, (doc_id,)):
            holders.setdefault(term, set()).add(task_id)
        candidates = sorted({c for p in probes.values() for term in p for c in holders.get(term, ())})
        if not candidates:
            return [], []
        stored = {t.task_id: t for t in self.tasks_by_id(candidates)}
        stored_terms: dict[str, set[str]] = {}
        for task_id, term in self._rows_in("SELECT task_id, term FROM task_terms WHERE task_id IN ({marks})",
                                           candidates):
            stored_terms.setdefault(task_id, set()).add(term)
        conflicts, same = [], []
        for task in tasks:
            mine = terms[task.task_id]
            near = {c for term in probes[task.task_id] for c in holders.get(term, ())}
            for other in sorted(near):
                theirs = stored_terms.get(other, set())
                if similar_terms(mine, theirs):
                    same.append((task.task_id, other))
                if in_conflict(task, stored[other], mine, theirs):
                    conflicts.append((task.task_id, other))
        return conflicts, same

    def task_counts(self) -> dict[str, int]:
        """doc_id -> number of task rows extracted from it."""
        return dict(self.db.execute("SELECT doc_id, COUNT(*) FROM tasks GROUP BY doc_id").fetchall())

    _TASK_COLUMNS = ("SELECT tasks.*, (SELECT json_group_array(other) FROM task_conflicts c "
                     "WHERE c.task_id = tasks.task_id) FROM tasks")

    @staticmethod
    def _task(r) -> Task:
        return Task(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                    bool(r[11]), tuple(sorted(json.loads(r[19] or "[]"))), tuple(json.loads(r[12] or "[]")),
                    result=r[13], group=r[14], status=r[15], status_text=r[16], reported=r[17], progress=r[18])

    def tasks(self, agency: str | None = None, due_before: str | None = None, due_after: str | None = None,
              doc_id: str | None = None) -> list[Task]:
        """Stored tasks with their stored conflict flags, filtered: ``agency`` matches the lead or a
        collaborator (canonical name); ``due_before``/``due_after`` compare ISO dates with the deadline range."""
        sql, args = self._TASK_COLUMNS + " WHERE 1=1", []
        if agency:
            sql += " AND (lead = ? OR collaborators LIKE ? OR co_leads LIKE ?)"
            args += [agency, f'%"{agency}"%', f'%"{agency}"%']
        if due_before:
            sql += " AND due_end IS NOT NULL AND due_end <= ?"
            args.append(due_before)
        if due_after:
            sql += " AND due_end IS NOT NULL AND due_end >= ?"
            args.append(due_after)
        if doc_id:
            sql += " AND doc_id = ?"
            args.append(doc_id)
        sql += " ORDER BY COALESCE(due_end, '9999'), doc_id, start"
        return [self._task(r) for r in self.db.execute(sql, args)]

    def same_links(self, task_ids: Iterable[str]) -> dict[str, set[str]]:
        """The rows of other documents stating the same assignment as each of these tasks."""
        ids = list(dict.fromkeys(task_ids))
        out: dict[str, set[str]] = {}
        for task_id, other in self._rows_in("SELECT task_id, other FROM task_same WHERE task_id IN ({marks})", ids):
            out.setdefault(task_id, set()).add(other)
        return out

    def latest_status(self, task_ids: Iterable[str]) -> dict[str, Task]:
        """For each of these tasks that any report gives a status: the row carrying the latest status of
        its assignment (itself, or a row of a later report stating the same assignment)."""
        ids = list(dict.fromkeys(task_ids))
        best: dict[str, tuple[str, str]] = {}  # task -> (reported, row id)
        for task_id, other, reported in self._rows_in(
                "SELECT task_id, task_id, reported FROM tasks WHERE status_text IS NOT NULL AND task_id IN ({marks}) "
                "UNION ALL SELECT s.task_id, s.other, k.reported FROM task_same s JOIN tasks k ON k.task_id = s.other "
                "WHERE k.status_text IS NOT NULL AND s.task_id IN ({marks})", ids, times=2):
            key = (reported or "", other)
            if task_id not in best or key > best[task_id]:
                best[task_id] = key
        rows = {t.task_id: t for t in self.tasks_by_id(other for _, other in best.values())}
        return {task_id: rows[other] for task_id, (_, other) in best.items() if other in rows}

    def tasks_by_id(self, task_ids: Iterable[str]) -> list[Task]:
        """These stored tasks (those that exist), with their conflict flags."""
        ids = list(dict.fromkeys(task_ids))
        return [self._task(r) for r in self._rows_in(self._TASK_COLUMNS + " WHERE task_id IN ({marks})", ids)]
