"""The web app under hostile input: malformed bodies and headers, forged Gradio events, requests without
credentials, and a bounded load. Every case gets a clear 4xx and the server keeps serving.

All against the real running app (uvicorn on 127.0.0.1 with the settings `chidao serve` uses).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import select
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import ROOT, SAMPLE
from tests.web_support import free_port, running_app

pytestmark = pytest.mark.integration

TOKEN, ADMIN = "tok-hostile", "pw-hostile"
QUESTION = "Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def web(tmp_path_factory, models_dir, embedder):
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("hostile-web")
    shutil.copytree(SAMPLE, root / "corpus")
    secret = root / "outside" / "secret.txt"  # a server file that is not Gradio's to hand out
    secret.parent.mkdir()
    secret.write_text(f"bí mật {uuid.uuid4().hex}\n", encoding="utf-8")
    settings = Settings(home=root / "home", models_dir=models_dir, port=free_port(), api_token=TOKEN,
                        admin_password=ADMIN, max_upload_mb=2)
    with running_app(settings, embedder, [root / "corpus"]) as app:
        app.secret = secret
        yield app


def serving(web) -> bool:
    """The server still answers: health, and a real question with its citation."""
    health = httpx.get(f"{web.url}/healthz", timeout=60)
    r = httpx.post(f"{web.url}/api/ask", json={"question": QUESTION}, headers=AUTH, timeout=60)
    return health.status_code == 200 and r.status_code == 200 and bool(r.json()["citations"])


# --- malformed bodies ---------------------------------------------------------------------------------

SURROGATE_JSON = '"Ai ch\\ud800 tr\\u00ec?"'  # JSON text spelling a lone surrogate
BAD_ASK = {
    "not json": (b"{not json", "application/json"),
    "json array": (b"[1, 2]", "application/json"),
    "question is a number": (b'{"question": 7}', "application/json"),
    "question is a list": (b'{"question": ["a"]}', "application/json"),
    "question is null": (b'{"question": null}', "application/json"),
    "question missing": (b'{"history": []}', "application/json"),
    "question too long": (json.dumps({"question": "a" * 2001}).encode(), "application/json"),
    "lone surrogate in question": (f'{{"question": {SURROGATE_JSON}}}'.encode(), "application/json"),
    "lone surrogate in history": (f'{{"question": "Hạn khi nào?", "history": [{{"role": "user", "content": '
                                  f'{SURROGATE_JSON}}}]}}'.encode(), "application/json"),
    "invalid utf-8": (b'{"question": "\xed\xa0\x80 \xff"}', "application/json"),
    "history not a list": (b'{"question": "x", "history": "abc"}', "application/json"),
    "history turn is a string": (b'{"question": "x", "history": ["abc"]}', "application/json"),
    "history role unknown": (b'{"question": "x", "history": [{"role": "system", "content": "y"}]}',
                             "application/json"),
    "history content a dict": (b'{"question": "x", "history": [{"role": "user", "content": {"a": 1}}]}',
                               "application/json"),
    "absurd history (51 turns)": (json.dumps({"question": "x", "history": [{"role": "user", "content": "y"}] * 51})
                                  .encode(), "application/json"),
    "absurd turn (20001 characters)": (json.dumps({"question": "x", "history": [
        {"role": "user", "content": "y" * 20001}]}).encode(), "application/json"),
    "deep nesting": (b'{"question": "x", "history": ' + b"[" * 50000 + b"]" * 50000 + b"}", "application/json"),
    "form instead of json": (b"question=x", "application/x-www-form-urlencoded"),
    "text/plain": (json.dumps({"question": QUESTION}).encode(), "text/plain"),
    "empty body": (b"", "application/json"),
}


@pytest.mark.parametrize("path", ["/api/ask", "/api/ask/stream"])
@pytest.mark.parametrize("case", list(BAD_ASK))
def test_malformed_questions_get_a_clear_4xx(web, path, case):
    body, content_type = BAD_ASK[case]
    r = httpx.post(f"{web.url}{path}", content=body, headers={**AUTH, "Content-Type": content_type}, timeout=60)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text[:300])
    assert r.json()["detail"]  # says what was wrong, as JSON
    if "surrogate" in case:
        assert r.status_code == 422 and "unicode" in r.text.lower()


def _answer(web) -> dict:
    return httpx.post(f"{web.url}/api/ask", json={"question": QUESTION}, headers=AUTH, timeout=60).json()


BAD_FEEDBACK = {
    "answer is a string": {"answer": "x"},
    "answer text is a list": {"answer": {"answer": ["x"], "citations": []}},
    "citations not a list": {"answer": {"answer": "x", "citations": "abc"}},
    "citation of the wrong shape": {"answer": {"answer": "x", "citations": [{"n": "one", "doc_id": 5}]}},
    "51 citations": {"answer": {"answer": "x", "citations": [{"n": 1, "doc_id": "d"}] * 51}},
    "refused is a dict": {"answer": {"answer": "x", "refused": {"a": 1}}},
    "rating unknown": {"rating": "meh"},
    "rating a number": {"rating": 5},
    "comment a number": {"comment": 17},
    "comment too long": {"comment": "x" * 5001},
    "comment with a lone surrogate": {"comment": "\ud800"},
    "question a list": {"question": ["x"]},
    "history of numbers": {"history": [1, 2]},
}


@pytest.mark.parametrize("case", list(BAD_FEEDBACK))
def test_malformed_feedback_gets_a_clear_4xx_and_stores_nothing(web, case):
    body = {"question": QUESTION, "answer": {"answer": "Bộ Công an [1]", "citations": []}, "rating": "up",
            **BAD_FEEDBACK[case]}
    before = len(web.service.feedback.all())
    raw = json.dumps(body, ensure_ascii=True).encode()  # ensure_ascii spells a surrogate as \\ud800
    r = httpx.post(f"{web.url}/api/feedback", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, (case, r.status_code, r.text[:300])
    assert len(web.service.feedback.all()) == before


def test_feedback_keeps_only_the_answers_known_fields(web):
    answer = {**_answer(web), "extra": {"nested": ["x" * 100] * 10}}
    r = httpx.post(f"{web.url}/api/feedback", headers=AUTH, json={"question": QUESTION, "answer": answer,
                                                                  "rating": "down", "comment": "sai"})
    assert r.status_code == 201
    stored = web.service.feedback.get(r.json()["id"])
    assert stored.citations == answer["citations"] and stored.comment == "sai"


def test_a_17_mb_comment_is_refused_before_it_is_read(web):
    """The body limit (max_request_kb) is checked against Content-Length up front (finding 3)."""
    status, early = _send_head_only(web, "/api/feedback", 17 * 1024 * 1024, AUTH)
    assert status == 413 and early
    assert serving(web)


def test_bad_query_and_path_values(web):
    assert httpx.get(f"{web.url}/api/tasks?due_after=%ED%A0%80", headers=AUTH).status_code == 400
    assert httpx.get(f"{web.url}/doc/%ED%A0%80").status_code == 404
    assert httpx.get(f"{web.url}/doc/{'x' * 3000}").status_code == 404
    assert serving(web)


# --- sizes: bodies and heads ------------------------------------------------------------------------------

def _connect(web) -> socket.socket:
    url = urlparse(web.url)
    return socket.create_connection((url.hostname, url.port), timeout=60)


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _send_head_only(web, path: str, length: int, headers: dict | None = None, method: str = "POST",
                    content_type: str = "application/json") -> tuple[int, bool]:
    """Send a request head announcing a body of ``length`` bytes, send none of the body, and read the
    answer: (status, whether it came before the body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlparse(web.url).netloc}", f"Content-Type: {content_type}",
             f"Content-Length: {length}", *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
    with _connect(web) as sock:
        sock.sendall("\r\n".join(lines).encode())
        data = sock.recv(65536)  # a server that waited for the body would leave this waiting
    return _status(data), bool(data)


