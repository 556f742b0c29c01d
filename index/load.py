"""Loaders: files on disk -> normalised :class:`Document` records, or a one-line failure.

Supported: ``.txt``, ``.md``, ``.html``/``.htm``, ``.docx``, ``.pdf`` and bulk ``.jsonl`` /
``.jsonl.gz`` exports with one ``{"id", "title", "text", ...}`` object per line. Folders are walked
recursively. A broken file never raises out of :func:`load_path`; it yields a :class:`LoadFailure`
with a reason a person can act on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from index.metadata import extract_date, extract_issuer, guess_title, split_header
from index.normalize import normalize_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    """One source document, its text already normalised (the text all offsets refer to)."""

    doc_id: str
    text: str
    title: str
    source: str
    date: str | None = None
    issuer: str | None = None
    format: str = "txt"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadFailure:
    """A file (or a record of a bulk file) that was skipped, and why."""

    source: str
    reason: str

    @property
    def file(self) -> str:
        """The file this failure is about (a bulk file's record or line reference removed)."""
        path = self.source.split("#", 1)[0]
        head, _, tail = path.rpartition(":")
        return head if head and tail.isdigit() else path


class LoadError(Exception):
    """Raised inside a loader; turned into a :class:`LoadFailure`."""


@dataclass
class _Raw:
    text: str
    title: str | None = None
    date: str | None = None
    issuer: str | None = None
    source: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def content_id(text: str) -> str:
    """Stable document id: a hash of the normalised text (same text, same id, wherever it lives)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


# --------------------------------------------------------------------------- text decoding

_MOJIBAKE = re.compile(r"(?:Ã[\u0080-\u00bf]|Ä[\u0080-\u00bf]|á»|áº|Æ°|Ä‘|Ä)")


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; refuse anything else.

    Legacy encodings (TCVN3, VNI, cp1258) cannot be told apart reliably, and guessing wrong would
    index garbage that looks like text, so such files are reported instead.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _looks_like_text(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise LoadError(f"broken UTF-16 text ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data[:4096]:
        raise LoadError("binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8"
        ) from None
    if len(_MOJIBAKE.findall(text)) >= 3:
        raise LoadError("text looks double-encoded (mojibake such as 'á»'); re-export it as UTF-8")
    return _looks_like_text(text)


def _looks_like_text(text: str) -> str:
    """Refuse decoded 'text' that is mostly control, private-use or unassigned characters."""
    sample = text[:20000]
    odd = sum(1 for ch in sample if ch not in "\n\r\t" and unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs"))
    if sample and odd / len(sample) > 0.01:
        raise LoadError("binary or garbled content (control characters), not text")
    return text


# --------------------------------------------------------------------------- one loader a format


def _load_txt(path: Path) -> Iterator[_Raw]:
    yield _Raw(decode_bytes(path.read_bytes()))


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def _load_md(path: Path) -> Iterator[_Raw]:
    text = decode_bytes(path.read_bytes()).replace("\r\n", "\n")
    raw = _Raw(text)
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            value = value.strip().strip("'\"")
            if key.strip() in ("title", "date", "issuer") and value:
                setattr(raw, key.strip(), value)
        raw.text = text[match.end() :]
    heading = re.search(r"^#\s+(.+)$", raw.text, re.M)
    if heading and not raw.title:
        raw.title = heading.group(1).strip()
    # Markdown markup is not content: drop heading hashes and emphasis markers, keep the words.
    raw.text = re.sub(r"^#{1,6}\s+", "", raw.text, flags=re.M)
    raw.text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", raw.text)
    yield raw


_BLOCK_TAGS = (
    "p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "table", "ul", "ol", "blockquote", "pre", "header", "footer",
)


def _load_html(path: Path) -> Iterator[_Raw]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_bytes(path.read_bytes()), "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "iframe", "nav"]):
        tag.decompose()
    raw = _Raw("")
    if soup.title and soup.title.get_text(strip=True):
        raw.title = soup.title.get_text(" ", strip=True)
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        raw.title = h1.get_text(" ", strip=True)
    for name in ("date", "dc.date", "article:published_time", "pubdate"):
        meta = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if meta and meta.get("content"):
            raw.date = str(meta["content"])
            break
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    body = soup.body or soup
    raw.text = body.get_text("")
    yield raw


def _load_docx(path: Path) -> Iterator[_Raw]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError) as exc:
        raise LoadError(f"not a readable .docx (truncated or corrupt: {exc})") from None
    parts: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            parts.append("".join(t.text or "" for t in child.iter() if t.tag.endswith("}t")))
        elif tag == "tbl":
            for row in child.iter():
                if row.tag.endswith("}tr"):
                    cells = []
                    for cell in row:
                        if cell.tag.endswith("}tc"):
                            cells.append(" ".join(
                                t.text or "" for t in cell.iter() if t.tag.endswith("}t")
                            ).strip())
                    parts.append(" | ".join(c for c in cells if c))
    props = document.core_properties
    raw = _Raw("\n".join(parts))
    raw.title = (props.title or "").strip() or None
    if props.created:
        raw.date = props.created.date().isoformat()
    yield raw


def _load_pdf(path: Path) -> Iterator[_Raw]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" only against editing, with an empty user password.
            if not reader.decrypt(""):
                raise LoadError("encrypted PDF (a password is needed to read it)")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except FileNotDecryptedError:
        raise LoadError("encrypted PDF (a password is needed to read it)") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"unreadable PDF (truncated or corrupt: {exc})") from None
    raw = _Raw("\n\n".join(pages))
    if not raw.text.strip():
        raise LoadError("PDF has no text layer (scanned image?); run OCR first")
    if info is not None:
        raw.title = (info.title or "").strip() or None
        created = info.get("/CreationDate")
        if isinstance(created, str):
            match = re.match(r"D:(\d{4})(\d{2})(\d{2})", created)
            if match:
                raw.date = "-".join(match.groups())
    yield raw


def _open_lines(path: Path) -> Iterator[bytes]:
    opener: Callable = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def _load_jsonl(path: Path) -> Iterator[_Raw | LoadFailure]:
    try:
        for number, line in enumerate(_open_lines(path), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield LoadFailure(where, f"invalid JSON line ({exc})")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                yield LoadFailure(where, "record has no string field 'text'")
                continue
            record_id = str(record.get("id") or number)
            extra = {
                k: str(v) for k, v in record.items()
                if k not in ("text", "title", "date", "issuer", "id") and isinstance(v, (str, int, float))
            }
            yield _Raw(
                record["text"],
                title=str(record["title"]) if record.get("title") else None,
                date=str(record["date"]) if record.get("date") else None,
                issuer=str(record["issuer"]) if record.get("issuer") else None,
                source=f"{path}#{record_id}",
                extra=extra,
            )
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield LoadFailure(str(path), f"bulk file cut short or corrupt ({exc}); records before it were kept")


LOADERS: dict[str, Callable[[Path], Iterable[_Raw | LoadFailure]]] = {
    ".txt": _load_txt,
    ".md": _load_md,
    ".markdown": _load_md,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".pdf": _load_pdf,
    ".jsonl": _load_jsonl,
    ".jsonl.gz": _load_jsonl,
}


def file_kind(path: Path) -> str | None:
    """The loader key for ``path`` (``.jsonl.gz`` included), or None when unsupported."""
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return ".jsonl.gz"
    suffix = path.suffix.lower()
    return suffix if suffix in LOADERS else None


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Supported files under ``paths`` (files as given, folders walked recursively, sorted)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if file_kind(child) and not any(part.startswith(".") for part in child.parts[len(path.parts):]):
                    yield child
        else:
            yield path


def to_document(raw: _Raw, source: str, fmt: str) -> Document:
    """Normalise the text, read metadata from its header lines, and give it its content id."""
    text, header = split_header(normalize_text(raw.text))
    text = text.strip()
    if not text:
        raise LoadError("empty document (no text after extraction)")
    given = raw.title or header.get("title")
    if given and " " not in given.strip() and "-" in given:
        given = None  # a URL slug ("Luat-thue-...-115247") reads worse than the document's own title
    title = given or guess_title(text, Path(source.split("#")[0]).stem)
    date = extract_date(raw.date or header.get("date") or "") or extract_date(text[:1500])
    issuer = raw.issuer or header.get("issuer") or extract_issuer(text)
    return Document(
        doc_id=content_id(text),
        text=text,
        title=normalize_text(title),
        source=source,
        date=date,
        issuer=normalize_text(issuer) if issuer else None,
        format=fmt.lstrip(".").replace(".gz", ""),
        extra=raw.extra,
    )


def load_path(path: Path) -> Iterator[Document | LoadFailure]:
    """Every document in one file; failures are yielded, never raised.

    Example:
        >>> for item in load_path(Path("data/sample/x.txt")):  # doctest: +SKIP
        ...     print(item.title if isinstance(item, Document) else item.reason)
    """
    kind = file_kind(path)
    if kind is None:
        yield LoadFailure(str(path), f"unsupported file type '{path.suffix or path.name}'")
        return
    try:
        if path.stat().st_size == 0:
            yield LoadFailure(str(path), "empty file")
            return
        for raw in LOADERS[kind](path):
            if isinstance(raw, LoadFailure):
                yield raw
                continue
            source = raw.source or str(path)
            try:
                yield to_document(raw, source, kind)
            except LoadError as exc:
                yield LoadFailure(source, str(exc))
    except LoadError as exc:
        yield LoadFailure(str(path), str(exc))
    except Exception as exc:  # a loader library choking on a malformed file must not stop the run
        log.debug("loader crashed on %s", path, exc_info=True)
        yield LoadFailure(str(path), f"could not read {kind} file ({type(exc).__name__}: {exc})")
