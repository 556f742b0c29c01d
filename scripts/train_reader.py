"""Train chidao's reader: the scorer that picks the answering sentence, and the refusal threshold.

    python scripts/train_reader.py                 # everything, about 50 minutes on 2 cores
    python scripts/train_reader.py --fit-only      # refit from the feature files already built

What it does, reproducibly (fixed seeds, fixed split):

1. **Feature rows** (``scripts/reader_features.py``). Each set is indexed in a home of its own under
   ``--work`` (kept, so a second run only asks) and each question is asked through chidao's own retrieval;
   every candidate unit of the retrieved chunks becomes a row of :data:`assistant.units.FEATURES` with a
   label: 1 when it holds a gold answer in the gold paragraph, 0 when it holds none, left out when it holds
   the answer text in another paragraph.
2. **Training data** (``../shared/corpora/qa/``): a seeded sample of ViQuAD 1.0 train paragraphs, the UIT
   wiki set, and one half (by paragraph) of the tuning part of the unanswerable set (SQuAD 2.0 style).
3. **Selection data**: the tuning parts of the dev sets (UIT regulations, ViQuAD 1.0 dev, MLQA-vi dev) and
   the other half of the unanswerable set's tuning part. Check parts are never read here.
4. **Fit** three rankers on the training rows (gradient-boosted trees; a logistic regression per unit; a
   linear model trained listwise, a softmax over each question's units); keep the one with the
   best answer accuracy on the selection data; choose there the refusal threshold (the highest one at
   which at least 95% of refusals are of unanswerable questions; when none is that precise, the one with
   the best mean accuracy) and when a second unit is quoted.
5. **The cross reader** (``--cross train``, :mod:`scripts.train_cross`): a LoRA adapter and a pair head on
   the embedding model, trained on the training questions' units (the ranker's top 8: the answering one
   against the others, an unanswerable question against a learned "no answer" score), written to
   ``assistant/data/cross/``. The selection sets are read with it; the weight of its score is chosen there
   (top-1), and a calibrator with its features is fitted there, the threshold and second-unit ratio chosen
   on out-of-fold confidences. ``--cross reuse`` keeps the adapter in place, ``--cross none`` leaves it out.
6. **Write** ``assistant/data/reader.json``: features, model, threshold, the cross stage, and what it was
   trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from reader_features import build_all, join, log, spans, unpack_texts  # noqa: E402

from assistant.squad import SPLIT_SEED  # noqa: E402


def per_question(reader, data: dict, logits: np.ndarray | None = None, cross: np.ndarray | None = None,
                 weight: float = 0.0) -> list[dict]:
    """What the product does with each question: the best allowed unit (by the ranker, and with ``cross``,
    the cross reader's scores of each unit relative to its null, by the combination the product uses),
    its confidence features, whether it (or a second unit at each ratio) holds the answer."""
    from assistant.cross import TOP
    from assistant.reader import allowed, confidence_features, cross_combined
    from assistant.units import FEATURES

    X = data["X"]
    logits = reader.logits(X, FEATURES) if logits is None else logits
    ok = allowed(X, FEATURES)
    out, seen = [], set()
    for qi, a, b in spans(data):
        seen.add(qi)
        item = {"answerable": bool(data["answerable"][qi]), "correct": False, "features": None, "second": []}
        if ok[a:b].any():
            local, extra = logits[a:b], {}
            if cross is not None:
                local, extra = cross_combined(local, ok[a:b], lambda idx, a=a: cross[a + np.asarray(idx)], weight, TOP)
            masked = np.where(ok[a:b], local, -np.inf)
            order = np.argsort(-masked, kind="stable")
            best = int(order[0])
            item["correct"] = bool(data["correct"][a + best])
            item["features"] = confidence_features(X[a + best], FEATURES, local, ok[a:b], best) | extra
            probability = 1.0 / (1.0 + np.exp(-local))
            if len(order) > 1 and np.isfinite(masked[order[1]]):
                item["second"] = [float(probability[order[1]] / probability[best]),
                                  bool(data["correct"][a + int(order[1])])]
        out.append(item)
    for qi in range(len(data["answerable"])):  # no candidate at all: refused
        if qi not in seen:
            out.append({"answerable": bool(data["answerable"][qi]), "correct": False, "features": None,
                        "second": []})
    return out


def accuracy(items: list[dict], confidences: list[float], threshold: float, ratio: float = 2.0) -> float:
    """The evaluation's accuracy: an answerable question must be answered and hold the answer (in the best
    unit, or in the second when it is quoted); an unanswerable one must be refused."""
    ok = 0
    for item, confidence in zip(items, confidences):
        answered = item["features"] is not None and confidence >= threshold
        if not item["answerable"]:
            ok += not answered
        elif answered:
            second = item["second"] and item["second"][0] >= ratio and item["second"][1]
            ok += item["correct"] or bool(second)
    return ok / max(len(items), 1)


def fit_ranker(data: dict, kind: str):
    """A ranker fitted on the answerable questions' units (label: holds the answer in the gold paragraph)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from assistant.reader import Reader, linear_from_sklearn, trees_from_sklearn
    from assistant.units import FEATURES

    keep = data["y"] >= 0
    X, y = data["X"][keep], data["y"][keep]
    if kind == "listwise":
        return fit_listwise(X, y, data["group"][keep])
    if kind == "linear":
        scaler = StandardScaler().fit(X)
        scaler.scale_[scaler.scale_ == 0] = 1.0
        model = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(X), y)
        return Reader(list(FEATURES), "linear", linear_from_sklearn(model, scaler), 0.0, {})
    model = GradientBoostingClassifier(n_estimators=120, max_depth=3, learning_rate=0.15, subsample=0.5,
                                       random_state=0).fit(X, y)
    reader = Reader(list(FEATURES), "trees", trees_from_sklearn(model), 0.0, {})
    probe = X[:300]
    assert np.allclose(reader.score(probe, FEATURES), model.predict_proba(probe)[:, 1], atol=1e-6)
    return reader


