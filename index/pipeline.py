"""``chidao index``: load -> chunk -> embed -> store, incremental and idempotent.

* A document's id is a hash of its normalised text, and a chunk's id is that id plus its position,
  so re-running on an unchanged folder embeds nothing and writes nothing.
* A changed file gets a new document id: the new version is written first, then the old one (no
  longer held by any source) is deleted.
* A removed file's document is deleted when ``prune`` is on (the default) and the file was under one
  of the paths being indexed; documents from other folders are never touched.
* Interrupted runs are repaired by the next one (see :mod:`index.docstore` for the write order).
* One writer per home: a run holds an exclusive lock on ``CHIDAO_HOME/index.lock``; a second run
  (another ``chidao index``, the web app's re-index) is refused with :class:`IndexBusy`.
* Nothing under a path that could not be read (a folder that cannot be listed, a file that fails to
  load) is pruned: failing to read is not deleting.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from index.chunk import Chunk, Chunker
from index.db import connect
from index.docstore import DocStore
from index.embed import SentenceEmbedder
from index.lang.sentences import unit_spans
from index.load import (
    DEFAULT_LIMITS,
    Document,
    Limits,
    LoadFailure,
    iter_files,
    load_path,
    printable,
    source_file,
    source_of,
)
from index.store import VectorStore, chunk_metadata

log = logging.getLogger(__name__)

#: Loaded documents waiting for the embedder (a few batches' worth: memory stays flat on any corpus).
LOADER_QUEUE = 256
_END = object()


class IndexBusy(RuntimeError):
    """Another indexing run holds this home's lock (one writer per home).

    A :class:`RuntimeError`, so callers that already turn "a run is in progress" into a message (the
    web app's HTTP 409) handle it as they are.
    """


@contextmanager
def home_lock(path: Path | None) -> Iterator[None]:
    """Hold the exclusive, non-blocking lock at ``path`` for a run; raise :class:`IndexBusy` when another
    process (or another run in this one) holds it. The kernel drops the lock when its holder exits, so a
    killed run never leaves a stale lock behind.

    Example:
        >>> with home_lock(settings.home / "index.lock"):  # doctest: +SKIP
        ...     indexer.run(["data/sample"])
    """
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            # No path in the message: the web app may show it, and the server's layout is not the user's.
            raise IndexBusy(
                f"indexing already in progress (process {holder or '?'} holds this CHIDAO_HOME's index.lock): "
                "one indexing run at a time per home; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the message above
        yield
    finally:
        os.close(fd)  # releases the lock


#: The PostgreSQL advisory lock indexing runs take (any number: the same in every chidao process).
ADVISORY_KEY = 7_241_530_106


@contextmanager
def shared_lock(docstore: DocStore) -> Iterator[None]:
    """On a shared PostgreSQL store, hold its advisory lock for a run (on a connection of its own, so the
    server drops it when a killed run's connection goes): one writer across all workers and the command
    line; readers never wait for it. Nothing to do on SQLite (the home's file lock covers it)."""
    if docstore.db.dialect != "postgresql":
        yield
        return
    holder = connect(docstore.target)
    try:
        if not holder.execute("SELECT pg_try_advisory_lock(?)", (ADVISORY_KEY,)).fetchone()[0]:
            raise IndexBusy("indexing already in progress on the shared database (another worker or the command "
                            "line holds its lock): one indexing run at a time; try again when it has finished")
        yield
    finally:
        holder.close()  # ends the session: the lock goes with it


@dataclass
class IndexReport:
    """What a run did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0
    chunks: int = 0
    files: int = 0
    repaired: int = 0
    tasks: int = 0  # documents whose task rows were (re)extracted
    seconds: float = 0.0
    failed: list[LoadFailure] = field(default_factory=list)
    #: where the seconds went: "model" (forward passes), "vectors" (Chroma writes), "store" (document store
    #: writes), "tasks", "BM25"; the rest is reading, chunking and waiting for the loader
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started

    def summary(self) -> str:
        """One line for the terminal."""
        spent = [(step, t) for step, t in self.timings.items() if t >= 0.05]
        breakdown = ""
        if spent and self.chunks:
            rest = max(0.0, self.seconds - sum(t for _, t in spent))
            breakdown = " (" + ", ".join(f"{step} {t:.1f}" for step, t in spent + [("rest", rest)]) + ")"
        return (
            f"{self.files} files: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.failed)} failed"
            + (f", {self.duplicates} duplicate texts" if self.duplicates else "")
            + (f", {self.repaired} orphaned documents repaired" if self.repaired else "")
            + f"; {self.chunks} chunks embedded in {self.seconds:.1f} s{breakdown}"
        )


def embedding_text(doc: Document, chunk: Chunk) -> str:
    """What is embedded for a chunk: a short title and the heading path give the passage context."""
    title = doc.title if len(doc.title) <= 100 else doc.title[:100].rsplit(" ", 1)[0]
    context = [title] + ([chunk.heading_path[:200]] if chunk.heading_path else [])
    return "\n".join(context + [chunk.text])


def _under(source: str, roots: Sequence[Path]) -> bool:
    path = Path(source_file(source))
    return any(path == root or root in path.parents for root in roots)


class Indexer:
    """Keeps the document store and the vector store in step with folders of documents.

    Args:
        docstore: the SQLite document store (source of truth).
        vectors: the Chroma collection.
        embedder: the embedding model.
        chunker: the chunker (its version is recorded, so a change re-chunks everything).
        batch_chunks: chunks embedded and written together.
        lexical_dir: where the BM25 index lives (None: no lexical index).
        limits: how much is read of each file and document.
        lock_path: the home's lock file (None: no lock; tests of the parts only).

    Example:
        >>> report = indexer.run(["data/sample"])  # doctest: +SKIP
        >>> print(report.summary())  # doctest: +SKIP
    """

    def __init__(self, docstore: DocStore, vectors: VectorStore, embedder: SentenceEmbedder,
                 chunker: Chunker, batch_chunks: int = 64, lexical_dir: Path | None = None,
                 limits: Limits = DEFAULT_LIMITS, lock_path: Path | None = None):
        self.lexical_dir = lexical_dir
        self.limits = limits
        self.lock_path = lock_path
        self.docstore = docstore
        self.vectors = vectors
        self.embedder = embedder
        self.chunker = chunker
        self.batch_chunks = batch_chunks

    def _repair(self) -> int:
        """Remove vectors whose chunk the store does not hold (left by an interrupted run: a batch
        written without its records, a deleted document, or a re-chunked document's old chunks);
        returns how many documents had such vectors."""
        orphans = self.vectors.ids() - self.docstore.chunk_ids()
        docs = {chunk_id.rsplit("-", 1)[0] for chunk_id in orphans}
        if orphans:
            log.warning("removing %d vectors of %d documents left by an interrupted run", len(orphans), len(docs))
            self.vectors.delete_ids(orphans)
        return len(docs)

    def _write(self, pending: list[tuple[Document, list[Chunk], list[str]]], tasks: dict[str, list],
               report: IndexReport) -> int:
        """Embed and store ``pending`` documents, with the tasks the loader extracted for them (taken out of
        ``tasks``); returns how many documents' tasks were stored. Time spent goes to ``report.timings``."""
        ids, texts, stored, metas, spans, relative = [], [], [], [], [], []
        for doc, chunks, sources in pending:
            for chunk in chunks:
                ids.append(chunk.chunk_id)
                text = embedding_text(doc, chunk)
                texts.append(text)
                stored.append(chunk.text)
                metas.append(chunk_metadata(doc, chunk, sources[0]))
                units = [(s, e) for s, e, _ in unit_spans(doc.text, chunk.start, chunk.end)]
                shift = len(text) - len(chunk.text) - chunk.start  # the chunk's text ends the embedded text
                spans.append(units)
                relative.append([(s + shift, e + shift) for s, e in units])
        # A document stored before with other chunking settings: its chunks that are no more.
        stale = self.docstore.chunk_ids_of(doc.doc_id for doc, _, _ in pending) - set(ids)
        # One forward pass gives each chunk's vector and its units' ("late chunking": SentenceEmbedder).
        with report.timed("model"):
            vectors, unit_vectors = self.embedder.embed_documents_with_units(texts, relative)
        units = {cid: [(s, e, v) for (s, e), v in zip(sp, uv) if v is not None]
                 for cid, sp, uv in zip(ids, spans, unit_vectors)}
        with report.timed("vectors"):
            self.vectors.upsert(ids, vectors, stored, metas)  # vectors first ...
        with report.timed("store"):
            self.docstore.put(pending, self.chunker.version, self.embedder.name, units)  # ... then the record ...
            extracted = [(doc.doc_id, tasks.pop(doc.doc_id)) for doc, _, _ in pending if doc.doc_id in tasks]
            if extracted:  # the loader extracted them; documents it did not are done by refresh_tasks
                from index.tasks import EXTRACTOR_VERSION

                self.docstore.put_tasks_of(extracted, EXTRACTOR_VERSION)
        if stale:
            with report.timed("vectors"):
                self.vectors.delete_ids(stale)  # ... then the old vectors (a crash before: _repair's orphans)
        return len(extracted)

    def run(self, paths: Iterable[str | Path], prune: bool = True, progress: bool = False) -> IndexReport:
        """Index files and folders; never raises for a bad file (see ``report.failed``).

        Raises:
            IndexBusy: another run holds this home's lock.
        """
        with home_lock(self.lock_path), shared_lock(self.docstore):
            return self._run(paths, prune, progress)

    def _run(self, paths: Iterable[str | Path], prune: bool, progress: bool) -> IndexReport:
        started = time.perf_counter()
        roots = [Path(p).resolve() for p in paths]
        named = [Path(source_of(r)) for r in roots]  # as sources name them (a non-UTF-8 name escaped)
        report = IndexReport()
        run_id, unfinished = self.docstore.begin_run(str(r) for r in named)
        # Counts that differ mean vectors without a chunk: an interrupted run, or an index written by an
        # older version that left a re-chunked document's old vectors behind.
        if unfinished or self.vectors.count() != self.docstore.stats()["chunks"]:
            report.repaired = self._repair()

        readable = []
        for root, name in zip(roots, named):
            try:
                os.stat(root)
                readable.append(root)
            except FileNotFoundError:
                report.failed.append(LoadFailure(str(name), "no such file or folder"))
            except OSError as exc:
                report.failed.append(LoadFailure(str(name), f"cannot read ({exc.strerror or exc})"))
        files = list(iter_files(readable, errors=report.failed))
        for failure in report.failed:
            log.warning("skipped %s: %s", printable(failure.source), printable(failure.reason))
        report.files = len(files)
        fingerprint = (self.chunker.version, self.embedder.name)
        seen_sources: set[str] = set()
        written: dict[str, list[str]] = {}  # doc_id -> sources, for texts met in this run
        replaced: set[str] = set()  # old versions of changed files
        pending: list[tuple[Document, list[Chunk], list[str]]] = []
        pending_chunks = 0

        bar = _progress(files, progress)
        extracted: dict[str, list] = {}  # doc id -> tasks the loader extracted, stored with the document
        tasks_written = 0
        for _path, item, chunks, tasks in self._loaded(files, fingerprint):
            if item is None:  # the end of a file
                bar.set_postfix(chunks=report.chunks + pending_chunks, refresh=False)
                continue
            bar.update(1)
            if isinstance(item, LoadFailure):
                report.failed.append(item)
                log.warning("skipped %s: %s", printable(item.source), printable(item.reason))
                continue
            seen_sources.add(item.source)
            previous = self.docstore.doc_for_source(item.source)
            if previous is not None and previous != item.doc_id:
                replaced.add(previous)
            stored = self.docstore.fingerprint(item.doc_id) == fingerprint
            if item.doc_id in written:  # the same text again, under another name
                report.duplicates += 1
                if stored:
                    self.docstore.link_source(item.source, item.doc_id)
                else:
                    written[item.doc_id].append(item.source)  # still pending: stored with it
                continue
            if stored:
                if previous != item.doc_id:
                    self.docstore.link_source(item.source, item.doc_id)
                report.unchanged += 1
                written[item.doc_id] = [item.source]
                continue
            if chunks is None:  # the loader saw it stored; it is not any more
                chunks = self.chunker.split(item.doc_id, item.text)
            if tasks is not None:
                extracted[item.doc_id] = tasks
            written[item.doc_id] = [item.source]
            pending.append((item, chunks, written[item.doc_id]))
            pending_chunks += len(chunks)
            if previous is None:
                report.added += 1
            else:
                report.updated += 1
            if pending_chunks >= self.batch_chunks:
                tasks_written += self._write(pending, extracted, report)
                report.chunks += pending_chunks
                pending, pending_chunks = [], 0
                elapsed = time.perf_counter() - started
                bar.set_postfix(chunks=report.chunks, chunks_s=f"{report.chunks / max(elapsed, 1e-9):.1f}",
                                refresh=False)
        if pending:
            tasks_written += self._write(pending, extracted, report)
            report.chunks += pending_chunks
        bar.close()

        if prune:
            gone = [s for s in self.docstore.sources() if s not in seen_sources and _under(s, named)]
            # A file that failed to load this time keeps its old index entry, and so does everything
            # under a folder that could not be listed: failing to read is not deleting.
            failed = [Path(f.file) for f in report.failed]
            gone = [s for s in gone if not _under(s, failed)]
            self.docstore.drop_sources(gone)
        dropped = self.docstore.drop_unreferenced()
        self.vectors.delete_docs(dropped)
        report.removed = len(set(dropped) - replaced)
        with report.timed("tasks"):
            report.tasks = tasks_written + self.refresh_tasks()
        with report.timed("BM25"):
            self.refresh_lexical()
        self.docstore.finish_run(run_id)
        report.seconds = time.perf_counter() - started
        return report


    def _loaded(self, files: list[Path], fingerprint: tuple[str, str]
                ) -> Iterator[tuple[Path, Document | LoadFailure | None, list[Chunk] | None, list | None]]:
        """(file, loaded document or failure, its chunks, its tasks) in order, read, chunked and task-
        extracted by a loader thread while the caller embeds and writes; ``(file, None, None, None)`` marks
        the end of each file.

        A bounded queue between the two keeps memory flat on a bulk export (records are read as a
        stream, never listed). The thread chunks only documents that the store does not hold with this
        chunker and model (its own read-only connection: SQLite's WAL lets it read while the caller
        writes), and counts tokens with its own copy of the tokenizer (a fast tokenizer must not be used
        by two threads at once). Its errors are raised here, in the caller.
        """
        results: queue.Queue = queue.Queue(maxsize=LOADER_QUEUE)
        stop = threading.Event()
        from index.tasks import extract_tasks

        chunker = Chunker(self.embedder.token_counter(), self.chunker.max_tokens, self.chunker.overlap_tokens)
        store_path = self.docstore.path

        def put(entry) -> None:
            while not stop.is_set():
                try:
                    results.put(entry, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def work() -> None:
            reader = (sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, check_same_thread=False)
                      if store_path is not None else connect(self.docstore.target))
            try:
                for path in files:
                    for item in load_path(path, self.limits):
                        if stop.is_set():
                            return
                        chunks = tasks = None
                        if isinstance(item, Document):
                            row = reader.execute("SELECT chunker, model FROM documents WHERE doc_id = ?",
                                                 (item.doc_id,)).fetchone()
                            if row is None or tuple(row) != fingerprint:
                                chunks = chunker.split(item.doc_id, item.text)
                                tasks = extract_tasks(item.doc_id, item.text, item.date)
                        put((path, item, chunks, tasks))
                    put((path, None, None, None))
            except BaseException as exc:  # handed to the caller, which re-raises it
                put(exc)
            finally:
                reader.close()
                put(_END)

        thread = threading.Thread(target=work, name="chidao-loader", daemon=True)
        thread.start()
        try:
            while True:
                entry = results.get()
                if entry is _END:
                    return
                if isinstance(entry, BaseException):
                    raise entry
                yield entry
        finally:
            stop.set()
            thread.join(timeout=10)

    def refresh_tasks(self) -> int:
        """Extract the task table of documents that lack it (new ones, or an older extractor's)."""
        from index.tasks import EXTRACTOR_VERSION, extract_tasks

        todo = self.docstore.docs_without_tasks(EXTRACTOR_VERSION)
        for i in range(0, len(todo), 100):  # one transaction per hundred documents
            batch = [(doc_id, self.docstore.document(doc_id)) for doc_id in todo[i : i + 100]]
            self.docstore.put_tasks_of([(doc_id, extract_tasks(doc_id, doc.text, doc.date))
                                        for doc_id, doc in batch if doc is not None], EXTRACTOR_VERSION)
        return len(todo)

    def refresh_lexical(self, force: bool = False) -> bool:
        """Bring the BM25 index up to the stored chunks when they changed: a small change adds a delta
        segment (see :class:`index.lexical.LexicalIndex`), a large one (or ``force``) rebuilds it all;
        returns whether anything was written."""
        if self.lexical_dir is None:
            return False
        from index.lexical import LexicalIndex, fingerprint

        spans = set(self.docstore.chunk_spans())
        key = fingerprint(spans)
        current = LexicalIndex.load(self.lexical_dir)
        if not force and current is not None and current.key == key:
            return False
        index = None if force or current is None else current.updated(spans, self.docstore.searchable_chunks, key)
        if index is None:
            index = LexicalIndex.build(self.docstore.searchable_chunks(), key, total=len(spans))
        index.save(self.lexical_dir)
        return True


class _NoBar:
    def update(self, n: int) -> None: ...

    def set_postfix(self, **kwargs) -> None: ...

    def close(self) -> None: ...


def _progress(files: list[Path], enabled: bool):
    """A progress bar over documents (a bulk export counts its lines first: about a second per 100 MB),
    with documents/s, the ETA and the chunks embedded so far."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    total = 0
    for path in files:
        total += _records(path) if path.name.lower().endswith((".jsonl", ".jsonl.gz")) else 1
    return tqdm(total=total, unit="doc", desc="indexing", dynamic_ncols=True, smoothing=0.05)


def _records(path: Path) -> int:
    import gzip

    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, EOFError):
        return 1  # the loader reports the damage

