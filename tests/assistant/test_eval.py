"""``chidao eval`` on the project's own test set and a seeded sample of the UIT check part, with both
baselines, must stay at the floors set from the measurements in the README (a few points under them).

Measured (README, "Results"): own set 91% (every answerable kind >= 80%, 9 of 14 unanswerable refused),
citation validity 100%; UIT check part 63%. The own set is a regression set, not a target; the floors
catch a reader that got worse. The p95 latency is read from the report; no test is timed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.evaluate import Case, in_part, load_testset, matches, metrics
from tests.conftest import CORPORA, ROOT, SAMPLE

pytestmark = pytest.mark.slow
TESTSET = ROOT / "data" / "eval" / "sample.jsonl"


def test_testset_format_and_coverage():
    cases = load_testset(TESTSET)
    kinds = {c.kind for c in cases}
    assert len(cases) >= 60
    assert {"owner", "deadline", "figure", "list", "conflict", "followup", "no_diacritics", "abbreviation",
            "unanswerable"} <= kinds
    assert sum(c.refuse for c in cases) >= 10
    assert len({c.id for c in cases}) == len(cases)


def test_a_split_test_set_is_asked_one_part_at_a_time(tmp_path):
    lines = [{"id": "a", "q": "Ai?", "part": "tuning"}, {"id": "b", "q": "Khi nào?", "part": "check"},
             {"id": "c", "q": "Bao nhiêu?"}]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    cases = load_testset(path)
    assert [c.id for c in in_part(cases, "check")] == ["b", "c"]  # a line without a part is always asked
    assert [c.id for c in in_part(cases, "tuning")] == ["a", "c"]
    assert len(in_part(cases, "all")) == 3
    path.write_text(json.dumps({"id": "d", "q": "?", "part": "test"}), encoding="utf-8")
    with pytest.raises(ValueError, match="set.jsonl:1"):
        load_testset(path)


def test_the_directive_set_is_split_by_its_ids_and_its_gold_is_in_the_documents():
    from assistant.squad import part_of

    cases = load_testset(ROOT / "data" / "eval" / "directives.jsonl")
    assert len(cases) >= 150 and len({c.id for c in cases}) == len(cases)
    assert all(c.part == part_of("directives", c.id) for c in cases)  # the documented split, not a hand pick
    for part in ("tuning", "check"):
        chosen = [c for c in cases if c.part == part]
        assert sum(c.refuse for c in chosen) >= 25 and sum(not c.refuse for c in chosen) >= 40
    folder = CORPORA / "directives"
    if not folder.exists():
        pytest.skip(f"{folder} is not there")
    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
    for case in cases:
        assert case.refuse == (not case.must) == (not case.sources), case.id
        for group in case.must:
            assert any(a in texts[s] for a in group for s in case.sources), (case.id, group)


def test_matching_rules():
    assert matches("Bộ Y tế, quý 3/2026 [1]", [["bộ y tế"], ["quý III/2026", "quý 3/2026"]])
    assert not matches("Bộ Y tế [1]", [["Bộ Y tế"], ["quý 3/2026"]])
    assert metrics([])["n"] == 0
    assert Case("x", "k", "q", [], []).refuse is False


@pytest.fixture(scope="module")
def report(tmp_path_factory, models_dir) -> dict:
    tmp = tmp_path_factory.mktemp("eval")
    shutil.copytree(SAMPLE, tmp / "sample")
    env = {**os.environ, "CHIDAO_HOME": str(tmp / "home"), "CHIDAO_MODELS_DIR": str(models_dir)}
    exe = shutil.which("chidao") or str(Path(sys.executable).parent / "chidao")
    args = [exe, "eval", str(TESTSET), "--index", str(tmp / "sample"), "--baseline", "--out", str(tmp / "out")]
    uit = CORPORA / "uit-regulation-qa.json"
    if uit.exists():
        args += ["--squad", str(uit), "--part", "check", "--sample", "100"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp / "out"
    assert (out / "report.md").exists() and list(out.glob("chart-*.png"))
    data = json.loads((out / "eval.json").read_text())
    data["stdout"] = done.stdout
    return data


def test_own_testset_stays_at_its_floors(report):
    table = report["metrics"]["chidao"]
    overall = table["overall"]
    assert overall["accuracy"] >= 0.87, report["stdout"]
    for kind, row in table.items():
        if kind not in ("overall", "unanswerable"):
            assert row["accuracy"] >= 0.75, (kind, row)
    assert table["unanswerable"]["refused_when_should"] >= 0.5
    assert overall["refused_answerable"] <= 0.05
    assert overall["citation_validity"] == 1.0
    assert overall["p95_ms"] > 0  # measured and reported (the target is read from the report, not timed here)
    # ahead of both baselines, measured in the same run
    assert overall["accuracy"] > report["metrics"]["trivial reader"]["overall"]["accuracy"]
    assert overall["accuracy"] > report["metrics"]["langchain"]["overall"]["accuracy"]


def test_retrieval_is_not_worse_than_the_baseline(report):
    ours, base = report["metrics"]["chidao"]["overall"], report["metrics"]["langchain"]["overall"]
    assert ours["hit@5"] >= base["hit@5"] and ours["mrr"] >= base["mrr"]


def test_uit_check_sample_stays_at_its_floor(report):
    uit_key = "chidao (uit-regulation-qa, check)"
    if uit_key not in report["metrics"]:
        pytest.skip(f"{CORPORA / 'uit-regulation-qa.json'} is not available: UIT check skipped")
    uit = report["metrics"][uit_key]["overall"]
    uit_base = report["metrics"]["langchain (uit-regulation-qa, check)"]["overall"]
    assert uit["n"] == 100
    assert uit["accuracy"] >= 0.55, uit
    assert uit["hit@5"] >= uit_base["hit@5"] and uit["mrr"] >= uit_base["mrr"] - 0.02
    assert uit["citation_validity"] == 1.0
    assert uit["answer_chars"] <= 400
