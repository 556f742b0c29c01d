"""Two `chidao serve` workers sharing one PostgreSQL store and one `chroma run` server (real processes): what one
is given, the other answers; what the command line indexes, both list; feedback given to one is exported by the
other; killing one leaves the other serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests import pg_support
from tests.conftest import ROOT, SAMPLE
from tests.index.test_store_server import chroma_server  # noqa: F401  (a fixture)
from tests.web_support import free_port, wait_healthy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = "mat-khau-quan-tri"
STAFF = "mat-khau-can-bo"
HTTP = httpx.Client(timeout=300)  # signed in through one worker (chat login on), used with both
NEW_DOC = ("THÔNG BÁO\nKết luận về kho dữ liệu khí tượng\n\n"
           "Bộ Nông nghiệp và Môi trường chủ trì xây dựng kho dữ liệu khí tượng thủy văn quốc gia, "
           "hoàn thành trong quý 2/2027.\n")
CLI_DOC = ("Bộ Xây dựng chủ trì xây dựng cơ sở dữ liệu nhà ở và thị trường bất động sản, "
           "hoàn thành trong tháng 8/2027.\n")


def _chidao() -> list[str]:
    exe = Path(sys.executable).with_name("chidao")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]


def _env(home: Path, models_dir: Path, database: str, chroma_port: int) -> dict:
    return {**os.environ, "CHIDAO_HOME": str(home), "CHIDAO_MODELS_DIR": str(models_dir),
            "CHIDAO_DATABASE_URL": database, "CHIDAO_CHROMA_HOST": "127.0.0.1", "CHIDAO_CHROMA_PORT": str(chroma_port),
            "CHIDAO_ADMIN_PASSWORD": ADMIN, "CHIDAO_CHAT_LOGIN": "true", "CHIDAO_CHAT_USERS": f"can-bo:{STAFF}",
            "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


@contextmanager
def _worker(env: dict, log: Path):
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([*_chidao(), "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, 180, log.read_text)
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _ask(url: str, question: str) -> dict:
    r = HTTP.post(f"{url}/api/ask", json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()


def test_two_workers_behave_as_one(pg_cluster, chroma_server, models_dir, tmp_path):  # noqa: F811
    database = pg_support.new_database(pg_cluster)
    env_a, env_b, env_cli = (_env(tmp_path / name, models_dir, database, chroma_server) for name in ("a", "b", "c"))
    subprocess.run([*_chidao(), "index", str(SAMPLE), "-q"], env=env_cli, check=True, capture_output=True)
    with _worker(env_a, tmp_path / "a.log") as (a, proc_a), _worker(env_b, tmp_path / "b.log") as (b, _):
        # one chat sign-in, made through worker A, holds on worker B (the session lives in the database)
        assert httpx.get(f"{b}/api/documents").status_code == 401
        login = HTTP.post(f"{a}/login", data={"username": "can-bo", "password": STAFF})
        assert login.status_code == 200, login.text
        assert HTTP.get(f"{b}/api/documents").status_code == 200
        question = "Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?"
        assert "tháng 3" in _ask(a, question)["answer"] and "tháng 3" in _ask(b, question)["answer"]

        # a document uploaded through one worker is answered by the other within a few seconds
        upload = HTTP.post(f"{a}/api/documents", headers={"X-Admin-Password": ADMIN},
                           files={"files": ("khi-tuong.txt", NEW_DOC.encode(), "text/plain")})
        assert upload.status_code == 200, upload.text
        deadline, answer = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            answer = _ask(b, "Ai chủ trì xây dựng kho dữ liệu khí tượng thủy văn quốc gia?")
            if "quý 2/2027" in answer["answer"]:
                break
            time.sleep(1)
        assert "quý 2/2027" in answer["answer"], answer

        # a task indexed from the command line appears in both task tables
        (tmp_path / "cli").mkdir()
        (tmp_path / "cli" / "nha-o.txt").write_text(CLI_DOC, encoding="utf-8")
        subprocess.run([*_chidao(), "index", "--no-prune", str(tmp_path / "cli"), "-q"], env=env_cli, check=True,
                       capture_output=True)
        for url in (a, b):
            leads = {t["lead"] for t in HTTP.get(f"{url}/api/tasks").json()}
            assert {"Bộ Xây dựng", "Bộ Nông nghiệp và Môi trường", "Bộ Công an"} <= leads

        # feedback given on one is exported from the other
        rated = _ask(a, question)
        given = HTTP.post(f"{a}/api/feedback", json={"question": question, "answer": rated, "rating": "up",
                                                     "comment": "góp ý qua máy A"})
        assert given.status_code == 201, given.text
        export = HTTP.get(f"{b}/api/feedback.csv", headers={"X-Admin-Password": ADMIN})
        assert export.status_code == 200 and "góp ý qua máy A" in export.text

        # one worker killed in the middle of an answer: the other goes on serving
        pending = threading.Thread(target=lambda: _try(lambda: _ask(a, question)), daemon=True)
        pending.start()
        time.sleep(0.05)
        proc_a.kill()
        proc_a.wait(timeout=30)
        assert "tháng 3" in _ask(b, question)["answer"]


def _try(call) -> None:
    try:
        call()
    except (httpx.HTTPError, AssertionError):
        pass  # the killed worker's answer is lost; that is the point
