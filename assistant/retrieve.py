"""Retrieval: question -> the passages most likely to answer it, with their documents.

Hybrid by default: dense search over Chroma (e5 embeddings) and BM25 over Vietnamese-aware tokens,
fused by reciprocal rank. Every hit is joined with the document store, which is the source of
truth, so a vector left behind by an interrupted run is never returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from index.docstore import DocStore, StoredChunk, StoredDocument
from index.embed import SentenceEmbedder
from index.lang.normalize import normalize_text
from index.lang.vietnamese import expansions
from index.store import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage: the chunk, its document, and a similarity in [0, 1] (higher is closer)."""

    chunk: StoredChunk
    document: StoredDocument
    score: float
    dense: float = 0.0
    lexical: float = 0.0

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

    def dense_query(self, query: str) -> str:
        """The query as the dense model sees it."""
        return query

    def query_vector(self, query: str):
        """The question's vector as dense search used it (cached by the embedder: no second pass)."""
        import numpy as np

        return np.asarray(self.embedder.embed_query(self.dense_query(normalize_text(query))), dtype=np.float32)

    def dense(self, query: str, k: int, scope: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest ``k`` vectors (of the ``scope`` documents only)."""
        if scope is not None and not scope:
            return []
        vector = self.embedder.embed_query(query)
        where = {"doc_id": {"$in": sorted(scope)}} if scope is not None else None
        found = self.store.similarity_search_by_vector_with_relevance_scores(vector, k=k, filter=where)
        return [(doc.id, max(0.0, 1.0 - float(distance))) for doc, distance in found if doc.id]

    def hits(self, scored: list[tuple[str, float]], k: int, **components: dict[str, float]) -> list[Hit]:
        """Join (chunk id, score) pairs with the document store, dropping ids it does not hold."""
        chunks = self.docstore.chunks(chunk_id for chunk_id, _ in scored)
        documents: dict[str, StoredDocument | None] = {}
        out: list[Hit] = []
        for chunk_id, score in scored:
            chunk = chunks.get(chunk_id)
            if chunk is None:
                continue
            if chunk.doc_id not in documents:
                documents[chunk.doc_id] = self.docstore.document(chunk.doc_id)
            document = documents[chunk.doc_id]
            if document is None:
                continue
            hit = Hit(chunk, document, score)
            if components:
                hit = replace(hit, **{name: values.get(chunk_id, 0.0) for name, values in components.items()})
            out.append(hit)
            if len(out) == k:
                break
        return out

    def search(self, query: str, k: int = 5, scope: frozenset[str] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (fewer when the index is small); ``scope``: only passages
        of these documents."""
        query = normalize_text(query)
        if not query:
            return []
        # A few more than k: hits whose document is gone from the store are dropped.
        dense = self.dense(self.dense_query(query), k + 5, scope)
        return self.hits(dense, k, dense=dict(dense))


class HybridRetriever(DenseRetriever):
    """Dense and BM25 results fused by reciprocal rank (RRF).

    Queries typed without tone marks get them back from the corpus' own vocabulary before the
    dense search; abbreviations are expanded both ways for both searches.

    Args:
        lexical_dir: where the indexer saved the BM25 index.
        depth: how many results each search contributes to the fusion.
        rrf_k: the RRF constant (60 is the usual choice; smaller favours top ranks more).
    """

    def __init__(self, vectors: VectorStore, embedder: SentenceEmbedder, docstore: DocStore,
                 lexical_dir: Path, depth: int = 30, rrf_k: int = 60):
        super().__init__(vectors, embedder, docstore)
        self.lexical_dir = lexical_dir
        self.depth = depth
        self.rrf_k = rrf_k
        self._lexical = None
        self._lexical_mtime: float | None = None

    @property
    def lexical(self):
        """The BM25 index, reloaded when the indexer (maybe another process) has rebuilt it."""
        from index.lexical import LexicalIndex

        meta = self.lexical_dir / "lexical.json"
        try:
            mtime = meta.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime != self._lexical_mtime:
            try:
                self._lexical = LexicalIndex.load(self.lexical_dir, previous=self._lexical)
            except (OSError, ValueError) as exc:
                # another process replaced the index while this one read it (two quick saves can remove
                # a segment the first manifest named): keep searching the index held, read again next time
                log.warning("the lexical index changed while it was read (%s); keeping the one loaded", exc)
                return self._lexical
            self._lexical_mtime = mtime
        return self._lexical

    def dense_query(self, query: str) -> str:
        """The query as the dense model sees it: tone marks restored, abbreviations spelled out."""
        lexical = self.lexical
        if lexical is not None:
            query = lexical.restore_marks(query)
        extra = expansions(query)
        return f"{query} ({', '.join(extra)})" if extra else query

    def search(self, query: str, k: int = 5, scope: frozenset[str] | None = None) -> list[Hit]:
        """The ``k`` best passages by fused rank; ``scope``: only passages of these documents."""
        query = normalize_text(query)
        if not query:
            return []
        dense = self.dense(self.dense_query(query), self.depth, scope)
        lexical = self.lexical.search(query, self.depth, scope) if self.lexical is not None else []
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            for rank, (chunk_id, _) in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        best = 2.0 / (self.rrf_k + 1)
        scored = sorted(((cid, score / best) for cid, score in fused.items()), key=lambda x: -x[1])
        return self.hits(scored, k, dense=dict(dense), lexical=dict(lexical))
