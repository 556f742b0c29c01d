"""Schema migrations (Alembic) of the document store and the feedback store, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the tasks and documents tables as chidao wrote them before the directive work (no header, no status)
OLD = """
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, issuer TEXT, format TEXT NOT NULL,
    text TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', n_chunks INTEGER NOT NULL, chunker TEXT NOT NULL,
    model TEXT NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE tasks (task_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    lead TEXT NOT NULL, collaborators TEXT NOT NULL, task TEXT NOT NULL, deadline_text TEXT, due_start TEXT,
    due_end TEXT, sentence TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0);
INSERT INTO documents VALUES ('d1', 'Cũ', NULL, NULL, 'txt', 'Bộ Y tế làm A.', '{}', 0, 'c', 'm', 0);
"""


@pytest.mark.parametrize(("folder", "head_of"), [("index/migrations", "index.docstore"),
                                                 ("assistant/migrations", "assistant.feedback")])
def test_the_code_knows_its_newest_revision(folder, head_of):
    import importlib

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / folder))
    assert ScriptDirectory.from_config(config).get_current_head() == importlib.import_module(head_of).SCHEMA_HEAD


def test_a_store_from_before_migrations_is_brought_up(store_target):
    from index.db import connect
    from index.docstore import ADDED_DOCUMENT_COLUMNS, ADDED_TASK_COLUMNS, SCHEMA_HEAD, DocStore
    from index.schema import current_revision

    old = connect(store_target)
    old.executescript(OLD)
    old.close()
    store = DocStore(store_target)
    try:
        assert current_revision(store.db, "alembic_version") == SCHEMA_HEAD
        assert {name for name, _ in ADDED_TASK_COLUMNS} <= store.db.columns("tasks")
        assert {name for name, _ in ADDED_DOCUMENT_COLUMNS} <= store.db.columns("documents")
        assert store.document("d1").title == "Cũ"  # the data stays
        assert "task_same" in _tables(store.db)
    finally:
        store.close()
    DocStore(store_target).close()  # opened again: already at the head, nothing to do


def _tables(db) -> set[str]:
    if db.dialect == "sqlite":
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}


def test_a_failed_migration_changes_nothing(tmp_path):
    """A migration runs in one transaction: a store it cannot bring up is left as it was."""
    from index.docstore import DocStore

    path = tmp_path / "broken.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tasks (task_id TEXT PRIMARY KEY)")  # a table of that name, in another shape
    db.commit()
    db.close()
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error, whichever it is
        DocStore(path)
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert tables == {"tasks"}


def test_processes_opening_a_new_store_at_once_migrate_it_once(store_target):
    """Workers started together on a new store: one migrates, the others wait and find it done."""
    import subprocess
    import sys

    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from index.docstore import DocStore; "
            "DocStore(sys.argv[1]).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store_target)], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    from index.db import connect

    db = connect(store_target)
    try:
        assert [r[0] for r in db.execute("SELECT version_num FROM alembic_version").fetchall()] == ["0001"]
    finally:
        db.close()
