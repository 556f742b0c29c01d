"""Vietnamese-aware matching: tone-mark folding, equivalent date forms, abbreviations.

Staff type queries without tone marks ("ai chu tri co so du lieu y te"), with abbreviations
("CSDL", "Bộ NN-MT") or with other date spellings ("quý III/2026", "tháng 3.2026"). These helpers put
documents and queries into one comparable form for lexical search and evidence matching.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.lang.normalize import nfc

ABBREVIATIONS_FILE = Path(__file__).with_name("data") / "abbreviations.tsv"

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10,
          "xi": 11, "xii": 12}
_QUARTER = re.compile(r"\b(quý|quy)\s+(IV|I{1,3}|[1-4])\b(?=\s*(?:/|năm|nam|\.|,|;|$))", re.I)
_MONTH_YEAR = re.compile(r"\b(tháng|thang|quý|quy)\s+(\d{1,2})\s*[./-]\s*(\d{4})\b", re.I)
_DAY_MONTH = re.compile(r"\b(\d{1,2})\s*[.-]\s*(\d{1,2})(?:\s*[.-]\s*(\d{4}))?\b(?=\s|$|[,;)])")
_WORD = re.compile(r"\d+(?:[/.,]\d+)*%?|[^\W\d_]+(?:[-&][^\W\d_]+)*", re.U)
_VIET_MARKS = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)


def _fold_table() -> dict[int, str | None]:
    """Each lower-case letter with marks -> its base letter; combining marks -> nothing; đ -> d."""
    table: dict[int, str | None] = {}
    for code in range(0x80, 0x2000):
        char = chr(code)
        if unicodedata.category(char) == "Mn":
            table[code] = None
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")
        if base != char and char.islower():
            table[code] = base
    table[ord("đ")] = "d"
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower case without tone marks: ``Bộ Y tế`` -> ``bo y te`` (đ -> d).

    One C-level pass (``str.translate``): this runs on every word of every candidate sentence."""
    return text.lower().translate(_FOLD)


def has_marks(text: str) -> bool:
    """True when the text carries Vietnamese tone marks or đ (i.e. was not typed folded)."""
    return bool(_VIET_MARKS.search(text))


def canonical_dates(text: str) -> str:
    """One spelling for equivalent date forms: ``quý III/2026`` -> ``quý 3/2026``,
    ``tháng 3.2026`` -> ``tháng 3/2026``, ``25.2`` -> ``25/2``.

    Example:
        >>> canonical_dates("hoàn thành trong quý III/2026 và tháng 6.2026")
        'hoàn thành trong quý 3/2026 và tháng 6/2026'
    """
    text = _QUARTER.sub(lambda m: f"{m.group(1)} {_ROMAN.get(m.group(2).lower(), m.group(2))}", text)
    text = _MONTH_YEAR.sub(lambda m: f"{m.group(1)} {int(m.group(2))}/{m.group(3)}", text)

    def day_month(m: re.Match) -> str:
        day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if not (1 <= day <= 31 and 1 <= month <= 12):
            return m.group(0)
        return f"{day}/{month}" + (f"/{year}" if year else "")

    return _DAY_MONTH.sub(day_month, text)


@dataclass(frozen=True)
class Abbreviation:
    short: str
    long: tuple[str, ...]


@lru_cache(maxsize=4)
def load_abbreviations(path: Path = ABBREVIATIONS_FILE) -> tuple[Abbreviation, ...]:
    """The abbreviation table (data file, editable by an administrator)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        short, *longs = [nfc(part.strip()) for part in line.split("\t") if part.strip()]
        out.append(Abbreviation(short, tuple(longs)))
    return tuple(out)


def _folded_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in fold(phrase).split()]
    return re.compile(r"(?<![\w&-])" + r"\s+".join(words) + r"(?![\w&-])")


def _short_pattern(short: str) -> tuple[re.Pattern[str], bool]:
    """Abbreviations of 3 letters or fewer ("AI", "TP", "QĐ") must be written in capitals: "ai"
    is also the Vietnamese "who". Longer ones ("CSDL", "UBND") may be typed in any case."""
    letters = sum(ch.isalpha() for ch in short)
    if letters <= 3:
        return re.compile(r"(?<![\w&-])" + re.escape(short) + r"(?![\w&-])"), False
    return _folded_pattern(short), True


@lru_cache(maxsize=4)
def _abbreviation_patterns(path: Path = ABBREVIATIONS_FILE) -> tuple[tuple[re.Pattern[str], bool, str], ...]:
    """(pattern, whether it applies to folded text, the other form) for both directions."""
    rules = []
    for abbr in load_abbreviations(path):
        short_pattern, short_folded = _short_pattern(abbr.short)
        for long in abbr.long:
            rules.append((short_pattern, short_folded, long))
            rules.append((_folded_pattern(long), True, abbr.short))
    return tuple(rules)


def expansions(text: str) -> list[str]:
    """The other forms of abbreviations and full forms found in ``text`` (both directions).

    Example:
        >>> expansions("Bộ NN-MT chủ trì CSDL")
        ['cơ sở dữ liệu', 'nông nghiệp và môi trường']
    """
    text = nfc(text)
    folded = fold(text)
    found: list[str] = []
    for pattern, on_folded, other in _abbreviation_patterns():
        if pattern.search(folded if on_folded else text) and other not in found and fold(other) not in folded:
            found.append(other)
    return found


def words(text: str) -> list[str]:
    """Word tokens (lower case, dates canonical, tone marks kept)."""
    return _WORD.findall(canonical_dates(nfc(text)).lower())


def lexical_tokens(text: str, expand: bool = True) -> list[str]:
    """Tokens for BM25: each word with tone marks and folded, plus folded word pairs (phrases).

    Folded forms make unaccented queries match; accented forms make exact matches score higher;
    pairs favour passages that hold the question's phrases ("y tế", "dữ liệu") rather than its
    scattered syllables.
    """
    tokens: list[str] = []
    for part in [text] + (expansions(text) if expand else []):  # pairs never cross parts
        folded_words = []
        for word in words(part):
            folded = fold(word)
            tokens.append(word)
            if folded != word:
                tokens.append(folded)
            folded_words.append(folded)
        tokens.extend(f"{a}_{b}" for a, b in zip(folded_words, folded_words[1:]))
    return tokens
