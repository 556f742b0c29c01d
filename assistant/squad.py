"""SQuAD-format question sets as chidao test cases, with a fixed tuning/check split.

Every set in ``../shared/corpora/qa/`` (and the UIT regulation set) is SQuAD JSON:
``data[].paragraphs[].context`` with ``qas[].question``, ``qas[].answers[].text`` and, in SQuAD 2.0
style, ``is_impossible``. Each paragraph becomes one document (a JSONL record); each question becomes a
:class:`~assistant.evaluate.Case` whose source is its paragraph and which must contain one of the gold
answers, or be refused when the paragraph cannot answer it.

The split is by paragraph, so that no paragraph has questions on both sides: a paragraph belongs to the
tuning part or to the check part by a hash of (seed, set name, paragraph text), which does not depend
on the file's order. Tune on ``tuning``; report ``check``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from assistant.evaluate import Case

#: The seed of the documented split (README, "Evaluating"). Changing it changes every check part.
SPLIT_SEED = 2026
PARTS = ("tuning", "check", "all")


@dataclass
class SquadSet:
    """A SQuAD file read as documents and cases."""

    name: str
    records: list[dict]  # {"id", "title", "text"} one per paragraph
    cases: list[Case]
    part_of: dict[str, str]  # record id -> "tuning" | "check"

    def select(self, part: str = "check", sample: int | None = None, seed: int = SPLIT_SEED) -> list[Case]:
        """The cases of one part (``all`` for both), or a seeded sample of them."""
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
        chosen = [c for c in self.cases if part == "all" or self.part_of[c.sources[0]] == part]
        if sample is not None and sample < len(chosen):
            chosen = random.Random(seed).sample(chosen, sample)
        return chosen

    def write_corpus(self, path: Path) -> Path:
        """The paragraphs as a JSONL bulk file chidao indexes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path


def _read_json(path: Path) -> dict:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def part_of(name: str, text: str, seed: int = SPLIT_SEED) -> str:
    """``tuning`` or ``check`` for a paragraph (half each, by a stable hash)."""
    digest = hashlib.sha256(f"{seed}\x00{name}\x00{text}".encode()).digest()
    return "check" if digest[0] % 2 else "tuning"


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("?", " ").split())


def set_name(path: Path) -> str:
    """A short name for a SQuAD file: ``viquad1-dev`` for ``viquad1-dev.json.gz``."""
    name = path.name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return name


def load_squad(path: Path, seed: int = SPLIT_SEED) -> SquadSet:
    """Read a SQuAD (1.1 or 2.0 style) file into documents, cases and the paragraph split.

    Paragraphs with the same text are one document (some sets repeat a context across questions).
    """
    name = set_name(path)
    data = _read_json(path)
    records: list[dict] = []
    by_text: dict[str, str] = {}
    cases: list[Case] = []
    part: dict[str, str] = {}
    for a, article in enumerate(data.get("data", [])):
        title = str(article.get("title") or "").strip()
        asked = {_plain(qa.get("question") or "") for p in article.get("paragraphs", []) for qa in p.get("qas", [])}
        if _plain(title) in asked:
            title = ""  # some sets title an article with its question: that is no document's title
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context") or ""
            if not context.strip():
                continue
            rid = by_text.get(context)
            if rid is None:
                rid = f"{name}-{a}-{p}"
                by_text[context] = rid
                # without a title of its own, the loader takes the paragraph's first words as its title
                records.append({"id": rid, "title": title, "text": context} if title else {"id": rid, "text": context})
                part[rid] = part_of(name, context, seed)
            for q, qa in enumerate(paragraph.get("qas", [])):
                question = str(qa.get("question") or "").strip()
                if not question:
                    continue
                answers = list(dict.fromkeys(x["text"].strip() for x in qa.get("answers", [])
                                             if x.get("text", "").strip()))
                impossible = bool(qa.get("is_impossible")) or not answers
                cases.append(Case(id=str(qa.get("id") or f"{rid}-{q}"), kind="unanswerable" if impossible else name,
                                  q=question, must=[] if impossible else [answers], sources=[rid],
                                  refuse=impossible))
    return SquadSet(name, records, cases, part)
