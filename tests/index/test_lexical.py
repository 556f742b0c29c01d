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


def _scores(index, query: str) -> dict[str, float]:
    return dict(index.search(query, k=10_000))


def test_a_large_addition_is_sealed_into_a_segment_of_its_own(tmp_path):
    """Past MERGE_FLOOR new chunks the delta becomes a base segment; the old base is kept as it is (same
    object, not rebuilt), and the two score as one index over everything would."""
    store = _chunks(600, 2, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    store.update(_chunks(MERGE_FLOOR + 1, 3, "b"))
    updated = index.updated(_spans(store), _texts(store), fingerprint(_spans(store)), segment_chunks=1000)
    assert updated is not None and updated.segments[0] is index.segments[0]
    assert [len(b.chunk_ids) for b in updated.bases] == [600, 667, 667, 667]  # equal parts, none over 1,000
    assert updated.delta is None and updated.size == len(store)
    single = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), "x", segment_chunks=10**6)
    for query in ("bộ công an chủ trì", "giáo dục đất đai", "báo cáo thủ tướng"):
        ours, theirs = _scores(updated, query), _scores(single, query)
        assert ours.keys() == theirs.keys()
        # the document frequencies are the archive's; only the mean length is each segment's own
        assert max(abs(ours[c] / theirs[c] - 1) for c in ours) < 0.01


def test_segments_are_bounded_and_changes_rebuild_one(tmp_path, monkeypatch):
    """No segment outgrows segment_chunks; many removals rebuild only the segment they hit; small sealed
    segments are merged; the search finds what a single index finds, with the same scores."""
    import index.lexical as lexical

    monkeypatch.setattr(lexical, "MERGE_FLOOR", 20)
    monkeypatch.setattr(lexical, "MERGE_SHARE", 0.01)  # so that each round below is sealed
    store = _chunks(450, 4, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)),
                               segment_chunks=100, total=len(store))
    assert [len(b.chunk_ids) for b in index.bases] == [90] * 5
    single = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), "x", segment_chunks=10**6)
    query = "xây dựng cơ sở dữ liệu dân cư"
    ours, theirs = _scores(index, query), _scores(single, query)
    assert ours.keys() == theirs.keys() and max(abs(ours[c] / theirs[c] - 1) for c in ours) < 0.01
    index.save(tmp_path / "lex")

    hit = index.bases[1]
    for chunk_id in hit.chunk_ids[:30]:  # 30% of one segment removed
        del store[chunk_id]
    updated = index.updated(_spans(store), _texts(store), fingerprint(_spans(store)), segment_chunks=100)
    names = [b.name for b in updated.bases]
    assert hit.name not in names and all(b.name in names for b in index.bases if b is not hit)
    assert not updated.dead and updated.size == len(store)
    assert all(len(b.chunk_ids) <= 100 for b in updated.bases)
    assert sorted(len(b.chunk_ids) for b in updated.bases) == [60, 90, 90, 90, 90]
    updated.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert _scores(loaded, query).keys() == {c for c in ours if c in store}

    for round_ in range(6):  # sealed additions of 21 chunks each: small segments get merged
        store.update(_chunks(21, 10 + round_, f"n{round_}"))
        updated = updated.updated(_spans(store), _texts(store), fingerprint(_spans(store)), segment_chunks=100)
        assert updated.size == len(store) and all(len(b.chunk_ids) <= 100 for b in updated.bases)
        assert sum(len(b.chunk_ids) < 25 for b in updated.bases) <= 1
    assert updated.spans == _spans(store)
    top = updated.search("nền tảng", k=5)  # words no chunk has
    assert top == []


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


def test_spellings_table_answers_like_the_dict_it_replaces():
    """The compact spelling table: every key found with its value, others not, through a save and load;
    segments written with plain dicts still read."""
    from index.packed import Spellings

    rng = random.Random(5)
    mapping = {" ".join(rng.choices(WORDS, k=2)) + str(i): rng.choice(WORDS) for i in range(3000)}
    table = Spellings(mapping)
    assert len(table) == len(mapping)
    assert all(table.get(k) == v for k, v in mapping.items())
    assert table.get("không có") is None and table.get("") is None
    again = Spellings.from_json(json.loads(json.dumps(table.to_json(), ensure_ascii=False)))
    assert dict(again.items()) == mapping
    assert Spellings.from_json({"y te": "y tế"}).get("y te") == "y tế"
    assert len(Spellings.from_json(Spellings({}).to_json())) == 0


