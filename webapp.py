"""The web app ``chidao serve`` runs: the HTTP API, the admin app at ``/admin`` (with its sign-in page),
the widget at ``/widget`` and the staff app at ``/`` on one FastAPI app, behind the guard
(:mod:`assistant.guard`), plus the sign-in glue between chidao's routes and Gradio's login.

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
from fastapi import FastAPI, HTTPException, Request, Response  # noqa: E402

import ui  # noqa: E402
import ui_admin  # noqa: E402
from assistant.api import create_api  # noqa: E402
from assistant.guard import Guard, GuardConfig  # noqa: E402
from assistant.service import Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.signin import (  # noqa: E402
    COOKIE,
    AdminSessions,
    Throttle,
    add_admin_login,
    load_secret,
    share_chat_logins,
)


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
    """The whole web app: API routes, the web component's loader, the admin sign-in page and the admin app
    at ``/admin``, the widget at ``/widget``, the staff app at ``/`` (mounted last: it takes every path
    not claimed before it), all behind the guard."""
    settings = settings or Settings()
    service = service or Service(settings)
    app = create_api(service)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    sessions = AdminSessions(load_secret(settings), password)
    throttle = Throttle()

    def trusted_admin(request) -> bool:
        """An admin without a password in this request: the proxy header's user, or the signed cookie."""
        return service.is_admin(request.headers) or sessions.valid(request.cookies.get(COOKIE))

    def check_password(given: str) -> bool:
        return service.is_admin({}, given)

    def is_admin(request) -> bool:
        return trusted_admin(request) or check_password(request.headers.get("x-admin-password") or "")

    add_admin_login(app, trusted_admin, check_password, sessions, throttle)
    _add_admin_exports(app, service, is_admin)
    loader = (Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js").read_text(encoding="utf-8")

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js() -> Response:
        """The ``<gradio-app>`` web component's entry module, from the installed gradio package (no CDN);
        it imports ``./assets/...``, which the staff app mounted at ``/`` serves."""
        return Response(loader, media_type="text/javascript")

    import assistant

    bubble_js = Path(assistant.__file__).parent / "static" / "embed.js"

    @app.get("/embed.js", include_in_schema=False)
    def embed_js() -> Response:
        """The chat bubble any intranet page embeds with one ``<script>`` tag (plain JavaScript, no CDN)."""
        return Response(bubble_js.read_bytes(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    common = dict(css=ui.CSS, theme=ui.THEME, head=ui.HEAD, footer_links=["api"], run_history=False,
                  ssr_mode=False, show_error=True, max_file_size=f"{settings.max_upload_mb}mb",
                  server_name=settings.host, server_port=settings.port)
    upload_folder = gr.utils.get_upload_folder()
    # the admin app has no chat login of its own: the guard lets only admins reach it
    admin = ui_admin.admin_app(service, is_admin, upload_folder)
    widget, staff = ui.widget_app(service), ui.full_app(service)
    gr.mount_gradio_app(app, admin, path="/admin", **common)
    gr.mount_gradio_app(app, widget, path="/widget", **common, **_auth(service))
    gr.mount_gradio_app(app, staff, path="", **common, **_auth(service))
    for blocks in (admin, widget, staff):
        # Gradio accepts an event's input files only from its upload folder once the Blocks "has
        # launched", which launch() sets and mount_gradio_app never does: without this, any server path
        # named in an event is copied into Gradio's cache. The guard refuses such events first; this
        # keeps Gradio's own check as a second line.
        blocks.has_launched = True
    mounted = {r.path: r.app for r in app.routes if hasattr(r.app, "tokens")}
    share_chat_logins(settings, mounted)  # workers on one database: one chat sign-in for all of them
    signed_in = _signed_in(settings, list(mounted.values()))
    app.state.signed_in = signed_in
    app.state.throttle = throttle
    app.add_middleware(Guard, config=GuardConfig(
        upload_folder=upload_folder, max_header=settings.max_header_kb * 1024,
        max_body=settings.max_request_kb * 1024, max_upload=settings.max_upload_mb * 1024 * 1024,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        chat_login=settings.chat_login, signed_in=signed_in, trusted_admin=trusted_admin,
        check_password=check_password, admin_configured=service.admin_configured, throttle=throttle))
    return app


def _add_admin_exports(app: FastAPI, service: Service, is_admin) -> None:
    """The admin app's downloads (registered before the admin app is mounted at ``/admin``, which would
    otherwise take these paths): served from the feedback store, never through Gradio's file cache."""
    import json

    # (Request is imported at module level: FastAPI resolves these string annotations in the module's
    # globals; a local import made ``request`` a required query parameter, and every download a 422.)
    def check(request: Request) -> None:
        if not is_admin(request):  # the guard refused non-admins already; this is the second line
            raise HTTPException(403, "admin only")

    @app.get("/admin/export/feedback.csv", include_in_schema=False)
    def feedback_csv(request: Request) -> Response:
        check(request)
        return Response("\ufeff" + service.feedback.to_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="chidao-feedback.csv"'})

    @app.get("/admin/export/feedback.jsonl", include_in_schema=False)
    def feedback_jsonl(request: Request) -> Response:
        check(request)
        lines = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in service.feedback.to_testset())
        return Response(lines, media_type="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="chidao-feedback-testset.jsonl"'})


def server_config(app, settings: Settings, **options):
    """uvicorn's settings for the app: the h11 parser, whose limit on an incomplete request head is
    ``max_header_kb`` (the faster httptools parser has none: an 8 MB header was accepted)."""
    import uvicorn

    options.setdefault("log_level", "warning")
    return uvicorn.Config(app, host=settings.host, port=settings.port, http="h11",
                          h11_max_incomplete_event_size=settings.max_header_kb * 1024, **options)


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
    server = uvicorn.Server(server_config(app, settings))

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