def fit_listwise(X: np.ndarray, y: np.ndarray, group: np.ndarray, l2: float = 1e-3):
    """A linear ranker fitted for what the product does with it, pick one unit per question: a softmax over
    each question's units, maximising the probability given to its answering units (questions with none
    left out), L2-regularised, by L-BFGS. Its scores are then scaled to probabilities by a one-feature
    logistic regression (Platt), so the model is a plain linear one like ``linear``."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from assistant.reader import Reader
    from assistant.units import FEATURES

    X = X.astype(np.float64)
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    Xs = (X - mean) / scale
    _, question = np.unique(group, return_inverse=True)
    positives = np.bincount(question, weights=y)
    use = positives[question] > 0
    _, index = np.unique(question[use], return_inverse=True)
    rows = torch.tensor(Xs[use], dtype=torch.float64)
    labels = torch.tensor(y[use], dtype=torch.float64)
    index = torch.tensor(index)
    n = int(index.max()) + 1
    torch.manual_seed(0)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        s = rows @ w
        top = torch.zeros(n, dtype=torch.float64).scatter_reduce(0, index, s, reduce="amax", include_self=False)
        e = torch.exp(s - top[index])
        total = torch.zeros(n, dtype=torch.float64).index_add(0, index, e)
        answering = torch.zeros(n, dtype=torch.float64).index_add(0, index, e * labels)
        value = -(torch.log(answering + 1e-12) - torch.log(total)).mean() + l2 * (w * w).sum()
        value.backward()
        return value

    optimiser.step(loss)
    coef = w.detach().numpy()
    platt = LogisticRegression().fit((Xs @ coef)[:, None], y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    params = {"mean": mean.tolist(), "scale": scale.tolist(), "coef": (coef * a).tolist(), "intercept": b}
    return Reader(list(FEATURES), "linear", params, 0.0, {"objective": "listwise"})


def fold_of(data: dict, folds: int = 2) -> np.ndarray:
    """A fixed fold per question (by its text), for out-of-fold ranker scores."""
    import hashlib

    return np.asarray([hashlib.sha256(str(q).encode()).digest()[0] % folds for q in data["questions"]])


def out_of_fold(data: dict, kind: str) -> np.ndarray:
    """Ranker logits for every unit from a ranker that did not see its question (2 folds)."""
    from assistant.units import FEATURES

    fold = fold_of(data)[data["group"]]
    logits = np.zeros(len(data["y"]))
    for k in (0, 1):
        train = {key: (value[fold != k] if key in ("X", "y", "correct", "group") else value)
                 for key, value in data.items()}
        logits[fold == k] = fit_ranker(train, kind).logits(data["X"][fold == k], FEATURES)
    return logits


def fit_calibrator(items: list[dict], features: tuple[str, ...] | None = None):
    """P(the answer is right) from the confidence features: a logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from assistant.reader import CONFIDENCE_FEATURES, Linear, linear_from_sklearn

    features = features or CONFIDENCE_FEATURES
    usable = [i for i in items if i["features"] is not None]
    X = np.asarray([[i["features"][f] for f in features] for i in usable])
    y = np.asarray([int(i["answerable"] and i["correct"]) for i in usable])
    scaler = StandardScaler().fit(X)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(X), y)
    return Linear.from_dict(linear_from_sklearn(model, scaler, list(features)))


