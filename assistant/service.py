"""What the web edges share: one built assistant, the feedback store, admin checks and indexing.

The UI and the HTTP API hold one :class:`Service` each app; nothing in it is per user. A user's
conversation lives in the Gradio session (``gr.State``) or is sent by the API client as ``history``.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from assistant.answer import Answer
from assistant.build import Assistant, build
from assistant.feedback import FeedbackStore
from assistant.freshness import IndexWatcher
from assistant.settings import Settings
from index.docstore import DocFilter
from index.pipeline import IndexReport

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf", ".jsonl", ".jsonl.gz")
MAX_QUESTION_CHARS = 2000
MAX_COMMENT_CHARS = 5000


@dataclass
class Uploaded:
    """What became of the files of one upload: ``saved`` names (in the uploads folder), ``renamed``
    (``{"file", "saved_as"}``: a second file of the same name in one upload gets ``name (2).txt``), and
    ``rejected`` (``{"file", "reason"}``)."""

    saved: list[str] = field(default_factory=list)
    renamed: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)


class Service:
    """The assistant behind every web edge, with the few things they add around it."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None):
        self.settings = settings
        self.assistant = assistant or build(settings)
        self.feedback = FeedbackStore(settings.feedback_target)
        self._index_lock = threading.Lock()
        self.watcher = IndexWatcher(self.assistant)

    def close(self) -> None:
        self.feedback.close()
        self.assistant.close()

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for (the BM25 index, the model's first pass)."""
        try:
            self.assistant.answerer.answer("Ai chủ trì nhiệm vụ, hoàn thành khi nào?", [])
        except Exception:  # an empty or broken index must not stop the server: the question will say so
            log.warning("warm-up question failed", exc_info=True)

    # --- answering ---
    def scope(self, where: DocFilter | None) -> frozenset[str] | None:
        """The documents a filter lets through (None: no filter, every document)."""
        return self.assistant.docstore.select_docs(where) if where else None

    def ask(self, question: str, history: list[dict] | None = None, where: DocFilter | None = None) -> Answer:
        question, history = check_question(question), clean_history(history)
        self.watcher.check()  # answer from what is indexed now, even by another process
        return self.assistant.ask(question, history, self.scope(where))

    def stream(self, question: str, history: list[dict] | None = None,
               where: DocFilter | None = None) -> Iterator[str | Answer]:
        """The answer's text as it comes (live with an LLM), then the checked :class:`Answer`."""
        question, history = check_question(question), clean_history(history)
        self.watcher.check()
        return self.assistant.answerer.stream(question, history, self.scope(where))

    @property
    def streams(self) -> bool:
        return bool(getattr(self.assistant.answerer, "streams", False))

    def answer_settings(self) -> dict:
        """What produced an answer, stored with feedback so that it can be replayed."""
        s = self.settings
        data = {"answer_backend": s.answer_backend, "retrieval": s.retrieval, "embedding_model": s.embedding_model,
                "collection": self.assistant.vectors.name}
        if s.answer_backend == "llm":
            data.update(llm_model=s.llm_model, llm_base_url=s.llm_base_url or "")
        return data

    # --- documents and tasks ---
    def documents(self) -> list[dict]:
        """The indexed documents, each source shown relative to its indexed folder (never the server's own
        folder layout)."""
        docstore = self.assistant.docstore
        counts = docstore.task_counts()
        return [{**d, "sources": [docstore.public_source(s) for s in d["sources"]], "tasks": counts.get(d["doc_id"], 0)}
                for d in docstore.catalogue()]

    def tasks(self, agency: str | None = None, due_before: str | None = None, due_after: str | None = None,
              doc: str | None = None, status: str | None = None, where: DocFilter | None = None,
              history: bool = False, due_within: int | None = None) -> list[dict]:
        """The task table as `chidao tasks` filters it; ``doc`` matches a document id, or part of a title or
        of a source as shown (so that a filter cannot probe the server's folders)."""
        from assistant import tasktable

        docstore = self.assistant.docstore
        tasks = tasktable.select(docstore, agency or None, due_before or None, due_after or None,
                                 status=status or None, where=where, history=history)
        if due_within is not None:
            tasks = tasktable.due_soon(tasks, due_within)
        found = tasktable.rows(tasks, docstore)
        if doc:
            needle = doc.lower()
            keep = {d["doc_id"] for d in self.documents() if d["doc_id"] == doc or needle in d["title"].lower()
                    or any(needle in s.lower() for s in d["sources"])}
            found = [row for row in found if row["doc_id"] in keep]
        return [{**row, "source": docstore.public_source(row["source"]) if row["source"] else ""} for row in found]

    def failures(self, report: IndexReport) -> list[dict]:
        """A report's failed files as users see them: public sources, reasons without server folders."""
        docstore = self.assistant.docstore
        prefixes = sorted({str(Path(r).parent).rstrip("/") + "/" for r in docstore.indexed_roots()}
                          | {str(self.settings.home).rstrip("/") + "/"}, key=len, reverse=True)

        def scrub(text: str) -> str:
            for prefix in prefixes:
                text = text.replace(prefix, "")
            return text

        return [{"source": docstore.public_source(f.source), "reason": scrub(f.reason)} for f in report.failed]

    # --- admin ---
    def is_admin(self, headers: Mapping[str, str], password: str | None = None) -> bool:
        """An admin is the proxy header's user when named in ``admin_users``, or whoever gives the
        admin password."""
        s = self.settings
        if s.proxy_user_header:
            user = headers.get(s.proxy_user_header.lower()) or headers.get(s.proxy_user_header)
            if user and user in s.admins:
                return True
        if s.admin_password and password:
            return hmac.compare_digest(password.encode(), s.admin_password.get_secret_value().encode())
        return False

    @property
    def admin_configured(self) -> bool:
        return bool(self.settings.admin_password or (self.settings.proxy_user_header and self.settings.admins))

    def user(self, headers: Mapping[str, str]) -> str:
        header = self.settings.proxy_user_header
        return (headers.get(header.lower()) or headers.get(header) or "") if header else ""

    def save_uploads(self, files: list[tuple[str, BinaryIO]]) -> Uploaded:
        """Keep uploaded files in the uploads folder, under safe names, copied in bounded memory.

        A file replaces an earlier upload of the same name (a new version of that document); two files
        of the same name in one upload are both kept, the later one as ``name (2).txt``.

        Args:
            files: (the name the user gave, the open file).
        """
        result = Uploaded()
        folder = self.settings.uploads_path
        folder.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        limit = self.settings.max_upload_mb * 1024 * 1024
        for name, stream in files:
            safe = safe_filename(name)
            if not safe.lower().endswith(UPLOAD_SUFFIXES):
                result.rejected.append({"file": name, "reason": f"not a supported file type "
                                                                f"({', '.join(UPLOAD_SUFFIXES)})"})
                continue
            unique = _unused_name(safe, taken)
            taken.add(unique.lower())
            target = folder / unique
            try:
                with target.open("wb") as out:
                    copied = _copy(stream, out, limit)
            except OSError as exc:
                target.unlink(missing_ok=True)
                result.rejected.append({"file": name, "reason": f"could not be saved ({exc.strerror})"})
                continue
            if copied > limit:
                target.unlink(missing_ok=True)
                result.rejected.append({"file": name, "reason": f"larger than {self.settings.max_upload_mb} MB"})
                continue
            result.saved.append(unique)
            if unique != safe:
                result.renamed.append({"file": name, "saved_as": unique})
        return result

    def index(self, paths: list[str | Path], progress: bool = False) -> IndexReport:
        """Index files or folders (one run at a time; answering goes on meanwhile)."""
        if not self._index_lock.acquire(blocking=False):
            raise RuntimeError("an indexing run is already in progress; try again when it has finished")
        try:
            return self.assistant.indexer.run(paths, prune=self.settings.prune, progress=progress)
        finally:
            self.watcher.reopen()  # searches may hold a store opened before this run's writes
            self._index_lock.release()

    def reindex(self, progress: bool = False) -> IndexReport:
        """Run the indexer again over every file and folder indexed before (changed files are re-read,
        removed files pruned)."""
        roots = [r for r in self.assistant.docstore.indexed_roots() if Path(r).exists()]
        if not roots:
            raise ValueError("nothing has been indexed yet")
        return self.index(roots, progress=progress)


def check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question


def clean_history(history: list[dict] | None) -> list[dict]:
    """Previous turns as ``{"role": "user"|"assistant", "content": str}``; anything else is an error."""
    out = []
    for i, turn in enumerate(history or []):
        if not isinstance(turn, Mapping) or turn.get("role") not in ("user", "assistant") \
                or not isinstance(turn.get("content"), str):
            raise ValueError(f"history[{i}] must be {{'role': 'user'|'assistant', 'content': str}}")
        out.append({"role": turn["role"], "content": turn["content"]})
    return out[-20:]


def _unused_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).ext``, ``name (3).ext``... when an earlier file of the same upload has it."""
    if name.lower() not in taken:
        return name
    suffix = ".jsonl.gz" if name.lower().endswith(".jsonl.gz") else Path(name).suffix
    stem = name[: len(name) - len(suffix)]
    n = 2
    while f"{stem} ({n}){suffix}".lower() in taken:
        n += 1
    return f"{stem} ({n}){suffix}"


def _copy(source: BinaryIO, target: BinaryIO, limit: int, block: int = 1 << 20) -> int:
    """Copy at most ``limit`` + 1 bytes; returns how many were copied (over ``limit``: too large)."""
    copied = 0
    while copied <= limit:
        chunk = source.read(min(block, limit + 1 - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied


def safe_filename(name: str) -> str:
    """A file name without folders or odd characters (Vietnamese letters are kept)."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .") or "upload"
    return base[:150]
