"""The cross reader: the shipped adapter on the real embedding model, its two runtimes, and how its
scores join the linear ranker's in :func:`assistant.reader.decide`."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.cross import ADAPTER_DIR, CrossReader, merged_folder, shipped
from assistant.reader import cross_combined, decide, default_reader
from assistant.units import FEATURES
from index.embed import resolve_model_path

pytestmark = pytest.mark.skipif(not shipped(), reason="no cross reader adapter shipped")

QUESTION = "Cơ quan nào chủ trì xây dựng đề án chuyển đổi số ngành nông nghiệp?"
UNITS = [
    "Bộ Nông nghiệp và Môi trường chủ trì, phối hợp với Bộ Khoa học và Công nghệ xây dựng Đề án chuyển đổi số "
    "ngành nông nghiệp, trình Thủ tướng Chính phủ trong tháng 6/2026.",
    "Hội nghị có sự tham dự của đại diện lãnh đạo các bộ, ngành và địa phương.",
    "Năm 2025, kim ngạch xuất khẩu nông sản đạt hơn 60 tỷ USD, tăng 12% so với năm trước.",
]


@pytest.fixture(scope="module")
def base(models_dir):
    from assistant.settings import DEFAULT_EMBEDDING_MODEL

    return resolve_model_path(DEFAULT_EMBEDDING_MODEL, models_dir)


@pytest.fixture(scope="module")
def cross(base, models_dir):
    return CrossReader(base, models_dir)


def test_the_answering_sentence_reads_above_the_others_and_above_no_answer(cross):
    scores = cross.logits(QUESTION, UNITS)
    assert scores.shape == (3,)
    assert int(np.argmax(scores)) == 0
    assert scores[0] > cross.null > max(scores[1:])


def test_a_question_longer_than_the_pair_limit_is_read_not_refused_with_an_error(cross):
    long_question = " ".join([QUESTION] * 20)  # about 400 tokens: longer than a whole pair may be
    scores = cross.logits(long_question, UNITS)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_onnx_and_torch_give_the_same_scores(cross, base, models_dir):
    assert cross.backend == "onnx"
    torch_reader = CrossReader(base, models_dir, backend="torch")
    assert np.allclose(cross.logits(QUESTION, UNITS), torch_reader.logits(QUESTION, UNITS), atol=1e-3)


def test_the_merged_model_is_made_once_and_remade_for_another_adapter(base, models_dir, tmp_path):
    first = merged_folder(base, ADAPTER_DIR, models_dir)
    assert merged_folder(base, ADAPTER_DIR, models_dir) == first
    other = tmp_path / "adapter"
    other.mkdir()
    for path in ADAPTER_DIR.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    head = other / "head.json"
    head.write_text(head.read_text().replace('"null":', '"null": 0.0, "was":'))
    remade = merged_folder(base, other, tmp_path / "models")
    assert remade.name != first.name and (remade / "config.json").exists()


def _rows(n: int) -> np.ndarray:
    """Feature rows that every guard allows (the names and agencies the question asks for are present)."""
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    f = {name: i for i, name in enumerate(FEATURES)}
    rows[:, f["names_before"]] = 1
    rows[:, f["agencies_in_unit"]] = 1
    rows[:, f["cov"]] = np.linspace(0.9, 0.1, n)  # the ranker prefers the first units
    return rows


def test_the_cross_scores_reorder_only_the_units_read():
    reader = default_reader()
    assert reader.cross is not None
    rows = _rows(12)
    logits = reader.logits(rows, FEATURES)
    ok = np.ones(12, dtype=bool)
    read = []

    def cross(indices):
        read.extend(indices)
        return np.asarray([8.0 if i == indices[-1] else -2.0 for i in indices])

    combined, extra = cross_combined(logits, ok, cross, reader.cross.weight, reader.cross.top)
    assert len(read) == reader.cross.top
    favourite = read[-1]
    assert int(np.argmax(combined)) == favourite
    assert extra["cross"] == 8.0 and extra["cross_gap"] == 10.0
    unread = [i for i in range(12) if i not in read]
    assert max(combined[unread]) <= min(combined[read])
    decision = decide(reader, rows, FEATURES, [100] * 12, cross=cross)
    assert int(np.argmax(decision.scores)) == favourite
    assert decision.refused or decision.chosen[0] == favourite


def test_units_not_read_are_not_raised_by_what_was_said_of_the_others():
    logits = np.asarray([3.0, 2.0, 1.0, 0.5])
    ok = np.ones(4, dtype=bool)
    combined, _ = cross_combined(logits, ok, lambda idx: np.asarray([4.0, 3.0]), 2.0, top=2)
    assert combined[2] == 1.0 and combined[3] == 0.5  # all read units above "no answer": the rest unchanged
    combined, _ = cross_combined(logits, ok, lambda idx: np.asarray([1.0, -3.0]), 2.0, top=2)
    assert combined[2] == 1.0 - 6.0 and combined[1] == 2.0 - 6.0


def test_a_strong_no_answer_from_the_cross_reader_refuses():
    reader = default_reader()
    rows = _rows(6)
    with_doubt = decide(reader, rows, FEATURES, [100] * 6, cross=lambda idx: np.full(len(idx), -8.0))
    with_trust = decide(reader, rows, FEATURES, [100] * 6, cross=lambda idx: np.asarray(
        [8.0] + [-8.0] * (len(idx) - 1)))
    assert with_doubt.confidence < with_trust.confidence
    assert with_doubt.refused


def test_off_by_default_and_on_by_setting(settings, embedder):
    from assistant.build import build

    assert settings.cross_reader is False
    assistant = build(settings, embedder=embedder)
    try:
        assert assistant.answerer.cross is None
    finally:
        assistant.close()
    assistant = build(settings.model_copy(update={"cross_reader": True}), embedder=embedder)
    try:
        assert assistant.answerer.cross is not None
    finally:
        assistant.close()


def test_answers_with_the_cross_reader_cite_and_a_toneless_question_still_answers(settings, embedder):
    from assistant.build import build
    from tests.conftest import SAMPLE

    assistant = build(settings.model_copy(update={"cross_reader": True}), embedder=embedder)
    try:
        assistant.indexer.run([SAMPLE])
        for question in ("Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?", "ai chu tri co so du lieu y te"):
            answer = assistant.ask(question)
            assert not answer.refused and answer.citations, question
            assert "Bộ Y tế" in answer.text, answer.text
    finally:
        assistant.close()
