"""The lexical index of an existing home: a full build's time and memory, with segments of bounded size or one.

    python scripts/bench_lexical.py --home .chidao/bench-scale/home                 # the default segment size
    python scripts/bench_lexical.py --home .chidao/bench-scale/home --segment-chunks 0   # one segment (before)

Builds the BM25 index of every chunk the home's document store holds, in this process, and prints: build
seconds, peak RSS over the process' RSS before the build, RSS retained after it, segment sizes, what the
saved index takes in a fresh process that loads it (as a server does), and BM25 search latency over 200
seeded questions; with ``--against N`` also how many of each question's top 10 a
single-segment index finds too (the ranking agreement of segments scored with the archive's statistics).
Nothing is asserted: it prints figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--segment-chunks", type=int, default=None,
                        help="largest base segment (default: index.lexical.SEGMENT_CHUNKS; 0: one segment)")
    parser.add_argument("--against", action="store_true", help="compare the top 10 with a single-segment index")
    args = parser.parse_args()

    from index.docstore import DocStore
    from index.lexical import SEGMENT_CHUNKS, LexicalIndex

    store = DocStore(args.home / "docstore.sqlite")
    chunks = store.chunk_spans()
    size = args.segment_chunks if args.segment_chunks is not None else SEGMENT_CHUNKS
    size = size or 10**9
    gc.collect()
    before, peak_before = rss_mib(), peak_mib()
    started = time.perf_counter()
    index = LexicalIndex.build(store.searchable_chunks(), "bench", segment_chunks=size, total=len(chunks))
    seconds = time.perf_counter() - started
    gc.collect()
    print(f"{len(chunks)} chunks; segments of at most {size if size < 10**9 else 'any'}: "
          f"{[len(b.chunk_ids) for b in index.bases]}")
    print(f"build {seconds:.0f} s; peak RSS {peak_mib():.0f} MiB (before the build {before:.0f} MiB, "
          f"earlier peak {peak_before:.0f}); retained after it {rss_mib() - before:.0f} MiB")

    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder))
        probe = ("import sys; sys.path.insert(0, sys.argv[2]); from scripts.bench_lexical import rss_mib; "
                 "from index.lexical import LexicalIndex; from pathlib import Path; before = rss_mib(); "
                 "index = LexicalIndex.load(Path(sys.argv[1])); print(f'{rss_mib() - before:.0f}')")
        loaded = subprocess.run([sys.executable, "-c", probe, folder, str(ROOT)], capture_output=True, text=True,
                                check=True).stdout.strip()
        print(f"loaded in a fresh process: {loaded} MiB")

    texts = [text for _, _, text in store.searchable_chunks(random.Random(7).sample(sorted(
        c.rsplit(":", 2)[0] for c in chunks), 200))]
    queries = [" ".join(t.split()[5:17]) for t in texts]
    times = []
    for query in queries:
        t0 = time.perf_counter()
        index.search(query, k=30)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"BM25 search, 200 queries of 12 words: p50 {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms")
    if args.against:
        single = LexicalIndex.build(store.searchable_chunks(), "single", segment_chunks=10**9)
        overlap = [len({c for c, _ in index.search(q, 10)} & {c for c, _ in single.search(q, 10)}) / 10
                   for q in queries]
        print(f"top 10 shared with a single-segment index: mean {statistics.mean(overlap):.3f}, "
              f"min {min(overlap):.1f}")


if __name__ == "__main__":
    main()
