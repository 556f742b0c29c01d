"""Admin sign-in for the web app: a signed cookie, the sign-in page at ``/admin/login``, and a throttle
on failed password attempts.

The cookie is signed (HMAC-SHA256 with ``session_secret``) and carries its own expiry, so that several
server processes on one home agree on who is signed in without sharing memory. Changing the admin
password invalidates every cookie issued under the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, MutableMapping

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assistant.settings import Settings

log = logging.getLogger(__name__)

COOKIE = "chidao-admin"
SESSION_S = 8 * 3600
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


def load_secret(settings: Settings) -> bytes:
    """The key that signs admin cookies: ``session_secret``, else a random key kept in
    ``CHIDAO_HOME/secret.key`` (mode 0600), created once and shared by every process on that home."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    if settings.database_url is not None:
        return shared_secret(settings.database_url.get_secret_value())
    path = settings.home / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # written whole under a temporary name, then linked into place: a second process starting at the
        # same moment either wins the link or reads the winner's complete key, never a half-written one
        tmp = path.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable key: delete it (a new one is made) or set CHIDAO_SESSION_SECRET")
    return key.encode()


def shared_secret(url: str) -> bytes:
    """The signing key kept in the shared PostgreSQL store: made by the first worker to ask, read by every
    other, so that an admin signed in on one worker is signed in on all of them."""
    from index.db import connect

    db = connect(url)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO secrets VALUES ('session', ?) ON CONFLICT(name) DO NOTHING", (secrets.token_hex(32),))
        return db.execute("SELECT value FROM secrets WHERE name = 'session'").fetchone()[0].encode()
    finally:
        db.close()


class SharedLogins(MutableMapping):
    """The chat login's session tokens (token -> user name) kept in the shared PostgreSQL store instead of one
    worker's memory, so that a user signed in through one worker is signed in on every other. Gradio's login
    writes and reads its ``tokens`` mapping; :func:`share_chat_logins` hands it this one."""

    def __init__(self, url: str, app: str):
        from index.db import connect

        self.db = connect(url)
        self.app = app
        self.db.execute("CREATE TABLE IF NOT EXISTS chat_logins (app TEXT NOT NULL, token TEXT NOT NULL, "
                        "name TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (app, token))")

    def __getitem__(self, token: str) -> str:
        row = self.db.execute("SELECT name FROM chat_logins WHERE app = ? AND token = ? AND created > ?",
                              (self.app, str(token), time.time() - SESSION_S)).fetchone()
        if row is None:
            raise KeyError(token)
        return row[0]

    def __setitem__(self, token: str, name: str) -> None:
        self.db.execute("INSERT INTO chat_logins VALUES (?, ?, ?, ?) ON CONFLICT(app, token) DO NOTHING",
                        (self.app, str(token), str(name), time.time()))

    def __delitem__(self, token: str) -> None:
        self.db.execute("DELETE FROM chat_logins WHERE app = ? AND token = ?", (self.app, str(token)))

    def __iter__(self):
        rows = self.db.execute("SELECT token FROM chat_logins WHERE app = ?", (self.app,)).fetchall()
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chat_logins WHERE app = ?", (self.app,)).fetchone()[0])


def share_chat_logins(settings: Settings, apps: dict[str, object]) -> None:
    """With a shared database and names-and-passwords chat login: every worker names the login cookie of
    each Gradio app the same way (Gradio draws a random name per process) and keeps its tokens in the
    database. ``apps``: mount path -> the mounted Gradio app."""
    if settings.database_url is None or not settings.chat_login or settings.proxy_user_header:
        return
    key = load_secret(settings)
    for path, app in apps.items():
        app.cookie_id = hmac.new(key, f"chat-login:{path}".encode(), hashlib.sha256).hexdigest()[:32]
        app.tokens = SharedLogins(settings.database_url.get_secret_value(), path or "/")


