"""Chroma: the vector index over the document store, embedded or on a ``chroma run`` server.

The client is created once (:func:`make_client`) and passed down. Embeddings are always computed by
chidao and passed explicitly: Chroma's own default embedding function would try to download a
model, so collections are created with ``embedding_function=None``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from index.chunk import Chunk
from index.load import Document

log = logging.getLogger(__name__)

# Chroma reads this at import time in some code paths; the explicit Settings below cover the rest.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def make_client(path: Path | None = None, host: str | None = None, port: int = 8000, ssl: bool = False):
    """A Chroma client: ``HttpClient`` when ``host`` is given, else ``PersistentClient`` at ``path``.

    Example:
        >>> client = make_client(path=Path("/tmp/chroma"))  # doctest: +SKIP
        >>> client = make_client(host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
        except ValueError as exc:  # chromadb's way of saying the server is not there
            raise ConnectionError(f"Chroma server at {host}:{port} is not reachable ({exc})") from None
    if path is None:
        raise ValueError("make_client needs a path for the embedded store, or a host for a server")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_name(prefix: str, model_slug: str) -> str:
    """Chroma-valid name joining the prefix and the model (vectors of two models never mix)."""
    name = f"{prefix}-{model_slug}".strip("-._")
    return name[:63].rstrip("-._")


def chunk_metadata(doc: Document, chunk: Chunk, source: str) -> dict[str, Any]:
    """Flat metadata Chroma accepts (no None values)."""
    meta: dict[str, Any] = {
        "doc_id": doc.doc_id,
        "ordinal": chunk.ordinal,
        "start": chunk.start,
        "end": chunk.end,
        "title": doc.title,
        "source": source,
        "headings": chunk.heading_path,
    }
    if doc.date:
        meta["date"] = doc.date
    if doc.issuer:
        meta["issuer"] = doc.issuer
    return meta


class VectorStore:
    """One Chroma collection of chunk vectors (cosine space).

    Args:
        client: a Chroma client from :func:`make_client`.
        name: collection name (see :func:`collection_name`).
        model: the embedding model's name, recorded on the collection.
        dimension: vector size, recorded and checked so a model swap cannot corrupt the collection.
    """

    def __init__(self, client, name: str, model: str, dimension: int):
        self.client = client
        self.name = name
        self.collection = client.get_or_create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"model": model, "dimension": dimension},
        )
        stored = (self.collection.metadata or {}).get("dimension")
        if stored and int(stored) != dimension:
            raise ValueError(
                f"Chroma collection '{name}' holds {stored}-dimensional vectors but the embedding "
                f"model gives {dimension}; set CHIDAO_COLLECTION to a new name"
            )

    def upsert(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], texts: Sequence[str],
               metadatas: Sequence[dict[str, Any]], batch: int = 1000) -> None:
        """Insert or replace vectors by id (ids derive from content, so repeats are harmless)."""
        for i in range(0, len(ids), batch):
            self.collection.upsert(
                ids=list(ids[i : i + batch]),
                embeddings=[list(v) for v in vectors[i : i + batch]],
                documents=list(texts[i : i + batch]),
                metadatas=list(metadatas[i : i + batch]),
            )

    def delete_docs(self, doc_ids: Iterable[str], batch: int = 200) -> None:
        """Delete every vector of these documents."""
        ids = list(doc_ids)
        for i in range(0, len(ids), batch):
            self.collection.delete(where={"doc_id": {"$in": ids[i : i + batch]}})

    def delete_ids(self, ids: Iterable[str], batch: int = 1000) -> None:
        """Delete vectors by chunk id (a re-chunked document's old chunks, an interrupted run's orphans)."""
        ids = list(ids)
        for i in range(0, len(ids), batch):
            self.collection.delete(ids=ids[i : i + batch])

    def doc_ids(self, page: int = 5000) -> set[str]:
        """Distinct document ids that have vectors (a full scan: used only to repair a crash)."""
        found: set[str] = set()
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            metas = got.get("metadatas") or []
            found.update(str(m.get("doc_id")) for m in metas if m)
            if len(metas) < page:
                return found
            offset += page

    def ids(self) -> set[str]:
        """Every vector id (for consistency checks)."""
        return set(self.collection.get(include=[])["ids"])

    def count(self) -> int:
        """Number of vectors."""
        return int(self.collection.count())

    def langchain(self, embedder):
        """The same collection as a LangChain ``Chroma`` vector store (for retrieval chains)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.name, embedding_function=embedder)
