"""`chidao serve` as a user starts it: a real process, the sample corpus, the example page beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SAMPLE
from tests.web_support import free_port, wait_healthy

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_serve_starts_answers_and_stops(tmp_path, models_dir):
    env = {**os.environ, "CHIDAO_HOME": str(tmp_path / "home"), "CHIDAO_MODELS_DIR": str(models_dir),
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    chidao = [sys.executable, "-m", "cli"] if not Path(sys.executable).with_name("chidao").exists() \
        else [str(Path(sys.executable).with_name("chidao"))]
    subprocess.run([*chidao, "index", str(SAMPLE), "-q"], env=env, check=True, cwd=tmp_path, capture_output=True)
    port, page_port = free_port(), free_port()
    started = time.monotonic()
    proc = subprocess.Popen([*chidao, "serve", "--port", str(port), "--example-page", str(page_port)], env=env,
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, 120, proc.stderr.read)
        print(f"ready {time.monotonic() - started:.1f} s after start")
        r = httpx.post(f"{url}/api/ask", json={
            "question": "Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?"}, timeout=60)
        assert r.status_code == 200 and "tháng 3" in r.json()["answer"] and r.json()["citations"]
        assert httpx.get(f"{url}/").status_code == 200
        page = httpx.get(f"http://127.0.0.1:{page_port}/intranet.html")
        assert page.status_code == 200 and "gradio-app" in page.text and "/gradio.js" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read()
    assert "chidao ready in" in err and "example intranet page" in err
