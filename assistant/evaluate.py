"""``chidao eval``: run a test set through the assistant and measure it.

Test-set lines: ``{"id", "kind", "q", "must": [[alt, ...], ...], "sources": [...], "refuse": bool,
"history": [...]}``. An answer is correct when each ``must`` group has an alternative in it
(case-insensitive, NFC); a ``refuse`` question is correct when the assistant refuses.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.lang.normalize import nfc


@dataclass
class Case:
    """One test-set line."""

    id: str
    kind: str
    q: str
    must: list[list[str]]
    sources: list[str]
    refuse: bool = False
    history: list[dict] = field(default_factory=list)
    part: str | None = None  # "tuning" or "check" for a set that is tuned on; None: a regression case


@dataclass
class Outcome:
    """What happened to one case."""

    case: Case
    answer: str
    refused: bool
    correct: bool
    refusal_ok: bool
    citations_valid: int
    citations_total: int
    citations_in_sources: int
    rank: int | None  # 1-based rank of the first retrieved document among ``sources``
    elapsed_ms: float
    answer_chars: int = 0  # length of the answer text (the reference list is not part of it)


def load_testset(path: Path) -> list[Case]:
    """Read and validate a test set (a bad line is an error naming the line)."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(Case(
                id=str(raw["id"]), kind=str(raw.get("kind", "other")), q=str(raw["q"]),
                must=[list(map(str, group)) for group in raw.get("must", [])],
                sources=list(map(str, raw.get("sources", []))), refuse=bool(raw.get("refuse", False)),
                history=list(raw.get("history", [])), part=_part(raw.get("part")),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a test-set line ({exc})") from None
    return cases


def _part(value) -> str | None:
    if value not in (None, "tuning", "check"):
        raise ValueError(f"part must be 'tuning' or 'check', not {value!r}")
    return value


def in_part(cases: list[Case], part: str) -> list[Case]:
    """The cases of one part of a set that is split (``all``: every case); a case without a part (a
    regression set's) is always in."""
    return [c for c in cases if part == "all" or c.part is None or c.part == part]


def matches(answer: str, must: list[list[str]]) -> bool:
    """Every group has at least one alternative in the answer."""
    text = nfc(answer).lower()
    return all(any(nfc(alt).lower() in text for alt in group) for group in must)


def names_of(sources: Iterable[str]) -> set[str]:
    """The names a test set may use for a document with these sources: file names, bulk-record ids."""
    return {Path(s.split("#", 1)[0]).name for s in sources} | {s.split("#", 1)[-1] for s in sources}


def source_names(docstore) -> Callable[[str], set[str]]:
    """doc_id -> the names a test set may use for it (file names, bulk-record ids), cached."""
    cache: dict[str, set[str]] = {}

    def names(doc_id: str) -> set[str]:
        if doc_id not in cache:
            doc = docstore.document(doc_id)
            cache[doc_id] = names_of(doc.sources) if doc else set()
        return cache[doc_id]

    return names


def run_case(case: Case, ask: Callable, docstore, source_names: Callable[[str], set[str]]) -> Outcome:
    """Ask one question and score the answer."""
    answer = ask(case.q, case.history)
    wanted = set(case.sources)
    valid = sum(1 for c in answer.citations if _quote_ok(c, docstore))
    in_sources = sum(1 for c in answer.citations if source_names(c.doc_id) & wanted)
    rank = None
    for i, doc_id in enumerate(dict.fromkeys(answer.retrieved), start=1):
        if source_names(doc_id) & wanted:
            rank = i
            break
    correct = answer.refused if case.refuse else (not answer.refused and matches(answer.text, case.must))
    return Outcome(case, answer.text, answer.refused, correct, answer.refused == case.refuse, valid,
                   len(answer.citations), in_sources, rank, answer.elapsed_ms,
                   0 if answer.refused else len(answer.text))


