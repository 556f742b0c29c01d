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