def confidences(calibrator, items: list[dict]) -> list[float]:
    out = []
    for item in items:
        if item["features"] is None:
            out.append(0.0)
            continue
        x = np.asarray([[item["features"][f] for f in calibrator.features]])
        out.append(float(1.0 / (1.0 + np.exp(-calibrator.logits(x)[0]))))
    return out


def choose_threshold(pairs: list[tuple[float, bool]], precision: float = 0.95, least: int = 10) -> float:
    """The highest confidence threshold at which at least ``precision`` of the refused questions are
    unanswerable (and at least ``least`` are refused): refuse as much of the unanswerable as can be done
    while refusals stay that precise. 0.0 when no threshold is that precise."""
    best = 0.0
    for threshold in np.round(np.arange(0.0, 0.81, 0.01), 3):
        refused = [answerable for confidence, answerable in pairs if confidence < threshold]
        if len(refused) >= least and sum(not a for a in refused) / len(refused) >= precision:
            best = float(threshold)
    return best


def choose_refusal(scored: dict[str, tuple[list[dict], list[float]]], answerable_sets: list[str]
                   ) -> tuple[float, float, dict]:
    """The refusal threshold and the second-unit ratio from the selection questions' confidences:
    the highest threshold at which 95% of refusals are of unanswerable questions, or, when none is that
    precise, the one with the best mean accuracy over the sets (each weighing the same); then the highest
    second-unit ratio within a point of the best. Returns (threshold, ratio, what to note)."""
    pooled = [(c, i["answerable"]) for its, cs in scored.values() for i, c in zip(its, cs)]
    threshold, precise = choose_threshold(pooled), True
    if threshold <= 0.0:
        # No threshold refuses unanswerable questions at that precision (the confidence hardly tells them
        # apart): take the one that does best on the selection sets, each set weighing the same.
        precise = False
        grid = np.round(np.arange(0.0, 0.61, 0.025), 3)
        means = [float(np.mean([accuracy(its, cs, t) for its, cs in scored.values()])) for t in grid]
        threshold = float(grid[int(np.argmax(means))])
    refused = [a for c, a in pooled if c < threshold]
    precision = (sum(not a for a in refused) / len(refused)) if refused else 1.0
    unanswerable = [c for c, a in pooled if not a]
    log(f"threshold {threshold:.3f} ({'95% refusal precision' if precise else 'best mean selection accuracy'}): "
        f"refuses {np.mean([c < threshold for c in unanswerable]):.0%} of the {len(unanswerable)} unanswerable "
        f"selection questions, refusal precision {precision:.0%}; "
        + ", ".join(f"{n} {accuracy(its, cs, threshold):.3f}" for n, (its, cs) in scored.items()))
    ratios = {}
    for ratio in (0.2, 0.35, 0.5, 0.65, 0.8, 1.01):
        ratios[ratio] = {n: round(accuracy(its, cs, threshold, ratio), 4) for n, (its, cs) in scored.items()}
        log(f"second unit at {ratio:.2f} of the best: {ratios[ratio]}")
    means = {r: float(np.mean([v[n] for n in answerable_sets])) for r, v in ratios.items()}
    # a second quote only where it pays: the highest ratio within a point of the best accuracy
    second_ratio = max(r for r, m in means.items() if m >= max(means.values()) - 0.01)
    return threshold, second_ratio, {
        "second_unit": {str(k): v for k, v in ratios.items()},
        "threshold_rule": "95% refusal precision" if precise else "best mean selection accuracy",
        "refusal_precision": round(precision, 4)}


def _calibrator_dict(calibrator) -> dict:
    return {"features": calibrator.features, "mean": calibrator.mean.tolist(), "scale": calibrator.scale.tolist(),
            "coef": calibrator.coef.tolist(), "intercept": calibrator.intercept}


