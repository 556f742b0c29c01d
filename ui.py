"""The Gradio apps: the staff app (chat, documents, tasks) and a compact widget for intranet pages
(the admin app is ``ui_admin.py``). ``webapp.py`` mounts them beside the HTTP API on one FastAPI app
(``chidao serve``). Neither app takes files: admin uploads go through the admin app only.

Per-user state (the conversation, the answers given) lives in ``gr.State``; the only shared object is
the :class:`~assistant.service.Service`, built once per app.
"""

from __future__ import annotations

import hmac
import logging
import os
import tempfile
import uuid
from datetime import date
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant import render  # noqa: E402
from assistant.service import MAX_COMMENT_CHARS, Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from index.header import TYPES  # noqa: E402

log = logging.getLogger(__name__)

CSS = render.STYLE + """
#chidao-chat .chidao-answer a{color:#1d4ed8}
.chidao-compact .gradio-container{padding:4px !important}
footer{display:none !important}
#chidao-tasks *, #chidao-docs * {font-family: system-ui, "DejaVu Sans", sans-serif !important}
"""
THEME = gr.themes.Default(
    font=["system-ui", "Segoe UI", "DejaVu Sans", "sans-serif"],
    font_mono=["DejaVu Sans Mono", "ui-monospace", "monospace"],
)
COPY_JS = """(text) => {
  const done = () => { const b = document.querySelector('#chidao-copy'); if (b) { b.dataset.copied = '1'; } };
  if (!text) { return; }
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); }
  else { const t = document.createElement('textarea'); t.value = text; document.body.appendChild(t); t.select();
         document.execCommand('copy'); t.remove(); done(); }
}"""
# A plain click on [n] whose passage is on screen in the sources panel shows it there (scrolled to and
# flashed) instead of opening the viewer; otherwise, and with a modifier key, the link opens the viewer.
HEAD = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest("a.chidao-cite") : null;
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const root = link.getRootNode();
  const href = link.getAttribute("href");
  for (const card of root.querySelectorAll("#chidao-sources .chidao-source")) {
    const open = card.querySelector("a.chidao-open");
    if (!open || open.getAttribute("href") !== href || card.offsetParent === null) continue;
    event.preventDefault();
    event.stopPropagation();
    card.scrollIntoView({block: "nearest"});
    card.classList.remove("chidao-flash");
    void card.offsetWidth;
    card.classList.add("chidao-flash");
    return;
  }
}, true);
</script>"""
DOC_HEADERS = ["Tiêu đề", "Ngày", "Đoạn", "Nhiệm vụ", "Nguồn"]
TASK_HEADERS = ["Chủ trì", "Phối hợp", "Nhiệm vụ", "Thời hạn", "Hạn cuối", "Khác biệt", "Tiến độ", "Văn bản"]
#: The status filter of the Tasks tab: label -> value of `chidao tasks --status`.
DUE_HEADERS = ["Chủ trì", "Nhiệm vụ", "Thời hạn", "Hạn cuối", "Còn / quá hạn", "Tiến độ", "Văn bản"]
STATUS_CHOICES = [("Tất cả", ""), ("Chậm tiến độ", "late"), ("Đang thực hiện", "in_progress"),
                  ("Đã hoàn thành", "done")]


def new_session() -> dict:
    """A conversation: the chat's messages as shown, plain-text history for the answerer, the answers by
    chat message index. The messages are kept here rather than sent back by the browser with every
    question: a long conversation would outgrow the request size limit, and the server shows only what it
    wrote itself."""
    return {"id": uuid.uuid4().hex[:12], "messages": [], "history": [], "answers": {}, "feedback": {},
            "rated": None}


def _base(request: gr.Request | None, settings: Settings) -> str:
    """Where this request reached chidao (links to documents must point there, even from a widget)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if request is None:
        return f"http://{settings.host}:{settings.port}"
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host") or f"{settings.host}:{settings.port}"
    inner = getattr(request, "request", None)
    scheme = headers.get("x-forwarded-proto") or (inner.url.scheme if inner is not None else "http")
    return f"{scheme}://{host}"


def _examples(settings: Settings) -> list[str]:
    try:
        lines = settings.examples_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")][:6]


