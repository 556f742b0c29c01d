#!/usr/bin/env python
"""Benchmark: indexing throughput, re-run cost, peak memory and search latency on real corpora.

Prints figures; asserts nothing (targets are read by people, not by timed tests).

    python scripts/bench_index.py --news 200 --laws 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPORA = ROOT.parent / "shared" / "corpora"


def take(path: Path, n: int, must: str | None = None) -> list[dict]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if must is None or must in record.get("text", ""):
                out.append(record)
            if len(out) == n:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--news", type=int, default=200, help="baomoi articles with 'chủ trì' to index")
    parser.add_argument("--laws", type=int, default=5, help="laws from vlc-laws to index")
    args = parser.parse_args()

    from assistant.build import build
    from assistant.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        records = []
        if args.news and (CORPORA / "baomoi-2017.jsonl.gz").exists():
            records += take(CORPORA / "baomoi-2017.jsonl.gz", args.news, must="chủ trì")
        if args.laws and (CORPORA / "vlc-laws.jsonl.gz").exists():
            records += take(CORPORA / "vlc-laws.jsonl.gz", args.laws)
        if not records:
            sys.exit(f"no corpora under {CORPORA}")
        with gzip.open(folder / "bench.jsonl.gz", "wt", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        chars = sum(len(r["text"]) for r in records)

        started = time.perf_counter()
        assistant = build(Settings(home=Path(tmp) / "home"))
        load_s = time.perf_counter() - started
        first = assistant.indexer.run([folder])
        again = assistant.indexer.run([folder])

        queries = [r["text"].split(".")[0][:120] for r in records[:40]]
        latencies = []
        for query in queries:
            t0 = time.perf_counter()
            assistant.retriever.search(query, k=5)
            latencies.append((time.perf_counter() - t0) * 1000)
        assistant.close()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    latencies.sort()
    print(f"corpus            : {len(records)} documents, {chars / 1e6:.2f} M characters")
    print(f"model + stores    : {load_s:.1f} s to load")
    print(f"first index run   : {first.seconds:.1f} s, {first.chunks} chunks, "
          f"{first.chunks / first.seconds:.1f} chunks/s, {chars / first.seconds / 1000:.1f} k chars/s")
    print(f"second run        : {again.seconds:.2f} s, {again.chunks} chunks embedded ({again.unchanged} unchanged)")
    print(f"search latency    : p50 {statistics.median(latencies):.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.0f} ms over {len(latencies)} queries")
    print(f"peak memory (RSS) : {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
