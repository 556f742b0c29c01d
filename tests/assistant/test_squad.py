"""SQuAD-format sets as test cases, with the fixed tuning/check split."""

from __future__ import annotations

import json

from assistant.squad import load_squad, part_of


def _squad(tmp_path, n: int = 40):
    data = {"data": [{"title": f"Bài {a}", "paragraphs": [
        {"context": f"Đoạn {a}-{p}: Sở {a} chủ trì đề án số {p} trong năm 202{p % 10}.",
         "qas": [{"id": f"q{a}-{p}", "question": f"Ai chủ trì đề án số {p} của bài {a}?",
                  "answers": [{"text": f"Sở {a}", "answer_start": 8}]},
                 {"id": f"u{a}-{p}", "question": "Đề án tốn bao nhiêu tiền?", "answers": [], "is_impossible": True}]}
        for p in range(n)]} for a in range(2)]}
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_paragraphs_become_documents_and_questions_cases(tmp_path):
    squad = load_squad(_squad(tmp_path))
    assert len(squad.records) == 80 and len(squad.cases) == 160
    answerable = [c for c in squad.cases if not c.refuse]
    assert all(c.must and c.sources[0] in {r["id"] for r in squad.records} for c in answerable)
    assert {c.kind for c in squad.cases} == {"set", "unanswerable"}
    assert all(c.must == [] for c in squad.cases if c.refuse)


def test_the_split_is_by_paragraph_stable_and_near_half(tmp_path):
    squad = load_squad(_squad(tmp_path))
    tuning, check = squad.select("tuning"), squad.select("check")
    assert len(tuning) + len(check) == len(squad.cases)
    assert not {c.sources[0] for c in tuning} & {c.sources[0] for c in check}  # no paragraph on both sides
    assert 0.3 < len(check) / len(squad.cases) < 0.7
    again = load_squad(_squad(tmp_path))
    assert [c.id for c in again.select("check")] == [c.id for c in check]
    assert part_of("set", "một đoạn") == part_of("set", "một đoạn")


def test_a_sample_is_seeded(tmp_path):
    squad = load_squad(_squad(tmp_path))
    first = [c.id for c in squad.select("check", sample=10, seed=1)]
    assert first == [c.id for c in squad.select("check", sample=10, seed=1)]
    assert first != [c.id for c in squad.select("check", sample=10, seed=2)]
    assert len(squad.select("all", sample=5)) == 5
