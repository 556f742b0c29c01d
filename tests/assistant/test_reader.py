"""The trained reader: the shipped model, its scoring, the hard guards and the decision."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.reader import (
    CONFIDENCE_FEATURES,
    Linear,
    Reader,
    allowed,
    confidence_features,
    decide,
    default_reader,
    trees_from_sklearn,
)
from assistant.units import FEATURES, INDEX


def test_the_shipped_model_loads_and_says_what_it_learned_from():
    reader = default_reader()
    assert set(reader.features) <= set(FEATURES)
    assert 0.0 <= reader.threshold < 1.0 and 0.0 < reader.second_ratio <= 1.01
    assert reader.calibrator is not None and set(reader.calibrator.features) <= set(CONFIDENCE_FEATURES)
    assert reader.meta["trained_on"] and reader.meta["selected_on"]
    assert not any("check" in name for name in reader.meta["trained_on"] + reader.meta["selected_on"])
    rows = np.random.default_rng(0).random((5, len(FEATURES))).astype(np.float32)
    first = reader.score(rows, FEATURES)
    assert np.array_equal(first, reader.score(rows, FEATURES)) and ((0 <= first) & (first <= 1)).all()


def test_exported_trees_score_as_the_library_does():
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(1)
    X = rng.random((400, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.8).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    reader = Reader(["a", "b", "c"], "trees", trees_from_sklearn(model), 0.5, {})
    assert np.allclose(reader.score(X, ("c", "a", "b"))[:0], [])  # no rows, no scores
    assert np.allclose(reader.score(X, ("a", "b", "c")), model.predict_proba(X)[:, 1], atol=1e-6)
    with pytest.raises(ValueError):
        reader.score(X, ("a", "b"))  # a feature the model needs is missing


def _rows(n: int) -> np.ndarray:
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    rows[:, INDEX["names_before"]] = 1
    rows[:, INDEX["agencies_in_unit"]] = 1
    return rows


def test_guards_rule_out_missing_names_agencies_and_times():
    rows = _rows(4)
    rows[1, INDEX["names_before"]] = 0  # a name of the question neither in the unit nor just before it
    rows[2, INDEX["agencies_in_unit"]] = 0
    rows[:, INDEX["asks_when"]] = 1
    rows[3, INDEX["times"]] = 1
    rows[0, INDEX["years"]] = 1
    assert allowed(rows, FEATURES).tolist() == [True, False, False, True]
    # "bao nhiêu" wants a new number; "bao lâu" (asks both) is also answered by a time
    rows = _rows(3)
    rows[:, INDEX["asks_quantity"]] = 1
    rows[0, INDEX["new_numbers"]] = 1
    rows[1, INDEX["times"]] = 1
    assert allowed(rows, FEATURES).tolist() == [True, False, False]
    rows[:, INDEX["asks_when"]] = 1  # and it must say when
    assert allowed(rows, FEATURES).tolist() == [False, True, False]


def test_decide_refuses_below_the_threshold_and_quotes_a_close_second_that_fits():
    rows = _rows(3)
    rows[:, INDEX["cov"]] = [0.9, 0.8, 0.1]
    reader = Reader(["cov"], "linear", {"mean": [0.0], "scale": [1.0], "coef": [10.0], "intercept": -5.0},
                    threshold=0.5, meta={}, second_ratio=0.8)
    decision = decide(reader, rows, FEATURES, [100, 100, 100])
    assert decision.chosen == [0, 1] and decision.confidence > 0.95
    assert decide(reader, rows, FEATURES, [300, 200, 100]).chosen == [0]  # two would not fit in 400
    strict = Reader(["cov"], "linear", reader.params, threshold=0.99, meta={})
    assert decide(strict, rows, FEATURES, [100, 100, 100]).refused


def test_the_calibrator_decides_refusal_from_the_best_units_row():
    rows = _rows(2)
    rows[:, INDEX["cov"]] = [0.9, 0.2]
    ranker = {"mean": [0.0], "scale": [1.0], "coef": [10.0], "intercept": -5.0}
    # confidence rises with the best unit's coverage and with its lead over the runner-up
    calibrator = Linear(["cov", "gap"], np.zeros(2), np.ones(2), np.asarray([4.0, 0.5]), -3.0)
    reader = Reader(["cov"], "linear", ranker, threshold=0.5, meta={}, calibrator=calibrator)
    decision = decide(reader, rows, FEATURES, [100, 100])
    logits = reader.logits(rows, FEATURES)
    x = confidence_features(rows[0], FEATURES, logits, np.array([True, True]), 0)
    assert x["gap"] == pytest.approx(float(logits[0] - logits[1])) and x["cov"] == pytest.approx(0.9)
    expected = 1 / (1 + np.exp(-(4 * 0.9 + 0.5 * x["gap"] - 3)))
    assert decision.chosen == [0] and decision.confidence == pytest.approx(expected)
    weak = rows.copy()
    weak[:, INDEX["cov"]] = [0.3, 0.29]
    assert decide(reader, weak, FEATURES, [100, 100]).refused
