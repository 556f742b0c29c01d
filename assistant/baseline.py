"""The obvious approaches, for comparison: a plain LangChain RAG retriever, and a trivial reader.

RecursiveCharacterTextSplitter (1000 characters, 200 overlap) over the same documents, the same
embedding model, dense-only Chroma search, top 4. ``chidao eval --baseline`` runs it next to chidao so
every report shows what structure-aware chunking and hybrid retrieval add.
"""

from __future__ import annotations

import time
import uuid

import numpy as np

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
        self.embedder = embedder
        self._units: dict[str, dict] = {}
        self.passages: dict[str, StoredChunk] = {}  # the passages returned so far, by id (for citations)
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
        # BM25 over the same pieces: never used to rank (the baseline is dense-only), only to give chidao's
        # reader the passage statistics it reads (IDF, a passage's BM25 score), as for chidao's own passages
        from index.lexical import LexicalIndex

        self.lexical = LexicalIndex.build(
            ((f"baseline:{p.metadata['doc_id']}:{p.metadata['start_index']}", "", p.page_content) for p in pieces),
            "baseline") if pieces else None

    def search(self, query: str, k: int = 4, scope: frozenset[str] | None = None) -> list[Hit]:
        """Always the top 4, whatever ``k`` (that is the baseline); ``scope``: of these documents only."""
        hits = []
        found = self.store.similarity_search_with_score(query, k=self.top_k if scope is None else self.top_k * 25)
        if scope is not None:
            found = [(doc, distance) for doc, distance in found if doc.metadata["doc_id"] in scope][: self.top_k]
        lexical = dict(self.lexical.search(query, 30)) if self.lexical is not None else {}
        for rank, (doc, distance) in enumerate(found):
            document = self.documents[doc.metadata["doc_id"]]
            start = int(doc.metadata["start_index"])
            end = start + len(doc.page_content)
            chunk = StoredChunk(f"baseline:{document.doc_id}:{start}", document.doc_id, 0, start, end, (),
                                doc.page_content)
            self.passages[chunk.chunk_id] = chunk
            similarity = max(0.0, 1.0 - float(distance))
            # the score chidao's fusion would give a passage ranked this way by one list (the ranking stays
            # dense-only); its BM25 score is a reading signal, as chidao's reader has for its passages
            score = 62 / (2 * (61 + rank))
            hits.append(Hit(chunk, document, score, dense=similarity, lexical=lexical.get(chunk.chunk_id, 0.0)))
        return hits

    # What chidao's reader reads off a passage, given to the baseline's passages too, so that the
    # comparison is of retrieval and chunking, not of a reader starved of its inputs.
    def query_vector(self, query: str) -> np.ndarray:
        """The question's vector as this retriever's dense search used it."""
        return np.asarray(self.embedder.embed_query(query), dtype=np.float32)

    def unit_vectors(self, chunk_ids) -> dict[str, dict[tuple[int, int], np.ndarray]]:
        """Late-chunked unit vectors of the baseline's own 1000-character chunks, computed when a chunk is
        first retrieved (one forward pass per chunk, as chidao pays at index time)."""
        from index.lang.sentences import unit_spans

        out = {}
        for chunk_id in dict.fromkeys(chunk_ids):
            if chunk_id not in self._units:
                passage = self.passages[chunk_id]
                document, start, end = self.documents[passage.doc_id], passage.start, passage.end
                text = document.text[start:end]
                spans = [(a, b) for a, b, _ in unit_spans(document.text, start, end)]
                _, (vectors,) = self.embedder.embed_documents_with_units([text], [[(a - start, b - start)
                                                                                  for a, b in spans]])
                self._units[chunk_id] = {span: np.asarray(v, dtype=np.float32)
                                         for span, v in zip(spans, vectors) if v is not None}
            out[chunk_id] = self._units[chunk_id]
        return out


class ReadingStore:
    """The document store as chidao's reader sees it, with the unit vectors of another retriever's passages
    (the LangChain baseline's): everything else is the store's own."""

    def __init__(self, docstore: DocStore, retriever: BaselineRetriever):
        self._docstore = docstore
        self._retriever = retriever

    def unit_vectors(self, chunk_ids):
        return self._retriever.unit_vectors(chunk_ids)

    def chunks(self, chunk_ids):
        """Chunks by id: the baseline's passages, or the store's own."""
        ids = list(chunk_ids)
        found = {i: self._retriever.passages[i] for i in ids if i in self._retriever.passages}
        return found | self._docstore.chunks([i for i in ids if i not in found])

    def __getattr__(self, name: str):
        return getattr(self._docstore, name)


class TrivialReader:
    """The one-line reader every answerer must beat: from the retriever's top 3 passages, the single
    sentence that shares the most syllables with the question, quoted and cited; it never refuses.

    Args:
        retriever: any retriever with ``search(query, k)`` (chidao's own, to judge the reader alone).
        docstore: the document store (the citation is built and verified like chidao's).
        passages: how many top passages it reads.
    """

    backend = "trivial"

    def __init__(self, retriever, docstore: DocStore, passages: int = 3):
        self.retriever = retriever
        self.docstore = docstore
        self.passages = passages

    def answer(self, question: str, history: list[dict] | None = None):
        from assistant.answer import REFUSAL, Answer
        from assistant.citations import cite
        from index.lang.sentences import sentence_spans
        from index.lang.vietnamese import words

        started = time.perf_counter()
        hits = self.retriever.search(question, k=self.passages)[: self.passages]
        asked = set(words(question))
        best, best_shared = None, -1
        for hit in hits:
            text = hit.document.text
            for start, end, _ in sentence_spans(text, hit.chunk.start, hit.chunk.end):
                shared = len(asked & set(words(text[start:end])))
                if shared > best_shared:
                    best, best_shared = (hit, start, end), shared
        retrieved = [h.document.doc_id for h in hits]
        if best is None:
            answer = Answer(question, REFUSAL, refused=True, backend=self.backend)
        else:
            hit, start, end = best
            citation = cite(self.docstore, 1, hit.document, start, end, hit.score, hit.chunk.chunk_id)
            answer = Answer(question, f"«{citation.quote}» [1]", refused=False, citations=[citation],
                            backend=self.backend)
        answer.retrieved = retrieved
        answer.elapsed_ms = (time.perf_counter() - started) * 1000
        return answer
