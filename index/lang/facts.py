"""Facts of directive language: agencies and deadlines, as they are written.

Used by the answerer (who/when questions, conflicts) and by task extraction. Everything works on
the original text and returns exact spans, so a fact can always be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.lang.normalize import VIET_UPPER, nfc
from index.lang.vietnamese import canonical_dates, fold

AGENCIES_FILE = Path(__file__).with_name("data") / "agencies.tsv"


#: Who assigns rather than who is assigned, in directive language.
ASSIGNERS = frozenset({"Thủ tướng Chính phủ", "Chính phủ", "Ban Chỉ đạo", "Quốc hội", "Bộ Chính trị", "Ban Bí thư"})
#: Collective addressees: naming them does not single out one body.
COLLECTIVE = frozenset({"Các bộ, ngành", "Các địa phương"})


@dataclass(frozen=True)
class Mention:
    """A span of text: ``text[start:end] == value``; ``canonical`` is the comparable form."""

    value: str
    start: int
    end: int
    canonical: str


@lru_cache(maxsize=2)
def _agency_table(path: Path = AGENCIES_FILE) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            names = [nfc(p.strip()) for p in line.split("\t") if p.strip()]
            rows.append((names[0], tuple(names)))
            if names[0].startswith("Bộ "):
                # Provincial departments mirror the ministries: Sở Y tế, Sở GD-ĐT, Sở Xây dựng.
                rows.append(("Sở " + names[0][3:], tuple("Sở " + n[3:] for n in names if n.startswith("Bộ "))))
    return tuple(rows)


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """Fold character by character, remembering where each folded char came from."""
    out, where = [], []
    for i, ch in enumerate(text):
        f = fold(ch)
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


@lru_cache(maxsize=2)
def _agency_patterns(path: Path = AGENCIES_FILE) -> tuple[tuple[re.Pattern[str], str], ...]:
    patterns = []
    for canonical, names in _agency_table(path):
        for name in names:
            words = [re.escape(w) for w in fold(name).split()]
            patterns.append((re.compile(r"(?<![\w&-])" + r"\s+".join(words) + r"(?![\w&-])"), canonical))
    # Longest names first, so "Bộ Nông nghiệp và Phát triển nông thôn" wins over shorter overlaps.
    return tuple(sorted(patterns, key=lambda p: -len(p[0].pattern)))


_LOCAL = re.compile(
    r"(?:UBND|Ủy ban nhân dân|Uỷ ban nhân dân|HĐND|Sở|Cục|Tổng cục|Công an|Tập đoàn|Tổng công ty|Ban quản lý)"
    rf"(?:\s+(?:tỉnh|thành phố|TP\.?|huyện|quận|thị xã|xã|phường))?"
    rf"(?:\s*(?:TP\.\s?HCM|TPHCM)|(?:\s+[{VIET_UPPER}][\w-]*){{1,5}})"
)


def canonical_agency(name: str) -> str:
    """The canonical name of an agency alias (``Bộ KH-CN`` -> ``Bộ Khoa học và Công nghệ``)."""
    mentions = find_agencies(name)
    return mentions[0].canonical if mentions else nfc(name.strip())


def find_agencies(text: str) -> list[Mention]:
    """Agencies named in ``text`` (table aliases and local bodies such as ``UBND tỉnh Quảng Ninh``)."""
    folded, where = _folded_with_map(text)
    taken = [False] * len(folded)
    found: list[Mention] = []
    for pattern, canonical in _agency_patterns():
        for m in pattern.finditer(folded):
            if any(taken[m.start() : m.end()]):
                continue
            for i in range(m.start(), m.end()):
                taken[i] = True
            start, end = where[m.start()], where[m.end() - 1] + 1
            found.append(Mention(text[start:end], start, end, canonical))
    for m in _LOCAL.finditer(text):
        if not any(f.start <= m.start() < f.end for f in found):
            found.append(Mention(m.group(0), m.start(), m.end(), m.group(0)))
    return sorted(found, key=lambda m: m.start)


_Q = r"(?:IV|I{1,3}|[1-4])"
_DATE = (
    rf"(?:quý\s+{_Q}\s*(?:[/.-]\s*|\s+năm\s+)\d{{4}}"
    rf"|(?:tháng\s+\d{{1,2}}\s*(?:[/.-]\s*|\s+năm\s+)\d{{4}})"
    rf"|(?:ngày\s+)?\d{{1,2}}\s*[/.-]\s*\d{{1,2}}(?:\s*[/.-]\s*\d{{4}})?"
    rf"|ngày\s+\d{{1,2}}\s+tháng\s+\d{{1,2}}(?:\s+năm\s+\d{{4}})?"
    rf"|quý\s+{_Q}|tháng\s+\d{{1,2}}"
    rf"|(?:năm|giai đoạn)\s+\d{{4}}(?:\s*-\s*\d{{4}})?)"
)
_DEADLINE = re.compile(
    r"(?:(?:hoàn thành|xong|hạn|trình|ban hành|báo cáo)[^.;:]{0,40}?\s)?"
    r"(?:ngay\s+)?(?:trong|trước|chậm nhất|đến hết|đến|vào|từ)\s+(?:ngày\s+)?" + _DATE,
    re.I,
)
_URGENT = re.compile(r"\b(?:khẩn trương|ngay|sớm|kịp thời)\b", re.I)


def find_deadlines(text: str) -> list[Mention]:
    """Deadline phrases as written (``trong quý 3/2026``, ``trước ngày 10/2``, ``trong tháng 6.2026``).

    The canonical form makes equivalent spellings equal: ``quý III/2026`` and ``quý 3/2026`` both read
    ``quý 3/2026``.

    Example:
        >>> [d.value for d in find_deadlines("Bộ Y tế chủ trì, hoàn thành trong quý 3/2026.")]
        ['trong quý 3/2026']
    """
    out = []
    for m in _DEADLINE.finditer(text):
        span = re.search(r"(?:ngay\s+)?(?:trong|trước|chậm nhất|đến hết|đến|vào|từ)\s", m.group(0), re.I)
        start = m.start() + (span.start() if span else 0)
        value = text[start : m.end()]
        canonical = canonical_dates(re.sub(r"^(?:ngay\s+)?(?:trong|vào)\s+", "", value, flags=re.I)).lower()
        out.append(Mention(value, start, m.end(), canonical))
    return out


def deadline_value(mention: Mention) -> str:
    """The date part of a deadline (``trong quý 3/2026`` -> ``quý 3/2026``)."""
    return re.sub(r"^(?:ngay\s+)?(?:trong|vào)\s+", "", mention.value, flags=re.I)


def urgency(text: str) -> str | None:
    """The urgency word as written ('khẩn trương', 'ngay', 'sớm'), for tasks without a date."""
    match = _URGENT.search(text)
    return match.group(0) if match else None
