"""The web app ``chidao serve`` runs: the HTTP API, the widget at ``/widget`` and the staff app at ``/``
on one FastAPI app, plus the sign-in glue between chidao's routes and Gradio's login.

The only shared object is the :class:`~assistant.service.Service`, built once per app.
"""

from __future__ import annotations

import functools
import hmac
import http.server
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402

import ui  # noqa: E402
from assistant.api import create_api  # noqa: E402
from assistant.service import Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def _auth(service: Service) -> dict:
    """Chat login by setting: the trusted proxy header, or names and passwords."""
    settings = service.settings
    if not settings.chat_login:
        return {}
    if settings.proxy_user_header:
        header = settings.proxy_user_header.lower()
        return {"auth_dependency": lambda request: request.headers.get(header) or None}
    logins = settings.chat_logins()
    if not logins:
        raise ValueError("chat_login is on but there is no login: set CHIDAO_CHAT_USERS or CHIDAO_ADMIN_PASSWORD")
    def check(name: str, password: str) -> bool:
        expected = logins.get(name)
        return expected is not None and hmac.compare_digest(password.encode(), expected.encode())

    return {"auth": check, "auth_message": "Đăng nhập để dùng chidao."}


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The whole web app: API routes, the web component's loader, the widget at ``/widget``, the staff
    app at ``/`` (mounted last: it takes every path not claimed before it)."""
    settings = settings or Settings()
    service = service or Service(settings)
    app = create_api(service)
    loader = (Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js").read_text(encoding="utf-8")

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js() -> Response:
        """The ``<gradio-app>`` web component's entry module, from the installed gradio package (no CDN);
        it imports ``./assets/...``, which the staff app mounted at ``/`` serves."""
        return Response(loader, media_type="text/javascript")

    common = dict(css=ui.CSS, theme=ui.THEME, head=ui.HEAD, footer_links=["api"], run_history=False,
                  ssr_mode=False, show_error=True, max_file_size=f"{settings.max_upload_mb}mb",
                  server_name=settings.host, server_port=settings.port, **_auth(service))
    gr.mount_gradio_app(app, ui.widget_app(service), path="/widget", **common)
    gr.mount_gradio_app(app, ui.full_app(service), path="", **common)
    app.state.signed_in = _signed_in(settings, [r.app for r in app.routes if hasattr(r.app, "tokens")])
    return app


def _signed_in(settings: Settings, gradio_apps: list):
    """Whether a request passes the chat login, for chidao's own routes (document viewer, API without a
    token). With a proxy header, its presence; with names and passwords, the session cookie that Gradio's
    login set (Gradio names it ``access-token[-unsecure]-<cookie_id>`` and keeps its tokens in memory)."""
    header = (settings.proxy_user_header or "").lower()

    def check(request) -> bool:
        if not settings.chat_login:
            return True
        if header:
            return bool(request.headers.get(header))
        for sub in gradio_apps:
            for name in (f"access-token-{sub.cookie_id}", f"access-token-unsecure-{sub.cookie_id}"):
                if request.cookies.get(name) in sub.tokens:
                    return True
        return False

    return check


def serve(settings: Settings, host: str | None = None, port: int | None = None,
          example_page: int | None = None, started: float | None = None) -> None:
    """Run the app with uvicorn until interrupted (and the example host page on its own port).
    ``started``: a ``time.perf_counter()`` reading of when the command began, for the ready message."""
    import uvicorn

    started = started if started is not None else time.perf_counter()
    settings = settings.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v})
    service = Service(settings)
    service.warm_up()
    app = create_app(settings, service)
    if example_page:
        _serve_example_page(settings, example_page)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    server = uvicorn.Server(config)

    def announce() -> None:  # once the socket is bound, not before
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            print(f"chidao ready in {time.perf_counter() - started:.1f} s: http://{settings.host}:{settings.port}",
                  file=sys.stderr, flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


def _serve_example_page(settings: Settings, port: int) -> None:
    """Serve examples/ on another port (another origin), to show the widget embedded."""
    folder = Path(__file__).resolve().parent / "examples"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer((settings.host, port), handler)
    except OSError as exc:  # the example is a convenience: the app starts anyway
        print(f"example intranet page not served on port {port}: {exc}", file=sys.stderr, flush=True)
        return
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"example intranet page: http://{settings.host}:{port}/intranet.html"
          f"?chidao=http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
