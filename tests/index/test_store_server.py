"""The same pipeline against a real ``chroma run`` server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    log = open(tmp_path / "chroma.log", "w")
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "server-data")],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(tmp_path / 'chroma.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("chroma run did not start listening within 60 s")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_index_and_search_through_a_chroma_server(chroma_server, tmp_path, sample_dir, models_dir, embedder):
    from assistant.build import build
    from assistant.settings import Settings

    settings = Settings(home=tmp_path / "home", models_dir=models_dir, chroma_host="127.0.0.1",
                        chroma_port=chroma_server)
    assistant = build(settings, embedder=embedder)
    try:
        report = assistant.indexer.run([sample_dir])
        assert report.added == 2 and report.failed == []
        assert not settings.chroma_path.exists()  # nothing embedded locally: vectors live on the server
        assert assistant.vectors.count() == assistant.docstore.stats()["chunks"]
        hits = assistant.retriever.search("ai chịu trách nhiệm cơ sở dữ liệu y tế", k=3)
        assert "cơ sở dữ liệu ngành y tế" in hits[0].chunk.text.lower()
        assert assistant.indexer.run([sample_dir]).chunks == 0
    finally:
        assistant.close()

    # A second client (another process, another day) sees the same collection on the server.
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    assert client.get_collection(assistant.vectors.name).count() == report.chunks
