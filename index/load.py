"""Loaders: files on disk -> normalised :class:`Document` records, or a one-line failure.

Supported: ``.txt``, ``.md``, ``.html``/``.htm``, ``.docx``, ``.pdf`` and bulk ``.jsonl`` /
``.jsonl.gz`` exports with one ``{"id", "title", "text", ...}`` object per line. Folders are walked
recursively. A broken file never raises out of :func:`load_path`; it yields a :class:`LoadFailure`
with a reason a person can act on.

Reading is bounded (:class:`Limits`): a file's size is checked before it is read (bulk exports are
streamed instead, one bounded line at a time), a .docx's inflated size before it is unzipped, and
every document's text after extraction. Only regular files are opened, never a FIFO or a device.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from index.files import (
    DEFAULT_LIMITS,
    MB,
    Limits,
    LoadError,
    megabytes,
    open_regular,
    printable,
    read_within,
    source_file,
    source_of,
    storable,
    unzip_within,
)
from index.header import Reference, Replacement, doc_type_of, read_header
from index.lang.normalize import normalize_text
from index.metadata import extract_date, extract_issuer, guess_title, split_header
from index.pdf import reflow, with_ocr, with_tables
from index.tables import flatten, markdown_tables, render_table

__all__ = ["DEFAULT_LIMITS", "Document", "Limits", "LoadError", "LoadFailure", "iter_files", "load_path",
           "printable", "source_file", "source_of", "to_document"]

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
    #: the official header (index.header): number and symbol, type, summary, the issuer's parent body,
    #: place, and the documents the text cites
    number: str | None = None
    doc_type: str | None = None
    summary: str | None = None
    parent: str | None = None
    place: str | None = None
    cites: tuple[Reference, ...] = ()
    #: the documents this one (or one it cites) replaces, repeals or amends, by number
    replaces: tuple[Replacement, ...] = ()


@dataclass(frozen=True)
class LoadFailure:
    """A file (or a record of a bulk file) that was skipped, and why."""

    source: str
    reason: str

    @property
    def file(self) -> str:
        """The file (or folder) this failure is about (a bulk file's record or line reference removed)."""
        return source_file(self.source)


@dataclass
class _Raw:
    text: str
    title: str | None = None
    date: str | None = None
    issuer: str | None = None
    source: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: when the file says it was created (docx, PDF metadata): the date of last resort, after the text's own
    file_date: str | None = None


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
        head = data[:4096]
        if max(head[0::2].count(0), head[1::2].count(0)) > len(head) // 5:  # every other byte zero
            raise LoadError("UTF-16 text without a byte-order mark (or binary); re-save the file as UTF-8")
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


def _load_txt(data: bytes, limits: Limits) -> Iterator[_Raw]:
    yield _Raw(decode_bytes(data))


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def _load_md(data: bytes, limits: Limits) -> Iterator[_Raw]:
    text = decode_bytes(data).replace("\r\n", "\n")
    raw = _Raw(text)
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            value = value.strip().strip("'\"")
            if key.strip() in ("title", "date", "issuer") and value:
                setattr(raw, key.strip(), value)
        raw.text = text[match.end() :]
    raw.text = markdown_tables(raw.text)
    heading = re.search(r"^#\s+(.+)$", raw.text, re.M)
    if heading and not raw.title:
        raw.title = heading.group(1).strip()
    # Markdown markup is not content: drop heading hashes and emphasis markers, keep the words.
    raw.text = re.sub(r"^#{1,6}\s+", "", raw.text, flags=re.M)
    raw.text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", raw.text)
    raw.text = re.sub(r"(?<![*\w])\*(?![\s*])([^*\n]+?)(?<![\s*])\*(?![*\w])", r"\1", raw.text)  # *italic*
    yield raw


def _load_html(data: bytes, limits: Limits) -> Iterator[_Raw]:
    from index.html import html_text

    # Decoded here (UTF-8, or UTF-16 with a BOM, like every text format) and handed over as UTF-8, so a
    # <meta charset> in the page cannot make the parser decode it another way.
    try:
        page = html_text(decode_bytes(data))
    except ValueError as exc:
        raise LoadError(f"unreadable HTML ({exc})") from None
    yield _Raw(page.text, title=page.title, date=page.date)


def _docx_rows(table) -> list[list[str]]:
    """A python-docx table's rows as cell texts: a cell merged across columns once, one merged down
    several rows repeated in each, a table inside a cell flattened into it."""
    rows = []
    for row in table.rows:
        cells, texts = [], []
        for cell in row.cells:
            if cells and cell._tc is cells[-1]._tc:
                continue  # the same merged cell again, over the next grid column
            cells.append(cell)
            parts = []
            for item in cell.iter_inner_content():
                parts.append(item.text if hasattr(item, "text") else flatten(_docx_rows(item)))
            texts.append("\n".join(parts))
        rows.append(texts)
    return rows


def _load_docx(data: bytes, limits: Limits) -> Iterator[_Raw]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(unzip_within(data, limits.max_inflated_bytes)))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError) as exc:
        raise LoadError(f"not a readable .docx (truncated or corrupt: {exc})") from None
    parts: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            parts.append("".join(t.text or "" for t in child.iter() if t.tag.endswith("}t")))
        elif tag == "tbl":
            parts.append(render_table(_docx_rows(Table(child, document._body))))
    props = document.core_properties
    raw = _Raw("\n".join(parts))
    raw.title = (props.title or "").strip() or None
    if props.created:
        raw.file_date = props.created.date().isoformat()
    yield raw