def fit_cross_stage(reader, select: dict[str, dict], cross: dict[str, np.ndarray],
                    weights=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)) -> dict:
    """How the cross reader joins ``reader``: the weight of its score (best mean top-1 over the answerable
    selection sets, no refusal), then a calibrator with its features, fitted on the selection questions
    (the cross reader has seen the training questions, so their scores would flatter it). The threshold
    and second-unit ratio are chosen on out-of-fold confidences (2 folds by question), the calibrator
    kept is fitted on all of them. ``cross``: per set, every unit's cross score relative to the null
    (NaN where not read)."""
    from assistant.cross import TOP
    from assistant.reader import CONFIDENCE_FEATURES, CROSS_FEATURES

    answerable_sets = [n for n in select if "unanswerable" not in n]
    top1 = {}
    for w in weights:
        top1[w] = {n: round(accuracy(per_question(reader, select[n], cross=cross[n], weight=w),
                                     [1.0] * len(select[n]["answerable"]), 0.0), 4) for n in answerable_sets}
        log(f"cross weight {w}: top-1 with guards {top1[w]}, mean {np.mean(list(top1[w].values())):.3f}")
    weight = max(weights, key=lambda w: (np.mean(list(top1[w].values())), -w))
    items = {n: per_question(reader, d, cross=cross[n], weight=weight) for n, d in select.items()}
    folds = {n: fold_of(d) for n, d in select.items()}
    features = CONFIDENCE_FEATURES + CROSS_FEATURES
    oof = {n: [0.0] * len(its) for n, its in items.items()}
    for k in (0, 1):
        fitted = fit_calibrator([i for n, its in items.items() for i, f in zip(its, _item_folds(select[n], folds[n]))
                                 if f != k], features)
        for n, its in items.items():
            for j, (item, f) in enumerate(zip(its, _item_folds(select[n], folds[n]))):
                if f == k:
                    oof[n][j] = confidences(fitted, [item])[0]
    threshold, second_ratio, refusal = choose_refusal({n: (items[n], oof[n]) for n in items}, answerable_sets)
    calibrator = fit_calibrator([i for its in items.values() for i in its], features)
    log(f"cross stage: weight {weight}, threshold {threshold:.3f}, second unit at {second_ratio:.2f} of the best")
    return {"weight": weight, "top": TOP, "threshold": round(threshold, 6), "second_ratio": second_ratio,
            "calibrator": _calibrator_dict(calibrator),
            "meta": {"selection_top1": {str(w): v for w, v in top1.items()}, **refusal,
                     "calibrated_on": "selection questions, out-of-fold for the threshold"}}


def _item_folds(data: dict, fold: np.ndarray) -> list[int]:
    """The fold of each item :func:`per_question` returns (questions with candidates first, then the rest)."""
    with_units = [qi for qi, _, _ in spans(data)]
    rest = sorted(set(range(len(data["answerable"]))) - set(with_units))
    return [int(fold[qi]) for qi in with_units + rest]


def fit_and_select(train: dict[str, dict], select: dict[str, dict], kinds=("linear", "trees")) -> dict:
    from assistant.units import FEATURES

    answerable = [name for name in train if "unanswerable" not in name]
    ranker_data = join([train[n] for n in answerable])
    log(f"ranker data: {int((ranker_data['y'] > 0).sum())} answering units of {len(ranker_data['answerable'])} "
        f"questions, {len(ranker_data['y'])} units")
    select_answerable = [n for n in select if "unanswerable" not in n]
    report: dict = {}
    best_kind, best_mean, rankers = None, -1.0, {}
    for kind in kinds:
        started = time.perf_counter()
        rankers[kind] = fit_ranker(ranker_data, kind)
        top1 = {n: accuracy(per_question(rankers[kind], select[n]), [1.0] * len(select[n]["answerable"]), 0.0)
                for n in select_answerable}
        report[kind] = {n: round(v, 4) for n, v in top1.items()}
        mean = float(np.mean(list(top1.values())))
        log(f"{kind} ranker ({time.perf_counter() - started:.0f} s): top-1 with guards {report[kind]}, mean {mean:.3f}")
        if mean > best_mean:
            best_kind, best_mean = kind, mean
    reader = rankers[best_kind]
    # The calibrator learns from scores the ranker gives questions it did not train on.
    oof = out_of_fold(ranker_data, best_kind)
    items = per_question(reader, ranker_data, oof)
    for name in train:
        if name not in answerable:
            items += per_question(reader, train[name])
    calibrator = fit_calibrator(items)
    reader.calibrator = calibrator
    scored = {}
    for name, data in select.items():
        its = per_question(reader, data)
        scored[name] = (its, confidences(calibrator, its))
    threshold, second_ratio, refusal = choose_refusal(scored, select_answerable)
    log(f"chose the {best_kind} ranker, threshold {threshold:.3f}, second unit at {second_ratio:.2f} of the best")
    return {"features": list(FEATURES), "kind": reader.kind, "objective": best_kind, "params": reader.params,
            "threshold": round(threshold, 6),
            "second_ratio": second_ratio,
            "calibrator": _calibrator_dict(calibrator),
            "meta": {"selection_top1": report, **refusal,
                     "ranker_units": int(len(ranker_data["y"])), "note": "written by scripts/train_reader.py"}}


