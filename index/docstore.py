"""The document store: SQLite under ``CHIDAO_HOME``, the source of truth of what is indexed.

It keeps each document's normalised text (all offsets refer to it), its chunks, and which source
paths hold it (several files may hold the same text). Chroma is an index *over* this store: a
document row is written only after all its vectors are in Chroma, and deleted before its vectors
are (and a re-chunked document's old chunk vectors after its new record), so a crash can only ever
leave vectors without a chunk row ("orphans"), which the next run removes and which retrieval never
returns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.chunk import Chunk
from index.db import connect, is_url
from index.load import Document
from index.schema import ensure
from index.taskstore import TaskRows

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT,
    issuer TEXT,
    format TEXT NOT NULL,
    text TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    n_chunks INTEGER NOT NULL,
    chunker TEXT NOT NULL,
    model TEXT NOT NULL,
    indexed_at REAL NOT NULL,
    number TEXT,
    doc_type TEXT,
    summary TEXT,
    parent TEXT,
    place TEXT,
    cites TEXT NOT NULL DEFAULT '[]',
    replaces TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS sources_doc ON sources(doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    headings TEXT NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ordinal);
CREATE TABLE IF NOT EXISTS units (
    chunk_id TEXT NOT NULL REFERENCES chunks(chunk_id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, start, end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    lead TEXT NOT NULL,
    collaborators TEXT NOT NULL,
    task TEXT NOT NULL,
    deadline_text TEXT,
    due_start TEXT,
    due_end TEXT,
    sentence TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    co_leads TEXT NOT NULL DEFAULT '[]',
    result TEXT,
    task_group TEXT,
    status TEXT,
    status_text TEXT,
    reported TEXT,
    progress TEXT
);
CREATE INDEX IF NOT EXISTS tasks_lead ON tasks(lead);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks(due_end);
CREATE TABLE IF NOT EXISTS task_terms (
    term TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    PRIMARY KEY (term, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_terms_task ON task_terms(task_id);
CREATE TABLE IF NOT EXISTS task_conflicts (
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    other TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, other)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_conflicts_other ON task_conflicts(other);
CREATE TABLE IF NOT EXISTS task_same (
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    other TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, other)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_same_other ON task_same(other);
CREATE TABLE IF NOT EXISTS task_docs (
    doc_id TEXT PRIMARY KEY REFERENCES documents(doc_id) ON DELETE CASCADE,
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL,
    paths TEXT NOT NULL
);
"""


#: Columns added to ``tasks`` and ``documents`` after their first release (the baseline migration adds them to
#: a store written before migrations existed).
ADDED_TASK_COLUMNS = (("co_leads", "TEXT NOT NULL DEFAULT '[]'"), ("result", "TEXT"), ("task_group", "TEXT"),
                      ("status", "TEXT"), ("status_text", "TEXT"), ("reported", "TEXT"), ("progress", "TEXT"))
ADDED_DOCUMENT_COLUMNS = (("number", "TEXT"), ("doc_type", "TEXT"), ("summary", "TEXT"), ("parent", "TEXT"),
                          ("place", "TEXT"), ("cites", "TEXT NOT NULL DEFAULT '[]'"),
                          ("replaces", "TEXT NOT NULL DEFAULT '[]'"))
#: The newest migration in ``index/migrations/versions`` (a store at it needs no upgrade; a test checks).
SCHEMA_HEAD = "0001"


@dataclass(frozen=True)
class StoredDocument:
    """A document as the store holds it (its text is what chunk offsets point into)."""

    doc_id: str
    title: str
    date: str | None
    issuer: str | None
    format: str
    text: str
    n_chunks: int
    sources: tuple[str, ...]
    number: str | None = None
    doc_type: str | None = None
    summary: str | None = None
    parent: str | None = None
    place: str | None = None
    cites: tuple[dict, ...] = ()

    @property
    def label(self) -> str:
        """How citations and the task table name the document (:func:`index.header.document_label`)."""
        from index.header import document_label

        return document_label(self.number, self.date, self.title) or self.title

    @property
    def source(self) -> str:
        """The first source path (or bulk-record id) holding this text."""
        return self.sources[0] if self.sources else ""


