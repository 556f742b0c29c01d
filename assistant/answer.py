"""Answers as data: what every answering backend returns, and the protocol the backends share.

The backends are :class:`assistant.extractive.ExtractiveAnswerer` (default: offline, deterministic, a
trained reader over the retrieved sentences) and :class:`assistant.answer_llm.LLMAnswerer` (a chat
model, checked against its citations). The edges (CLI, UI, API) format an :class:`Answer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from assistant.citations import Citation

REFUSAL = "Không tìm thấy thông tin này trong các văn bản đã nạp."


class Answerer(Protocol):
    """What every answering backend offers (``extractive``, ``llm``)."""

    def answer(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Answer: ...

    def stream(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Iterator[str | Answer]: ...


@dataclass
class Answer:
    """An answer as data; the edges (CLI, UI, API) format it."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    elapsed_ms: float = 0.0
    backend: str = "extractive"
    note: str | None = None
    closest: list[dict] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)  # doc ids in retrieval order (for evaluation)
    confidence: float | None = None  # the reader's confidence in its best evidence (extractive backend)

    def to_dict(self) -> dict:
        """The stable JSON shape of ``chidao ask --json`` (and of the HTTP API)."""
        data = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "conflicts": self.conflicts,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "backend": self.backend,
        }
        if self.confidence is not None:
            data["confidence"] = round(self.confidence, 3)
        if self.note:
            data["note"] = self.note
        if self.closest:
            data["closest"] = self.closest
        return data