class AdminSessions:
    """Issues and checks the admin cookie: ``<expiry>.<hmac>``.

    Args:
        secret: the signing key (:func:`load_secret`).
        password: the admin password; cookies are bound to it. None: no password sign-in, no cookie is valid.
        lifetime_s: how long a sign-in lasts.
        clock: seconds since the epoch (tests pass their own).
    """

    def __init__(self, secret: bytes, password: str | None, lifetime_s: int = SESSION_S,
                 clock: Callable[[], float] = time.time):
        self.enabled = bool(password)
        bound = hashlib.sha256((password or "").encode()).digest()
        self._key = hmac.new(secret, b"chidao-admin-cookie\0" + bound, hashlib.sha256).digest()
        self.lifetime_s = lifetime_s
        self._clock = clock

    def _sign(self, expires: int) -> str:
        return hmac.new(self._key, f"admin|{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A fresh cookie value."""
        expires = int(self._clock()) + self.lifetime_s
        return f"{expires}.{self._sign(expires)}"

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a cookie this key issued that has not expired."""
        if not self.enabled or not value:
            return False
        expires, _, signature = value.partition(".")
        if not expires.isdigit() or len(expires) > 12:
            return False
        return hmac.compare_digest(signature.encode(), self._sign(int(expires)).encode()) \
            and int(expires) > self._clock()


class Throttle:
    """Failed password attempts per client address: the first ``free`` failures cost nothing; each later
    one locks the client out for twice as long as the one before (1 s, 2 s, 4 s, ... up to ``cap_s``).
    A success clears the client's record.

    Every password form shares one throttle (the admin password header, the admin sign-in page, the chat
    login), so a guesser cannot spread attempts over them. The record lives in this process: with several
    workers, each counts on its own.
    """

    def __init__(self, free: int = 5, base_s: float = 1.0, cap_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.free, self.base_s, self.cap_s = free, base_s, cap_s
        self._clock = clock
        self._max = max_clients
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[int, float, float]] = {}  # client -> (failures, locked until, last)

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait before its next attempt (0: it may try now)."""
        with self._lock:
            record = self._clients.get(client)
        return max(0.0, record[1] - self._clock()) if record else 0.0

    def failed(self, client: str) -> float:
        """Count a failed attempt; returns the lockout it starts (0 while failures are still free)."""
        now = self._clock()
        with self._lock:
            failures = self._clients.get(client, (0, 0.0, 0.0))[0] + 1
            lockout = 0.0 if failures <= self.free else min(self.cap_s, self.base_s * 2 ** (failures - self.free - 1))
            self._clients[client] = (failures, now + lockout, now)
            if len(self._clients) > self._max:
                self._forget(now)
        if lockout:
            log.warning("password attempts from %s: %d failed, locked out for %.0f s", client, failures, lockout)
        return lockout

    def succeeded(self, client: str) -> None:
        """Clear the client's failures."""
        with self._lock:
            self._clients.pop(client, None)

    def _forget(self, now: float) -> None:
        """Drop clients quiet for a while, then the oldest, so that many addresses cannot fill memory."""
        quiet = [c for c, (_, until, last) in self._clients.items() if until < now and now - last > 4 * self.cap_s]
        for client in quiet:
            del self._clients[client]
        for client, _ in sorted(self._clients.items(), key=lambda kv: kv[1][2])[: len(self._clients) - self._max]:
            del self._clients[client]


def _page(message: str = "", status: int = 200, headers: dict | None = None) -> HTMLResponse:
    note = f'<p class="msg">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>chidao — đăng nhập quản trị</title>
<style>body{{font-family:system-ui,"DejaVu Sans",sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}}
input,button{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}}
.msg{{color:#b91c1c}}</style></head><body>
<h1 style="font-size:1.2rem">chidao — quản trị</h1>{note}
<form method="post" action="login">
<label for="password">Mật khẩu quản trị</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Đăng nhập</button>
</form></body></html>"""
    return HTMLResponse(body, status_code=status,
                        headers={"Content-Security-Policy": _PAGE_POLICY, "Cache-Control": "no-store",
                                 **(headers or {})})


def add_admin_login(app: FastAPI, is_admin: Callable[[Request], bool], check_password: Callable[[str], bool],
                    sessions: AdminSessions, throttle: Throttle) -> None:
    """The sign-in page: ``GET /admin/login`` (a plain form, no script), ``POST /admin/login`` (sets the
    cookie and goes to ``/admin/``), ``GET /admin/logout``.

    Args:
        is_admin: whether a request already comes from an admin (proxy header or cookie).
        check_password: the constant-time admin password check.
    """

    def client(request: Request) -> str:
        return request.client.host if request.client else ""

    @app.get("/admin/login", include_in_schema=False)
    def login_page(request: Request) -> Response:
        if is_admin(request):
            return RedirectResponse("./", status_code=303)
        if not sessions.enabled:
            return _page("Chưa bật đăng nhập quản trị bằng mật khẩu: đặt CHIDAO_ADMIN_PASSWORD.", 403)
        return _page()

    @app.post("/admin/login", include_in_schema=False)
    def login(request: Request, password: str = Form("", max_length=1000)) -> Response:
        who = client(request)
        wait = throttle.retry_after(who)
        if wait:
            return _page(f"Sai mật khẩu quá nhiều lần: thử lại sau {int(wait) + 1} giây.", 429,
                         {"Retry-After": str(int(wait) + 1)})
        if not sessions.enabled:
            return _page("Chưa bật đăng nhập quản trị bằng mật khẩu: đặt CHIDAO_ADMIN_PASSWORD.", 403)
        if not check_password(password):
            throttle.failed(who)
            return _page("Sai mật khẩu quản trị.", 401)
        throttle.succeeded(who)
        response = RedirectResponse("./", status_code=303)
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        response.set_cookie(COOKIE, sessions.issue(), max_age=sessions.lifetime_s, path="/admin", httponly=True,
                            samesite="strict", secure=secure)
        return response

    @app.get("/admin/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("login", status_code=303)
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
        return response
