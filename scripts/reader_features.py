"""The reader's training data: every candidate unit of every question, as a feature row with its labels.

Used by ``scripts/train_reader.py`` (steps 1-3 of its docstring) and ``scripts/train_cross.py``. Each set is
indexed in a home of its own under the work folder (kept, so a second run only asks) and each question is
asked through chidao's own retrieval; the rows, labels, unit vectors and unit texts of a set are one
``.npz`` file.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.squad import SPLIT_SEED, SquadSet, load_squad, part_of  # noqa: E402

QA = ROOT.parent / "shared" / "corpora" / "qa"
CORPORA = ROOT.parent / "shared" / "corpora"
UNANSWERABLE = QA / "vi-squad2-unanswerable-train.json"
DIRECTIVES = CORPORA / "directives"
DIRECTIVE_QUESTIONS = ROOT / "data" / "eval" / "directives.jsonl"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- feature rows

def _subset(squad: SquadSet, records: set[str], name: str) -> SquadSet:
    return SquadSet(name, [r for r in squad.records if r["id"] in records],
                    [c for c in squad.cases if c.sources[0] in records], squad.part_of)


def feature_rows(assistant, cases, k: int = 8, vectors=None) -> dict:
    """Ask each case through chidao's retrieval; every candidate unit as a feature row with its labels.
    ``vectors``: where unit vectors come from (default: the docstore, as at answer time)."""
    from assistant.evaluate import names_of
    from assistant.extractive import question_view
    from assistant.question import analyse
    from assistant.units import Featurizer, candidates
    from index.lang.normalize import nfc

    lexical = assistant.retriever.lexical
    featurizer = Featurizer(lexical.df, lexical.size)
    rows, labels, correct, groups, answerable, kinds, stored, texts = [], [], [], [], [], [], [], []
    started = time.perf_counter()
    for qi, case in enumerate(cases):
        q = analyse(case.q)
        hits = assistant.retriever.search(q.query, k=k)
        units = candidates(hits, vectors or assistant.docstore)
        view = question_view(featurizer, q)
        X = featurizer.rows(view, units, assistant.retriever.query_vector(q.query))
        answers = [nfc(a).lower() for group in case.must for a in group]
        for unit, row in zip(units, X):
            holds = any(a in nfc(unit.text).lower() for a in answers)
            in_gold = bool(names_of([unit.hit.document.source]) & set(case.sources))
            rows.append(row)
            texts.append(unit.text)
            stored.append(unit.vector if unit.vector is not None else np.zeros(assistant.embedder.dimension))
            correct.append(int(holds))
            labels.append(1 if holds and in_gold else (-1 if holds else 0))
            groups.append(qi)
        answerable.append(int(not case.refuse))
        kinds.append(case.kind)
        if qi and qi % 500 == 0:
            log(f"  {qi}/{len(cases)} questions ({(time.perf_counter() - started) / qi * 1000:.0f} ms each)")
    return {"X": np.asarray(rows, dtype=np.float32).reshape(-1, len(featurizer.names)),
            "y": np.asarray(labels, dtype=np.int8), "correct": np.asarray(correct, dtype=np.int8),
            "group": np.asarray(groups, dtype=np.int32), "answerable": np.asarray(answerable, dtype=np.int8),
            "kinds": np.asarray(kinds), "questions": np.asarray([c.q for c in cases]),
            "V": np.asarray(stored, dtype=np.float16).reshape(len(rows), -1), **pack_texts(texts)}


def pack_texts(texts: list[str]) -> dict:
    """Unit texts as one UTF-8 byte array and the row offsets into it (no pickled objects in the files)."""
    encoded = [t.encode("utf-8") for t in texts]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    return {"text_bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8), "text_ends": ends}


def unpack_texts(data: dict) -> list[str]:
    """The unit texts of a feature file written with :func:`pack_texts`."""
    blob, ends = data["text_bytes"].tobytes(), data["text_ends"]
    starts = np.r_[0, ends[:-1]]
    return [blob[a:b].decode("utf-8") for a, b in zip(starts, ends)]


def build_set(name: str, squad: SquadSet, cases, work: Path, extra: list[Path], embedder) -> Path:
    """Index ``squad``'s paragraphs (and ``extra``) in ``work/name`` and write ``work/name.npz``."""
    from assistant.build import build
    from assistant.settings import Settings

    out = work / f"{name}.npz"
    if out.exists():
        log(f"{name}: {out} is there (delete it to rebuild)")
        return out
    home = work / squad.name
    assistant = build(Settings(home=home / "index"), embedder=embedder)
    try:
        corpus = [squad.write_corpus(home / "corpus" / f"{squad.name}.jsonl")] if squad.records else []
        assistant.indexer.refresh_tasks = lambda: 0  # the task table plays no part in reading: skip it
        report = assistant.indexer.run([*corpus, *extra])
        log(f"{name}: {report.summary()}; asking {len(cases)} questions")
        data = feature_rows(assistant, cases)
    finally:
        assistant.close()
    np.savez_compressed(out, **data)
    log(f"{name}: {len(data['y'])} units of {len(cases)} questions -> {out}")
    return out


