"""Chat login by setting (names and passwords, or a trusted proxy header) and admin rights from the
proxy header, against the real running app."""

from __future__ import annotations

import shutil

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
        assert web.service.is_admin({"x-forwarded-user": "chanh.vp"})
        assert not web.service.is_admin({"x-forwarded-user": "nhan.vien"}, "any password")


def test_admin_actions_are_off_without_configuration(tmp_path, models_dir, embedder):
    with _app(tmp_path, models_dir, embedder) as web:
        r = httpx.post(f"{web.url}/api/reindex", headers={"X-Admin-Password": ""})
        assert r.status_code == 403 and "CHIDAO_ADMIN_PASSWORD" in r.json()["detail"]
        assert httpx.get(f"{web.url}/config").status_code == 200  # chat open by default
