"""The obvious approach, for comparison: a plain LangChain RAG retriever.

RecursiveCharacterTextSplitter (1000 characters, 200 overlap) over the same documents, the same
embedding model, dense-only Chroma search, top 4. ``chidao eval --baseline`` runs it next to chidao so
every report shows what structure-aware chunking and hybrid retrieval add.
"""

from __future__ import annotations

import uuid

from assistant.retrieve import Hit
from index.docstore import DocStore, StoredChunk
from index.embed import SentenceEmbedder


class BaselineRetriever:
    """Dense top-4 over 1000/200 character chunks, in a throw-away in-memory Chroma."""

    top_k = 4

    def __init__(self, docstore: DocStore, embedder: SentenceEmbedder):
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.docstore = docstore
        self.documents = {d.doc_id: d for d in docstore.documents()}
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        pieces = splitter.split_documents(
            [Document(page_content=d.text, metadata={"doc_id": d.doc_id}) for d in self.documents.values()]
        )
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self.store = Chroma(collection_name=f"baseline-{uuid.uuid4().hex[:12]}", embedding_function=embedder,
                            client=client)
        if pieces:
            self.store.add_documents(pieces)
        self.chunks = len(pieces)

    def search(self, query: str, k: int = 4) -> list[Hit]:
        """Always the top 4, whatever ``k`` (that is the baseline)."""
        hits = []
        for doc, distance in self.store.similarity_search_with_score(query, k=self.top_k):
            document = self.documents[doc.metadata["doc_id"]]
            start = int(doc.metadata["start_index"])
            chunk = StoredChunk("", document.doc_id, 0, start, start + len(doc.page_content), (), doc.page_content)
            hits.append(Hit(chunk, document, max(0.0, 1.0 - float(distance))))
        return hits
