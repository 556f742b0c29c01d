"""Citations: numbered quotes the user can open and check, verified against the document store."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from index.docstore import DocStore

_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Citation:
    """``[n]`` in an answer: the exact quote, where it is, and how it was ranked."""

    n: int
    doc_id: str
    title: str
    source: str
    date: str | None
    quote: str
    start: int
    end: int
    score: float
    chunk_id: str = ""

    def to_dict(self) -> dict:
        """JSON form (the ``citations`` items of ``chidao ask --json``)."""
        data = asdict(self)
        data["score"] = round(self.score, 4)
        return data


def markers(text: str) -> list[int]:
    """The citation numbers used in ``text``, in order of first use."""
    seen: list[int] = []
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def verify(citation: Citation, docstore: DocStore) -> bool:
    """A citation is kept only if its quote really is the cited span of the stored document and
    lies inside the cited chunk (never trusted, always checked)."""
    doc = docstore.document(citation.doc_id)
    if doc is None or doc.text[citation.start : citation.end] != citation.quote or not citation.quote.strip():
        return False
    if citation.chunk_id:
        chunk = docstore.chunks([citation.chunk_id]).get(citation.chunk_id)
        if chunk is None or not (chunk.start <= citation.start and citation.end <= chunk.end):
            return False
    return True


def cite(docstore: DocStore, n: int, document, start: int, end: int, score: float, chunk_id: str = "") -> Citation:
    """The one way a citation is made: the quote is the document's own text at ``start:end``, the source
    is shown as the outside world may see it (:meth:`DocStore.public_source`)."""
    return Citation(n, document.doc_id, document.label, docstore.public_source(document.source), document.date,
                    document.text[start:end], start, end, score, chunk_id)
