"""Chunking follows the structure of Vietnamese official text and keeps exact offsets."""

from __future__ import annotations

import json
import re

import pytest

from index.chunk import Chunker, heading_level
from index.load import Document, load_path
from tests.conftest import DATA, SAMPLE


@pytest.fixture(scope="module")
def law() -> str:
    from index.load import _Raw, to_document

    record = json.loads((DATA / "luat-thue-bao-ve-moi-truong-2010.json").read_text(encoding="utf-8"))
    return to_document(_Raw(record["text"], title=record["title"]), "law", ".jsonl").text


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(embedder.count_tokens, max_tokens=200, overlap_tokens=32)


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("Phần thứ nhất", 0),
        ("PHẦN I", 0),
        ("Chương 1.", 1),
        ("Chương IV", 1),
        ("Mục 2", 2),
        ("Mục tiêu của chương trình", None),
        ("Điều 12. Khai thuế", 3),
        ("Điều 5a. Sửa đổi", 3),
        ("II. NHIỆM VỤ TRỌNG TÂM", 1),
        ("1. Người lao động", None),
        ("a) Xăng, trừ etanol;", None),
        ("Điều kiện kinh doanh được cắt giảm", None),
    ],
)
def test_heading_levels(line, level):
    assert heading_level(line) == level


def test_law_chunks_carry_chapter_and_article(law, chunker, embedder):
    chunks = chunker.split("law", law)
    assert len(chunks) > 10
    for chunk in chunks:
        assert law[chunk.start : chunk.end] == chunk.text
        assert embedder.count_tokens([chunk.text])[0] <= chunker.max_tokens + 24
    # Every article of the law opens some chunk whose heading path ends with that article.
    articles = re.findall(r"^Điều \d+\..*$", law, flags=re.M)
    paths = {c.headings[-1] for c in chunks if c.headings}
    assert set(articles) <= paths
    article3 = next(c for c in chunks if c.headings and c.headings[-1].startswith("Điều 3."))
    assert article3.headings == ("Chương 1. NHỮNG QUY ĐỊNH CHUNG", "Điều 3. Đối tượng chịu thuế")
    assert article3.text.startswith("Điều 3. Đối tượng chịu thuế")
    # A chapter heading alone is not a chunk: it lives on in the paths below it.
    assert all(c.text.strip() != "Chương 1.\nNHỮNG QUY ĐỊNH CHUNG" for c in chunks)


def test_long_article_is_split_with_overlap(law, embedder):
    small = Chunker(embedder.count_tokens, max_tokens=96, overlap_tokens=40)
    chunks = small.split("law", law)
    by_article: dict[str, list] = {}
    for chunk in chunks:
        by_article.setdefault(chunk.heading_path, []).append(chunk)
    multi = [group for group in by_article.values() if len(group) > 1]
    assert multi, "some article must need several chunks at 96 tokens"
    overlapping = [b for group in multi for a, b in zip(group, group[1:]) if b.start < a.end]
    assert overlapping, "consecutive chunks of one article share some text"
    for group in multi:
        for a, b in zip(group, group[1:]):
            assert b.start > a.start and b.end > a.end  # always moving forward


def test_sample_article_subheadings_and_offsets(chunker):
    path = sorted(SAMPLE.glob("2026-02-25*.txt"))[0]
    doc = next(load_path(path))
    assert isinstance(doc, Document)
    chunks = chunker.split(doc.doc_id, doc.text)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
    health = [c for c in chunks if "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì" in c.text]
    assert health, "the health-database sentence is kept whole in a chunk"
    assert any("Tiết kiệm khoảng 34,6 nghìn tỷ đồng" in c.heading_path for c in chunks)
    # The whole text is covered: nothing between chunks is lost (except separators).
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    uncovered = "".join(doc.text[i] for i in range(len(doc.text)) if i not in covered)
    assert uncovered.strip() == ""


def test_no_tiny_trailing_chunk(chunker):
    path = sorted(SAMPLE.glob("ket-luan*.txt"))[0]
    doc = next(load_path(path))
    chunks = chunker.split(doc.doc_id, doc.text)
    assert chunks[-1].text.endswith("TTXVN")
    assert chunks[-1].tokens > 24


def test_very_long_sentence_is_cut_on_clauses_then_words(embedder):
    chunker = Chunker(embedder.count_tokens, max_tokens=64, overlap_tokens=0)
    clauses = "; ".join(
        f"Cơ sở dữ liệu số {i} do Bộ Nội vụ chủ trì, hoàn thành trong quý {i % 4 + 1}/2026" for i in range(20)
    )
    words = " ".join(["dữ liệu"] * 300)
    for text in (clauses + ".", words):
        chunks = chunker.split("d", text)
        assert len(chunks) > 1
        for chunk in chunks:
            assert text[chunk.start : chunk.end] == chunk.text
            assert embedder.count_tokens([chunk.text])[0] <= 64 + 24


def test_version_changes_with_sizes(embedder):
    a = Chunker(embedder.count_tokens, max_tokens=200, overlap_tokens=32)
    b = Chunker(embedder.count_tokens, max_tokens=300, overlap_tokens=32)
    assert a.version != b.version
    with pytest.raises(ValueError):
        Chunker(embedder.count_tokens, max_tokens=100, overlap_tokens=60)


def words(texts):
    return [len(t.split()) for t in texts]


def test_heading_line_that_holds_its_content_is_kept():
    # Articles written on one line each: every word must be in some chunk (it used to yield none).
    text = ("Điều 1. Luật này quy định về thuế bảo vệ môi trường và người nộp thuế.\n"
            "Điều 2. Đối tượng chịu thuế là xăng dầu, than đá và túi ni lông.\n"
            "I. Kết quả đạt được trong năm qua rất quan trọng đối với toàn ngành.")
    chunks = Chunker(words, max_tokens=64, overlap_tokens=8).split("d", text)
    assert [c.text for c in chunks] == text.split("\n")
    assert [c.headings[-1] for c in chunks] == [
        "Điều 1. Luật này quy định về thuế bảo vệ môi trường và người nộp thuế.",
        "Điều 2. Đối tượng chịu thuế là xăng dầu, than đá và túi ni lông.",
        "I. Kết quả đạt được trong năm qua rất quan trọng đối với toàn ngành.",
    ]


def test_one_long_line_is_cut_into_exact_slices_that_cover_it():
    # A whole export on one line (no newline at all): split before it is counted, never dropped.
    sentence = "Bộ Y tế chủ trì, phối hợp với Bộ Công an hoàn thành trong quý 3/2026. "
    text = (sentence * 3000 + "x" * 50_000 + " " + "TP. Hồ Chí Minh báo cáo.").strip()
    chunker = Chunker(words, max_tokens=64, overlap_tokens=8)
    chunks = chunker.split("d", text)
    assert all(c.text == text[c.start : c.end] for c in chunks)
    assert all(c.tokens <= 64 for c in chunks)
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    assert any(c.text.endswith("TP. Hồ Chí Minh báo cáo.") for c in chunks)  # the abbreviation still holds