def _load_pdf(data: bytes, limits: Limits) -> Iterator[_Raw]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" only against editing, with an empty user password.
            if not reader.decrypt(""):
                raise LoadError("encrypted PDF (a password is needed to read it)")
        pages, size = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            size += len(pages[-1])
            if size > limits.max_document_bytes:  # stop early: the text would be refused anyway
                raise LoadError(_too_large_text(limits))
        info = reader.metadata
    except FileNotDecryptedError:
        raise LoadError("encrypted PDF (a password is needed to read it)") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"unreadable PDF (truncated or corrupt: {exc})") from None
    pages = [reflow(page) for page in with_tables(data, with_ocr(data, pages))]
    raw = _Raw("\n\n".join(pages))
    if not raw.text.strip():
        raise LoadError("PDF has no text layer and OCR found no text in it (blank or unreadable scans)")
    if info is not None:
        raw.title = (info.title or "").strip() or None
        created = info.get("/CreationDate")
        if isinstance(created, str):
            match = re.match(r"D:(\d{4})(\d{2})(\d{2})", created)
            if match:
                raw.file_date = "-".join(match.groups())
    yield raw


def _load_jsonl(handle: BinaryIO, name: str, limits: Limits) -> Iterator[_Raw | LoadFailure]:
    """Records of a bulk export, one JSON object a line, streamed: a line longer than the document
    limit is refused as that record after reading at most the limit (a gzip bomb's one endless line
    included), and the rest of the file goes on.

    A record with an ``id`` is ``file#id``; one without is ``file#line-12``. An id met again keeps its
    first record and reports each later one, naming both lines.
    """
    stream: BinaryIO = gzip.GzipFile(fileobj=handle, mode="rb") if name.lower().endswith(".gz") else handle
    limit = limits.max_document_bytes
    first_line: dict[str, int] = {}
    number = 0
    try:
        while line := stream.readline(limit + 1):
            number += 1
            where = f"{name}:{number}"
            if len(line) > limit and not line.endswith(b"\n"):
                while (rest := stream.readline(MB)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the line without holding it
                yield LoadFailure(where, f"record too large (a line over {megabytes(limit)}; the limit is "
                                         "CHIDAO_MAX_DOCUMENT_MB)")
                continue
            if not line.strip():
                continue
            item = _bulk_record(line, number, name, first_line)
            yield LoadFailure(where, item) if isinstance(item, str) else item
    except (OSError, EOFError, zlib.error) as exc:
        yield LoadFailure(name, f"bulk file cut short or corrupt ({exc}); records before it were kept")


def _bulk_record(line: bytes, number: int, name: str, first_line: dict[str, int]) -> _Raw | str:
    """One line of a bulk export as a record, or the reason it is refused."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return f"invalid JSON line ({'nested too deeply' if isinstance(exc, RecursionError) else exc})"
    if not isinstance(record, dict):
        return f"record is a JSON {type(record).__name__}, not an object with a field 'text'"
    if not isinstance(record.get("text"), str):
        return "record has no string field 'text'"
    given = record.get("id")
    if isinstance(given, bool) or not isinstance(given, (str, int, float, type(None))):
        return f"field 'id' must be a string or a number, not {type(given).__name__}"
    record_id = storable(str(given)) if given not in (None, "") else f"line-{number}"
    if record_id in first_line:
        return (f"duplicate id {printable(record_id)!r}: line {number} repeats the id of line "
                f"{first_line[record_id]}; the first is kept")
    first_line[record_id] = number
    extra = {
        k: storable(str(v)) for k, v in record.items()
        if k not in ("text", "title", "date", "issuer", "id") and isinstance(v, (str, int, float))
    }
    return _Raw(
        record["text"],
        title=storable(str(record["title"])) if record.get("title") else None,
        date=storable(str(record["date"])) if record.get("date") else None,
        issuer=storable(str(record["issuer"])) if record.get("issuer") else None,
        source=f"{name}#{record_id}",
        extra=extra,
    )


#: One document a file: the loader gets the file's bytes (read within max_file_bytes).
LOADERS: dict[str, Callable[[bytes, Limits], Iterable[_Raw]]] = {
    ".txt": _load_txt,
    ".md": _load_md,
    ".markdown": _load_md,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".pdf": _load_pdf,
}
#: Bulk exports: streamed from the open file, any size.
BULK_LOADERS: dict[str, Callable[[BinaryIO, str, Limits], Iterable[_Raw | LoadFailure]]] = {
    ".jsonl": _load_jsonl,
    ".jsonl.gz": _load_jsonl,
}


def file_kind(path: Path) -> str | None:
    """The loader key for ``path`` (``.jsonl.gz`` included), or None when unsupported."""
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return ".jsonl.gz"
    suffix = path.suffix.lower()
    return suffix if suffix in LOADERS or suffix in BULK_LOADERS else None


def iter_files(paths: Iterable[str | Path], errors: list[LoadFailure] | None = None) -> Iterator[Path]:
    """Supported files under ``paths`` (files as given, folders walked recursively, sorted).

    Hidden files and folders are left out, and links to folders are not followed (no loops). A folder
    that cannot be listed is appended to ``errors`` (logged when it is None): it is never taken as
    empty, so what was indexed from it is kept.
    """
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            yield path
            continue

        def unreadable(exc: OSError, root: Path = path) -> None:
            failure = LoadFailure(source_of(Path(exc.filename or root)),
                                  f"cannot read this folder ({exc.strerror or exc}); nothing under it was "
                                  "indexed, and nothing indexed from it before is removed")
            if errors is None:
                log.warning("skipped %s: %s", printable(failure.source), failure.reason)
            else:
                errors.append(failure)

        found = []
        for folder, dirs, files in os.walk(path, onerror=unreadable):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(folder, name) for name in files if not name.startswith(".") and file_kind(Path(name))]
        yield from sorted(found)


def _too_large_text(limits: Limits) -> str:
    return (f"document text too large (more than {megabytes(limits.max_document_bytes)} after extraction; "
            "the limit is CHIDAO_MAX_DOCUMENT_MB)")


def _check_text(text: str, limits: Limits) -> None:
    """Refuse a text above the document limit, with NUL characters, or with lone surrogates (which the
    stores cannot hold)."""
    if len(text) > limits.max_document_bytes:  # cheap first: a character is at least one byte
        raise LoadError(_too_large_text(limits))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise LoadError(f"text holds invalid Unicode ({text[exc.start]!r} at character {exc.start}, half of "
                        "a surrogate pair); re-export it") from None
    if size > limits.max_document_bytes:
        raise LoadError(_too_large_text(limits))
    if "\x00" in text:
        raise LoadError("binary data inside the text (NUL characters), not text")


def _short(text: str, limit: int = 300) -> str:
    """A title or issuer within ``limit`` characters: every chunk's metadata repeats it."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


def to_document(raw: _Raw, source: str, fmt: str, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Normalise the text, read metadata from its header lines, and give it its content id."""
    _check_text(raw.text, limits)
    text, header = split_header(normalize_text(raw.text))
    text = text.strip()
    if not text:
        raise LoadError("empty document (no text after extraction)")
    given = raw.title or header.get("title")
    if given and " " not in given.strip() and "-" in given:
        given = None  # a URL slug ("Luat-thue-...-115247") reads worse than the document's own title
    official = read_header(text)
    given_fields = {k: v.strip() for k, v in raw.extra.items() if isinstance(v, str) and v.strip()}
    number = given_fields.get("number") or given_fields.get("so_hieu") or official.number
    doc_type = given_fields.get("type") or given_fields.get("doc_type") or official.doc_type or doc_type_of(number)
    summary = given_fields.get("summary") or given_fields.get("trich_yeu") or official.summary
    title = given or guess_title(text, Path(source_file(source)).stem)
    date = (extract_date(raw.date or header.get("date") or "") or extract_date(text[:1500]) or official.date
            or extract_date(raw.file_date or ""))
    issuer = raw.issuer or header.get("issuer") or official.issuer or extract_issuer(text)
    return Document(
        doc_id=content_id(text),
        text=text,
        title=_short(normalize_text(storable(title))),
        source=source,
        date=date,
        issuer=_short(normalize_text(storable(issuer))) if issuer else None,
        format=fmt.lstrip(".").replace(".gz", ""),
        extra=raw.extra,
        number=_short(number, 80) if number else None, doc_type=_short(doc_type, 60) if doc_type else None,
        summary=_short(normalize_text(storable(summary)), 500) if summary else None,
        parent=official.parent, place=official.place, cites=official.cites,
        replaces=official.replaces + tuple(
            Replacement("thay thế", n.strip(), None) for n in re.split(r"[,;]", given_fields.get("replaces", ""))
            if n.strip() and n.strip() != number),
    )


def load_path(path: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Document | LoadFailure]:
    """Every document in one file; failures are yielded, never raised.

    Example:
        >>> for item in load_path(Path("data/sample/x.txt")):  # doctest: +SKIP
        ...     print(item.title if isinstance(item, Document) else item.reason)
    """
    name = source_of(path)
    kind = file_kind(path)
    if kind is None:
        yield LoadFailure(name, f"unsupported file type '{storable(path.suffix or path.name)}'")
        return
    try:
        handle = open_regular(path, limits, bulk=kind in BULK_LOADERS)
    except LoadError as exc:
        yield LoadFailure(name, str(exc))
        return
    with handle:
        try:
            if kind in BULK_LOADERS:
                raws = BULK_LOADERS[kind](handle, name, limits)
            else:
                raws = LOADERS[kind](read_within(handle, limits.max_file_bytes), limits)
            for raw in raws:
                if isinstance(raw, LoadFailure):
                    yield raw
                    continue
                source = raw.source or name
                try:
                    document = to_document(raw, source, kind, limits)
                except LoadError as exc:
                    yield LoadFailure(source, str(exc))
                    continue
                except Exception as exc:  # one odd record must not cost the bulk file's other records
                    log.debug("could not read %s", printable(source), exc_info=True)
                    yield LoadFailure(source, f"could not read this document ({type(exc).__name__}: {exc})")
                    continue
                yield document
        except LoadError as exc:
            yield LoadFailure(name, str(exc))
        except Exception as exc:  # a loader library choking on a malformed file must not stop the run
            log.debug("loader crashed on %s", name, exc_info=True)
            yield LoadFailure(name, f"could not read {kind} file ({type(exc).__name__}: {exc})")