@dataclass(frozen=True)
class DocFilter:
    """Which documents a question or the task table is about, by their official header (every field
    optional): type ("Thông báo"), issuer (any alias; matches the issuer or its parent body), number
    ("447/TB-VPCP"), and the document date's range (ISO, inclusive)."""

    doc_type: str | None = None
    issuer: str | None = None
    number: str | None = None
    since: str | None = None
    until: str | None = None

    def __bool__(self) -> bool:
        return any((self.doc_type, self.issuer, self.number, self.since, self.until))

    def matches(self, row: dict) -> bool:
        """Whether a :meth:`DocStore.catalogue` row passes."""
        from index.lang.facts import canonical_agency
        from index.lang.vietnamese import fold

        if self.doc_type and fold(row.get("doc_type") or "") != fold(self.doc_type):
            return False
        if self.number and (row.get("number") or "").upper().replace(" ", "") != self.number.upper().replace(" ", ""):
            return False
        if (self.since or self.until) and not row.get("date"):
            return False
        if self.since and row["date"] < self.since or self.until and row["date"] > self.until:
            return False
        if self.issuer:
            wanted = fold(canonical_agency(self.issuer))
            bodies = [fold(canonical_agency(b)) for b in (row.get("issuer"), row.get("parent")) if b]
            if not any(wanted == b or wanted in b for b in bodies):
                return False
        return True


@dataclass(frozen=True)
class StoredChunk:
    """A chunk row; its text is ``document.text[start:end]``."""

    chunk_id: str
    doc_id: str
    ordinal: int
    start: int
    end: int
    headings: tuple[str, ...]
    text: str


