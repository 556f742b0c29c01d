"""What a PDF needs beyond its text layer: scanned pages read by OCR, ruled tables re-read as rows
(pdfplumber), and lines the page only wrapped joined back into their sentence. Used by the PDF loader
(:mod:`index.load`), which reads the text layer with pypdf first."""

from __future__ import annotations

import io
import logging
import re

from index.files import LoadError
from index.tables import render_table

log = logging.getLogger(__name__)


_LOWER = "".join(ch for ch in map(chr, range(0x61, 0x1EFA)) if ch.isalpha() and ch.islower())
_WRAPPED = re.compile(rf"(?<=[^\s.:;!?…|])[ \t]*\n[ \t]*(?=[{_LOWER}0-9(])")


def reflow(text: str) -> str:
    """A PDF page's lines joined where the page only wrapped them: a line that does not end a sentence,
    followed by one that starts in lower case or with a digit ("xây dựng cơ sở dữ liệu / tiêm chủng ...").

    Example:
        >>> reflow("Sở Y tế xây dựng cơ sở dữ liệu\ntiêm chủng.\nTHÔNG BÁO\nKết luận")
        'Sở Y tế xây dựng cơ sở dữ liệu tiêm chủng.\nTHÔNG BÁO\nKết luận'
    """
    return _WRAPPED.sub(" ", text)


def with_ocr(data: bytes, pages: list[str]) -> list[str]:
    """Pages without a text layer read by OCR (a mixed PDF keeps the text layer of its other pages)."""
    from index import ocr

    scanned = [i for i, text in enumerate(pages) if ocr.needs_ocr(text)]
    if not scanned:
        return pages
    reason = ocr.missing()
    if reason is not None:
        if len(scanned) == len(pages) or sum(len(p.strip()) for p in pages) < 200:
            raise LoadError(f"scanned PDF: no text layer on {len(scanned)} of {len(pages)} pages, and {reason}")
        log.warning("%d scanned pages left out: %s", len(scanned), reason)
        return pages
    read = ocr.ocr_pages(data, scanned)
    return [read.get(i, text) for i, text in enumerate(pages)]


def _page_with_tables(page) -> str | None:
    """A pdfplumber page's text with its ruled tables rendered as rows, in reading order from the top;
    None when the page has no table."""
    tables = page.find_tables()
    if not tables:
        return None
    boxes = [t.bbox for t in tables]

    def outside(obj) -> bool:
        x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    blocks = [(line["top"], line["text"]) for line in page.filter(outside).extract_text_lines()]
    for table in tables:
        # a line break inside a PDF cell is where the text wrapped, not a new paragraph
        rows = [[" ".join((cell or "").split()) for cell in row] for row in table.extract()]
        blocks.append((table.bbox[1], render_table(rows)))
    return "\n".join(text for _, text in sorted(blocks, key=lambda b: b[0]))


def with_tables(data: bytes, pages: list[str]) -> list[str]:
    """Pages holding ruled tables re-read with pdfplumber, so their tables come out as rows (pypdf runs a
    table's cells together line by line); every other page keeps pypdf's text. A page pdfplumber cannot
    read keeps pypdf's text too."""
    try:
        import pdfplumber
    except ImportError:  # an installation without it still reads the text
        return pages
    out = list(pages)
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for number, page in enumerate(pdf.pages[: len(pages)]):
                try:
                    text = _page_with_tables(page)
                except Exception:  # one odd page: keep what pypdf read
                    log.debug("pdfplumber could not read page %d", number + 1, exc_info=True)
                    continue
                if text is not None:
                    out[number] = text
                page.close()
    except Exception:
        log.debug("pdfplumber could not open the PDF; pypdf's text is kept", exc_info=True)
    return out