def plan(paragraphs: int = 1200, sample: int | None = None) -> dict[str, tuple[SquadSet, list, list[Path]]]:
    """Every feature set: name -> (the SQuAD set whose paragraphs are indexed, the questions asked, documents
    indexed beside them). ``train-*`` sets train, ``select-*`` sets choose (tuning parts only)."""
    sample_corpus = ROOT / "data" / "sample"
    sets: dict[str, tuple[SquadSet, list, list[Path]]] = {}
    viquad = load_squad(QA / "viquad1-train.json.gz")
    kept = {r["id"] for r in random.Random(SPLIT_SEED).sample(viquad.records, min(paragraphs, len(viquad.records)))}
    viquad = _subset(viquad, kept, viquad.name)
    sets["train-viquad1"] = (viquad, viquad.cases, [])
    wiki = load_squad(QA / "uit-wiki-train.json")
    sets["train-uit-wiki"] = (wiki, wiki.cases, [])
    unanswerable = load_squad(UNANSWERABLE)
    tuning = [c for c in unanswerable.cases if unanswerable.part_of[c.sources[0]] == "tuning"]
    # the tuning part's paragraphs, halved again: one half trains, the other chooses the threshold
    half = {r["id"]: part_of(unanswerable.name, r["text"], SPLIT_SEED + 1) for r in unanswerable.records}
    sets["train-unanswerable"] = (unanswerable, [c for c in tuning if half[c.sources[0]] == "tuning"],
                                  [sample_corpus])
    sets["select-unanswerable"] = (unanswerable, [c for c in tuning if half[c.sources[0]] == "check"],
                                   [sample_corpus])
    for path in (CORPORA / "uit-regulation-qa.json", QA / "viquad1-dev.json.gz", QA / "mlqa-vi-dev.json"):
        squad = load_squad(path)
        sets[f"select-{squad.name}"] = (squad, squad.select("tuning", sample), [])
    if DIRECTIVES.exists():  # questions written here over the real directives, near misses among them
        from assistant.evaluate import in_part, load_testset

        cases = in_part(load_testset(DIRECTIVE_QUESTIONS), "tuning")
        sets["select-directives"] = (SquadSet("directives", [], cases, {}), cases, [DIRECTIVES])
    return sets


def build_all(work: Path, paragraphs: int, sample: int | None) -> dict[str, list[Path]]:
    """The training and selection feature files (built once, then reused)."""
    from assistant.build import apply_offline_environment, make_embedder
    from assistant.settings import Settings

    settings = Settings()
    apply_offline_environment(settings)
    embedder = make_embedder(settings)
    files: dict[str, list[Path]] = {"train": [], "select": []}
    for name, (squad, cases, extra) in plan(paragraphs, sample).items():
        files[name.split("-", 1)[0]].append(build_set(name, squad, cases, work, extra, embedder))
    return files


# ----------------------------------------------------------------------------------------- fitting

def load(paths: list[Path]) -> dict:
    """Feature files joined into one."""
    return join([dict(np.load(p)) for p in paths])


def spans(data: dict) -> list[tuple[int, int, int]]:
    """(question, first row, end row) of every question that has candidate units."""
    g = data["group"]
    bounds = np.flatnonzero(np.diff(g)) + 1
    return [(int(g[a]), int(a), int(b)) for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(g)])]


def join(parts: list[dict]) -> dict:
    """Feature sets joined into one (question numbers made unique)."""
    offset, groups = 0, []
    for part in parts:
        groups.append(part["group"] + offset)
        offset += len(part["answerable"])
    joined = {key: np.concatenate([p[key] for p in parts]) for key in ("X", "y", "correct", "answerable", "questions")}
    joined["group"] = np.concatenate(groups)
    return joined
