#!/usr/bin/env python
"""Generality check of the task extractor on real news nobody here wrote.

Extracts assignments from baomoi-2017 articles that use assignment language, and writes a seeded
random sample for hand checking (each row: the article, the extracted fields, the sentence).

    python scripts/sample_tasks.py --n 40 --out data/eval/baomoi-task-sample.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.lang.normalize import normalize_text  # noqa: E402
from index.load import content_id  # noqa: E402
from index.tasks import extract_tasks  # noqa: E402

ASSIGNMENT = re.compile(r"chủ trì|giao (?:cho )?(?:Bộ|Sở|UBND|Ủy ban)|báo cáo (?:trước|trong)", re.I)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpora" / "baomoi-2017.jsonl.gz"))
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=str(ROOT / "data" / "eval" / "baomoi-task-sample.jsonl"))
    args = parser.parse_args()

    articles = tasks = 0
    found = []
    with gzip.open(args.corpus, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if not ASSIGNMENT.search(record.get("text", "")):
                continue
            articles += 1
            text = normalize_text(record["text"])
            for task in extract_tasks(content_id(text), text):
                tasks += 1
                found.append({"record": record["id"], "title": record.get("title", ""), **task.to_dict()})
    random.Random(args.seed).shuffle(found)
    sample = found[: args.n]
    with open(args.out, "w", encoding="utf-8") as out:
        for row in sample:
            row.pop("conflicts", None)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{articles} articles with assignment language, {tasks} tasks extracted; {len(sample)} sampled -> {args.out}")


if __name__ == "__main__":
    main()
