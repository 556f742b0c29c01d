#!/usr/bin/env python
"""Benchmark: ingestion cost against input size, to show it grows linearly (no superlinear step).

For 1, 2, 4, 8 MB of realistic Vietnamese text (the sample articles repeated, each copy numbered) it
times loading (read, decode, normalise, metadata), chunking with the real tokenizer and task
extraction, for a normal file (short paragraphs) and for the same text on one single line (exports
without line breaks). It also times the HTML loader on 100,000 nested ``<div>``. Prints figures; asserts
nothing (targets are read by people, not by timed tests).

    python scripts/bench_ingest.py --sizes 1 2 4 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def corpus_text(megabytes: float) -> str:
    """The sample articles repeated (each copy numbered, so no two copies are the same) to the size."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "sample").glob("*.txt"))]
    parts, size, n = [], 0, 0
    while size < megabytes * MB:
        n += 1
        part = f"Phần {n}. Bản sao số {n}\n\n" + texts[n % len(texts)]
        parts.append(part)
        size += len(part.encode("utf-8")) + 2
    return "\n\n".join(parts)


def timed(fn, *args):
    """(result, CPU seconds): CPU time, not wall time, so a busy shared machine disturbs it less."""
    started = time.process_time()
    result = fn(*args)
    return result, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 4, 8], help="text sizes in MB")
    parser.add_argument("--no-one-line", action="store_true", help="skip the single-line variant")
    parser.add_argument("--no-tasks", action="store_true", help="skip task extraction")
    args = parser.parse_args()

    from assistant.build import make_embedder
    from assistant.settings import Settings
    from index.chunk import Chunker
    from index.load import Document, Limits, load_path
    from index.tasks import extract_tasks

    settings = Settings()
    embedder = make_embedder(settings)
    chunker = Chunker(embedder.count_tokens, settings.chunk_max_tokens, settings.chunk_overlap_tokens)
    limits = Limits.from_mb(file_mb=1024, document_mb=1024, inflated_mb=1024)

    variants = [("paragraphs", False)] + ([] if args.no_one_line else [("one line", True)])
    print("CPU seconds per step")
    print(f"{'variant':<11} {'MB':>5} {'load s':>8} {'chunk s':>8} {'chunks':>7} {'chunk MB/s':>10} "
          f"{'tasks s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, one_line in variants:
            for megabytes in args.sizes:
                text = corpus_text(megabytes)
                if one_line:
                    text = " ".join(text.split("\n"))
                path = Path(tmp) / "bench.txt"
                path.write_text(text, encoding="utf-8")
                items, load_s = timed(lambda *a: list(load_path(*a)), path, limits)
                doc = items[0]
                assert isinstance(doc, Document), doc
                chunks, chunk_s = timed(chunker.split, doc.doc_id, doc.text)
                tasks_s = float("nan")
                if not args.no_tasks:
                    _, tasks_s = timed(extract_tasks, doc.doc_id, doc.text, doc.date)
                size = len(doc.text.encode("utf-8")) / MB
                print(f"{name:<11} {size:>5.1f} {load_s:>8.2f} {chunk_s:>8.2f} {len(chunks):>7} "
                      f"{size / chunk_s:>10.2f} {tasks_s:>8.2f}", flush=True)

        depth = 100_000
        html = Path(tmp) / "deep.html"
        html.write_text("<html><body>" + "<div>x" * depth + "</div>" * depth + "<p>Kết thúc.</p></body></html>",
                        encoding="utf-8")
        items, html_s = timed(lambda *a: list(load_path(*a)), html, limits)
        ok = isinstance(items[0], Document) and items[0].text.endswith("Kết thúc.")
        print(f"html: {depth:,} nested <div> ({html.stat().st_size / MB:.1f} MB) loaded in {html_s:.2f} s "
              f"({'text complete' if ok else items[0]})")


if __name__ == "__main__":
    main()
