"""Retrieval: question -> the passages most likely to answer it, with their documents.

Dense search over Chroma for now; every hit is joined with the document store, which is the source
of truth, so a vector left behind by an interrupted run is never returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from index.docstore import DocStore, StoredChunk, StoredDocument
from index.embed import SentenceEmbedder
from index.normalize import normalize_text
from index.store import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage: the chunk, its document, and a similarity in [0, 1] (higher is closer)."""

    chunk: StoredChunk
    document: StoredDocument
    score: float

    def to_dict(self) -> dict:
        """JSON-ready form (the shape ``chidao search --json`` prints)."""
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.document.doc_id,
            "title": self.document.title,
            "date": self.document.date,
            "source": self.document.source,
            "headings": list(self.chunk.headings),
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(self.score, 4),
            "text": self.chunk.text,
        }


class DenseRetriever:
    """Nearest chunks by cosine similarity of e5 embeddings.

    Example:
        >>> hits = retriever.search("ai chịu trách nhiệm cơ sở dữ liệu y tế", k=3)  # doctest: +SKIP
        >>> hits[0].chunk.text  # doctest: +SKIP
    """

    def __init__(self, vectors: VectorStore, embedder: SentenceEmbedder, docstore: DocStore):
        self.store = vectors.langchain(embedder)
        self.embedder = embedder
        self.docstore = docstore

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best passages for ``query`` (fewer when the index is small)."""
        query = normalize_text(query)
        if not query:
            return []
        vector = self.embedder.embed_query(query)
        # Ask for a few more than k: hits whose document is gone from the store are dropped below.
        found = self.store.similarity_search_by_vector_with_relevance_scores(vector, k=k + 5)
        chunks = self.docstore.chunks(doc.id for doc, _ in found if doc.id)
        documents: dict[str, StoredDocument | None] = {}
        hits: list[Hit] = []
        for doc, distance in found:
            chunk = chunks.get(doc.id or "")
            if chunk is None:
                continue
            if chunk.doc_id not in documents:
                documents[chunk.doc_id] = self.docstore.document(chunk.doc_id)
            document = documents[chunk.doc_id]
            if document is None:
                continue
            hits.append(Hit(chunk, document, max(0.0, 1.0 - float(distance))))
            if len(hits) == k:
                break
        return hits
