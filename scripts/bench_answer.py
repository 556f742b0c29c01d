"""Answer latency at archive scale: index N real news reports (kept between runs), then time questions.

    python scripts/bench_answer.py                    # 2,000 baomoi-2017 reports, 200 questions
    python scripts/bench_answer.py --records 500 --questions 50

Prints the index size, then p50/p95/max of the whole answer (retrieval, reading, composition) in a warm
process, and where the time goes (retrieval alone). The questions are the project's own test set and a
seeded sample of UIT and ViQuAD questions: most have no answer in news, which is the common case of a large
archive (retrieval and reading still run in full). Nothing here is asserted: it prints figures.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CORPORA = ROOT.parent / "shared" / "corpora"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(share * len(ordered))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--work", type=Path, default=ROOT / ".chidao" / "bench-answer")
    args = parser.parse_args()

    from assistant.build import build
    from assistant.evaluate import load_testset
    from assistant.settings import Settings
    from assistant.squad import load_squad

    source = CORPORA / "baomoi-2017.jsonl.gz"
    if not source.exists():
        sys.exit(f"{source} is not there")
    corpus = args.work / f"baomoi-{args.records}.jsonl"
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(source, "rt", encoding="utf-8") as lines, corpus.open("w", encoding="utf-8") as out:
            out.writelines(itertools.islice(lines, args.records))
    assistant = build(Settings(home=args.work / f"home-{args.records}"))
    started = time.perf_counter()
    report = assistant.indexer.run([corpus])
    print(f"index: {report.summary()} ({time.perf_counter() - started:.0f} s); {assistant.docstore.stats()}")

    questions = [c.q for c in load_testset(ROOT / "data" / "eval" / "sample.jsonl")]
    for path in (CORPORA / "uit-regulation-qa.json", CORPORA / "qa" / "viquad1-dev.json.gz"):
        if path.exists():
            questions += [c.q for c in load_squad(path).select("all", sample=args.questions)]
    questions = random.Random(7).sample(questions, min(args.questions, len(questions)))
    assistant.ask("Ai chủ trì nhiệm vụ, hoàn thành khi nào?")  # warm: model, BM25, reader loaded
    whole, retrieval, embedding = [], [], []
    for question in questions:
        t0 = time.perf_counter()
        assistant.ask(question)  # the question's vector is not cached yet: the whole cost
        whole.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.retriever.search(question, k=8)  # its vector is cached now: search alone
        retrieval.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.embedder._encode([question], "query")
        embedding.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "documents": assistant.docstore.stats()["documents"], "chunks": assistant.docstore.stats()["chunks"],
        "questions": len(whole),
        "answer_ms": {"p50": round(statistics.median(whole)), "p95": round(percentile(whole, 0.95)),
                      "max": round(max(whole))},
        "query_embedding_ms": {"p50": round(statistics.median(embedding)), "p95": round(percentile(embedding, 0.95))},
        "search_ms (dense + BM25 + store)": {"p50": round(statistics.median(retrieval)),
                                             "p95": round(percentile(retrieval, 0.95))},
    }, indent=1))
    assistant.close()


if __name__ == "__main__":
    main()
