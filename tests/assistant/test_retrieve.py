"""Retrieval over the indexed sample corpus: the issue's acceptance query and its variants."""

from __future__ import annotations

import unicodedata

import pytest


@pytest.fixture
def indexed(assistant, sample_dir):
    assistant.indexer.run([sample_dir])
    return assistant


def _health(text: str) -> bool:
    return "cơ sở dữ liệu ngành y tế do bộ y tế chủ trì" in text.lower()


def test_health_database_passage_comes_first(indexed):
    hits = indexed.retriever.search("ai chịu trách nhiệm cơ sở dữ liệu y tế", k=5)
    assert hits and _health(hits[0].chunk.text)
    top = hits[0]
    assert top.document.text[top.chunk.start : top.chunk.end] == top.chunk.text
    assert 0 < top.score <= 1 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_decomposed_query_gives_the_same_result(indexed):
    query = "ai chịu trách nhiệm cơ sở dữ liệu y tế"
    composed = indexed.retriever.search(query, k=3)
    decomposed = indexed.retriever.search(unicodedata.normalize("NFD", query), k=3)
    assert [h.chunk.chunk_id for h in composed] == [h.chunk.chunk_id for h in decomposed]


def test_hit_json_shape(indexed):
    hit = indexed.retriever.search("Bộ Công an trình Chương trình tổng thể triển khai Đề án 06", k=1)[0]
    data = hit.to_dict()
    assert set(data) >= {"chunk_id", "doc_id", "title", "date", "source", "start", "end", "score", "text"}
    assert "Đề án 06" in data["text"]


def test_empty_query_and_empty_index(assistant):
    assert assistant.retriever.search("   ") == []
    assert assistant.retriever.search("cơ sở dữ liệu y tế") == []
