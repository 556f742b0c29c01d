"""The document store on a real PostgreSQL (CHIDAO_DATABASE_URL) behaves as on SQLite: the same code path,
the same results."""

from __future__ import annotations

import pytest

from tests import pg_support


@pytest.fixture
def pg(pg_cluster):
    return pg_support.new_database(pg_cluster)


def test_conflict_flags_and_updates_on_postgres(pg):
    from tests.index.test_tasks import conflicts_match_pairwise

    conflicts_match_pairwise(pg)


def test_progress_reports_on_postgres(pg, tmp_path):
    from assistant import tasktable
    from index.docstore import DocStore
    from index.tasks import EXTRACTOR_VERSION, extract_tasks
    from tests.index.test_tables import REPORT, only

    store = DocStore(pg)
    try:
        for name, day, month, first in (("a.md", 25, 5, "Đang thực hiện"), ("b.md", 1, 7, "Đã hoàn thành")):
            path = tmp_path / name
            path.write_text(REPORT.format(day=day, month=month, first=first, second="Đang thực hiện"),
                            encoding="utf-8")
            doc = only(path)
            store.put([(doc, [], [str(path)])], "c", "m")
            store.put_tasks(doc.doc_id, extract_tasks(doc.doc_id, doc.text, doc.date), EXTRACTOR_VERSION)
        done = tasktable.select(store, status="done")
        assert {t.lead for t in done} == {"Bộ Giáo dục và Đào tạo", "Bộ Y tế"}
        assert store.db.generation() >= 4  # every write transaction counted, for the other workers
        run, unfinished = store.begin_run(["/x"])
        assert run >= 1 and not unfinished
    finally:
        store.close()


def test_the_assistant_on_postgres_answers_as_on_sqlite(pg, indexed, models_dir, embedder, tmp_path):
    import shutil

    from assistant import tasktable
    from assistant.build import build
    from assistant.settings import Settings
    from tests.conftest import SAMPLE

    shutil.copytree(SAMPLE, tmp_path / "sample")
    assistant = build(Settings(home=tmp_path / "home", models_dir=models_dir, database_url=pg), embedder=embedder)
    try:
        report = assistant.indexer.run([tmp_path / "sample"])
        assert not report.failed and assistant.docstore.db.dialect == "postgresql"
        again = assistant.indexer.run([tmp_path / "sample"])
        assert "2 unchanged" in again.summary()
        mine = tasktable.rows(tasktable.select(assistant.docstore), assistant.docstore)
        theirs = tasktable.rows(tasktable.select(indexed.docstore), indexed.docstore)
        key = ["lead", "task", "deadline_text", "due_end", "conflict", "start", "end"]
        assert sorted([r[k] for k in key] for r in mine) == sorted([r[k] for k in key] for r in theirs)
        question = "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?"
        assert assistant.ask(question).text == indexed.ask(question).text
    finally:
        assistant.close()


def test_one_writer_across_workers_and_readers_never_wait(pg, models_dir, embedder, tmp_path):
    import psycopg

    from assistant.build import build
    from assistant.settings import Settings
    from index.pipeline import ADVISORY_KEY, IndexBusy
    from tests.conftest import SAMPLE

    assistant = build(Settings(home=tmp_path / "a", models_dir=models_dir, database_url=pg), embedder=embedder)
    other = psycopg.connect(pg, autocommit=True)
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]
        with pytest.raises(IndexBusy, match="shared database"):
            assistant.indexer.run([SAMPLE])
        assert assistant.docstore.stats()["documents"] == 0  # reading is not blocked by the lock
        other.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        assert not assistant.indexer.run([SAMPLE]).failed
    finally:
        other.close()
        assistant.close()


def test_a_second_worker_sees_what_the_first_indexed(pg, models_dir, embedder, tmp_path):
    import time

    from assistant.build import build
    from assistant.freshness import IndexWatcher
    from assistant.settings import Settings
    from tests.conftest import SAMPLE

    first = build(Settings(home=tmp_path / "a", models_dir=models_dir, database_url=pg), embedder=embedder)
    second = build(Settings(home=tmp_path / "b", models_dir=models_dir, database_url=pg), embedder=embedder)
    try:
        watcher = IndexWatcher(second)
        assert second.retriever.lexical is None
        first.indexer.run([SAMPLE])
        assert len(second.docstore.tasks()) == len(first.docstore.tasks()) > 0  # the shared store, at once
        assert watcher.check()  # noticed by the write counter; BM25 rebuilt in the background
        deadline = time.monotonic() + 120
        while watcher.refreshed == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert watcher.refreshed == 1 and second.retriever.lexical is not None
        answer = second.ask("Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?")
        assert not answer.refused and "quý 3/2026" in answer.text
    finally:
        first.close()
        second.close()


def test_workers_on_one_database_sign_admins_with_one_key(pg, tmp_path):
    from assistant.settings import Settings
    from assistant.signin import AdminSessions, load_secret

    keys = [load_secret(Settings(home=tmp_path / name, database_url=pg)) for name in ("a", "b")]
    assert keys[0] == keys[1] and len(keys[0]) >= 32
    cookie = AdminSessions(keys[0], "mat-khau").issue()
    assert AdminSessions(keys[1], "mat-khau").valid(cookie)  # signed in on one worker, on the other too