def _send_until_answered(sock: socket.socket, pieces) -> bytes:
    """Send ``pieces`` while the server has not answered; then read its answer (b"" if it reset)."""
    for piece in pieces:
        if select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def test_a_body_over_the_limit_is_refused_up_front(web):
    status, early = _send_head_only(web, "/api/ask", 300 * 1024, AUTH)
    assert status == 413 and early
    status, early = _send_head_only(web, "/gradio_api/queue/join", 300 * 1024)
    assert status == 413 and early
    assert serving(web)


@pytest.mark.parametrize("path", ["/api/ask", "/api/feedback", "/gradio_api/queue/join",
                                  "/widget/gradio_api/queue/join"])
def test_a_chunked_body_over_the_limit_is_cut_off(web, path):
    """Without Content-Length the guard counts the bytes as they come."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {urlparse(web.url).netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    block = b'{"question": "' + b"a" * (64 * 1024 - 20) + b'"'
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    with _connect(web) as sock:
        data = _send_until_answered(sock, [head] + [chunk] * 64 + [b"0\r\n\r\n"])
    assert _status(data) == 413, data[:200]
    assert serving(web)


@pytest.mark.parametrize("size", [20 * 1024, 8 * 1024 * 1024])
def test_a_huge_request_head_is_refused_and_the_server_keeps_serving(web, size):
    head = f"GET /healthz HTTP/1.1\r\nHost: {urlparse(web.url).netloc}\r\nX-Big: ".encode()
    filler = [b"a" * 65536] * (size // 65536 or 1)
    with _connect(web) as sock:
        data = _send_until_answered(sock, [head, *filler, b"\r\n\r\n"])
    assert _status(data) in (400, 431), data[:200]
    assert serving(web)


def test_many_small_headers_are_one_big_head(web):
    head = f"GET /healthz HTTP/1.1\r\nHost: {urlparse(web.url).netloc}\r\n".encode()
    headers = [f"X-H{i}: {'v' * 20}\r\n".encode() for i in range(2000)]
    with _connect(web) as sock:
        data = _send_until_answered(sock, [head, *headers, b"\r\n"])
    assert _status(data) in (400, 431), data[:200]
    assert serving(web)


def test_a_bad_content_length_is_a_400(web):
    with _connect(web) as sock:
        sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        data = sock.recv(65536)
    assert _status(data) == 400
    assert serving(web)


# --- uploads without credentials ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "headers", "expected"), [
    ("/api/documents", {}, 401),  # no token
    ("/api/documents", AUTH, 403),  # a token, but not an admin
    ("/api/documents", {**AUTH, "X-Admin-Password": "wrong"}, 403),
    ("/admin/gradio_api/upload", {}, 403),
    ("/gradio_api/upload", {}, 404),  # the staff app and the widget take no files
    ("/widget/gradio_api/upload", {}, 404),
])
def test_an_upload_without_credentials_is_refused_before_its_body_is_read(web, path, headers, expected):
    """The answer comes before a byte of the (announced 40 MB) body was sent: nothing was read, nothing
    spooled to disk (finding 3)."""
    status, early = _send_head_only(web, path, 40 * 1024 * 1024, headers,
                                    content_type="multipart/form-data; boundary=x")
    assert (status, early) == (expected, True)
    assert serving(web)


def test_an_upload_over_max_upload_mb_is_refused(web):
    status, early = _send_head_only(web, "/api/documents", 3 * 1024 * 1024, {**AUTH, "X-Admin-Password": ADMIN},
                                    content_type="multipart/form-data; boundary=x")
    assert (status, early) == (413, True)
    status, early = _send_head_only(web, "/admin/gradio_api/upload", 3 * 1024 * 1024, {"X-Admin-Password": ADMIN},
                                    content_type="multipart/form-data; boundary=x")
    assert (status, early) == (413, True)


# --- forged Gradio events ---------------------------------------------------------------------------------

def _fn_index(web, app: str, name: str, headers: dict | None = None) -> int:
    """The index of the event whose function is ``name`` (from the app's config)."""
    config = httpx.get(f"{web.url}{app}/config", headers=headers).json()
    for i, dep in enumerate(config["dependencies"]):
        if dep.get("api_name") == name:
            return dep.get("id", i)
    raise AssertionError(f"no event {name!r} in {app}")


def _file(path: str) -> dict:
    return {"path": path, "url": None, "orig_name": Path(path).name, "size": None, "mime_type": None,
            "is_stream": False, "meta": {"_type": "gradio.FileData"}}


def _join(web, app: str, fn_index: int, data: list, headers: dict | None = None) -> httpx.Response:
    body = {"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex[:11], "event_data": None,
            "trigger_id": None}
    return httpx.post(f"{web.url}{app}/gradio_api/queue/join", json=body, headers=headers, timeout=60)


def _result(web, app: str, fn_index: int, data: list, headers: dict | None = None, session: str | None = None) -> dict:
    """Run an event through Gradio's queue as the browser does; returns its completion message."""
    session = session or uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    with httpx.Client(base_url=f"{web.url}{app}", headers=headers, timeout=120) as c:
        joined = c.post("/gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        with c.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message
    raise AssertionError("the event never completed")


@pytest.fixture
def upload_folder():
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def _cache_holds(folder: Path, text: str) -> bool:
    digest = hashlib.sha256(text.encode()).hexdigest()
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20 and \
                    hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                return True
        except OSError:
            continue
    return False


def _forged_paths(web, upload_folder: Path) -> dict[str, str]:
    link_dir = upload_folder / f"chidao-hostile-{uuid.uuid4().hex}"
    link_dir.mkdir(parents=True)
    (link_dir / "link.txt").symlink_to(web.secret)
    return {"/dev/zero": "/dev/zero", "/etc/passwd": "/etc/passwd", "a file outside the upload folder":
            str(web.secret), "a symlink in the upload folder": str(link_dir / "link.txt"),
            "'..' out of the upload folder": f"{upload_folder}/../{web.secret.relative_to('/')}",
            "a relative path": "secret.txt", "a URL": "http://127.0.0.1:9/x.txt"}


APPS = {"staff": ("", {}), "widget": ("/widget", {}), "admin": ("/admin", {"X-Admin-Password": ADMIN})}


@pytest.mark.parametrize("app", list(APPS))
def test_forged_file_objects_are_refused_on_every_app(web, app, upload_folder):
    """A file object naming a server path, anywhere in an event's data (the chat's history included), is
    refused before Gradio copies anything (finding 1a); even an admin's event may only name files of
    Gradio's upload folder."""
    prefix, headers = APPS[app]
    fn = _fn_index(web, prefix, "do_upload" if app == "admin" else "submit", headers)
    for name, path in _forged_paths(web, upload_folder).items():
        for data in ([[_file(path)]],  # as a gr.File value
                     ["q", [{"role": "user", "content": [{"type": "file", "file": _file(path)}]}], None],  # in the chat
                     [{"path": path}]):  # a bare {"path"} (Gradio's older file shape)
            r = _join(web, prefix, fn, data, headers)
            assert r.status_code == 400, (app, name, r.status_code, r.text[:200])
    assert not _cache_holds(upload_folder, web.secret.read_text(encoding="utf-8"))
    assert serving(web)


def test_an_admin_may_index_what_was_uploaded_through_gradio(web, upload_folder):
    """The admin app's own upload route, then its upload event with that file: indexed."""
    headers = {"X-Admin-Password": ADMIN}
    text = ("Thông báo thử nghiệm.\n\nBộ Ngoại giao chủ trì rà soát Hiệp định thử nghiệm, hoàn thành trong "
            "tháng 5/2026.\n")
    r = httpx.post(f"{web.url}/admin/gradio_api/upload", headers=headers,
                   files=[("files", ("hiep-dinh.txt", text.encode(), "text/plain"))])
    assert r.status_code == 200, r.text
    [stored] = r.json()
    assert Path(stored).resolve().is_relative_to(upload_folder.resolve())
    done = _result(web, "/admin", _fn_index(web, "/admin", "do_upload", headers), [[_file(stored)]], headers)
    assert done["success"], done
    assert "1 added" in done["output"]["data"][0]
    answer = httpx.post(f"{web.url}/api/ask", headers=AUTH,
                        json={"question": "Ai chủ trì rà soát Hiệp định thử nghiệm?"}).json()
    assert "Bộ Ngoại giao" in answer["answer"]


def test_admin_events_are_not_callable_by_non_admins(web):
    """Every event of the admin app, called by fn_index without admin rights: 403 before Gradio runs it.
    The staff app and the widget hold no admin event and no file input at all."""
    config = httpx.get(f"{web.url}/admin/config", headers={"X-Admin-Password": ADMIN}).json()
    for dep in config["dependencies"]:
        for headers in ({}, {"X-Admin-Password": "wrong"}, AUTH, {"X-Forwarded-User": "admin"}):
            assert _join(web, "/admin", dep["id"], [], headers).status_code in (403, 429)
    for prefix in ("", "/widget"):
        config = httpx.get(f"{web.url}{prefix}/config").json()
        files = [c for c in config["components"] if c.get("type") in ("file", "uploadbutton", "image", "audio",
                                                                      "video", "multimodaltextbox")]
        assert all(not c["props"].get("interactive") for c in files), files
        names = {dep.get("api_name") for dep in config["dependencies"]}
        assert not names & {"do_upload", "do_reindex", "who", "listed"}, names


@pytest.mark.parametrize("app", ["", "/widget"])
def test_gradios_ask_needs_the_token_however_it_is_called(web, app):
    """The `ask` API by fn_index through the queue, or through /run/predict (the route the browser uses for
    events outside the queue), not only at /call/ask: refused without the token (finding 1c)."""
    fn = _fn_index(web, app, "ask")
    refused = _result(web, app, fn, [QUESTION, []])
    assert not refused["success"] and "token" in json.dumps(refused).lower()
    answered = _result(web, app, fn, [QUESTION, []], AUTH)
    assert answered["success"] and "tháng 3" in answered["output"]["data"][0]["answer"]
    body = {"data": [QUESTION, []], "fn_index": fn, "session_hash": uuid.uuid4().hex[:11]}
    r = httpx.post(f"{web.url}{app}/gradio_api/run/predict", json=body, timeout=120)
    assert "tháng 3" not in r.text and "token" in r.text.lower(), r.text[:300]
    r = httpx.post(f"{web.url}{app}/gradio_api/run/predict", json=body, headers=AUTH, timeout=120)
    assert r.status_code == 200 and "tháng 3" in r.text


def test_a_long_comment_in_the_chat_is_refused(web):
    """The chat's comment box is bounded like the API's (finding 3): nothing stored, a message instead."""
    session = uuid.uuid4().hex[:11]
    asked = _result(web, "", _fn_index(web, "", "submit"), [QUESTION, None, "", "", "", "", ""],  # + 5 filters
                    session=session)
    assert asked["success"], asked
    before = len(web.service.feedback.all())
    done = _result(web, "", _fn_index(web, "", "comment"), ["x" * 6000, None], session=session)
    assert len(web.service.feedback.all()) == before
    assert not done["success"] or "dài quá" in json.dumps(done, ensure_ascii=False), done
    fine = _result(web, "", _fn_index(web, "", "comment"), ["Đúng.", None], session=session)
    assert fine["success"] and len(web.service.feedback.all()) == before + 1


def test_event_bodies_that_are_not_json_or_not_unicode(web):
    fn = _fn_index(web, "", "submit")
    for body in (b"{not json", b'{"data": ["\\ud800"], "fn_index": ' + str(fn).encode() + b"}",
                 b'{"data": [], "data": [{"path": "/etc/passwd"}]}', b"[" * 100000):
        r = httpx.post(f"{web.url}/gradio_api/queue/join", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body[:40], r.text)
    assert httpx.get(f"{web.url}/gradio_api/file=/etc/passwd").status_code in (403, 404)
    assert httpx.get(f"{web.url}/gradio_api/file={web.secret}").status_code in (403, 404)
    assert serving(web)


def test_no_websockets(web):
    with _connect(web) as sock:
        sock.sendall(b"GET /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = sock.recv(65536)
    assert _status(data) != 101
    assert serving(web)


# --- load ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_twenty_clients_at_once(web):
    """20 concurrent clients, 300 questions: no errors; p50/p95 printed and written to test-artifacts/
    next to the idle figures measured in the same run (nothing is timed against a target)."""
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "scripts" / "bench_load.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run(web.url, clients=20, requests=300, headers=AUTH)
    print("\n" + bench.describe(result))
    artifacts = Path(os.environ.get("CHIDAO_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "load.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    assert result["errors"] == 0, result["error_samples"]
    assert result["loaded"]["requests"] == 300
    assert serving(web)