class ChatHandlers:
    """The chat's event handlers, shared by the full app and the widget (``channel`` tells them apart
    in the feedback)."""

    def __init__(self, service: Service, channel: str):
        self.service = service
        self.channel = channel

    def submit(self, question: str, session: dict | None, doc_type: str | None = None, issuer: str | None = None,
               number: str | None = None, since: str | None = None, until: str | None = None,
               request: gr.Request = None):
        """Stream one turn: the question, a pending message, then the rendered answer and its sources (from the
        documents whose official header passes the filters, when any is set)."""
        from assistant.tasktable import doc_filter

        session = session or new_session()
        messages = session["messages"] = list(session.get("messages") or [])
        question = (question or "").strip()
        base = _base(request, self.service.settings)
        if not question:
            yield messages, "", gr.skip(), session, gr.skip()
            return
        messages += [{"role": "user", "content": render.user_html(question)},
                     {"role": "assistant", "content": render.pending_html()}]
        yield messages, "", gr.skip(), session, gr.skip()
        text, answer = "", None
        try:
            where = doc_filter(doc_type, issuer, number, since, until)
            for item in self.service.stream(question, session["history"], where):
                if isinstance(item, str):
                    if self.service.streams:
                        text += item
                        messages[-1] = {"role": "assistant", "content": render.pending_html(text)}
                        yield messages, "", gr.skip(), session, gr.skip()
                    continue
                answer = item.to_dict()
        except Exception as exc:  # the chat stays usable; the log has the details
            if not isinstance(exc, ValueError):
                log.exception("answering %r failed", question)
            answer = None
            text = f"Không trả lời được câu hỏi này: {exc}"
        if answer is None:
            messages[-1] = {"role": "assistant", "content": render.error_html(text or "Không có câu trả lời.")}
            yield messages, "", gr.skip(), session, gr.skip()
            return
        messages[-1] = {"role": "assistant", "content": render.answer_html(answer, base)}
        session["answers"][str(len(messages) - 1)] = answer
        session["history"] = session["history"] + [{"role": "user", "content": question},
                                                   {"role": "assistant", "content": answer["answer"]}]
        yield (messages, "", render.sources_html(answer, self.service.assistant.docstore, base), session,
               render.plain_text(answer))

    def new_chat(self, session: dict | None):
        return [], "", render.sources_html(None, self.service.assistant.docstore, ""), new_session(), ""

    def like(self, session: dict | None, data: gr.LikeData, request: gr.Request):
        """Thumbs up/down on an answer: stored (or changed) at once, with the question and citations."""
        session = session or new_session()
        index = data.index if isinstance(data.index, int) else data.index[0]
        answer = session["answers"].get(str(index))
        if answer is None:
            return session, "Chỉ đánh giá được câu trả lời của trợ lý."
        liked = data.liked
        rating = 1 if liked is True or liked == "Like" else -1 if liked is False or liked == "Dislike" else None
        key = str(index)
        if rating is None:  # the thumb was taken back: keep the row (and any comment), without a rating
            if key in session["feedback"]:
                self.service.feedback.update(session["feedback"][key], rating=None)
            return session, "Đã bỏ đánh giá."
        if key in session["feedback"]:
            self.service.feedback.update(session["feedback"][key], rating=rating)
        else:
            position = sorted(map(int, session["answers"])).index(index)
            history = session["history"][: 2 * position]
            session["feedback"][key] = self.service.feedback.add(
                answer, rating, settings=self.service.answer_settings(), history=history, session=session["id"],
                user=self.service.user(request.headers), channel=self.channel)
        session["rated"] = key
        return session, "Cảm ơn, đã ghi nhận đánh giá. Có thể thêm góp ý bên dưới."

    def comment(self, text: str, session: dict | None, request: gr.Request):
        """A comment goes with the last rated answer, or with the last answer when none was rated."""
        session = session or new_session()
        text = (text or "").strip()
        if not text:
            return session, gr.skip(), "Hãy nhập góp ý trước khi gửi."
        if len(text) > MAX_COMMENT_CHARS:
            return session, gr.skip(), f"Góp ý dài quá {MAX_COMMENT_CHARS} ký tự: hãy rút gọn."
        key = session.get("rated")
        if key and key in session["feedback"]:
            self.service.feedback.update(session["feedback"][key], comment=text)
        elif session["answers"]:
            key = str(max(map(int, session["answers"])))
            session["feedback"][key] = self.service.feedback.add(
                session["answers"][key], None, text, settings=self.service.answer_settings(),
                history=session["history"][:-2], session=session["id"],
                user=self.service.user(request.headers), channel=self.channel)
        else:
            return session, gr.skip(), "Chưa có câu trả lời nào để góp ý."
        return session, "", "Cảm ơn, đã lưu góp ý."


