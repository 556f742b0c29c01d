"""Answers from what is in the index now, even when another process (``chidao index``) changed it.

Measured with chromadb 1.5 (two processes on one folder, one ``PersistentClient`` each): the other
process's writes show at once in ``count()`` and ``get()``, which read SQLite, but never in ``query()``.
The vector index is loaded into memory once per chromadb "system", which chromadb keeps per folder and
process (``SharedSystemClient``), and it only catches up with the log when that same system writes. A
new client made after dropping the cached system loads the index afresh and sees every write so far.

So the web app watches the document store, which every indexing run writes after its vectors
(``PRAGMA data_version`` changes when another connection has committed), and on a change opens the
vector store afresh and swaps it into the retriever. The check is one small SQLite statement per
question. Answers already running finish on the store they started with; the BM25 index reloads
itself (``HybridRetriever.lexical``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from assistant.build import Assistant
from index.store import VectorStore, make_client

log = logging.getLogger(__name__)


class IndexWatcher:
    """Reopens the embedded vector store when another process has changed the index.

    Example:
        >>> watcher = IndexWatcher(assistant)  # doctest: +SKIP
        >>> watcher.check()  # before each question  # doctest: +SKIP
    """

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self._lock = threading.Lock()
        self._version = self._data_version()
        self.reopened = 0  # how many times, for tests and logs
        self.refreshed = 0  # BM25 rebuilt from a shared store another worker changed

    def _data_version(self) -> int:
        return self.assistant.docstore.db.generation()

    def check(self) -> bool:
        """Reopen when the index changed since the last check; True when this call reopened it.

        Never waits: while one thread reopens, the others answer from the store they have. On a shared
        PostgreSQL store, a change another worker made also brings this worker's BM25 index up to the
        stored chunks, in a background thread (answers meanwhile use the index they have).
        """
        if self.assistant.docstore.db.dialect == "postgresql":
            return self._shared()
        if self.assistant.settings.chroma_host:  # a Chroma server shows every writer's vectors
            return False
        if self._data_version() == self._version or not self._lock.acquire(blocking=False):
            return False
        try:
            version = self._data_version()  # read first: later writes make the next check reopen again
            if version == self._version:
                return False
            self._reopen()
            self._version = version
            return True
        finally:
            self._lock.release()

    def _shared(self) -> bool:
        version = self._data_version()
        if version == self._version or not self._lock.acquire(blocking=False):
            return False
        self._version = version

        def refresh() -> None:
            try:
                if self.assistant.indexer.refresh_lexical():
                    self.refreshed += 1
                if not self.assistant.settings.chroma_host:
                    self._reopen()
            except Exception:  # the next change tries again; answers go on with what they have
                log.warning("refreshing from the shared store failed", exc_info=True)
            finally:
                self._lock.release()

        threading.Thread(target=refresh, name="chidao-refresh", daemon=True).start()
        return True

    def reopen(self) -> None:
        """Reopen now (after this process's own indexing run, whose writes went through the indexer's
        store, which may not be the one searches use)."""
        if self.assistant.settings.chroma_host:
            return
        with self._lock:
            self._version = self._data_version()
            self._reopen()

    def _reopen(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        assistant = self.assistant
        path = assistant.settings.chroma_path
        # chromadb hands every client of a folder the same cached system; drop it so the next client
        # loads the vector index from disk (the old system lives on for whoever still holds it)
        for key in [k for k in SharedSystemClient._identifier_to_system if Path(k) == path]:
            SharedSystemClient._identifier_to_system.pop(key, None)
            SharedSystemClient._identifier_to_refcount.pop(key, None)
        old = assistant.vectors
        fresh = VectorStore(make_client(path=path), old.name, model=assistant.embedder.name,
                            dimension=assistant.embedder.dimension)
        assistant.vectors = fresh
        retriever = assistant.__dict__.get("retriever")  # built lazily: a later one uses the fresh store
        if retriever is not None:
            retriever.store = fresh.langchain(assistant.embedder)
        self.reopened += 1
        log.info("vector store reopened (the index changed)")
