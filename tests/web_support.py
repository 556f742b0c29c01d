"""The real web app on 127.0.0.1 for API and browser tests (uvicorn in a thread of the test process)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

XSS_DOC = (
    """<img src=x onerror="window.__chidao_xss='title'"> Thông báo kết luận thử nghiệm an toàn hiển thị\n\n"""
    """Sở Kiểm thử <script>window.__chidao_xss='script'</script> chủ trì xây dựng Cổng dữ liệu kiểm thử an toàn, """
    """hoàn thành trong quý 4/2026. <img src=x onerror="window.__chidao_xss='img'"> Xem """
    """<a href="javascript:window.__chidao_xss='link'">hướng dẫn</a> và """
    """[tài liệu](javascript:window.__chidao_xss='md').\n"""
)


@dataclass
class RunningApp:
    url: str
    service: object
    settings: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, seconds: float, output) -> None:
    """Wait until a started `chidao serve` at ``url`` answers /healthz; fail with ``output()`` (its log) when
    the process exits first, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, output()
        assert time.monotonic() < deadline, f"not ready after {seconds:.0f} s"
        time.sleep(0.2)


@contextlib.contextmanager
def running_app(settings, embedder, corpus: list[Path]):
    """Index ``corpus`` into ``settings.home``, start the whole app, yield its address, stop it."""
    import uvicorn

    import webapp
    from assistant.build import build
    from assistant.service import Service

    service = Service(settings, build(settings, embedder=embedder))
    report = service.index(corpus)
    assert not report.failed, report.failed
    app = webapp.create_app(settings, service)
    # the settings chidao serve runs with (h11 with its head-size limit), on 127.0.0.1 always
    server = uvicorn.Server(webapp.server_config(app, settings.model_copy(update={"host": "127.0.0.1"}),
                                                 lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200 and server.started:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.2)
    try:
        yield RunningApp(url, service, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        service.close()