def _chat(service: Service, channel: str, compact: bool):
    """The chat column(s); returns nothing, wires its own events."""
    handlers = ChatHandlers(service, channel)
    session = gr.State(None)
    examples = _examples(service.settings)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chat = gr.Chatbot(
                elem_id="chidao-chat", label="chidao", show_label=False, height=380 if compact else 520,
                sanitize_html=True, render_markdown=True, latex_delimiters=[], line_breaks=False,
                feedback_options=("Like", "Dislike"), buttons=[],
                placeholder="Hỏi về nhiệm vụ, đơn vị chủ trì, thời hạn, số liệu trong các văn bản chỉ đạo. "
                            "Mỗi ý trả lời có trích dẫn [n] dẫn tới đoạn văn bản gốc.",
            )
            with gr.Row():
                question = gr.Textbox(elem_id="chidao-question", show_label=False, scale=5, lines=1, max_lines=4,
                                      placeholder="Nhập câu hỏi rồi nhấn Enter…", autofocus=not compact)
                send = gr.Button("Hỏi", variant="primary", scale=1, elem_id="chidao-send", min_width=60)
            with gr.Row():
                new = gr.Button("Cuộc trò chuyện mới", size="sm", elem_id="chidao-new")
                copy = gr.Button("Sao chép câu trả lời", size="sm", elem_id="chidao-copy")
            copy_text = gr.Textbox(visible=False, elem_id="chidao-copy-text")
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[question], label="Câu hỏi mẫu",
                            examples_per_page=6)
            filters = []
            if not compact:
                with gr.Accordion("Chỉ hỏi trong một số văn bản", open=False, elem_id="chidao-filters"):
                    with gr.Row():
                        filters = [
                            gr.Dropdown([""] + sorted(TYPES), value="", label="Loại văn bản", elem_id="chidao-f-type"),
                            gr.Textbox(label="Cơ quan ban hành", placeholder="Văn phòng Chính phủ…",
                                       elem_id="chidao-f-issuer"),
                            gr.Textbox(label="Số hiệu", placeholder="447/TB-VPCP", elem_id="chidao-f-number"),
                            gr.Textbox(label="Từ ngày", placeholder="01/01/2026", elem_id="chidao-f-since"),
                            gr.Textbox(label="Đến ngày", placeholder="31/12/2026", elem_id="chidao-f-until"),
                        ]
            with gr.Accordion("Góp ý về câu trả lời", open=not compact):
                comment = gr.Textbox(elem_id="chidao-comment", show_label=False, lines=2, max_length=MAX_COMMENT_CHARS,
                                     placeholder="Góp ý (không bắt buộc): câu trả lời đúng là gì, sai ở đâu…")
                send_comment = gr.Button("Gửi góp ý", size="sm", elem_id="chidao-send-comment")
                status = gr.Markdown(elem_id="chidao-feedback-status")
        with gr.Column(scale=2, visible=True):
            with gr.Accordion("Nguồn trích dẫn", open=not compact):
                sources = gr.HTML(render.sources_html(None, service.assistant.docstore, ""), elem_id="chidao-sources")

    outputs = [chat, question, sources, session, copy_text]
    for trigger in (question.submit, send.click):
        trigger(handlers.submit, [question, session, *filters], outputs, api_visibility="private",
                show_progress="hidden")
    new.click(handlers.new_chat, [session], outputs, api_visibility="private")
    chat.clear(handlers.new_chat, [session], outputs, api_visibility="private")
    copy.click(None, [copy_text], None, js=COPY_JS)
    chat.like(handlers.like, [session], [session, status], api_visibility="private")
    send_comment.click(handlers.comment, [comment, session], [session, comment, status], api_visibility="private")

    def ask(question: str, history: list[dict] | None = None, request: gr.Request = None) -> dict:
        """Answer a question (JSON of `chidao ask --json`); history: [{role, content}, ...]."""
        token = service.settings.api_token
        if token is not None:  # checked here too: the queue also runs this function by its fn_index
            scheme, _, given = ((request.headers.get("authorization") if request else None) or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                      token.get_secret_value().encode()):
                raise gr.Error("missing or wrong API token (header 'Authorization: Bearer <token>')")
        try:
            return service.ask(question, history or []).to_dict()
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    gr.api(ask, api_name="ask")


def document_rows(service: Service) -> list[list]:
    """The document list's rows (sources as shown to users, never the server's folders)."""
    return [[d["title"], d["date"] or "", d["chunks"], d["tasks"], render_source(d["sources"])]
            for d in service.documents()]


