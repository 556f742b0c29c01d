"""The ``llm`` answering backend: a LangChain chat model, every answer checked before it is shown.

Small models invent facts. The model sees numbered passages (sentences and list items of the
retrieved chunks) and must cite them as ``[n]``. Its answer is kept only if every marker points to a
passage, and every number, date and agency name it states occurs in the passages it cites; otherwise
the extractive answer is returned instead, and the response says so.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

from assistant.answer import REFUSAL, Answer
from assistant.citations import markers
from assistant.compose import citations_for, conflicts, refusal
from assistant.extractive import ExtractiveAnswerer
from assistant.prompts import load_prompt
from assistant.settings import Settings
from assistant.units import Unit
from index.lang.facts import find_agencies
from index.lang.vietnamese import canonical_dates, fold

log = logging.getLogger(__name__)

_NUMBERS = re.compile(r"\d+(?:[.,/]\d+)*")
FALLBACK_NOTE = "Câu trả lời của mô hình không khớp với các đoạn trích dẫn; hiển thị câu trả lời trích xuất."


def make_chat_model(settings: Settings):
    """A LangChain chat model for the configured server (``local`` starts one in-process).

    Returns:
        (chat model, the started local server or None); the caller closes the server.
    """
    try:
        from langchain_openai import ChatOpenAI
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the llm backend needs: pip install 'chidao[llm]'") from None
    if not settings.llm_base_url:
        raise ValueError("CHIDAO_ANSWER_BACKEND=llm needs CHIDAO_LLM_BASE_URL (a server URL, or 'local')")
    server = None
    base_url, model = settings.llm_base_url, settings.llm_model
    if base_url == "local":
        from assistant.llm_local import LocalLLMServer, find_qwen_gguf

        gguf = settings.llm_gguf or find_qwen_gguf(settings.models_dir)
        server = LocalLLMServer(gguf).start()
        base_url, model = server.base_url, server.model_name
    chat = ChatOpenAI(base_url=base_url, model=model, api_key=settings.llm_api_key, temperature=0,
                      max_tokens=settings.llm_max_tokens, timeout=settings.llm_timeout_s, max_retries=1)
    return chat, server


def check_answer(text: str, passages: list[Unit]) -> str | None:
    """Why an LLM answer cannot be shown, or None when every claim is backed by its citations."""
    used = markers(text)
    if not used:
        return "no citation"
    if any(n < 1 or n > len(passages) for n in used):
        return f"citation outside the context ({used})"
    # Each sentence is checked against the passages it cites (or, uncited, against all cited ones).
    cited_all = " ".join(passages[n - 1].text for n in used)
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        if not sentence.strip():
            continue
        own = markers(sentence)
        if own and any(n < 1 or n > len(passages) for n in own):
            return "citation outside the context"
        support = " ".join(passages[n - 1].text for n in own) if own else cited_all
        support_dates = canonical_dates(support)
        for number in _NUMBERS.findall(re.sub(r"\[\d+\]", "", sentence)):
            if number not in support and canonical_dates(number) not in support_dates:
                return f"'{number}' is not in the cited passages"
        have = {m.canonical for m in find_agencies(support)}
        for agency in find_agencies(sentence):
            if agency.canonical not in have:
                return f"'{agency.value}' is not in the cited passages"
    return None


class LLMAnswerer:
    """Retrieval + a chat model + verification, with the extractive answer as the safety net.

    Args:
        chat: a LangChain chat model (``ChatOpenAI`` against any OpenAI-compatible server).
        extractive: the extractive answerer (its retriever and evidence scoring are reused).
        prompts_dir: folder of the prompt templates.
        passages: how many numbered passages the model sees.
        server: an in-process server to stop on :meth:`close`.
    """

    backend = "llm"
    streams = True  # words are printed as they arrive

    def __init__(self, chat, extractive: ExtractiveAnswerer, prompts_dir: Path, passages: int = 8, server=None):
        self.server = server
        self.chat = chat
        self.extractive = extractive
        self.prompt = load_prompt(prompts_dir, "answer.vi")
        self.passages = passages

    def close(self) -> None:
        """Stop an in-process server started for this model."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def _context(self, question: str, history: list[dict], scope: frozenset[str] | None = None):
        q = self.extractive.analyse(question, history, scope)
        hits = self.extractive.retriever.search(q.query, k=self.extractive.k, scope=q.scope)
        units = self.extractive.ranked(q, hits)[: self.passages]
        # Reading order inside each document reads better than score order.
        units.sort(key=lambda u: (u.doc_id, u.start))
        lines = [f"[{i}] ({u.hit.document.title[:60]}{', ' + u.hit.document.date if u.hit.document.date else ''}) "
                 f"{u.text}" for i, u in enumerate(units, start=1)]
        return q, hits, units, self.prompt.render(question=q.query, passages="\n".join(lines))

    def stream(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Iterator[str | Answer]:
        """Yield the model's text as it arrives, then the checked :class:`Answer` as the last item."""
        started = time.perf_counter()
        q, hits, units, prompt = self._context(question, history or [], scope)
        parts: list[str] = []
        try:
            for chunk in self.chat.stream(prompt):
                delta = chunk.content if isinstance(chunk.content, str) else ""
                if delta:
                    parts.append(delta)
                    yield delta
        except Exception as exc:  # the server died or timed out: the user still gets an answer
            log.warning("LLM call failed: %s", exc)
            answer = self.extractive.answer_from(q, hits)
            answer.backend, answer.note = "extractive", f"Máy chủ mô hình không trả lời ({type(exc).__name__})."
            yield answer
            return
        text = "".join(parts).strip()
        answer = self._checked(q, hits, units, text, question, history)
        answer.elapsed_ms = (time.perf_counter() - started) * 1000
        yield answer

    def answer(self, question: str, history: list[dict] | None = None,
               scope: frozenset[str] | None = None) -> Answer:
        """The checked answer (streams internally)."""
        final = None
        for item in self.stream(question, history, scope):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def _checked(self, q, hits, units: list[Unit], text: str, question: str, history) -> Answer:
        retrieved = [h.document.doc_id for h in hits]
        if fold(REFUSAL) in fold(text) and not markers(text):
            refused = refusal(q.text, hits, self.extractive.docstore)
            refused.backend, refused.retrieved = self.backend, retrieved
            return refused
        problem = check_answer(text, units)
        if problem is None:
            used = [units[n - 1] for n in markers(text)]
            citations, number = citations_for(used, self.extractive.docstore)
            if len(citations) == len(used):
                renumber = {n: number[i] for i, n in enumerate(markers(text))}
                shown = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber[int(m.group(1))]}]", text)
                answer = Answer(q.text, shown, refused=False, citations=citations, backend=self.backend)
                answer.conflicts = conflicts(used, number)
                answer.retrieved = retrieved
                return answer
            problem = "a cited passage failed verification"
        log.info("LLM answer rejected (%s): %r", problem, text[:200])
        fallback = self.extractive.answer_from(q, hits)  # the same passages: no second retrieval
        fallback.note = f"{FALLBACK_NOTE} ({problem})"
        fallback.retrieved = retrieved
        return fallback
