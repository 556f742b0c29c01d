"""The admin app (Gradio), mounted at ``/admin``: upload and index files, re-index everything, export
users' feedback.

Only admins reach it: the guard (:mod:`assistant.guard`) refuses every ``/admin/*`` request of anyone
else before Gradio sees it, and each handler checks again. Files come only from Gradio's own upload
folder (what this app's upload route stored), never from a path named in an event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import ui  # noqa: E402
from assistant import render  # noqa: E402
from assistant.guard import inside_folder  # noqa: E402
from assistant.service import Service  # noqa: E402


def admin_app(service: Service, is_admin: Callable[[Any], bool], upload_folder: str) -> gr.Blocks:
    """The admin app.

    Args:
        is_admin: whether a request comes from an admin (proxy header, signed cookie or password header).
        upload_folder: Gradio's upload folder, the only place uploaded files may come from.
    """

    def require_admin(request: gr.Request) -> None:
        if request is None or not is_admin(request):
            raise gr.Error("Chỉ quản trị viên được làm việc này.")

    def rows():
        return ui.document_rows(service)

    def listed(request: gr.Request):
        require_admin(request)
        return rows()

    def describe(report) -> str:
        lines = [f"**{render.esc(report.summary())}**"]
        lines += [f"- bỏ qua {render.esc(f['source'])}: {render.esc(f['reason'])}" for f in service.failures(report)]
        return "\n".join(lines)

    def who(request: gr.Request) -> str:
        require_admin(request)
        user = service.user(request.headers)
        return f"Quản trị: {render.esc(user)}" if user else "Đã đăng nhập quản trị."

    def do_upload(paths, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        require_admin(request)
        if not paths:
            return "Chưa chọn tệp nào.", gr.skip()
        if not all(inside_folder(p, upload_folder) for p in paths):
            raise gr.Error("Chỉ nhận tệp vừa tải lên.")
        handles = [Path(p).open("rb") for p in paths]
        try:
            uploaded = service.save_uploads([(Path(p).name, h) for p, h in zip(paths, handles)])
        finally:
            for handle in handles:
                handle.close()
            for p in paths:  # kept in CHIDAO_HOME/uploads now; Gradio's folder is served to every app
                Path(p).unlink(missing_ok=True)
        notes = [f"- từ chối {render.esc(r['file'])}: {render.esc(r['reason'])}" for r in uploaded.rejected]
        notes += [f"- {render.esc(r['file'])} trùng tên trong lần tải này: lưu thành {render.esc(r['saved_as'])}"
                  for r in uploaded.renamed]
        if not uploaded.saved:
            return "\n".join(["**Không nhận tệp nào.**", *notes]), gr.skip()
        progress(0, desc="Đang lập chỉ mục…")
        try:
            report = service.index([service.settings.uploads_path], progress=True)
        except RuntimeError as exc:
            raise gr.Error(str(exc)) from None
        return "\n".join([describe(report), *notes]), rows()

    def do_reindex(request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        require_admin(request)
        progress(0, desc="Đang lập lại chỉ mục…")
        try:
            report = service.reindex(progress=True)
        except (RuntimeError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        return describe(report), rows()

    with gr.Blocks(title="chidao — quản trị", analytics_enabled=False) as demo:
        gr.Markdown("### chidao — quản trị\nNạp văn bản (một tệp trùng tên với tệp đã nạp trước sẽ thay bản cũ), "
                    "lập lại chỉ mục, tải góp ý của người dùng.")
        with gr.Row():
            status = gr.Markdown(elem_id="chidao-admin-who")
            gr.HTML('<a href="../">← Về trang tra cứu</a> · <a href="logout" id="chidao-admin-logout">Đăng xuất</a>')
        files = gr.File(label="Văn bản (txt, md, html, docx, pdf, jsonl)", file_count="multiple",
                        elem_id="chidao-upload")
        with gr.Row():
            upload = gr.Button("Nạp và lập chỉ mục", variant="primary", elem_id="chidao-index")
            reindex = gr.Button("Lập lại chỉ mục toàn bộ", elem_id="chidao-reindex")
        report = gr.Markdown(elem_id="chidao-index-report")
        table = ui.document_table()
        # Downloads come from chidao's own admin-only routes (webapp.py), never through Gradio's file
        # cache, which every app of the server serves to whoever knows a file's path.
        gr.HTML('<div id="chidao-export">Tải góp ý: <a id="chidao-feedback-csv" href="export/feedback.csv" download>'
                'CSV</a> · <a id="chidao-feedback-jsonl" href="export/feedback.jsonl" download>dòng test-set '
                '(JSONL)</a></div>')

        demo.load(who, None, status, api_visibility="private")
        demo.load(listed, None, table, api_visibility="private")
        upload.click(do_upload, [files], [report, table], api_visibility="private")
        reindex.click(do_reindex, None, [report, table], api_visibility="private")
    demo.queue(default_concurrency_limit=1)
    return demo
