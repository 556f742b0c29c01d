"""Users' feedback on answers: thumbs up or down, an optional comment, and everything needed to
replay the case (question, answer, citations, settings), in SQLite under ``CHIDAO_HOME``.

Feedback becomes test-set lines for ``chidao eval``: a liked answer asserts its own cited facts
(deadlines, agencies, numbers) and sources; a disliked refusal becomes a line that expects no refusal
but has no ``must`` yet (an editor fills it in from the comment).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from index.db import connect, is_url
from index.schema import ensure

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    rating INTEGER,              -- 1 up, -1 down, NULL: a comment only
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL,     -- JSON list, as in `chidao ask --json`
    settings TEXT NOT NULL,      -- JSON: backend, retrieval, models
    history TEXT NOT NULL,       -- JSON list of {role, content} before the question
    session TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT ''   -- ui, widget, api
);
"""

#: The newest migration in ``assistant/migrations/versions``.
SCHEMA_HEAD = "f0001"

CSV_FIELDS = ["id", "created", "rating", "comment", "question", "answer", "refused", "citations", "settings",
              "session", "user", "channel"]


@dataclass(frozen=True)
class Feedback:
    """One stored feedback row."""

    id: int
    created: float
    rating: int | None
    comment: str
    question: str
    answer: str
    refused: bool
    citations: list[dict]
    settings: dict
    history: list[dict]
    session: str
    user: str
    channel: str


class FeedbackStore:
    """Append-mostly table (SQLite, or the shared PostgreSQL); safe to share between the server's threads."""

    def __init__(self, path: Path | str):
        """``path``: the SQLite file, or the PostgreSQL URL every worker shares (``CHIDAO_DATABASE_URL``)."""
        self._lock = threading.Lock()
        if not is_url(path):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = connect(path)
        self.path = self.db.path
        ensure(self.db, path, Path(__file__).parent / "migrations", "alembic_version_feedback", SCHEMA_HEAD)

    def close(self) -> None:
        self.db.close()

    def add(self, answer: dict, rating: int | None, comment: str = "", *, settings: dict | None = None,
            history: list[dict] | None = None, session: str = "", user: str = "", channel: str = "") -> int:
        """Store feedback on ``answer`` (the ``Answer.to_dict()`` shape); returns its id."""
        if rating not in (1, -1, None):
            raise ValueError("rating must be 1 (up), -1 (down) or None (comment only)")
        now = time.time()
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO feedback (created, updated, rating, comment, question, answer, refused, citations,"
                " settings, history, session, user, channel) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (now, now, rating, comment.strip(), answer.get("question", ""), answer.get("answer", ""),
                 int(bool(answer.get("refused"))), json.dumps(answer.get("citations", []), ensure_ascii=False),
                 json.dumps(settings or {}, ensure_ascii=False), json.dumps(history or [], ensure_ascii=False),
                 session, user, channel),
            )
            return int(cur.fetchone()[0])

    def update(self, feedback_id: int, *, rating: int | None = ..., comment: str | None = None) -> bool:  # type: ignore[assignment]
        """Change the rating (``None`` takes it back) or the comment of an existing row; False when there
        is no such row. Arguments left out are not changed."""
        if rating is not ... and rating not in (1, -1, None):
            raise ValueError("rating must be 1 (up), -1 (down) or None (taken back)")
        sets, values = ["updated = ?"], [time.time()]
        if rating is not ...:
            sets.append("rating = ?")
            values.append(rating)
        if comment is not None:
            sets.append("comment = ?")
            values.append(comment.strip())
        with self._lock:
            cur = self.db.execute(f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", (*values, feedback_id))
            return cur.rowcount == 1

    def get(self, feedback_id: int) -> Feedback | None:
        rows = self._select("WHERE id = ?", (feedback_id,))
        return rows[0] if rows else None

    def all(self) -> list[Feedback]:
        return self._select("ORDER BY id", ())

    def _select(self, where: str, params: tuple) -> list[Feedback]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, created, rating, comment, question, answer, refused, citations, settings, history,"
                f" session, user, channel FROM feedback {where}", params).fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), json.loads(r[7]), json.loads(r[8]),
                         json.loads(r[9]), r[10], r[11], r[12]) for r in rows]

    def to_csv(self) -> str:
        """All feedback as CSV (UTF-8; spreadsheet programs want the BOM the caller adds when saving)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for f in self.all():
            writer.writerow({
                "id": f.id, "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(f.created)),
                "rating": {1: "up", -1: "down"}.get(f.rating, ""), "comment": f.comment, "question": f.question,
                "answer": f.answer, "refused": int(f.refused),
                "citations": json.dumps(f.citations, ensure_ascii=False),
                "settings": json.dumps(f.settings, ensure_ascii=False), "session": f.session, "user": f.user,
                "channel": f.channel,
            })
        return out.getvalue()

    def to_testset(self) -> list[dict]:
        """Test-set lines (``chidao eval`` format) from the rated feedback."""
        return [line for f in self.all() if (line := testset_line(f)) is not None]


def testset_line(f: Feedback) -> dict | None:
    """A liked answer: its cited deadlines, agencies and numbers must come back, from the same sources.
    A liked refusal: the question must be refused again. A disliked refusal: it must be answered
    (``must`` left for an editor). A disliked answer says only that this answer was wrong: it has no
    line, its comment is in the CSV export for the editor."""
    from index.lang.facts import find_agencies, find_deadlines

    if f.rating is None or (f.rating < 0 and not f.refused):
        return None
    line = {"id": f"feedback-{f.id}", "kind": "feedback", "q": f.question, "must": [], "sources": [],
            "refuse": f.refused and f.rating > 0, "history": f.history}
    if f.rating > 0 and not f.refused:
        facts: list[str] = []
        for c in f.citations:
            quote = c.get("quote", "")
            for mention in find_deadlines(quote) + find_agencies(quote):
                # the answer may give a deadline in its canonical form ("quý 3/2026", not "trong quý III/2026")
                shown = next((v for v in (mention.value, mention.canonical) if v in f.answer), None)
                if shown and shown not in facts:
                    facts.append(shown)
        line["must"] = [[v] for v in facts[:4]]
        line["sources"] = sorted({Path(c["source"].split("#", 1)[0]).name for c in f.citations if c.get("source")})
    if f.comment:
        line["comment"] = f.comment
    return line
