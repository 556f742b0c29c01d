"""OCR of scanned PDF pages with Debian's tesseract (``tesseract-ocr`` and ``tesseract-ocr-vie``).

A page without a text layer is rendered to an image (pypdfium2, which pdfplumber already brings) and read
by tesseract through ``pytesseract``; the text is NFC-normalised like every other document's. A machine
without tesseract or its Vietnamese data gets a one-line reason naming the packages, never a crash.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable

from index.lang.normalize import nfc

log = logging.getLogger(__name__)

#: tesseract's language: Vietnamese (its data also reads the Latin letters of codes and numbers)
LANG = "vie"
#: rendering resolution: tesseract reads body text best at about 300 dpi
DPI = 300
#: a page with fewer characters than this in its text layer is taken as scanned
MIN_TEXT_CHARS = 20
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-vie"


def missing() -> str | None:
    """Why OCR cannot run here (None when it can)."""
    if shutil.which("tesseract") is None:
        return f"tesseract is not installed ({INSTALL})"
    try:
        import pytesseract

        if LANG not in pytesseract.get_languages(config=""):
            return f"tesseract has no Vietnamese data ({INSTALL})"
    except Exception as exc:  # a broken installation: say so, do not crash the run
        return f"tesseract does not run ({exc})"
    return None


def needs_ocr(text: str) -> bool:
    """A page whose text layer is (nearly) empty."""
    return len("".join(text.split())) < MIN_TEXT_CHARS


def ocr_pages(data: bytes, numbers: Iterable[int], dpi: int = DPI) -> dict[int, str]:
    """The text of these pages (0-based) of a PDF, read by tesseract, page by page with progress logged."""
    import pypdfium2
    import pytesseract

    wanted = list(numbers)
    out: dict[int, str] = {}
    pdf = pypdfium2.PdfDocument(data)
    try:
        for done, number in enumerate(wanted, start=1):
            page = pdf[number]
            image = page.render(scale=dpi / 72).to_pil()
            out[number] = nfc(pytesseract.image_to_string(image, lang=LANG))
            page.close()
            log.info("OCR: page %d (%d of %d scanned pages)", number + 1, done, len(wanted))
    finally:
        pdf.close()
    return out
