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
from pathlib import Path

from assistant.answer import Answer
from assistant.build import Assistant, build
from assistant.feedback import FeedbackStore
from assistant.settings import Settings
from index.pipeline import IndexReport

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf", ".jsonl", ".jsonl.gz")
MAX_QUESTION_CHARS = 2000


class Service:
    """The assistant behind every web edge, with the few things they add around it."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None):
        self.settings = settings
        self.assistant = assistant or build(settings)
        self.feedback = FeedbackStore(settings.feedback_path)
        self._index_lock = threading.Lock()

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
    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        return self.assistant.ask(check_question(question), clean_history(history))

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """The answer's text as it comes (live with an LLM), then the checked :class:`Answer`."""
        return self.assistant.answerer.stream(check_question(question), clean_history(history))

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
        counts = self.assistant.docstore.task_counts()
        return [{**d, "tasks": counts.get(d["doc_id"], 0)} for d in self.assistant.docstore.catalogue()]

    def tasks(self, agency: str | None = None, due_before: str | None = None, due_after: str | None = None,
              doc: str | None = None) -> list[dict]:
        from assistant import tasktable

        docstore = self.assistant.docstore
        return tasktable.rows(tasktable.select(docstore, agency or None, due_before or None, due_after or None,
                                               doc or None), docstore)

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

    def save_upload(self, name: str, data: bytes) -> Path:
        """Keep an uploaded file under the uploads folder (a safe name; a new name never overwrites
        another file's)."""
        safe = safe_filename(name)
        if not safe.lower().endswith(UPLOAD_SUFFIXES):
            raise ValueError(f"{name}: not a supported file type ({', '.join(UPLOAD_SUFFIXES)})")
        if len(data) > self.settings.max_upload_mb * 1024 * 1024:
            raise ValueError(f"{name}: larger than {self.settings.max_upload_mb} MB")
        folder = self.settings.uploads_path
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / safe
        target.write_bytes(data)
        return target

    def index(self, paths: list[str | Path], progress: bool = False) -> IndexReport:
        """Index files or folders (one run at a time; answering goes on meanwhile)."""
        if not self._index_lock.acquire(blocking=False):
            raise RuntimeError("an indexing run is already in progress; try again when it has finished")
        try:
            return self.assistant.indexer.run(paths, prune=self.settings.prune, progress=progress)
        finally:
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


def safe_filename(name: str) -> str:
    """A file name without folders or odd characters (Vietnamese letters are kept)."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .") or "upload"
    return base[:150]
