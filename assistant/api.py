"""The HTTP API (FastAPI): the same answers as ``chidao ask --json``, for other systems.

``POST /api/ask``, ``POST /api/ask/stream`` (server-sent events), ``GET /api/documents``,
``GET /api/tasks``, ``POST /api/feedback``; admin: ``GET /api/feedback.csv``, ``GET /api/feedback.jsonl``,
``POST /api/documents`` (upload and index), ``POST /api/reindex``. OpenAPI docs at ``/docs``.
Also ``GET /doc/{doc_id}``, the document viewer. The web app (``webapp.py``) adds the Gradio apps.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator
from typing import Literal

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant import render
from assistant.answer import Answer
from assistant.service import MAX_COMMENT_CHARS, MAX_QUESTION_CHARS, Service

log = logging.getLogger(__name__)


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20000)


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["Ai chủ trì Đề án 06?"])
    history: list[Turn] = Field(default_factory=list, max_length=50)
    # answer only from the documents whose official header matches (each optional)
    doc_type: str | None = Field(default=None, max_length=60, examples=["Thông báo"])
    issuer: str | None = Field(default=None, max_length=200, examples=["Văn phòng Chính phủ"])
    number: str | None = Field(default=None, max_length=80, examples=["447/TB-VPCP"])
    since: str | None = Field(default=None, max_length=20, description="document date from (YYYY-MM-DD or dd/mm/yyyy)")
    until: str | None = Field(default=None, max_length=20, description="document date to")

    def where(self):
        from assistant.tasktable import doc_filter

        return doc_filter(self.doc_type, self.issuer, self.number, self.since, self.until)


class CitationIn(BaseModel):
    """A citation of the answer being rated, as /api/ask returned it (other fields are dropped)."""

    model_config = ConfigDict(extra="ignore")
    n: int = Field(ge=1, le=1000)
    doc_id: str = Field(max_length=200)
    title: str = Field(default="", max_length=2000)
    source: str = Field(default="", max_length=2000)
    date: str | None = Field(default=None, max_length=100)
    quote: str = Field(default="", max_length=5000)
    start: int = Field(default=0, ge=0)
    end: int = Field(default=0, ge=0)
    score: float = 0.0
    chunk_id: str = Field(default="", max_length=200)


class AnswerIn(BaseModel):
    """The answer being rated, as /api/ask returned it; only what feedback keeps is read."""

    model_config = ConfigDict(extra="ignore")
    answer: str = Field(default="", max_length=20000)
    refused: bool = False
    citations: list[CitationIn] = Field(default_factory=list, max_length=50)


class FeedbackRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: AnswerIn = Field(description="The answer as returned by /api/ask.")
    rating: Literal["up", "down"] | None = None
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    history: list[Turn] = Field(default_factory=list, max_length=50)


def frame_ancestors(service: Service) -> str:
    return " ".join(["'self'", *service.settings.origins])


def create_api(service: Service) -> FastAPI:
    """The FastAPI app with chidao's own routes; the Gradio apps are mounted on it afterwards."""
    settings = service.settings
    app = FastAPI(title="chidao", description="Trợ lý tra cứu văn bản chỉ đạo: hỏi đáp có trích dẫn, "
                  "danh sách văn bản, bảng nhiệm vụ, góp ý.", version="1.0")
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """422 with what was wrong. Unlike FastAPI's own handler, this one can always encode its answer: JSON
        may spell a lone surrogate ("\\ud800"), which pydantic refuses as text and which FastAPI's handler
        then failed to encode when echoing the input (a 500). It also never echoes a large input back."""
        errors = jsonable_encoder(exc.errors())
        for error in errors:
            if len(json.dumps(error.get("input"), ensure_ascii=True, default=str)) > 200:
                error.pop("input", None)
        return Response(json.dumps({"detail": errors}, ensure_ascii=True, default=str), status_code=422,
                        media_type="application/json")

    app.add_middleware(CORSMiddleware, allow_origins=settings.origins, allow_credentials=True,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"])
    ancestors = frame_ancestors(service)

    def signed_in(request: Request) -> bool:
        """Whether the chat login lets this request in (the web app sets ``app.state.signed_in``)."""
        check = getattr(app.state, "signed_in", None)
        return True if check is None else bool(check(request))

    @app.middleware("http")
    async def embedding_policy(request: Request, call_next):
        response = await call_next(request)
        policy = response.headers.get("content-security-policy")
        if policy is None:
            response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
        elif "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors {ancestors}"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    portals = settings.portal_tokens()

    def token(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        portal = portals.get((request.headers.get("origin") or "").rstrip("/"))
        if portal is not None:  # a portal with its own token: that token (or the API token) lets it in
            tokens = [portal] + ([settings.api_token.get_secret_value()] if settings.api_token else [])
            if scheme.lower() == "bearer" and any(hmac.compare_digest(given.strip().encode(), t.encode())
                                                   for t in tokens):
                return
            raise HTTPException(401, "missing or wrong portal token (the bubble's data-chidao-token)",
                                headers={"WWW-Authenticate": "Bearer"})
        if settings.api_token is None:
            if settings.chat_login and not signed_in(request):
                raise HTTPException(401, "sign in first (chat login is on), or use an API token "
                                         "(CHIDAO_API_TOKEN, header 'Authorization: Bearer <token>')")
            return
        expected = settings.api_token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(401, "missing or wrong API token (header 'Authorization: Bearer <token>')",
                                headers={"WWW-Authenticate": "Bearer"})

    def admin(request: Request) -> None:
        if not service.admin_configured:
            raise HTTPException(403, "admin actions are off: set CHIDAO_ADMIN_PASSWORD (or a proxy user header "
                                     "and CHIDAO_ADMIN_USERS)")
        if not service.is_admin(request.headers, request.headers.get("x-admin-password")):
            raise HTTPException(403, "admin only: send the admin password in the X-Admin-Password header")

    def answer_or_400(body: AskRequest) -> Answer:
        try:
            return service.ask(body.question, [t.model_dump() for t in body.history], body.where())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/ask", dependencies=[Depends(token)], tags=["hỏi đáp"])
    def ask(body: AskRequest) -> dict:
        """Answer a question: the JSON of `chidao ask --json` (answer, refused, citations, conflicts);
        `doc_type`, `issuer`, `number`, `since`, `until` keep it to the documents whose header matches."""
        return answer_or_400(body).to_dict()

    @app.post("/api/ask/stream", dependencies=[Depends(token)], tags=["hỏi đáp"],
              response_class=StreamingResponse)
    def ask_stream(body: AskRequest) -> StreamingResponse:
        """Server-sent events: `delta` events carry text as it is produced (`{"text": ...}`, the whole
        text so far), then one `answer` event carries the checked answer (the /api/ask JSON)."""
        history = [t.model_dump() for t in body.history]
        try:
            items = service.stream(body.question, history, body.where())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

        def events() -> Iterator[str]:
            text = ""
            try:
                for item in items:
                    if isinstance(item, str):
                        text += item
                        yield f"event: delta\ndata: {json.dumps({'text': text}, ensure_ascii=False)}\n\n"
                    else:
                        yield f"event: answer\ndata: {json.dumps(item.to_dict(), ensure_ascii=False)}\n\n"
            except Exception as exc:  # the stream has started: report in-band
                log.exception("streamed answer failed")
                yield f"event: error\ndata: {json.dumps({'error': str(exc)}, ensure_ascii=False)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/documents", dependencies=[Depends(token)], tags=["văn bản"])
    def documents() -> list[dict]:
        """The indexed documents: title, date, chunks, tasks, sources."""
        return service.documents()

    @app.post("/api/documents", dependencies=[Depends(token), Depends(admin)], tags=["văn bản"])
    def upload(files: list[UploadFile] = File(...)) -> dict:
        """Admin: upload files and index them (a broken file is skipped and reported). A file replaces an
        earlier upload of the same name; a second file of the same name in one upload is kept as
        `name (2).ext` (listed in `renamed`)."""
        uploaded = service.save_uploads([(f.filename or "upload", f.file) for f in files])
        if not uploaded.saved:
            raise HTTPException(400, {"message": "no file could be accepted", "rejected": uploaded.rejected})
        try:
            report = service.index([service.settings.uploads_path])
        except RuntimeError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"summary": report.summary(), "saved": uploaded.saved, "renamed": uploaded.renamed,
                "rejected": uploaded.rejected, "failed": service.failures(report)}

    @app.post("/api/reindex", dependencies=[Depends(token), Depends(admin)], tags=["văn bản"])
    def reindex() -> dict:
        """Admin: index again every file and folder indexed before."""
        try:
            report = service.reindex()
        except RuntimeError as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"summary": report.summary(), "failed": service.failures(report)}

    def calendar_token(request: Request, token_param: str | None = Query(
            None, alias="token", description="the API token, for calendar clients that cannot send a header")) -> None:
        if token_param and settings.api_token is not None and hmac.compare_digest(
                token_param.encode(), settings.api_token.get_secret_value().encode()):
            return
        token(request)

    @app.get("/api/tasks.ics", dependencies=[Depends(calendar_token)], tags=["nhiệm vụ"], response_class=Response)
    def tasks_ics(request: Request, agency: str | None = Query(None, description="lead or collaborator, any alias"),
                  status: str | None = Query(None, description="done / in_progress / late"),
                  due_within: int | None = Query(None, ge=0, le=3650, description="days ahead (and past due)")
                  ) -> Response:
        """The task table as an iCalendar feed (one event on each dated task's deadline, with the task, its
        document and a link to the cited passage): a calendar client can subscribe to it."""
        from assistant.tasktable import to_ics

        try:
            rows = service.tasks(agency, status=status, due_within=due_within)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        base = settings.public_url or str(request.base_url).rstrip("/")
        name = f"Nhiệm vụ — {agency}" if agency else "Nhiệm vụ"
        return Response(to_ics(rows, base, name), media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": 'inline; filename="nhiem-vu.ics"'})

    @app.get("/api/tasks", dependencies=[Depends(token)], tags=["nhiệm vụ"])
    def tasks(agency: str | None = Query(None, description="lead or collaborator, any alias"),
              due_before: str | None = Query(None, description="YYYY-MM-DD or dd/mm/yyyy"),
              due_after: str | None = Query(None, description="YYYY-MM-DD or dd/mm/yyyy"),
              doc: str | None = Query(None, description="document id, or part of its file name or title"),
              status: str | None = Query(None, description="done / in_progress / late, after the latest report"),
              doc_type: str | None = Query(None, description="the document's type (Thông báo, Chỉ thị, ...)"),
              issuer: str | None = Query(None, description="the issuing body or its parent, any alias"),
              number: str | None = Query(None, description="the document's number, e.g. 447/TB-VPCP"),
              since: str | None = Query(None, description="document date from"),
              until: str | None = Query(None, description="document date to"),
              with_history: bool = Query(False, description="also rows a newer document superseded"),
              due_within: int | None = Query(None, ge=0, le=3650,
                                             description="only tasks due within this many days, and past due")
              ) -> list[dict]:
        """The task table with the filters of `chidao tasks`."""
        from assistant.tasktable import doc_filter

        try:
            return service.tasks(agency, due_before, due_after, doc, status,
                                 doc_filter(doc_type, issuer, number, since, until), with_history, due_within)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/feedback", dependencies=[Depends(token)], tags=["góp ý"], status_code=201)
    def feedback(body: FeedbackRequest, request: Request) -> dict:
        """Store a thumbs up/down and an optional comment on an answer."""
        if body.rating is None and not body.comment.strip():
            raise HTTPException(400, "give a rating ('up' or 'down'), a comment, or both")
        answer = {**body.answer.model_dump(exclude_unset=True), "question": body.question}
        rating = {"up": 1, "down": -1}.get(body.rating) if body.rating else None
        feedback_id = service.feedback.add(
            answer, rating, body.comment, settings=service.answer_settings(),
            history=[t.model_dump() for t in body.history], user=service.user(request.headers), channel="api")
        return {"id": feedback_id}

    @app.get("/api/feedback.csv", dependencies=[Depends(token), Depends(admin)], tags=["góp ý"])
    def feedback_csv() -> Response:
        """Admin: all feedback as CSV."""
        return Response("\ufeff" + service.feedback.to_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="chidao-feedback.csv"'})

    @app.get("/api/feedback.jsonl", dependencies=[Depends(token), Depends(admin)], tags=["góp ý"])
    def feedback_testset() -> PlainTextResponse:
        """Admin: rated feedback as test-set lines for `chidao eval`."""
        lines = [json.dumps(line, ensure_ascii=False) for line in service.feedback.to_testset()]
        return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""), media_type="application/x-ndjson")

    @app.get("/doc/{doc_id}", response_class=HTMLResponse, tags=["văn bản"])
    def document(request: Request, doc_id: str, start: int | None = None, end: int | None = None) -> HTMLResponse:
        """The document viewer: the whole text, the cited passage highlighted and scrolled to."""
        if settings.chat_login and not signed_in(request):
            raise HTTPException(401, "sign in to the chat first")
        doc = service.assistant.docstore.document(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id!r} in the index")
        page = render.document_page(doc, start, end, ancestors)
        return HTMLResponse(page, headers={
            "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {ancestors}"})

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok", **service.assistant.docstore.stats()}

    return app
