"""Late chunking against embedding every unit on its own: index-time cost and answer quality.

    python scripts/compare_unit_vectors.py          # after scripts/train_reader.py (reuses its homes and rows)

For every home that ``scripts/train_reader.py`` built under ``--work``, each unit (sentence, list item,
clause) is embedded again as a passage of its own; the feature rows of the training and selection
questions are rebuilt with those vectors; a linear ranker is fitted on each variant's training rows and
judged on each variant's selection rows (top-1 and top-2 accuracy with the guards, no refusal). Prints
the seconds each way costs at index time and both variants' accuracies.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_reader as tr  # noqa: E402


class SeparateVectors:
    """Looks like the docstore's ``unit_vectors``, but each unit embedded on its own (cached)."""

    def __init__(self, docstore, embedder):
        self.docstore = docstore
        self.embedder = embedder
        self.cache: dict[str, dict] = {}
        self.seconds = 0.0
        self.units = 0

    def unit_vectors(self, chunk_ids):
        from index.lang.sentences import unit_spans

        ids = list(dict.fromkeys(chunk_ids))
        todo = [i for i in ids if i not in self.cache]
        if todo:
            chunks = self.docstore.chunks(todo)
            texts, keys = [], []
            for chunk_id in todo:
                chunk = chunks[chunk_id]
                text = self.docstore.document(chunk.doc_id).text
                for start, end, _ in unit_spans(text, chunk.start, chunk.end):
                    texts.append(text[start:end])
                    keys.append((chunk_id, start, end))
                self.cache[chunk_id] = {}
            started = time.perf_counter()
            vectors = self.embedder.embed_documents(texts)
            self.seconds += time.perf_counter() - started
            self.units += len(texts)
            for (chunk_id, start, end), vector in zip(keys, vectors):
                self.cache[chunk_id][(start, end)] = np.asarray(vector, dtype=np.float32)
        return {i: self.cache[i] for i in ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".chidao" / "reader")
    parser.add_argument("--sample", type=int, default=2000, help="questions of each training set used")
    parser.add_argument("--ranker", default="listwise", choices=["linear", "listwise", "trees"])
    parser.add_argument("--sets", nargs="*", help="only these feature sets (default: every answerable one)")
    args = parser.parse_args()

    from assistant.build import build
    from assistant.settings import Settings

    # the answerable sets only: the comparison is of ranking (the unanswerable sets train the refusal)
    plan = {name: (squad.name, cases) for name, (squad, cases, _) in tr.plan().items()
            if "unanswerable" not in name and (not args.sets or name in args.sets)}
    data: dict[str, dict[str, dict]] = {"late": {}, "separate": {}}
    cost = {}
    for name, (squad_name, cases) in plan.items():
        if name.startswith("train-"):
            cases = cases[: args.sample]
        home = args.work / squad_name / "index"
        assistant = build(Settings(home=home))
        separate = SeparateVectors(assistant.docstore, assistant.embedder)
        stored = args.work / f"{name}.npz"
        if stored.exists():  # the late-chunked rows train_reader.py built: the same questions, in order
            late = tr.load([stored])
            keep = late["group"] < len(cases)
            late = {k: (v[keep] if k in ("X", "y", "correct", "group") else v[: len(cases)]) for k, v in late.items()}
            data["late"][name] = late
        else:
            data["late"][name] = tr.feature_rows(assistant, cases)
        data["separate"][name] = tr.feature_rows(assistant, cases, vectors=separate)
        cost[name] = (separate.units, separate.seconds)
        tr.log(f"{name}: {separate.units} units embedded apart in {separate.seconds:.0f} s")
        assistant.close()
    for variant, sets in data.items():
        train = tr.join([d for n, d in sets.items() if n.startswith("train-") and "unanswerable" not in n])
        ranker = tr.fit_ranker(train, args.ranker)
        scores = {}
        for name, d in sets.items():
            if name.startswith("select-") and "unanswerable" not in name:
                items = tr.per_question(ranker, d)
                ones = [1.0] * len(items)
                scores[name] = (round(tr.accuracy(items, ones, 0.0), 3), round(tr.accuracy(items, ones, 0.0, 0.2), 3))
        tr.log(f"{variant}: (top-1, top-2 at 0.2) {scores}")
    units = sum(u for u, _ in cost.values())
    seconds = sum(s for _, s in cost.values())
    tr.log(f"embedding {units} units apart took {seconds:.0f} s ({units / max(seconds, 1e-9):.0f} units/s); "
           "late chunking adds no forward pass")


if __name__ == "__main__":
    main()
