"""``chidao eval`` on the project's own test set must meet the product's targets.

Targets (extractive backend, warm process): answer accuracy >= 90% overall and >= 85% on every kind,
refusal accuracy 100%, citation validity 100%, and retrieval at least as good as the plain LangChain
baseline (better hit@5 on the UIT sample, where the file is available). The p95 latency target
(<= 500 ms) is a speed figure: `chidao eval` prints and reports it, and no test is timed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.evaluate import Case, load_testset, matches, metrics
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
        args += ["--uit", str(uit)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp / "out"
    assert (out / "report.md").exists() and list(out.glob("chart-*.png"))
    data = json.loads((out / "eval.json").read_text())
    data["stdout"] = done.stdout
    return data


def test_own_testset_meets_targets(report):
    table = report["metrics"]["chidao"]
    overall = table["overall"]
    assert overall["accuracy"] >= 0.90, report["stdout"]
    for kind, row in table.items():
        assert row["accuracy"] >= 0.85, (kind, row)
    assert overall["refusal_accuracy"] == 1.0
    assert overall["citation_validity"] == 1.0
    assert overall["p95_ms"] > 0  # measured and reported (the target is read from the report, not timed here)


def test_retrieval_is_not_worse_than_the_baseline(report):
    ours, base = report["metrics"]["chidao"]["overall"], report["metrics"]["baseline"]["overall"]
    assert ours["hit@5"] >= base["hit@5"] and ours["mrr"] >= base["mrr"]
    if "chidao (uit)" not in report["metrics"]:
        pytest.skip(f"{CORPORA / 'uit-regulation-qa.json'} is not available: UIT check skipped")
    uit, uit_base = report["metrics"]["chidao (uit)"]["overall"], report["metrics"]["baseline (uit)"]["overall"]
    assert uit["n"] == 100
    assert uit["hit@5"] > uit_base["hit@5"]
    assert uit["citation_validity"] == 1.0