def document_table() -> gr.Dataframe:
    return gr.Dataframe(headers=DOC_HEADERS, interactive=False, wrap=True, elem_id="chidao-docs",
                        column_widths=["45%", "10%", "8%", "9%", "28%"])


def _documents_tab(service: Service):
    """The indexed documents, read-only; admins upload and re-index in the admin app."""
    rows = lambda: document_rows(service)  # noqa: E731
    table = document_table()
    with gr.Row():
        refresh = gr.Button("Làm mới", size="sm", scale=0)
        gr.HTML('<a href="admin/" id="chidao-admin-link">Quản trị: nạp văn bản, lập chỉ mục, tải góp ý ↗</a>',
                padding=False)
    refresh.click(rows, None, table, api_visibility="private")
    return rows, table


def render_source(sources: list[str]) -> str:
    first = sources[0] if sources else ""
    name = Path(first.split("#", 1)[0]).name
    rest = first.split("#", 1)[1] if "#" in first else ""
    return name + (f"#{rest}" if rest else "") + (f" (+{len(sources) - 1})" if len(sources) > 1 else "")


def _status_cell(row: dict) -> str:
    """"chậm tiến độ (Đang thực hiện, 25/05/2025)": the status, as the report wrote it, and when."""
    from assistant.tasktable import STATUS_LABELS

    if not row["status"]:
        return ""
    when = "/".join(reversed(row["reported"].split("-"))) if row["reported"] else ""
    written = ", ".join(x for x in (row["status_text"], when) if x)
    return STATUS_LABELS[row["status"]] + (f" ({written})" if written else "")


def _task_args(values) -> tuple:
    """The Tasks tab's filter values as :meth:`Service.tasks` takes them (agency, due before, due after, doc,
    status, header filter)."""
    from assistant.tasktable import doc_filter

    a, af, bf, d, st, ty, iss, num, fr, to = values
    return a, bf, af, d, st, doc_filter(ty, iss, num, fr, to)


