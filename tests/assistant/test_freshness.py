"""A running server answers from what is in the index now: documents indexed by a `chidao index`
process on the same home are answered without a restart (finding 11)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE
from tests.web_support import free_port, running_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW_DOC = ("Thông báo kết luận thử nghiệm về cảng biển.\n\nBộ Giao thông vận tải chủ trì xây dựng Cơ sở dữ liệu "
           "cảng biển thông minh, hoàn thành trong tháng 10/2026.\n")
QUESTION = "Ai chủ trì xây dựng Cơ sở dữ liệu cảng biển thông minh?"


@pytest.mark.parametrize("retrieval", ["dense", "hybrid"])
def test_documents_indexed_by_another_process_are_answered(tmp_path, models_dir, embedder, retrieval):
    from assistant.settings import Settings

    shutil.copytree(SAMPLE, tmp_path / "corpus")
    settings = Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), retrieval=retrieval)
    with running_app(settings, embedder, [tmp_path / "corpus"]) as web, \
            httpx.Client(base_url=web.url, timeout=120) as client:
        before = client.post("/api/ask", json={"question": QUESTION}).json()
        assert "Bộ Giao thông vận tải" not in before["answer"]

        later = tmp_path / "later"
        later.mkdir()
        (later / "cang-bien.txt").write_text(NEW_DOC, encoding="utf-8")
        env = {**os.environ, "CHIDAO_HOME": str(settings.home), "CHIDAO_MODELS_DIR": str(models_dir),
               "CHIDAO_RETRIEVAL": retrieval, "HF_HUB_OFFLINE": "1"}
        chidao = Path(sys.executable).with_name("chidao")
        command = [str(chidao)] if chidao.exists() else [sys.executable, "-m", "cli"]
        run = subprocess.run([*command, "index", str(later), "-q"], env=env, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr

        assert len(client.get("/api/documents").json()) == 3
        after = client.post("/api/ask", json={"question": QUESTION}).json()
        assert "Bộ Giao thông vận tải" in after["answer"] and not after["refused"], after
        assert any(c["source"] == "later/cang-bien.txt" for c in after["citations"])
        assert web.service.watcher.reopened >= 1
        # what was there before is answered as before
        again = client.post("/api/ask", json={"question": "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?"}).json()
        assert "Bộ Y tế" in again["answer"]
