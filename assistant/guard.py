"""The guard in front of the whole web app: a pure ASGI middleware that decides what a request may do
*before* anything reads its body.

What it enforces, in this order:

1. the request head (request line and headers) is at most ``max_header`` bytes (431);
2. admin routes (``/admin/*``, the admin API) only for admins, with failed passwords throttled (403, 429);
   a signed-out visitor's ``GET /admin/`` is sent to the sign-in page;
3. with the chat login on, every route of the staff app and the widget needs a signed-in user, except
   what the login form itself needs (401); the Gradio login is throttled like every password form;
4. with an API token, Gradio's programmatic API (``/gradio_api/call|run|api/...``) needs it (401); the
   staff app and the widget take no files (``/gradio_api/upload`` is 404);
5. bodies are at most ``max_body`` bytes, uploads ``max_upload`` (413), checked against Content-Length up
   front and counted as they stream (chunked bodies);
6. Gradio event bodies are read here (bounded), and refused (400) when they are not JSON, hold text that
   is not valid Unicode, or name a file: the staff app and the widget take none, the admin app only
   what Gradio's own upload route put in its upload folder.

Why the last point: Gradio copies every file object of an event's input into its cache before the
event's function runs, and its own "was this uploaded here?" check is skipped for apps mounted with
``gr.mount_gradio_app`` (it looks at ``Blocks.has_launched``). A forged event naming ``/dev/zero`` froze
the server; naming any other file copied it into a cache anyone can read.

This module does not import gradio: the web app (``webapp.py``) passes the upload folder in.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from starlette.requests import HTTPConnection

from assistant.signin import Throttle

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# chidao's own FastAPI routes; every other path belongs to one of the mounted Gradio apps
OWN_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/gradio.js",
                       "/admin/login", "/admin/logout"})
OWN_PREFIXES = ("/api/", "/doc/")
ADMIN_API = frozenset({("GET", "/api/feedback.csv"), ("GET", "/api/feedback.jsonl"), ("POST", "/api/documents"),
                       ("POST", "/api/reindex")})
UPLOAD_API = ("POST", "/api/documents")
MOUNTS = (("/widget", "widget"), ("/admin", "admin"))  # everything else is the staff app at /
# within a Gradio app: what a signed-out visitor needs to see and submit the login form
LOGIN_OPEN = frozenset({"", "/", "/login", "/login/", "/favicon.ico", "/theme.css", "/gradio_api/theme.css",
                        "/manifest.json", "/robots.txt"})
LOGIN_OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
# The API's description (/gradio_api/info) stays open: the widget as a web component cannot send a
# single event without it, and every page already carries the same description.
PROGRAMMATIC_PREFIXES = ("/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/")
# the browser runs events that skip the queue (an example's click) through /run/predict by fn_index:
# not the programmatic API; the one function with an API name (`ask`) checks the token itself
UI_ROUTES = frozenset({"/gradio_api/run/predict", "/gradio_api/run/predict/", "/gradio_api/api/predict",
                       "/gradio_api/api/predict/"})
GRADIO_UPLOAD = "/gradio_api/upload"
NO_FILES = frozenset({GRADIO_UPLOAD, "/gradio_api/process_recording"})  # no file inputs in staff app or widget
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class GuardConfig:
    """What the guard needs to know; built by ``webapp.create_app``.

    Attributes:
        upload_folder: Gradio's upload folder (``gradio.utils.get_upload_folder()``).
        signed_in: whether a request passes the chat login (Gradio's session cookie or the proxy header).
        trusted_admin: whether a request comes from an admin without a password (proxy header, signed cookie).
        check_password: the constant-time admin password check (False when none is set).
        admin_configured: whether any way to be an admin is configured (for the message).
    """

    upload_folder: str
    max_header: int
    max_body: int
    max_upload: int
    api_token: str | None
    chat_login: bool
    signed_in: Callable[[HTTPConnection], bool]
    trusted_admin: Callable[[HTTPConnection], bool]
    check_password: Callable[[str], bool]
    admin_configured: bool
    throttle: Throttle


class _Gone(Exception):
    """The client went away while its body was being read: there is no one to answer."""


class Refused(Exception):
    """A request the guard answers itself."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def route_of(path: str) -> tuple[str | None, str]:
    """(Gradio app, path within it) for a request path; app None for chidao's own routes."""
    if path in OWN_PATHS or path.startswith(OWN_PREFIXES):
        return None, path
    for prefix, name in MOUNTS:
        if path == prefix or path.startswith(prefix + "/"):
            return name, path[len(prefix):]
    return "staff", path


def inside_folder(path: Any, folder: str) -> bool:
    """Whether ``path`` names a file strictly inside ``folder`` (absolute, no ``..``, symlinks resolved)."""
    if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
        return False
    if ".." in PurePosixPath(path).parts:
        return False
    root = os.path.realpath(folder)
    return os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep)