def _tasks_tab(service: Service):
    from assistant import tasktable

    with gr.Row():
        agency = gr.Textbox(label="Đơn vị (chủ trì hoặc phối hợp)", placeholder="Bộ KH&CN, Bộ Y tế…")
        after = gr.Textbox(label="Hạn từ ngày", placeholder="2026-04-01 hoặc 01/04/2026")
        before = gr.Textbox(label="Hạn đến ngày", placeholder="2026-06-30")
        doc = gr.Textbox(label="Văn bản", placeholder="một phần tên tệp hoặc tiêu đề")
        status = gr.Dropdown(STATUS_CHOICES, value="", label="Tiến độ (theo báo cáo mới nhất)",
                             elem_id="chidao-tasks-status")
    with gr.Row():
        doc_type = gr.Dropdown([""] + sorted(TYPES), value="", label="Loại văn bản", elem_id="chidao-tasks-type")
        issuer = gr.Textbox(label="Cơ quan ban hành", placeholder="Văn phòng Chính phủ…")
        number = gr.Textbox(label="Số hiệu văn bản", placeholder="447/TB-VPCP")
        since = gr.Textbox(label="Văn bản từ ngày", placeholder="01/01/2026")
        until = gr.Textbox(label="Văn bản đến ngày", placeholder="31/12/2026")
    with gr.Row():
        apply = gr.Button("Lọc", variant="primary", elem_id="chidao-tasks-filter")
        csv_button = gr.Button("Xuất CSV", size="sm")
        xlsx_button = gr.Button("Xuất Excel", size="sm")
        ics_button = gr.Button("Xuất lịch (.ics)", size="sm", elem_id="chidao-tasks-ics")
    message = gr.Markdown(elem_id="chidao-tasks-count")
    with gr.Tabs():
        with gr.Tab("Bảng"):
            chart = gr.Plot(show_label=False, elem_id="chidao-tasks-chart")
            table = gr.Dataframe(headers=TASK_HEADERS, interactive=False, wrap=True, elem_id="chidao-tasks",
                                 column_widths=["12%", "12%", "28%", "10%", "8%", "9%", "9%", "12%"])
        with gr.Tab("Sắp đến hạn", elem_id="chidao-due-tab"):
            with gr.Row():
                days = gr.Number(value=30, minimum=0, maximum=3650, precision=0, label="Trong bao nhiêu ngày tới",
                                 elem_id="chidao-due-days")
                due_button = gr.Button("Xem", elem_id="chidao-due-show")
            due_message = gr.Markdown(elem_id="chidao-due-count")
            due_table = gr.Dataframe(headers=DUE_HEADERS, interactive=False, wrap=True, elem_id="chidao-due")
        with gr.Tab("Tiến trình"):
            gantt = gr.Plot(show_label=False, elem_id="chidao-tasks-gantt")
    export = gr.File(label="Tệp xuất", interactive=False, visible=False)

    def select(*values):
        try:
            return service.tasks(*_task_args(values)), ""
        except ValueError as exc:
            return None, f"⚠ {render.esc(str(exc))}"

    def show(*values):
        found, error = select(*values)
        if found is None:
            return gr.skip(), error, gr.skip(), gr.skip()
        data = [[r["lead"], r["collaborators"], r["task"], r["deadline_text"], r["due_end"], r["conflict"],
                 _status_cell(r), r["document"][:80]] for r in found]
        return data, f"{len(found)} nhiệm vụ.", tasktable.timeline(found), tasktable.gantt(found)

    def due(n, *values):
        try:
            span = int(n if n is not None else 30)
            found = service.tasks(*_task_args(values), due_within=span)
        except (ValueError, TypeError) as exc:
            return gr.skip(), f"⚠ {render.esc(str(exc))}"
        late = sum(1 for r in found if r["due_end"] < date.today().isoformat())
        data = [[r["lead"], r["task"], r["deadline_text"], r["due_end"], tasktable.due_note(r), _status_cell(r),
                 r["document"][:80]] for r in found]
        return data, f"{len(found)} nhiệm vụ đến hạn trong {span} ngày tới hoặc đã quá hạn ({late} quá hạn)."

    def export_tasks(kind: str):
        def run(*values):
            found, error = select(*values)
            if found is None:
                raise gr.Error(error)
            path = Path(tempfile.mkdtemp(prefix="chidao-tasks-")) / f"nhiem-vu.{kind}"
            if kind == "xlsx":
                tasktable.to_xlsx(found, path)
            elif kind == "ics":
                base = service.settings.public_url or f"http://{service.settings.host}:{service.settings.port}"
                path.write_bytes(tasktable.to_ics(found, base, f"Nhiệm vụ — {values[0]}" if values[0] else "Nhiệm vụ"))
            else:
                path.write_text(tasktable.to_csv(found), encoding="utf-8-sig")
            return gr.update(value=str(path), visible=True)
        return run

    inputs = [agency, after, before, doc, status, doc_type, issuer, number, since, until]
    outputs = [table, message, chart, gantt]
    due_button.click(due, [days, *inputs], [due_table, due_message], api_visibility="private")
    days.submit(due, [days, *inputs], [due_table, due_message], api_visibility="private")
    ics_button.click(export_tasks("ics"), inputs, export, api_visibility="private")
    apply.click(show, inputs, outputs, api_visibility="private")
    for box in (agency, after, before, doc, issuer, number, since, until):
        box.submit(show, inputs, outputs, api_visibility="private")
    for choice in (status, doc_type):
        choice.change(show, inputs, outputs, api_visibility="private")
    csv_button.click(export_tasks("csv"), inputs, export, api_visibility="private")
    xlsx_button.click(export_tasks("xlsx"), inputs, export, api_visibility="private")
    return show, inputs, outputs


def full_app(service: Service) -> gr.Blocks:
    """The staff app: chat with sources, documents, tasks."""
    with gr.Blocks(title="chidao — tra cứu văn bản chỉ đạo", analytics_enabled=False) as demo:
        gr.Markdown("### chidao — trợ lý tra cứu văn bản chỉ đạo\nTrả lời từ các văn bản đã nạp, mỗi ý có trích "
                    "dẫn. Không có trong văn bản thì nói rõ là không có.")
        with gr.Tabs():
            with gr.Tab("Hỏi đáp", id="chat"):
                _chat(service, "ui", compact=False)
            with gr.Tab("Văn bản", id="documents"):
                rows, documents = _documents_tab(service)
            with gr.Tab("Nhiệm vụ", id="tasks"):
                show, inputs, outputs = _tasks_tab(service)
        demo.load(show, inputs, outputs, api_visibility="private")
        demo.load(rows, None, documents, api_visibility="private")
    demo.queue(default_concurrency_limit=2)
    return demo


def widget_app(service: Service) -> gr.Blocks:
    """The compact chat for intranet pages (iframe or ``<gradio-app>``)."""
    with gr.Blocks(title="chidao", analytics_enabled=False, elem_classes=["chidao-compact"]) as demo:
        _chat(service, "widget", compact=True)
    demo.queue(default_concurrency_limit=2)
    return demo
