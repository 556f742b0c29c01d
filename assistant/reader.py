"""The trained reader: which unit answers the question, and how sure the answer is.

Two small models, both written by ``scripts/train_reader.py`` into one JSON file (default
``assistant/data/reader.json``), both plain NumPy at run time (deterministic, no training library):

* the **ranker** scores every candidate unit from its feature row (:data:`assistant.units.FEATURES`):
  a linear model (mean, scale, coefficients, intercept) or gradient-boosted trees (each tree's children,
  split features, thresholds and leaf values);
* the **calibrator** turns the best unit's row and the ranker's scores into the probability that the
  answer is right (:data:`CONFIDENCE_FEATURES`); below the ``threshold`` chosen on tuning data that holds
  unanswerable questions, the assistant refuses.

The hard guards (:func:`allowed`) apply whatever the models say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("data") / "reader.json"

#: What the calibrator sees of a question: the ranker's view of its best unit against the rest, and what
#: that unit holds (columns of the unit's feature row are named as in assistant.units.FEATURES).
CONFIDENCE_FEATURES = (
    "top_logit", "gap", "allowed_units",
    "cov", "cov_marked", "cov_pairs", "shared", "bm25", "dense", "longest_run", "novelty",
    "cov_context", "names_in_unit", "type_match", "answer_near", "capital_near", "number_near", "time_near",
    "dense_chunk", "cov_chunk", "cov_title", "miss_idf", "miss_idf_context", "miss_share", "measure",
    "asks_who", "asks_when", "asks_quantity", "asks_where", "asks_why", "asks_how", "asks_what", "asks_yesno",
)
#: What the cross reader adds for the calibrator (see :func:`cross_combined`).
CROSS_FEATURES = ("cross", "cross_gap")
_TYPE_MATCHES = ("who_x_capitals", "who_x_agencies", "when_x_dates", "when_x_years", "when_x_times",
                 "quantity_x_numbers", "where_x_capitals", "why_x_cue", "how_x_cue", "yesno_x_cue")


@dataclass
class Linear:
    """A logistic model over standardised features."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_dict(cls, data: dict) -> Linear:
        return cls(list(data["features"]), np.asarray(data["mean"]), np.asarray(data["scale"]),
                   np.asarray(data["coef"]), float(data["intercept"]))

    def logits(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept


@dataclass
class CrossStage:
    """How the cross reader's scores join the ranker's: ``weight`` times the cross score (relative to its
    "no answer" score) is added to the ranker's logit of each of the ``top`` units it reads; the answer's
    confidence then comes from this stage's own calibrator, threshold and second-unit ratio."""

    weight: float
    threshold: float
    second_ratio: float
    calibrator: Linear
    top: int = 8

    @classmethod
    def from_dict(cls, data: dict) -> CrossStage:
        return cls(float(data["weight"]), float(data["threshold"]), float(data["second_ratio"]),
                   Linear.from_dict(data["calibrator"]), int(data.get("top", 8)))


@dataclass
class Reader:
    """A loaded reader: ranker, calibrator, refusal threshold."""

    features: list[str]
    kind: str
    params: dict
    threshold: float  # below this confidence the assistant refuses
    meta: dict
    second_ratio: float = 1.0  # a second unit is quoted when its ranker score is at least this share of the best
    calibrator: Linear | None = None
    cross: CrossStage | None = None  # used when a cross reader is at hand (assistant.cross)
    _packed: tuple | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Reader:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibrator = Linear.from_dict(data["calibrator"]) if data.get("calibrator") else None
        cross = CrossStage.from_dict(data["cross"]) if data.get("cross") else None
        return cls(data["features"], data["kind"], data["params"], float(data["threshold"]), data.get("meta", {}),
                   float(data.get("second_ratio", 1.0)), calibrator, cross)

    def columns(self, names: tuple[str, ...]) -> np.ndarray:
        """Where this model's features are in rows built with ``names`` (a missing one is an error)."""
        missing = [f for f in self.features if f not in names]
        if missing:
            raise ValueError(f"the reader model needs features the code does not compute: {missing}; "
                             "retrain it (scripts/train_reader.py)")
        return np.asarray([names.index(f) for f in self.features])

    def logits(self, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """The ranker's raw score per row."""
        if len(rows) == 0:
            return np.zeros(0)
        X = rows[:, self.columns(names)].astype(np.float64)
        if self.kind == "linear":
            p = self.params
            return ((X - np.asarray(p["mean"])) / np.asarray(p["scale"])) @ np.asarray(p["coef"]) + p["intercept"]
        if self.kind == "trees":
            if self._packed is None:
                self._packed = _pack(self.params)
            return _forest(self._packed, X)
        raise ValueError(f"unknown reader model kind {self.kind!r}")

    def score(self, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Probability per row that the unit answers the question (the ranker's)."""
        return 1.0 / (1.0 + np.exp(-self.logits(rows, names)))

    def confidence(self, row: np.ndarray, names: tuple[str, ...], logits: np.ndarray, ok: np.ndarray,
                   best: int, calibrator: Linear | None = None, extra: dict | None = None) -> float:
        """How likely the answer from unit ``best`` is right (``calibrator``'s, by default the reader's;
        without one, the ranker's probability of that unit). ``extra``: the cross reader's features."""
        calibrator = calibrator or self.calibrator
        if calibrator is None:
            return float(1.0 / (1.0 + np.exp(-logits[best])))
        x = confidence_features(row, names, logits, ok, best) | (extra or {})
        z = calibrator.logits(np.asarray([x[f] for f in calibrator.features])[None, :])[0]
        return float(1.0 / (1.0 + np.exp(-z)))


def confidence_features(row: np.ndarray, names: tuple[str, ...], logits: np.ndarray, ok: np.ndarray,
                        best: int) -> dict[str, float]:
    """The calibrator's inputs for a question whose best allowed unit is ``best``."""
    f = {name: i for i, name in enumerate(names)}
    others = np.delete(logits[ok], np.flatnonzero(np.flatnonzero(ok) == best)) if ok.any() else np.zeros(0)
    out = {"top_logit": float(logits[best]), "allowed_units": float(np.log1p(ok.sum())),
           "gap": float(logits[best] - others.max()) if len(others) else 5.0,
           "type_match": float(sum(row[f[m]] for m in _TYPE_MATCHES if m in f))}
    for name in CONFIDENCE_FEATURES:
        if name not in out:
            out[name] = float(row[f[name]])
    return out


def read_order(logits: np.ndarray, ok: np.ndarray, top: int) -> list[int]:
    """The ``top`` allowed units by the ranker's logits, best first: the units the cross reader reads."""
    return [int(i) for i in np.argsort(-np.where(ok, logits, -np.inf), kind="stable") if ok[int(i)]][:top]


def cross_combined(logits: np.ndarray, ok: np.ndarray, cross, weight: float, top: int = 8
                   ) -> tuple[np.ndarray, dict[str, float]]:
    """The ranker's logits with the cross reader's judgement added.

    ``cross(indices)`` gives the cross reader's scores (relative to its "no answer" score) of the units at
    ``indices``: the ``top`` allowed units by the ranker, best first. Each of them gets ``weight`` times its
    score; every other unit gets ``weight`` times the lowest of those scores when that is negative (so the
    units read stay ahead of those not read, and no unread unit is raised by what was said of others).
    Returns the combined logits and the calibrator's cross features of the new best
    unit (its score, and its lead over the next best read unit)."""
    order = read_order(logits, ok, top)
    if not order:
        return logits, {"cross": 0.0, "cross_gap": 0.0}
    c = np.asarray(cross(order), dtype=np.float64)
    combined = logits.astype(np.float64) + weight * min(0.0, float(c.min()))
    combined[order] = logits[order] + weight * c
    best = order.index(int(np.argsort(-np.where(ok, combined, -np.inf), kind="stable")[0]))  # as decide() picks
    others = np.delete(c, best)
    return combined, {"cross": float(c[best]), "cross_gap": float(c[best] - others.max()) if len(others) else 5.0}


def trees_from_sklearn(model) -> dict:
    """The parameters of a fitted scikit-learn ``GradientBoostingClassifier`` (binary) as plain lists:
    each tree's children, split features and thresholds (left when ``x <= threshold``) and leaf values,
    the prior's log-odds and the learning rate. Read through the library's public tree attributes."""
    prior = float(model.init_.class_prior_[1])
    trees = []
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        trees.append({"left": tree.children_left.tolist(), "right": tree.children_right.tolist(),
                      "feature": [max(0, int(f)) for f in tree.feature],
                      "threshold": [float(t) for t in tree.threshold],
                      "value": [float(v) for v in tree.value[:, 0, 0]]})
    return {"trees": trees, "depth": int(model.max_depth), "init": float(np.log(prior / (1 - prior))),
            "rate": float(model.learning_rate)}


def linear_from_sklearn(model, scaler, features: list[str] | None = None) -> dict:
    """The parameters of a fitted ``LogisticRegression`` over ``StandardScaler``-ed features."""
    data = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "coef": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0])}
    if features is not None:
        data["features"] = list(features)
    return data


def _pack(params: dict) -> tuple:
    """The trees as padded arrays (tree x node), so that all of them are walked at once."""
    trees = params["trees"]
    size = max(len(t["left"]) for t in trees)

    def pad(key: str, fill):
        return np.asarray([t[key] + [fill] * (size - len(t[key])) for t in trees])

    return (pad("left", -1), pad("right", -1), pad("feature", 0), pad("threshold", 0.0), pad("value", 0.0),
            int(params["depth"]), float(params["init"]), float(params["rate"]))


def _forest(packed: tuple, X: np.ndarray) -> np.ndarray:
    """Raw score of every row: the prior plus the learning rate times the sum of its leaves' values."""
    left, right, feature, threshold, value, depth, init, rate = packed
    rows = np.arange(len(X))[:, None]
    trees = np.arange(left.shape[0])[None, :]
    node = np.zeros((len(X), left.shape[0]), dtype=np.int64)
    for _ in range(depth):
        go_left = X[rows, feature[trees, node]] <= threshold[trees, node]
        child = np.where(go_left, left[trees, node], right[trees, node])
        node = np.where(child >= 0, child, node)  # a leaf stays where it is
    return init + rate * value[trees, node].sum(axis=1)


def allowed(rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The hard guards, whatever the scorer says: a proper name the question names must be in the unit or
    before it in its passage (a later sentence may refer back to it: "Ông ...", "Bộ này ..."; a name said
    only after the unit is about something else), an agency it names must be named by the unit (or the
    sentence it belongs to), a "khi nào" question is answered only by a unit that says when, and a "bao
    nhiêu" question only by one with a number the question does not already hold (or, for one that
    also asks when, "bao lâu", "tháng mấy", one that says when)."""
    f = {name: i for i, name in enumerate(names)}
    ok = (rows[:, f["names_before"]] > 0) & (rows[:, f["agencies_in_unit"]] > 0)
    says_when = (rows[:, f["dates"]] + rows[:, f["years"]] + rows[:, f["times"]]) > 0
    says_how_many = (rows[:, f["new_numbers"]] > 0) | ((rows[:, f["asks_when"]] > 0) & says_when)
    return ok & ((rows[:, f["asks_when"]] == 0) | says_when) & ((rows[:, f["asks_quantity"]] == 0) | says_how_many)


@dataclass
class Decision:
    """What the reader decided for one question."""

    chosen: list[int]  # indices of the units to quote, best first (empty when refused)
    confidence: float  # how likely the answer from the best allowed unit is right
    scores: np.ndarray  # every unit's ranker probability (0 for those the guards rule out)

    @property
    def refused(self) -> bool:
        return not self.chosen


def decide(reader: Reader, rows: np.ndarray, names: tuple[str, ...], lengths: list[int],
           budget: int = 400, cross=None) -> Decision:
    """Score, guard, then answer with the best unit (and a close second that fits in ``budget``
    characters), or refuse when the answer's confidence is below the reader's threshold.

    ``cross``: the cross reader's scores of units by index (see :func:`cross_combined`); used when the
    reader has a cross stage, which then brings its own calibrator, threshold and second-unit ratio."""
    if not len(rows):
        return Decision([], 0.0, np.zeros(0))
    logits = reader.logits(rows, names)
    ok = allowed(rows, names)
    if not ok.any():
        return Decision([], 0.0, (1.0 / (1.0 + np.exp(-logits))) * ok)
    calibrator, threshold, ratio, extra = reader.calibrator, reader.threshold, reader.second_ratio, None
    if cross is not None and reader.cross is not None:
        stage = reader.cross
        logits, extra = cross_combined(logits, ok, cross, stage.weight, stage.top)
        calibrator, threshold, ratio = stage.calibrator, stage.threshold, stage.second_ratio
    scores = (1.0 / (1.0 + np.exp(-logits))) * ok
    order = [int(i) for i in np.argsort(-np.where(ok, logits, -np.inf), kind="stable")]
    best = order[0]
    confidence = reader.confidence(rows[best], names, logits, ok, best, calibrator, extra)
    if confidence < threshold:
        return Decision([], confidence, scores)
    chosen = [best]
    if len(order) > 1 and ok[order[1]]:
        second = order[1]
        if scores[second] >= ratio * scores[best] and lengths[best] + lengths[second] <= budget:
            chosen.append(second)
    return Decision(chosen, confidence, scores)


@lru_cache(maxsize=2)
def default_reader(path: Path = MODEL_FILE) -> Reader:
    """The shipped model, loaded once."""
    return Reader.load(path)
