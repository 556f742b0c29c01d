"""HTML for the web edges (chat, sources panel, document viewer) and plain text for copying.

Everything that comes from a document or a user is escaped here, always: a directive containing
``<script>``, ``<img onerror=...>`` or a ``javascript:`` link shows as text. Characters that Markdown
would read as syntax are escaped too, because the chat renders Markdown around our HTML.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote, urlencode

from index.docstore import DocStore

_MARKER = re.compile(r"\[(\d{1,3})\]")
# Markdown syntax characters (and $ for LaTeX), written as numeric entities so that no renderer
# turns document text into links, emphasis, code or math.
_MD = {c: f"&#{ord(c)};" for c in "[]()*_`#|~$!\\{}<>&\"'"}

STYLE = """
.chidao-answer{line-height:1.55}
.chidao-notice{border-left:4px solid #b45309;background:#fffbeb;color:#78350f;padding:6px 10px;margin:0 0 8px;
  font-weight:600}
.chidao-conflict-notice{border-left:4px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:6px 10px;margin:8px 0;
  font-weight:600}
.chidao-conflicts{border-collapse:collapse;margin:4px 0 8px}
.chidao-conflicts td,.chidao-conflicts th{border:1px solid #d1d5db;padding:4px 8px;vertical-align:top}
.chidao-cite{font-weight:600;text-decoration:none}
.chidao-note{color:#6b7280;font-size:0.9em}
.chidao-source{border:1px solid #e5e7eb;border-radius:6px;padding:8px 10px;margin:0 0 10px}
.chidao-source-head{font-size:0.92em;margin-bottom:4px}
.chidao-passage{white-space:pre-wrap;font-size:0.92em}
.chidao-passage mark{background:#fde68a;color:inherit}
.chidao-flash{animation:chidao-flash 1.5s ease-out;outline:2px solid #f59e0b}
@keyframes chidao-flash{from{background:#fef3c7}to{background:transparent}}
"""


def esc(text: str | None) -> str:
    """Text as inert HTML inside Markdown: no tag, no link, no emphasis survives."""
    return "".join(_MD.get(ch, ch) for ch in (text or ""))


def esc_lines(text: str | None) -> str:
    """Like :func:`esc`, with line breaks kept as ``<br>``."""
    return "<br>".join(esc(line) for line in (text or "").split("\n"))


def doc_url(base: str, doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """The document viewer's address, scrolled to the passage ``[start, end)`` when given."""
    url = f"{base.rstrip('/')}/doc/{quote(doc_id, safe='')}"
    if start is not None and end is not None:
        url += "?" + urlencode({"start": start, "end": end}) + "#passage"
    return url


def _citation_link(base: str, c: dict) -> str:
    title = esc(f"{c.get('title', '')[:120]} — «{c.get('quote', '')[:200]}»")
    href = html.escape(doc_url(base, c["doc_id"], c["start"], c["end"]), quote=True)
    return (f'<a class="chidao-cite" href="{href}" target="_blank" rel="noopener noreferrer" '
            f'title="{title}">&#91;{c["n"]}&#93;</a>')


def with_links(text: str, citations: list[dict], base: str) -> str:
    """Escaped text in which every ``[n]`` of a known citation is a link to its passage."""
    by_n = {c["n"]: c for c in citations}
    out, last = [], 0
    for m in _MARKER.finditer(text):
        c = by_n.get(int(m.group(1)))
        if c is None:
            continue
        out.append(esc_lines(text[last:m.start()]))
        out.append(_citation_link(base, c))
        last = m.end()
    out.append(esc_lines(text[last:]))
    return "".join(out)


def answer_html(answer: dict, base: str) -> str:
    """One chat message: notice for a refusal, the answer with linked markers, conflicts side by side."""
    cites = answer.get("citations", [])
    classes = ["chidao-answer"]
    parts = []
    if answer.get("refused"):
        classes.append("chidao-refused")
        parts.append('<div class="chidao-notice">⚠ Không tìm thấy câu trả lời trong các văn bản đã nạp.</div>')
    text = answer.get("answer", "")
    parts.append(f'<div class="chidao-text">{with_links(text, cites, base)}</div>')
    conflicts = answer.get("conflicts") or []
    if conflicts:
        classes.append("chidao-has-conflict")
        by_n = {c["n"]: c for c in cites}
        for conflict in conflicts:
            heads, values = [], []
            for value in conflict.get("values", []):
                c = by_n.get(value.get("citation"))
                source = (f"{_citation_link(base, c)} {esc(c.get('title', '')[:80])}"
                          + (f" ({esc(c['date'])})" if c.get("date") else "")) if c else "nguồn không rõ"
                heads.append(f"<th>{source}</th>")
                values.append(f"<td><b>{esc(str(value.get('value', '')))}</b></td>")
            parts.append(
                f'<div class="chidao-conflict-notice">⚠ Các nguồn ghi khác nhau về {esc(conflict.get("label", ""))}'
                " — cần đối chiếu văn bản gốc.</div>"
                f'<table class="chidao-conflicts"><tr>{"".join(heads)}</tr><tr>{"".join(values)}</tr></table>'
            )
    if answer.get("note"):
        parts.append(f'<div class="chidao-note">{esc(answer["note"])}</div>')
    return f'<div class="{" ".join(classes)}">{"".join(parts)}</div>'


def pending_html(text: str = "") -> str:
    """The message shown while an answer is being found (or streamed)."""
    if not text:
        return '<div class="chidao-answer chidao-pending">Đang tìm trong văn bản…</div>'
    return f'<div class="chidao-answer chidao-pending">{esc_lines(text)}</div>'


def error_html(message: str) -> str:
    """A failure shown in the chat (the question could not be answered at all)."""
    return f'<div class="chidao-answer chidao-error"><div class="chidao-notice">⚠ {esc_lines(message)}</div></div>'


def user_html(question: str) -> str:
    return esc_lines(question)


def _highlighted(text: str, start: int, end: int) -> str:
    start, end = max(0, start), min(len(text), end)
    return (esc(text[:start]) + '<mark>' + esc(text[start:end]) + '</mark>' + esc(text[end:]))


def sources_html(answer: dict | None, docstore: DocStore, base: str) -> str:
    """The sources panel: each cited passage with the quoted words highlighted, title, date, a link to
    the whole document; for a refusal, the closest passages."""
    if not answer:
        return '<div class="chidao-sources chidao-empty">Các đoạn trích dẫn sẽ hiện ở đây.</div>'
    cards = []
    for c in answer.get("citations", []):
        chunk = docstore.chunks([c["chunk_id"]]).get(c["chunk_id"]) if c.get("chunk_id") else None
        if chunk is not None and chunk.start <= c["start"] and c["end"] <= chunk.end:
            passage = _highlighted(chunk.text, c["start"] - chunk.start, c["end"] - chunk.start)
        else:
            passage = "<mark>" + esc(c.get("quote", "")) + "</mark>"
        href = html.escape(doc_url(base, c["doc_id"], c["start"], c["end"]), quote=True)
        date = f" · {esc(c['date'])}" if c.get("date") else ""
        cards.append(
            f'<div class="chidao-source" id="chidao-src-{c["n"]}"><div class="chidao-source-head">'
            f'<b>&#91;{c["n"]}&#93;</b> <b>{esc(c.get("title", ""))}</b>{date} · '
            f'<a class="chidao-open" href="{href}" target="_blank" rel="noopener noreferrer">Mở toàn văn ↗</a>'
            f'</div><div class="chidao-passage">{passage}</div></div>'
        )
    if not cards and answer.get("closest"):
        cards.append('<div class="chidao-source-head">Không có đoạn trả lời trực tiếp; các đoạn gần nhất:</div>')
        for c in answer["closest"]:
            href = html.escape(doc_url(base, c["doc_id"], c["start"], c["end"]), quote=True)
            cards.append(
                f'<div class="chidao-source"><div class="chidao-source-head"><b>{esc(c.get("title", ""))}</b> · '
                f'<a href="{href}" target="_blank" rel="noopener noreferrer">Mở toàn văn ↗</a></div>'
                f'<div class="chidao-passage">{esc(c.get("text", ""))}</div></div>'
            )
    if not cards:
        return '<div class="chidao-sources chidao-empty">Câu trả lời này không trích dẫn đoạn nào.</div>'
    return f'<div class="chidao-sources">{"".join(cards)}</div>'


def plain_text(answer: dict) -> str:
    """The answer with its references, for the clipboard."""
    lines = [answer.get("answer", "")]
    if answer.get("citations"):
        lines += ["", "Nguồn:"]
        for c in answer["citations"]:
            date = f", {c['date']}" if c.get("date") else ""
            lines.append(f"[{c['n']}] {c.get('title', '')}{date}")
            lines.append(f"    «{c.get('quote', '')}»")
    return "\n".join(lines)


def document_page(doc, start: int | None, end: int | None, frame_ancestors: str) -> str:
    """The whole document as an inert HTML page, the cited passage marked (``#passage``)."""
    text = doc.text
    if start is not None and end is not None and 0 <= start < end <= len(text):
        body = (html.escape(text[:start]) + '<mark id="passage">' + html.escape(text[start:end]) + "</mark>"
                + html.escape(text[end:]))
    else:
        body = html.escape(text)
    official = " ".join(x for x in (getattr(doc, "doc_type", None), getattr(doc, "number", None)) if x)
    meta = " · ".join(html.escape(x) for x in (official, doc.issuer or "", getattr(doc, "place", None) or "",
                                                doc.date or "") if x)
    summary = getattr(doc, "summary", None)
    if summary:  # the official summary line (trích yếu)
        meta += '</div><div class="meta">' + html.escape(summary)
    # file names (and bulk-record ids), not the server's folders
    sources = "<br>".join(html.escape(Path(s.split("#", 1)[0]).name + ("#" + s.split("#", 1)[1] if "#" in s else ""))
                          for s in doc.sources)
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(doc.title[:120])}</title>
<style>
body{{font-family:system-ui,"DejaVu Sans",sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#111827}}
.text{{white-space:pre-wrap;line-height:1.6}} mark{{background:#fde68a;scroll-margin-top:30vh}}
.meta{{color:#4b5563;font-size:.9em}}
</style></head><body>
<h1 style="font-size:1.3rem">{html.escape(doc.title)}</h1>
<div class="meta">{meta}</div><div class="meta">{sources}</div><hr>
<div class="text">{body}</div>
</body></html>"""
