"""Text normalisation applied to every document before chunking, embedding and indexing.

Word and PDF extraction often produce decomposed Vietnamese (a base letter followed by combining
tone marks). To a tokenizer and to exact-match search, "Bộ" in NFD and "Bộ" in NFC are different
strings, so everything is brought to NFC first. Offsets stored in the index refer to the text *after*
this function, which is the text the document store keeps.
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u3000\t\v\f"), " ")
_MANY_SPACES = re.compile(r" {2,}")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


#: Every upper-case letter Vietnamese uses (a regex range like À-Ỹ would also take lower-case ones).
VIET_UPPER = "".join(ch for ch in map(chr, range(0x41, 0x1EFA)) if ch.isalpha() and ch.isupper())


def nfc(text: str) -> str:
    """Unicode NFC, the form every stored and embedded string is in."""
    return unicodedata.normalize("NFC", text)


def normalize_text(text: str) -> str:
    """NFC, unified line ends and spaces, no invisible characters, at most one blank line in a row.

    Example:
        >>> normalize_text("Bo\u0302\u0323 Y te\u0302\u0301\\r\\n\\r\\n\\r\\nxong")
        'Bộ Y tế\\n\\nxong'
    """
    text = nfc(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_INVISIBLE).translate(_SPACES)
    lines = [_MANY_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
