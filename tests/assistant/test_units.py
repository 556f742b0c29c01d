"""Candidate units of retrieved passages and their features (real model, real index of the sample)."""

from __future__ import annotations

import numpy as np

from assistant.question import analyse
from assistant.units import FEATURES, INDEX, Featurizer, candidates

QUESTION = "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?"


def _read(indexed, question: str):
    q = analyse(question)
    hits = indexed.retriever.search(q.query, k=6)
    units = candidates(hits, indexed.docstore)
    lexical = indexed.retriever.lexical
    featurizer = Featurizer(lexical.df, lexical.size)
    view = featurizer.question(q.query, names=q.names, agencies=q.required_agencies)
    return units, featurizer.rows(view, units, indexed.retriever.query_vector(q.query))


def test_units_are_distinct_spans_inside_their_chunks_with_stored_vectors(indexed):
    units, _ = _read(indexed, QUESTION)
    assert units and len({u.key for u in units}) == len(units)
    for unit in units:
        assert unit.hit.chunk.start <= unit.start < unit.end <= unit.hit.chunk.end
        assert unit.vector is not None and abs(float(np.linalg.norm(unit.vector)) - 1.0) < 0.01


def test_the_answering_sentence_covers_the_question_best(indexed):
    units, rows = _read(indexed, QUESTION)
    assert rows.shape == (len(units), len(FEATURES))
    best = int(np.argmax(rows[:, INDEX["cov_pairs"]]))
    assert "Bộ Y tế chủ trì" in units[best].text
    assert rows[best, INDEX["cov"]] > np.median(rows[:, INDEX["cov"]])
    assert rows[best, INDEX["cov_rel"]] == 0.0 or rows[:, INDEX["cov_rel"]].max() == 0.0
    assert (rows[:, INDEX["asks_who"]] == 1).all() and (rows[:, INDEX["asks_when"]] == 0).all()
    assert rows[best, INDEX["new_agencies"]] >= 1 and rows[:, INDEX["dense"]].max() > 0.5


def test_a_when_question_sees_which_units_hold_a_time(indexed):
    units, rows = _read(indexed, "Cơ sở dữ liệu ngành Y tế hoàn thành khi nào?")
    dated = [u for u, r in zip(units, rows) if r[INDEX["dates"]] > 0]
    assert dated and any("quý 3/2026" in u.text for u in dated)
    assert (rows[:, INDEX["when_x_dates"]] == rows[:, INDEX["dates"]]).all()


def test_a_proper_name_is_found_under_its_other_spellings():
    from assistant.units import _named

    # one letter added, dropped or changed, or two swapped; a name's words written as one
    assert _named("richarson", "robert coleman richardson qua đời năm 2013", True)
    assert _named("geogre iii", "vua george iii trị vì", True)
    assert _named("sho toku", "thái tử shotoku qua đời", True)
    assert _named("coleman richarson", "robert coleman richardson", True)
    # but not a different name, nor a short word one letter off, nor a name out of order
    assert not _named("richarson", "robert coleman harrison", True)
    assert not _named("mat", "matt tìm thấy", True)
    assert not _named("george iii", "iii george", True)
    assert not _named("hà nội", "hà tĩnh", True)
    # Vietnamese syllables one letter or one tone mark apart are different words
    assert not _named("giáo", "giao nhiệm vụ", True) and not _named("trung", "trong quý 3", True)
