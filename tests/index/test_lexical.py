"""The incremental lexical index: a few changed documents add a delta segment instead of a rebuild."""

from __future__ import annotations

import json
import random

from index.lexical import MERGE_FLOOR, LexicalIndex, fingerprint

WORDS = ("bộ công an chủ trì xây dựng cơ sở dữ liệu dân cư y tế giáo dục đất đai hoàn thành quý tháng năm "
         "báo cáo thủ tướng chính phủ đề án chuyển đổi số kết nối chia sẻ").split()


def _chunks(n: int, seed: int, prefix: str) -> dict[str, tuple[str, str]]:
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        chunk_id = f"{prefix}{i:04d}-0"
        out[chunk_id] = (f"{chunk_id}:0:{i + 10}", " ".join(rng.choices(WORDS, k=30)))
    return out


def _texts(store: dict[str, tuple[str, str]]):
    return lambda ids: [(c, store[c][0], store[c][1]) for c in ids]


def _spans(store) -> set[str]:
    return {span for span, _ in store.values()}


def test_a_small_change_is_a_delta_and_searches_like_a_rebuild(tmp_path):
    store = _chunks(300, 1, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    index.save(tmp_path / "lex")
    base = index.segments[0].name

    removed = sorted(store)[:5]
    for chunk_id in removed:
        del store[chunk_id]
    store.update({"new0001-0": ("new0001-0:0:9", "nền tảng định danh điện tử VNeID đạt 94 triệu hồ sơ")})
    loaded = LexicalIndex.load(tmp_path / "lex")
    updated = loaded.updated(_spans(store), _texts(store), fingerprint(_spans(store)))
    assert updated is not None and [s.name for s in updated.segments][0] == base and len(updated.segments) == 2
    updated.save(tmp_path / "lex")

    again = LexicalIndex.load(tmp_path / "lex", previous=loaded)
    assert again.segments[0] is loaded.segments[0]  # the base is reused in memory, not read again
    assert again.size == len(store) and again.spans == _spans(store)
    found = dict(again.search("VNeID hồ sơ định danh", k=5))
    assert next(iter(found)) == "new0001-0"
    everything = {c for c, _ in again.search("bộ công an dân cư y tế", k=1000)}
    assert not everything & set(removed) and everything <= set(store)
    assert again.restore_marks("dinh danh dien tu") == "định danh điện tử"  # the delta's spellings count
    assert again.df["vneid"] >= 1

    rebuilt = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), "x")
    top = [c for c, _ in rebuilt.search("chuyển đổi số kết nối", k=10)]
    assert len(set(top) & {c for c, _ in again.search("chuyển đổi số kết nối", k=10)}) >= 7

    # the delta weighs its chunks with the archive's statistics: a new chunk scores as a rebuild scores it
    query = "VNeID hồ sơ định danh"
    assert abs(dict(again.search(query))["new0001-0"] / dict(rebuilt.search(query))["new0001-0"] - 1) < 0.1

    manifest = json.loads((tmp_path / "lex" / "lexical.json").read_text())
    on_disk = {p.name for p in (tmp_path / "lex").iterdir() if p.name.startswith("seg-")}
    assert set(manifest["segments"]) <= on_disk


def test_a_large_change_asks_for_a_rebuild(tmp_path):
    store = _chunks(50, 2, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    store.update(_chunks(MERGE_FLOOR + 1, 3, "b"))
    assert index.updated(_spans(store), _texts(store), fingerprint(_spans(store))) is None


def test_indexing_a_few_more_documents_writes_a_delta(indexed, tmp_path):
    """End to end: the indexer adds a delta segment for a new file, and answers find its text."""
    from index.lexical import LexicalIndex

    folder = indexed.indexer.lexical_dir
    before = LexicalIndex.load(folder)
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "c.txt").write_text("Thông báo\n\nBộ Xây dựng chủ trì đề án nhà ở xã hội Quảng Ninh, hoàn thành "
                                 "trong tháng 10/2026.", encoding="utf-8")
    indexed.indexer.run([extra])
    after = LexicalIndex.load(folder)
    assert after.segments[0].name == before.segments[0].name and len(after.segments) == 2
    hits = indexed.retriever.lexical.search("nhà ở xã hội Quảng Ninh", k=3)
    new_doc = indexed.docstore.doc_for_source(str((extra / "c.txt").resolve()))
    assert new_doc and hits and hits[0][0].startswith(new_doc)


def test_an_index_written_before_segments_is_searched_then_rebuilt(indexed):
    """An upgraded server keeps lexical search on the index an older chidao wrote (one BM25 and a
    lexical.json with its ids and statistics); the next indexing run rewrites it as segments."""
    import shutil

    import bm25s

    from index.lang.vietnamese import lexical_tokens

    folder = indexed.indexer.lexical_dir
    chunks = list(indexed.docstore.searchable_chunks())
    shutil.rmtree(folder)
    folder.mkdir()
    old = bm25s.BM25()
    old.index([lexical_tokens(text) or ["<empty>"] for _, _, text in chunks], show_progress=False)
    old.save(str(folder / "bm25"))
    (folder / "lexical.json").write_text(json.dumps(
        {"chunk_ids": [c for c, _, _ in chunks], "key": "old", "vocabulary": {"y te": "y tế"}, "pairs": {},
         "df": {"y": 1}}, ensure_ascii=False))

    legacy = LexicalIndex.load(folder)
    assert legacy is not None and legacy.size == len(chunks)
    assert legacy.search("cơ sở dữ liệu ngành y tế", k=3)
    assert legacy.updated({s for _, s, _ in chunks}, lambda ids: [], "new") is None  # no spans: rebuild

    assert indexed.indexer.refresh_lexical() is True
    manifest = json.loads((folder / "lexical.json").read_text())
    assert manifest["segments"] and not (folder / "bm25").exists()
    assert LexicalIndex.load(folder).size == len(chunks)