def _quote_ok(citation, docstore) -> bool:
    doc = docstore.document(citation.doc_id)
    return doc is not None and doc.text[citation.start : citation.end] == citation.quote


def metrics(outcomes: list[Outcome]) -> dict:
    """Accuracy, refusals, citations, retrieval and latency for a group of outcomes."""
    n = len(outcomes)
    if not n:
        return {"n": 0}
    answerable = [o for o in outcomes if not o.case.refuse and o.case.sources]
    refusable = [o for o in outcomes if o.case.refuse]
    cited = sum(o.citations_total for o in outcomes)
    cited_answerable = sum(o.citations_total for o in answerable)
    latencies = sorted(o.elapsed_ms for o in outcomes)
    ranks = [o.rank for o in answerable]
    answered = [o for o in outcomes if not o.refused]
    return {
        "n": n,
        "accuracy": sum(o.correct for o in outcomes) / n,
        "refusal_accuracy": sum(o.refusal_ok for o in outcomes) / n,
        "refused_when_should": (sum(o.refused for o in refusable) / len(refusable)) if refusable else None,
        "answered_when_should": (sum(not o.refused for o in answerable) / len(answerable)) if answerable else None,
        "refused_answerable": (sum(o.refused for o in answerable) / len(answerable)) if answerable else None,
        "answer_chars": (sum(o.answer_chars for o in answered) / len(answered)) if answered else None,
        "over_400": (sum(1 for o in answered if o.answer_chars > 400) / len(answered)) if answered else None,
        "cited_hit": (sum(1 for o in answerable if o.citations_in_sources) / len(answerable)) if answerable else None,
        "citation_validity": (sum(o.citations_valid for o in outcomes) / cited) if cited else None,
        "citation_precision": (sum(o.citations_in_sources for o in answerable) / cited_answerable)
        if cited_answerable else None,
        "hit@1": (sum(1 for r in ranks if r == 1) / len(ranks)) if ranks else None,
        "hit@5": (sum(1 for r in ranks if r is not None and r <= 5) / len(ranks)) if ranks else None,
        "mrr": (sum(1 / r for r in ranks if r) / len(ranks)) if ranks else None,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[max(0, int(round(0.95 * n)) - 1)],
    }


def by_kind(outcomes: list[Outcome]) -> dict[str, dict]:
    """Metrics overall and for each kind."""
    kinds = sorted({o.case.kind for o in outcomes})
    table = {"overall": metrics(outcomes)}
    for kind in kinds:
        table[kind] = metrics([o for o in outcomes if o.case.kind == kind])
    return table


COLUMNS = ["n", "accuracy", "refused_answerable", "refused_when_should", "refusal_accuracy", "answer_chars",
           "over_400", "citation_validity", "cited_hit", "hit@1", "hit@5", "mrr", "p50_ms", "p95_ms"]
#: Columns that are counts or sizes, never shown as percentages.
_PLAIN = {"n", "answer_chars", "p50_ms", "p95_ms"}


