"""HTML rendering of answers, sources and documents: escaped always, links only where we put them."""

from __future__ import annotations

import re

from assistant import render
from index.docstore import StoredDocument

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) *đậm* $x$"
BASE = "http://127.0.0.1:7860"


def _answer(text: str, refused: bool = False, **extra) -> dict:
    cites = [{"n": 1, "doc_id": "d1", "title": "Kết luận <b>số 1</b>", "source": "/a/x.txt", "date": "2026-02-25",
              "quote": "Bộ Y tế chủ trì", "start": 10, "end": 25, "score": 1.0, "chunk_id": ""}]
    return {"question": "q", "answer": text, "refused": refused, "citations": [] if refused else cites,
            "conflicts": [], **extra}


def _tags(html: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}


def test_escape_leaves_no_markup_or_markdown():
    out = render.esc(HOSTILE)
    assert "<" not in out and ">" not in out and "[" not in out and "(" not in out and "*" not in out
    assert "$" not in out and "javascript:" in out  # the word stays, as text
    assert render.esc(None) == ""


def test_markers_become_links_to_the_viewer_and_nothing_else_does():
    html = render.answer_html(_answer(f"{HOSTILE} Bộ Y tế chủ trì [1]. Không có [7]."), BASE)
    assert _tags(html) <= {"div", "a", "br"}
    links = re.findall(r'<a [^>]*href="([^"]+)"', html)
    assert links == [f"{BASE}/doc/d1?start=10&amp;end=25#passage"]
    assert "&#91;7&#93;" in html  # an unknown marker stays text
    assert "chidao-notice" not in html


def test_refusal_and_conflicts_are_marked():
    refused = render.answer_html(_answer("Không tìm thấy.", refused=True), BASE)
    assert "chidao-refused" in refused and "chidao-notice" in refused
    answer = _answer("Hạn: quý 3/2026 [1]; tháng 6/2026 [2].")
    answer["citations"].append({**answer["citations"][0], "n": 2, "doc_id": "d2", "title": "Bài <i>khác</i>"})
    answer["conflicts"] = [{"field": "deadline", "label": "thời hạn", "values": [
        {"value": "quý 3/2026", "citation": 1}, {"value": "<b>tháng 6/2026</b>", "citation": 2}]}]
    html = render.answer_html(answer, BASE)
    assert "chidao-conflict-notice" in html and html.count("<td>") == 2
    assert "<b>tháng" not in html and "<i>" not in html
    assert html.count('class="chidao-cite"') == 4  # two in the text, two in the table


def test_sources_panel_highlights_the_quote(indexed):
    q = "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế?"
    answer = indexed.ask(q).to_dict()
    html = render.sources_html(answer, indexed.docstore, BASE)
    marks = re.findall(r"<mark>(.*?)</mark>", html)
    assert len(marks) == len(answer["citations"]) and answer["citations"][0]["quote"].split()[0] in marks[0]
    assert "/doc/" in html and "chidao-source" in html
    assert "đây" in render.sources_html(None, indexed.docstore, BASE)


def test_document_page_is_inert():
    doc = StoredDocument("d1", "<script>t()</script>", None, None, "txt", "Đầu. " + HOSTILE + " Cuối.", 1, ("x",))
    page = render.document_page(doc, 5, 5 + len(HOSTILE), "'self'")
    body = page.split("<body>", 1)[1]
    assert _tags(body) <= {"h1", "div", "hr", "mark", "br"}
    assert '<mark id="passage">&lt;script&gt;' in body
    assert "<mark" not in render.document_page(doc, 50, 10, "'self'")  # a bad span marks nothing


def test_plain_text_has_the_references():
    text = render.plain_text(_answer("Bộ Y tế chủ trì [1]."))
    assert text.startswith("Bộ Y tế chủ trì [1].") and "Nguồn:" in text and "«Bộ Y tế chủ trì»" in text