def test_a_chunk_that_keeps_its_id_with_a_new_span_stays_searchable(tmp_path):
    """A re-chunked document may keep a chunk's id with another span: the old row is dead, the new one
    (in the delta) is found, also after a save and load."""
    store = _chunks(100, 6, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    store["a0003-0"] = ("a0003-0:5:80", "trung tâm dữ liệu quốc gia số một vận hành chính thức")
    updated = index.updated(_spans(store), _texts(store), fingerprint(_spans(store)))
    assert updated.spans == _spans(store) and updated.size == len(store)
    assert [c for c, _ in updated.search("trung tâm dữ liệu quốc gia vận hành", k=3)][:1] == ["a0003-0"]
    updated.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert loaded.spans == _spans(store)
    assert [c for c, _ in loaded.search("trung tâm dữ liệu quốc gia vận hành", k=3)][:1] == ["a0003-0"]


def test_a_repeated_query_word_weighs_the_same_in_the_delta_and_the_base():
    store = _chunks(200, 7, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    store.update(_chunks(5, 8, "z"))
    updated = index.updated(_spans(store), _texts(store), fingerprint(_spans(store)))
    assert updated.delta is not None
    single = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), "x")
    query = "dân cư dân cư dân cư y tế"
    ours, theirs = _scores(updated, query), _scores(single, query)
    new = [c for c in ours if c.startswith("z")]
    assert new and max(abs(ours[c] / theirs[c] - 1) for c in new) < 0.1


def test_a_server_keeps_its_index_when_a_manifest_names_a_segment_already_gone(indexed, caplog):
    """Two quick saves by another process can remove a segment the manifest the server is reading named:
    the server keeps searching what it holds and reads the index again on the next question."""
    import os
    import time

    folder = indexed.indexer.lexical_dir
    held = indexed.retriever.lexical
    manifest = folder / "lexical.json"
    good = manifest.read_text()
    meta = json.loads(good)
    manifest.write_text(json.dumps({**meta, "segments": ["seg-gone"]}))
    os.utime(manifest, (time.time() + 5, time.time() + 5))
    with caplog.at_level("WARNING", logger="assistant.retrieve"):
        assert indexed.retriever.lexical is held
    assert "changed while it was read" in caplog.text
    assert indexed.retriever.lexical.search("cơ sở dữ liệu y tế", k=3)
    manifest.write_text(good)
    os.utime(manifest, (time.time() + 10, time.time() + 10))
    assert indexed.retriever.lexical is not None and indexed.retriever.lexical.key == meta["key"]


def test_tone_marks_come_back_as_the_archive_spells_them_most():
    """With several segments, a word typed without marks takes the spelling the whole archive uses most,
    not the first segment's."""
    first = {f"a{i:04d}-0": (f"a{i:04d}-0:0:9", "hoà bình ổn định" if i == 0 else "báo cáo tiến độ") for i in range(10)}
    second = {f"b{i:04d}-0": (f"b{i:04d}-0:0:9", "hòa bình bền vững") for i in range(10)}
    store = {**first, **second}
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), "k", segment_chunks=10)
    assert len(index.bases) == 2 and index.bases[0].chunk_ids[0].startswith("a")
    assert index.restore_marks("hoa binh") == "hòa bình"


def test_the_document_frequencies_a_server_remembers_are_bounded(monkeypatch):
    import index.lexical as lexical

    monkeypatch.setattr(lexical, "DF_CACHE", 50)
    store = _chunks(50, 9, "a")
    index = LexicalIndex.build(((c, s, t) for c, (s, t) in store.items()), fingerprint(_spans(store)))
    for i in range(500):  # words nobody indexed, as a server is sent over months
        index.search(f"dân cư từlạ{i}", k=3)
    assert index.statistics.df.cache_info().currsize <= 50
    assert index.statistics.df("dân") == sum(s.token_df("dân") for s in index.segments) > 0