def check_event(data: Any, upload_folder: str | None) -> None:
    """Raise :class:`Refused` when a Gradio event body holds invalid text or a file it may not name.

    Args:
        data: the parsed JSON body.
        upload_folder: where files may come from; None: no file object at all is accepted.
    """
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise Refused(400, "text with a lone surrogate is not valid Unicode")
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            meta = value.get("meta")
            if "path" in value or (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"):
                if upload_folder is None:
                    raise Refused(400, "this app takes no files")
                if not inside_folder(value.get("path"), upload_folder):
                    raise Refused(400, "a file must be uploaded first (only Gradio's upload folder is accepted)")
            stack.extend(value.keys())
            stack.extend(value.values())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")  # two "path"s: which one would Gradio read?
    return dict(pairs)


def parse_event(body: bytes) -> Any:
    """A Gradio event body as JSON, or :class:`Refused`."""
    try:
        return json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise Refused(400, "the body must be a JSON object (UTF-8, no duplicate keys)") from None


class Guard:
    """ASGI middleware; see the module's docstring.

    Example:
        >>> app.add_middleware(Guard, config=GuardConfig(...))  # doctest: +SKIP
    """

    def __init__(self, app, config: GuardConfig):
        self.app = app
        self.config = config
        self.folder = os.path.realpath(config.upload_folder)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # nothing here speaks WebSocket (Gradio 6 streams over SSE)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._http(scope, receive, send)
        except Refused as refused:
            await _reply(send, refused.status, refused.detail, refused.headers)
        except _Gone:
            pass

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        c = self.config
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
            len(k) + len(v) + 4 for k, v in scope["headers"])
        if head > c.max_header:
            raise Refused(431, f"the request head is larger than {c.max_header // 1024} KB")
        conn = HTTPConnection(scope)
        method, path = scope["method"], scope["path"]
        app, sub = route_of(path)
        client = conn.client.host if conn.client else ""
        if (method, path) in ADMIN_API:
            self._token(conn)
            if not self._admin(conn, client):
                raise Refused(403, "admin only: send the admin password in the X-Admin-Password header"
                              if c.admin_configured else "admin actions are off: set CHIDAO_ADMIN_PASSWORD (or a "
                              "proxy user header and CHIDAO_ADMIN_USERS)")
        if app == "admin" and not self._admin(conn, client):
            if method in ("GET", "HEAD") and sub in ("", "/"):
                raise Refused(303, "sign in first", {"Location": "login" if sub else "admin/login"})
            raise Refused(403, "admin only: sign in at /admin/login")
        login = app in ("staff", "widget") and method == "POST" and sub in ("/login", "/login/")
        if app in ("staff", "widget"):
            if c.chat_login and sub not in LOGIN_OPEN and not sub.startswith(LOGIN_OPEN_PREFIXES) \
                    and not c.signed_in(conn):
                raise Refused(401, "sign in first (chat login is on)")
            if sub in NO_FILES:
                raise Refused(404, "this app takes no files")
            if c.api_token and sub.startswith(PROGRAMMATIC_PREFIXES) and sub not in UI_ROUTES:
                self._token(conn)
        if login:
            wait = c.throttle.retry_after(client)
            if wait:
                raise _too_many(wait)
            send = _watch_login(send, c.throttle, client)

        upload = (method, path) == UPLOAD_API or (app == "admin" and sub == GRADIO_UPLOAD)
        limit = c.max_upload if upload else c.max_body
        length = conn.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "bad Content-Length")
            if int(length) > limit:
                raise _too_large(limit)
        if app is not None and method == "POST" and not login and not upload:
            body = await _read(receive, limit)
            if body:
                check_event(parse_event(body), self.folder if app == "admin" else None)
            await self.app(scope, _replay(body, receive), send)
            return
        await self._counted(scope, receive, send, limit)

    def _token(self, conn: HTTPConnection) -> None:
        """The API token, when one is set (constant-time)."""
        token = self.config.api_token
        if token is None:
            if self.config.chat_login and not self.config.signed_in(conn):
                raise Refused(401, "sign in first (chat login is on), or use an API token")
            return
        scheme, _, given = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Refused(401, "missing or wrong API token (header 'Authorization: Bearer <token>')",
                          {"WWW-Authenticate": "Bearer"})

    def _admin(self, conn: HTTPConnection, client: str) -> bool:
        """An admin by proxy header or signed cookie, or by a correct X-Admin-Password (throttled)."""
        c = self.config
        if c.trusted_admin(conn):
            return True
        given = conn.headers.get("x-admin-password")
        if not given:
            return False
        wait = c.throttle.retry_after(client)
        if wait:
            raise _too_many(wait)
        if c.check_password(given):
            c.throttle.succeeded(client)
            return True
        c.throttle.failed(client)
        return False

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass the request on, counting body bytes as they come; over ``limit``, the app is cut off and
        the client gets 413 (unless the app has already answered)."""
        state = {"size": 0, "over": False, "started": False}

        async def counting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["size"] += len(message.get("body", b""))
                if state["size"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}  # the app stops reading: it sees a client gone
            return message

        async def sending(message: Message) -> None:
            if state["over"] and not state["started"]:
                return  # the app's answer to a body it never got whole is replaced by the 413 below
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _reply(send, 413, _too_large(limit).detail)


def _too_large(limit: int) -> Refused:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return Refused(413, f"the request body is larger than {size}")


def _too_many(wait: float) -> Refused:
    seconds = int(wait) + 1
    return Refused(429, f"too many wrong passwords: try again in {seconds} s", {"Retry-After": str(seconds)})


async def _read(receive: Receive, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (413 beyond)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read here once, then the client's later messages (disconnect)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _watch_login(send: Send, throttle: Throttle, client: str) -> Send:
    """Gradio's login answers 200 for a right password and 400 for a wrong one: count them."""

    async def watching(message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] == 200:
                throttle.succeeded(client)
            elif message["status"] == 400:
                throttle.failed(client)
        await send(message)

    return watching


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if status in (400, 413, 431):  # the body may be unread: do not try to read the next request from it
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
