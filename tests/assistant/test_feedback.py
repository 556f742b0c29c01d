"""The feedback store, its CSV export and the test-set lines made from it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from assistant.evaluate import load_testset
from assistant.feedback import FeedbackStore

ANSWER = {
    "question": "Ai chủ trì Cơ sở dữ liệu ngành Y tế?",
    "answer": "Bộ Y tế chủ trì; thời hạn: quý 3/2026 [1].",
    "refused": False,
    "citations": [{"n": 1, "doc_id": "d", "title": "t", "source": "/x/ket-luan.txt", "date": None,
                   "quote": "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.",
                   "start": 0, "end": 10, "score": 1.0, "chunk_id": ""}],
}
REFUSED = {"question": "Ai phóng tàu vũ trụ?", "answer": "Không tìm thấy.", "refused": True, "citations": []}


@pytest.fixture
def store(store_target):
    s = FeedbackStore(store_target)
    yield s
    s.close()


def test_add_update_and_read_back(store):
    fid = store.add(ANSWER, 1, settings={"answer_backend": "extractive"}, session="s1", channel="ui")
    assert store.update(fid, comment="  đúng  ") and not store.update(999, comment="x")
    row = store.get(fid)
    assert row.rating == 1 and row.comment == "đúng" and row.citations == ANSWER["citations"]
    assert row.settings == {"answer_backend": "extractive"} and row.session == "s1"
    store.update(fid, rating=-1)
    assert store.get(fid).rating == -1 and store.get(fid).comment == "đúng"
    store.update(fid, rating=None)  # taken back
    assert store.get(fid).rating is None and store.get(fid).comment == "đúng"
    with pytest.raises(ValueError):
        store.add(ANSWER, 5)


def test_csv_export(store):
    store.add(ANSWER, 1, "ok, có dấu phẩy, và \"ngoặc\"")
    store.add(REFUSED, -1)
    rows = list(csv.DictReader(io.StringIO(store.to_csv())))
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["comment"] == 'ok, có dấu phẩy, và "ngoặc"' and rows[1]["refused"] == "1"
    assert json.loads(rows[0]["citations"])[0]["n"] == 1


def test_feedback_becomes_test_set_lines_that_eval_reads(store, tmp_path):
    store.add(ANSWER, 1)
    store.add(REFUSED, 1)                       # a right refusal: must refuse again
    store.add(REFUSED, -1, "phải trả lời được")  # a wrong refusal: must answer (must: for an editor)
    store.add(ANSWER, -1, "sai")                 # a wrong answer: no line, only the CSV
    store.add(ANSWER, None, "chỉ góp ý")         # no rating: no line
    lines = store.to_testset()
    assert len(lines) == 3
    liked = lines[0]
    assert sorted(liked["must"]) == [["Bộ Y tế"], ["quý 3/2026"]]
    assert liked["sources"] == ["ket-luan.txt"] and liked["refuse"] is False
    assert lines[1]["refuse"] is True and lines[2]["refuse"] is False and lines[2]["comment"]
    path = tmp_path / "fb.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    cases = load_testset(path)
    assert [c.q for c in cases] == [ANSWER["question"], REFUSED["question"], REFUSED["question"]]


def test_cli_exports(tmp_path, monkeypatch, capsys):
    from cli import main

    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    s = FeedbackStore(tmp_path / "home" / "feedback.sqlite")
    s.add(ANSWER, 1, "tốt")
    s.close()
    assert main(["feedback"]) == 0
    assert "tốt" in capsys.readouterr().out
    out = tmp_path / "lines.jsonl"
    assert main(["feedback", "--format", "testset", "-o", str(out)]) == 0
    assert len(load_testset(out)) == 1
