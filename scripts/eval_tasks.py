"""Task extraction against a gold table: precision and recall (lead and deadline right).

    python scripts/eval_tasks.py                       # the directives' assignment tables
    python scripts/eval_tasks.py --gold data/eval/tasks-gold.jsonl --docs ../shared/seeds

Each gold file names its documents by file name; the documents are loaded from ``--docs`` as chidao
loads them. Table rows and prose are scored apart and together (the gold of the directives covers their
assignment tables, so prose rows found in those documents count against the "all rows" precision).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluate import score_tasks  # noqa: E402
from index.load import load_path  # noqa: E402
from index.tasks import extract_tasks  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", default=str(ROOT / "data/eval/tasks-gold-directives.jsonl"))
    parser.add_argument("--docs", default=str(ROOT.parent / "shared/corpora/directives"))
    args = parser.parse_args()
    gold = [json.loads(line) for line in Path(args.gold).read_text(encoding="utf-8").splitlines() if line.strip()]
    predicted = {}
    for name in sorted({g["doc"] for g in gold}):
        doc = next(load_path(Path(args.docs) / name))
        predicted[name] = (doc.text, extract_tasks(doc.doc_id, doc.text, doc.date))
    table_gold = [g for g in gold if "sentence" not in g]
    rows = {k: (text, [t for t in tasks if t.sentence.startswith("|")]) for k, (text, tasks) in predicted.items()}
    report = {"all rows": score_tasks(gold, predicted)}
    if table_gold:
        report["table rows"] = score_tasks(table_gold, rows)
    for name, scores in report.items():
        print(f"{name:>10}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in scores.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