def cross_stage(model: dict, sets: dict[str, dict[str, dict]], args: argparse.Namespace) -> dict:
    """Train (or reuse) the cross reader on the training sets' questions, read the selection sets with it,
    and fit how it joins the ranker (see :func:`fit_cross_stage`)."""
    import train_cross

    from assistant.build import apply_offline_environment
    from assistant.cross import CrossReader
    from assistant.reader import Reader, allowed
    from assistant.settings import Settings
    from assistant.units import FEATURES
    from index.embed import resolve_model_path

    settings = Settings()
    apply_offline_environment(settings)
    base = Path(resolve_model_path(settings.embedding_model, settings.models_dir))
    reader = Reader(model["features"], model["kind"], model["params"], 0.0, {})

    def view(data: dict) -> tuple[dict, list[str], np.ndarray, np.ndarray]:
        return data, unpack_texts(data), reader.logits(data["X"], FEATURES), allowed(data["X"], FEATURES)

    if args.cross == "train":
        groups = []
        for name, data in sets["train"].items():
            made = train_cross.groups_from(*view(data))
            log(f"cross reader: {len(made)} training questions from {name}")
            groups += made
        random.Random(SPLIT_SEED).shuffle(groups)
        groups = groups[: args.cross_groups] if args.cross_groups else groups
        meta = train_cross.train(groups, base, args.cross_out, log=log)
        log(f"cross reader trained: {meta}")
    cross = CrossReader(base, settings.models_dir, adapter=args.cross_out,
                        backend="torch" if settings.embedding_backend == "torch" else "onnx")
    scores = {}
    for name, data in sets["select"].items():
        _, texts, logits, ok = view(data)
        # kept beside the feature file, named by the adapter and the ranker, so a refit reads them again
        key = hashlib.sha256(cross.key.encode() + logits.tobytes()).hexdigest()[:12]
        cached = args.work / f"{name}.cross-{key}.npy"
        if cached.exists():
            scores[name] = np.load(cached)
        else:
            scores[name] = train_cross.score_set(cross, data, texts, logits, ok, log=log) - cross.null
            np.save(cached, scores[name])
        log(f"cross reader: read {name}")
    return fit_cross_stage(reader, sets["select"], scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".chidao" / "reader")
    parser.add_argument("--out", type=Path, default=ROOT / "assistant" / "data" / "reader.json")
    parser.add_argument("--paragraphs", type=int, default=1200, help="ViQuAD train paragraphs to train on")
    parser.add_argument("--sample", type=int, help="questions per selection set (default: the whole tuning part)")
    parser.add_argument("--fit-only", action="store_true", help="use the feature files already in --work")
    parser.add_argument("--cross", choices=["train", "reuse", "none"],
                        help="the cross reader: train its adapter (about 22 minutes), reuse the one in --cross-out, "
                        "or leave it out (default: train; with --fit-only, reuse when an adapter is there)")
    parser.add_argument("--cross-out", type=Path, default=ROOT / "assistant" / "data" / "cross")
    parser.add_argument("--cross-groups", type=int, default=4000,
                        help="training questions for the cross reader, a seeded sample (0: all of them, about "
                        "5,500, 9 minutes more)")
    parser.add_argument("--rankers", nargs="+", default=["linear", "listwise", "trees"],
                        choices=["linear", "listwise", "trees"],
                        help="ranker kinds to fit and compare")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.fit_only:
        files = {"train": sorted(args.work.glob("train-*.npz")), "select": sorted(args.work.glob("select-*.npz"))}
    else:
        files = build_all(args.work, args.paragraphs, args.sample)
    sets = {part: {p.stem: dict(np.load(p)) for p in paths} for part, paths in files.items()}  # read once
    if args.cross is None:
        args.cross = "reuse" if args.fit_only and (args.cross_out / "head.json").exists() else "train"
    old = [f"{name}.npz" for part in sets.values() for name, data in part.items() if "text_bytes" not in data]
    if args.cross != "none" and old:
        parser.error(f"{', '.join(old)} in {args.work} hold no unit texts (written before the cross reader): "
                     "delete them to rebuild, or pass --cross none")
    model = fit_and_select(sets["train"], sets["select"], tuple(args.rankers))
    if args.cross != "none":
        model["cross"] = cross_stage(model, sets, args)
    model["meta"]["trained_on"] = [p.stem for p in files["train"]]
    model["meta"]["selected_on"] = [p.stem for p in files["select"]]
    model["meta"]["seconds"] = round(time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n")
    log(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
