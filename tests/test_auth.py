"""Chat login by setting (names and passwords, or a trusted proxy header) and admin rights from the
proxy header, against the real running app."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from tests.conftest import SAMPLE
from tests.web_support import free_port, running_app

pytestmark = pytest.mark.integration


def _app(tmp_path, models_dir, embedder, **settings):
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    return running_app(Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), **settings),
                       embedder, [corpus])


def test_chat_login_with_names_and_passwords(tmp_path, models_dir, embedder):
    with _app(tmp_path, models_dir, embedder, chat_login=True, chat_users="lan:mat-khau-1",
              admin_password="quan-tri") as web:
        assert httpx.get(f"{web.url}/config").status_code == 401
        assert httpx.get(f"{web.url}/widget/config").status_code == 401
        with httpx.Client(base_url=web.url) as c:
            bad = c.post("/login", data={"username": "lan", "password": "sai"})
            assert bad.status_code == 400
            assert c.get("/config").status_code == 401
            doc_id = web.service.documents()[0]["doc_id"]
            assert c.get(f"/doc/{doc_id}").status_code == 401  # the viewer follows the chat login
            assert c.get("/api/documents").status_code == 401  # so does the API without a token
            ok = c.post("/login", data={"username": "lan", "password": "mat-khau-1"})
            assert ok.status_code == 200
            assert c.get("/config").status_code == 200
            assert c.get(f"/doc/{doc_id}").status_code == 200
            assert len(c.get("/api/documents").json()) == 2
        with httpx.Client(base_url=web.url) as c:  # the admin signs in as 'admin'
            assert c.post("/login", data={"username": "admin", "password": "quan-tri"}).status_code == 200
            assert c.get("/config").status_code == 200


GRADIO_ROUTES = [("GET", "/gradio_api/info"), ("GET", "/gradio_api/heartbeat/abc"), ("POST", "/gradio_api/queue/join"),
                 ("POST", "/gradio_api/call/ask"), ("POST", "/gradio_api/reset"), ("POST", "/gradio_api/upload"),
                 ("GET", "/gradio_api/startup-events"), ("GET", "/gradio_api/queue/data?session_hash=abc")]


def test_chat_login_covers_gradios_routes(tmp_path, models_dir, embedder):
    """Every Gradio route of the staff app and the widget needs the chat login, except the login form and
    the static files it needs (finding 1c)."""
    with _app(tmp_path, models_dir, embedder, chat_login=True, chat_users="lan:mat-khau-1") as web:
        for prefix in ("", "/widget"):
            for method, path in GRADIO_ROUTES:
                r = httpx.request(method, f"{web.url}{prefix}{path}", json={"data": [], "fn_index": 0})
                assert r.status_code == 401, (prefix, path, r.status_code, r.text)
            page = httpx.get(f"{web.url}{prefix}/")
            assert page.status_code == 200 and "auth_required" in page.text  # the login form
            assert httpx.get(f"{web.url}{prefix}/theme.css").status_code == 200
        with httpx.Client(base_url=web.url) as c:
            assert c.post("/login", data={"username": "lan", "password": "mat-khau-1"}).status_code == 200
            assert c.get("/gradio_api/info").status_code == 200
            assert c.post("/gradio_api/upload").status_code == 404  # signed in, but the chat takes no files


def test_admin_sign_in_page_sets_a_signed_cookie(tmp_path, models_dir, embedder):
    """/admin/login: a plain form; the right password sets an HttpOnly, SameSite=Strict cookie that opens
    /admin/; anything else is refused before Gradio sees it."""
    with _app(tmp_path, models_dir, embedder, admin_password="quan-tri") as web:
        assert (tmp_path / "home" / "secret.key").stat().st_mode & 0o777 == 0o600
        page = httpx.get(f"{web.url}/admin/login")
        assert page.status_code == 200 and '<form method="post"' in page.text and "<script" not in page.text
        for path in ("/admin/", "/admin"):
            r = httpx.get(f"{web.url}{path}")
            assert r.status_code == 303 and httpx.URL(f"{web.url}{path}").join(r.headers["location"]).path == \
                "/admin/login"
        for method, path in [("GET", "/admin/config"), ("POST", "/admin/gradio_api/queue/join"),
                             ("POST", "/admin/gradio_api/upload"), ("GET", "/admin/gradio_api/info"),
                             ("GET", "/admin/gradio_api/file=/etc/passwd")]:
            assert httpx.request(method, f"{web.url}{path}").status_code == 403, path
        with httpx.Client(base_url=web.url) as c:
            assert c.post("/admin/login", data={"password": "sai"}).status_code == 401
            assert c.get("/admin/config").status_code == 403
            ok = c.post("/admin/login", data={"password": "quan-tri"})
            assert ok.status_code == 303 and ok.headers["location"] == "./"
            cookie = ok.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
            assert c.get("/admin/config").status_code == 200
            assert c.get("/admin/").status_code == 200
            value = c.cookies.get("chidao-admin")
            forged = value[:-1] + ("0" if value[-1] != "0" else "1")
            expired = "1." + value.split(".", 1)[1]
        for bad in (forged, expired, "9999999999.00", ""):
            assert httpx.get(f"{web.url}/admin/config", cookies={"chidao-admin": bad}).status_code == 403
        assert httpx.get(f"{web.url}/admin/config", headers={"X-Admin-Password": "quan-tri"}).status_code == 200


def test_wrong_passwords_are_throttled_per_client(tmp_path, models_dir, embedder):
    """Five free failures, then each wrong password locks the client out for longer, answered 429 (even
    for the right password); after the wait the right password works again (finding 5)."""
    with _app(tmp_path, models_dir, embedder, chat_login=True, chat_users="lan:mat-khau-1",
              admin_password="quan-tri") as web:
        attempts = {
            "X-Admin-Password": lambda pw: httpx.get(f"{web.url}/admin/config",
                                                     headers={"X-Admin-Password": pw}).status_code,
            "admin sign-in form": lambda pw: httpx.post(f"{web.url}/admin/login", data={"password": pw}).status_code,
            "chat login": lambda pw: httpx.post(f"{web.url}/widget/login", data={
                "username": "lan", "password": "mat-khau-1" if pw == "quan-tri" else pw}).status_code,
        }
        for kind, attempt in attempts.items():
            statuses = [attempt(f"sai-{i}") for i in range(8)]
            assert statuses[:5] == [statuses[0]] * 5 and statuses[0] in (400, 401, 403), (kind, statuses)
            assert statuses[6:] == [429, 429], (kind, statuses)
            r = httpx.post(f"{web.url}/admin/login", data={"password": "quan-tri"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, kind  # no check while locked
            time.sleep(int(r.headers["retry-after"]))
            assert attempt("quan-tri") in (200, 303), kind  # the wait is over; success clears the count
            assert attempt("sai") != 429, kind
            attempt("quan-tri")


def test_trusted_proxy_header_signs_in_and_names_admins(tmp_path, models_dir, embedder):
    with _app(tmp_path, models_dir, embedder, chat_login=True, proxy_user_header="X-Forwarded-User",
              admin_users="chanh.vp") as web:
        assert httpx.get(f"{web.url}/config").status_code == 401
        assert httpx.get(f"{web.url}/config", headers={"X-Forwarded-User": "nhan.vien"}).status_code == 200
        doc = f"{web.url}/doc/{web.service.documents()[0]['doc_id']}"
        assert httpx.get(doc).status_code == 401
        assert httpx.get(doc, headers={"X-Forwarded-User": "nhan.vien"}).status_code == 200
        csv = f"{web.url}/api/feedback.csv"
        assert httpx.get(csv, headers={"X-Forwarded-User": "nhan.vien"}).status_code == 403
        assert httpx.get(csv, headers={"X-Forwarded-User": "chanh.vp"}).status_code == 200
        admin = f"{web.url}/admin/config"
        assert httpx.get(admin, headers={"X-Forwarded-User": "nhan.vien"}).status_code == 403
        assert httpx.get(admin, headers={"X-Forwarded-User": "chanh.vp"}).status_code == 200
        assert web.service.is_admin({"x-forwarded-user": "chanh.vp"})
        assert not web.service.is_admin({"x-forwarded-user": "nhan.vien"}, "any password")


def test_admin_actions_are_off_without_configuration(tmp_path, models_dir, embedder):
    with _app(tmp_path, models_dir, embedder) as web:
        r = httpx.post(f"{web.url}/api/reindex", headers={"X-Admin-Password": ""})
        assert r.status_code == 403 and "CHIDAO_ADMIN_PASSWORD" in r.json()["detail"]
        assert httpx.get(f"{web.url}/config").status_code == 200  # chat open by default