class DocStore(TaskRows):
    """SQLite-backed store of documents, chunks and sources.

    Example:
        >>> store = DocStore(Path("/tmp/docstore.sqlite"))  # doctest: +SKIP
        >>> store.stats()  # doctest: +SKIP
        {'documents': 0, 'chunks': 0, 'sources': 0}
    """

    def __init__(self, path: Path | str):
        """``path``: the SQLite file, or a PostgreSQL URL (``CHIDAO_DATABASE_URL``) shared by several workers."""
        if not is_url(path):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = connect(path)
        self.target = path  # what a second connection (the loader thread's) opens
        self.path = self.db.path
        ensure(self.db, path, Path(__file__).parent / "migrations", "alembic_version", SCHEMA_HEAD)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _wrote(self) -> None:
        """Count a write (in its transaction): other workers sharing a PostgreSQL store notice the change by
        this counter (SQLite has its own, ``PRAGMA data_version``)."""
        self.db.execute("INSERT INTO meta VALUES ('generation', 1) "
                        "ON CONFLICT(key) DO UPDATE SET value = meta.value + 1")

    # -- runs ---------------------------------------------------------------------------------
    def begin_run(self, paths: Iterable[str]) -> tuple[int, bool]:
        """Record a run's start; returns (run id, whether an earlier run never finished)."""
        unfinished = self.db.execute("SELECT COUNT(*) FROM runs WHERE finished_at IS NULL").fetchone()[0]
        run_id = self.db.execute(
            "INSERT INTO runs(started_at, paths) VALUES (?, ?) RETURNING id", (time.time(), json.dumps(list(paths)))
        ).fetchone()[0]
        return int(run_id or 0), bool(unfinished)

    def finish_run(self, run_id: int) -> None:
        """Mark this run, and any interrupted run it has repaired, as finished."""
        self.db.execute("UPDATE runs SET finished_at = ? WHERE id <= ? AND finished_at IS NULL",
                        (time.time(), run_id))

    # -- reads --------------------------------------------------------------------------------
    def fingerprint(self, doc_id: str) -> tuple[str, str] | None:
        """(chunker version, model) a document was indexed with, or None if it is not stored."""
        row = self.db.execute("SELECT chunker, model FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def doc_for_source(self, source: str) -> str | None:
        """The document id a source currently holds."""
        row = self.db.execute("SELECT doc_id FROM sources WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def doc_ids(self) -> set[str]:
        """All stored document ids."""
        return {r[0] for r in self.db.execute("SELECT doc_id FROM documents")}

    def chunk_ids(self) -> set[str]:
        """All stored chunk ids."""
        return {r[0] for r in self.db.execute("SELECT chunk_id FROM chunks")}

    def chunk_ids_of(self, doc_ids: Iterable[str]) -> set[str]:
        """The stored chunk ids of these documents."""
        ids = list(doc_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            found.update(r[0] for r in self.db.execute(
                f"SELECT chunk_id FROM chunks WHERE doc_id IN ({','.join('?' * len(part))})", part))
        return found

    def chunk_spans(self) -> list[str]:
        """``chunk_id:start:end`` of every chunk (what the lexical index is keyed on)."""
        return [f"{i}:{a}:{b}" for i, a, b in self.db.execute("SELECT chunk_id, start, end FROM chunks")]

    def searchable_chunks(self, chunk_ids: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        """(chunk id, ``chunk_id:start:end`` span key, headings + text) of every chunk (or of these), for
        the lexical index."""
        select = ("SELECT c.chunk_id, c.start, c.end, c.headings, substr(d.text, c.start + 1, c.end - c.start) "
                  "FROM chunks c JOIN documents d USING(doc_id)")
        if chunk_ids is None:
            batches = [self.db.execute(select + " ORDER BY c.chunk_id")]
        else:
            ids = sorted(set(chunk_ids))
            batches = (self.db.execute(select + f" WHERE c.chunk_id IN ({','.join('?' * len(part))}) "
                                       "ORDER BY c.chunk_id", part)
                       for part in (ids[i : i + 500] for i in range(0, len(ids), 500)))
        for rows in batches:
            for chunk_id, start, end, headings, text in rows:
                yield chunk_id, f"{chunk_id}:{start}:{end}", " ".join(json.loads(headings) + [text])

    def sources(self) -> dict[str, str]:
        """Every source and the document it holds."""
        return dict(self.db.execute("SELECT source, doc_id FROM sources").fetchall())

    def document(self, doc_id: str) -> StoredDocument | None:
        """One document with its text and sources."""
        row = self.db.execute(
            "SELECT doc_id, title, date, issuer, format, text, n_chunks, number, doc_type, summary, parent, place, "
            "cites FROM documents WHERE doc_id = ?", (doc_id,),
        ).fetchone()
        if row is None:
            return None
        sources = tuple(r[0] for r in self.db.execute(
            "SELECT source FROM sources WHERE doc_id = ? ORDER BY source", (doc_id,)))
        return StoredDocument(*row[:7], sources=sources, number=row[7], doc_type=row[8], summary=row[9],
                              parent=row[10], place=row[11], cites=tuple(json.loads(row[12] or "[]")))

    def documents(self) -> Iterator[StoredDocument]:
        """All documents, newest date first."""
        ids = [r[0] for r in self.db.execute("SELECT doc_id FROM documents ORDER BY date DESC, title")]
        for doc_id in ids:
            doc = self.document(doc_id)
            if doc:
                yield doc

    def catalogue(self) -> list[dict]:
        """Every document's metadata and sources, newest date first, without the texts (one query: cheap
        for the web app's document list on a large corpus)."""
        sources: dict[str, list[str]] = {}
        for doc_id, source in self.db.execute("SELECT doc_id, source FROM sources ORDER BY source"):
            sources.setdefault(doc_id, []).append(source)
        rows = self.db.execute(
            "SELECT doc_id, title, date, issuer, format, n_chunks, number, doc_type, summary, parent, place "
            "FROM documents ORDER BY date DESC, title")
        return [{"doc_id": r[0], "title": r[1], "date": r[2], "issuer": r[3], "format": r[4], "chunks": r[5],
                 "number": r[6], "doc_type": r[7], "summary": r[8], "parent": r[9], "place": r[10],
                 "sources": sources.get(r[0], [])} for r in rows]

    def select_docs(self, where: DocFilter) -> frozenset[str]:
        """The ids of the documents a filter lets through."""
        return frozenset(row["doc_id"] for row in self.catalogue() if where.matches(row))

    def in_force_over(self, doc_ids: Iterable[str]) -> dict[tuple[str, str], str]:
        """Which of these documents supersede which: ``(newer, older) -> how`` ("thay thế", "bãi bỏ",
        "sửa đổi", or "ban hành sau" for a later official document that cites the older one and restates it).

        Only documents with an official number take part: a press report does not supersede another, and two
        reports of one meeting stay equals (their differences are conflicts)."""
        ids = list(dict.fromkeys(doc_ids))
        if len(ids) < 2:
            return {}
        rows = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            for doc_id, number, date, cites, replaces in self.db.execute(
                    f"SELECT doc_id, number, date, cites, replaces FROM documents WHERE doc_id IN "
                    f"({','.join('?' * len(part))}) AND number IS NOT NULL", part):
                rows[doc_id] = (number.upper(), date, {c["number"].upper() for c in json.loads(cites or "[]")},
                                json.loads(replaces or "[]"))
        # who replaces whom, by number, as any of them says it
        said = {((r["by"] or number).upper(), r["number"].upper()): r["how"]
                for number, _, _, replaces in rows.values() for r in replaces}
        out: dict[tuple[str, str], str] = {}
        for a, (num_a, date_a, cites_a, _) in rows.items():
            for b, (num_b, date_b, _, _) in rows.items():
                if a == b or num_a == num_b:
                    continue
                if (num_a, num_b) in said:
                    out[(a, b)] = said[(num_a, num_b)]
                elif num_b in cites_a and date_a and date_b and date_a > date_b and (num_b, num_a) not in said:
                    out[(a, b)] = "ban hành sau"
        return out

    def docs_numbered(self, numbers: Iterable[str]) -> frozenset[str]:
        """The documents whose official number is one of these (case and spaces ignored)."""
        wanted = [n.upper().replace(" ", "") for n in numbers]
        if not wanted:
            return frozenset()
        return frozenset(r[0] for r in self.db.execute(
            f"SELECT doc_id FROM documents WHERE UPPER(REPLACE(number, ' ', '')) IN ({','.join('?' * len(wanted))})",
            wanted))

    def chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        """Chunk rows by id (missing ids are simply absent), with their text sliced from the document."""
        ids = list(chunk_ids)
        out: dict[str, StoredChunk] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                "SELECT c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, c.headings, "
                "substr(d.text, c.start + 1, c.end - c.start) FROM chunks c "
                f"JOIN documents d USING(doc_id) WHERE c.chunk_id IN ({','.join('?' * len(part))})",
                part,
            )
            for cid, did, ordinal, start, end, headings, text in rows:
                out[cid] = StoredChunk(cid, did, ordinal, start, end, tuple(json.loads(headings)), text)
        return out

    def stats(self) -> dict[str, int]:
        """Counts of documents, chunks and sources."""
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "documents": one("SELECT COUNT(*) FROM documents"),
            "chunks": one("SELECT COUNT(*) FROM chunks"),
            "sources": one("SELECT COUNT(*) FROM sources"),
            "tasks": one("SELECT COUNT(*) FROM tasks"),
        }

    # -- writes -------------------------------------------------------------------------------
    def unit_vectors(self, chunk_ids: Iterable[str]) -> dict[str, dict[tuple[int, int], np.ndarray]]:
        """The stored unit vectors of these chunks: chunk id -> {(start, end): vector}."""
        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, dict[tuple[int, int], np.ndarray]] = {i: {} for i in ids}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                f"SELECT chunk_id, start, end, vector FROM units WHERE chunk_id IN ({','.join('?' * len(part))})", part)
            for chunk_id, start, end, blob in rows:
                out[chunk_id][(start, end)] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out

    def put(self, items: Iterable[tuple[Document, list[Chunk], list[str]]], chunker: str, model: str,
            units: dict[str, list[tuple[int, int, list[float]]]] | None = None) -> None:
        """Store documents with their chunks, their units' vectors (chunk id -> [(start, end, vector)], as
        float16) and sources in one transaction (after their chunk vectors are in Chroma)."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self._wrote()
            for doc, chunks, sources in items:
                # An upsert, not INSERT OR REPLACE: a replace deletes the row first, and the cascade would
                # take the document's other sources (a copy in a folder not indexed this run), tasks and flags.
                columns = ("doc_id", "title", "date", "issuer", "format", "text", "extra", "n_chunks", "chunker",
                           "model", "indexed_at", "number", "doc_type", "summary", "parent", "place", "cites",
                           "replaces")
                self.db.execute(
                    f"INSERT INTO documents ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
                    "ON CONFLICT(doc_id) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in columns[1:]),
                    (doc.doc_id, doc.title, doc.date, doc.issuer, doc.format, doc.text,
                     json.dumps(doc.extra, ensure_ascii=False), len(chunks), chunker, model, now, doc.number,
                     doc.doc_type, doc.summary, doc.parent, doc.place,
                     json.dumps([{"type": r.doc_type, "number": r.number, "date": r.date} for r in doc.cites],
                                ensure_ascii=False),
                     json.dumps([{"how": r.how, "number": r.number, "by": r.by} for r in doc.replaces],
                                ensure_ascii=False)),
                )
                self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
                self.db.executemany(
                    "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
                    [(c.chunk_id, c.doc_id, c.ordinal, c.start, c.end,
                      json.dumps(c.headings, ensure_ascii=False), c.tokens) for c in chunks],
                )
                self.db.executemany(
                    "INSERT OR REPLACE INTO units VALUES (?,?,?,?)",
                    [(c.chunk_id, start, end, np.asarray(vector, dtype=np.float16).tobytes())
                     for c in chunks for start, end, vector in (units or {}).get(c.chunk_id, [])],
                )
                self.db.executemany(
                    "INSERT OR REPLACE INTO sources VALUES (?, ?)", [(s, doc.doc_id) for s in sources]
                )

    def public_source(self, source: str) -> str:
        """How a source is shown outside the server: relative to the indexed file or folder that holds it
        (``sample/a.txt``, ``export.jsonl#r1``), never the server's own folder layout.

        Example:
            >>> store.public_source("/srv/chidao/docs/sample/a.txt")  # doctest: +SKIP
            'sample/a.txt'
        """
        path, sep, record = source.partition("#")
        file = Path(path)
        for root in self._roots():
            if file == root:
                return file.name + sep + record
            if root in file.parents:
                return (Path(root.name) / file.relative_to(root)).as_posix() + sep + record
        return file.name + sep + record

    def _roots(self) -> list[Path]:
        """Indexed roots, deepest first (cached until another run is recorded)."""
        latest = self.db.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        cached = getattr(self, "_roots_cache", None)
        if cached is None or cached[0] != latest:  # (a store no run was recorded in has latest None)
            roots = sorted((Path(r) for r in self.indexed_roots()), key=lambda r: -len(r.parts))
            self._roots_cache = (latest, roots)
        return self._roots_cache[1]

    def indexed_roots(self) -> list[str]:
        """The files and folders given to earlier indexing runs, oldest first, each once."""
        roots: list[str] = []
        for (paths,) in self.db.execute("SELECT paths FROM runs ORDER BY id"):
            roots += [p for p in json.loads(paths) if p not in roots]
        return roots

    def link_source(self, source: str, doc_id: str) -> None:
        """Point a source at an already stored document (a moved or duplicated file)."""
        self.db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?)", (source, doc_id))

    def drop_sources(self, sources: Iterable[str]) -> None:
        """Forget sources (files that are gone)."""
        with self.db:
            self.db.execute("BEGIN")
            self._wrote()
            self.db.executemany("DELETE FROM sources WHERE source = ?", [(s,) for s in sources])

    def drop_unreferenced(self) -> list[str]:
        """Delete documents no source holds any more; returns their ids (their vectors go next)."""
        with self.db:
            self.db.execute("BEGIN")
            self._wrote()
            ids = [r[0] for r in self.db.execute(
                "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM sources)")]
            self.db.executemany("DELETE FROM documents WHERE doc_id = ?", [(i,) for i in ids])
        return ids