def _cell(value, column: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and column not in _PLAIN:
        return f"{value:.0%}"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def table_text(table: dict[str, dict], title: str) -> str:
    """A plain-text table for the terminal."""
    rows = [[title] + COLUMNS] + [[k] + [_cell(m.get(c), c) for c in COLUMNS] for k, m in table.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)


def table_markdown(table: dict[str, dict], title: str) -> str:
    """The same table in Markdown."""
    lines = [f"| {title} | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(_cell(m.get(c), c) for c in COLUMNS) + " |" for k, m in table.items()]
    return "\n".join(lines)


def charts(tables: dict[str, dict[str, dict]], folder: Path) -> list[Path]:
    """One PNG per kind: accuracy, refusal accuracy and retrieval for each system evaluated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ["accuracy", "refusal_accuracy", "citation_validity", "hit@1", "hit@5", "mrr"]
    kinds = list(next(iter(tables.values())).keys())
    paths = []
    for kind in kinds:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        width = 0.8 / len(tables)
        for j, (system, table) in enumerate(tables.items()):
            values = [(table.get(kind, {}).get(m) or 0.0) for m in shown]
            ax.bar([i + j * width for i in range(len(shown))], values, width, label=system)
        ax.set_xticks([i + width * (len(tables) - 1) / 2 for i in range(len(shown))], shown, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{kind} (n={next(iter(tables.values()))[kind]['n']})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"chart-{kind.replace('/', '-')}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def side_by_side(tables: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """The overall row of every system of every run, keyed ``system (set)``, for one comparison table."""
    return {name: table["overall"] for name, table in tables.items()}


def write_reports(tables: dict[str, dict[str, dict]], outcomes: dict[str, list[Outcome]], folder: Path,
                  testset: Path) -> tuple[Path, Path]:
    """JSON (metrics and every answer) and a Markdown report with charts."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "testset": str(testset),
        "metrics": tables,
        "cases": {system: [{"id": o.case.id, "kind": o.case.kind, "q": o.case.q, "correct": o.correct,
                            "refused": o.refused, "rank": o.rank, "answer": o.answer,
                            "elapsed_ms": round(o.elapsed_ms, 1)} for o in items]
                  for system, items in outcomes.items()},
    }
    json_path = folder / "eval.json"
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    pngs = charts(tables, folder)
    md = [f"# Evaluation: {testset.name}", "", "## Side by side (overall)", "",
          table_markdown(side_by_side(tables), "system (set)"), ""]
    for system, table in tables.items():
        md += [f"## {system}", "", table_markdown(table, "kind"), ""]
    wrong = [o for o in outcomes.get("chidao", []) if not o.correct]
    if wrong:
        md += ["## Wrong answers (chidao)", ""]
        md += [f"- `{o.case.id}` ({o.case.kind}) {o.case.q} → {o.answer[:200]!r}" for o in wrong]
        md.append("")
    md += ["## Charts", ""] + [f"![{p.stem}]({p.name})" for p in pngs]
    md_path = folder / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return json_path, md_path


# ------------------------------------------------------------------------------ the task table


def score_tasks(gold: list[dict], predicted: dict[str, tuple[str, list]]) -> dict:
    """Precision and recall of extracted tasks against a gold table.

    ``gold``: rows of a gold file (``doc`` = file name, ``lead``, ``due_start``, ``due_end``, and either
    ``sentence`` (prose) or ``task`` (the start of a table row's task cell)). ``predicted``: file name ->
    (document text, its :class:`index.tasks.Task` rows). A gold row is found when an unused extracted row
    of its document cites it (overlaps its sentence, or its row holds the task text) with the same first
    lead and the same deadline range. Also counted: rows whose every lead is right (``leads`` in the gold)
    and status right (``status``), among the found rows.
    """
    used: set[tuple[str, int]] = set()
    found = all_leads = statuses = with_status = 0
    for g in gold:
        text, tasks = predicted.get(g["doc"], ("", []))
        for i, t in enumerate(tasks):
            same = t.lead == g["lead"] and (t.due_start, t.due_end) == (g["due_start"], g["due_end"])
            if (g["doc"], i) in used or not same:
                continue
            if "sentence" in g:
                at = text.find(g["sentence"])
                if not (at >= 0 and at < t.end and t.start < at + len(g["sentence"])):
                    continue
            elif g["task"][:60] not in t.sentence:
                continue
            used.add((g["doc"], i))
            found += 1
            all_leads += list(t.leads) == g.get("leads", [g["lead"]])
            if g.get("status"):
                with_status += 1
                statuses += t.status == g["status"]
            break
    extracted = sum(len(tasks) for _, tasks in predicted.values())
    return {"gold": len(gold), "extracted": extracted, "found": found,
            "precision": found / extracted if extracted else 0.0, "recall": found / len(gold) if gold else 0.0,
            "all_leads_right": all_leads / found if found else 0.0,
            "status_right": statuses / with_status if with_status else None}
