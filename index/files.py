"""Files on disk, read safely: size limits, names that may not be UTF-8, and only regular files.

A file is checked before anything is read from it (its type and size), and opened so that the open
cannot block: a FIFO or a device among the documents is reported, never read. Sources (the strings a
file is known by in the index and in reports) are always storable and printable.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class LoadError(Exception):
    """Raised inside a loader; turned into a :class:`index.load.LoadFailure`."""


MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much ingestion reads (``CHIDAO_MAX_FILE_MB``, ``CHIDAO_MAX_DOCUMENT_MB``,
    ``CHIDAO_MAX_INFLATED_MB``); the defaults are those of :class:`assistant.settings.Settings`."""

    max_file_bytes: int = 50 * MB
    max_document_bytes: int = 10 * MB
    max_inflated_bytes: int = 200 * MB

    @classmethod
    def from_mb(cls, file_mb: float, document_mb: float, inflated_mb: float) -> Limits:
        """Limits given in megabytes, as the settings hold them.

        Example:
            >>> Limits.from_mb(50, 10, 200).max_document_bytes
            10485760
        """
        return cls(int(file_mb * MB), int(document_mb * MB), int(inflated_mb * MB))


DEFAULT_LIMITS = Limits()


def megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB" if size < 10 * MB else f"{size / MB:.0f} MB"


def source_of(path: Path) -> str:
    """The source string of a file: its path, or, for a name that is not valid UTF-8 (archives made
    on Windows), the path with the odd bytes written as ``\\xe9``: storable, printable, and the same on
    every run, so an unchanged file stays unchanged and a removed one is pruned.

    Example:
        >>> source_of(Path(os.fsdecode(b"/docs/caf\\xe9.txt")))
        '/docs/caf\\\\xe9.txt'
    """
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def storable(text: str) -> str:
    """``text`` without lone surrogates (JSON ``"\\ud800"``), which SQLite and Chroma refuse."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(text: str) -> str:
    """``text`` with control and other invisible characters escaped (``\\n``, ``\\x1b``, ``\\u202e``),
    for showing a source or a reason on one line: a file name cannot forge lines of a report.

    Example:
        >>> printable("a\\nskipped b.txt")
        'a\\\\nskipped b.txt'
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


_BULK_FILE = re.compile(r"\.jsonl(?:\.gz)?(?=#|:\d+$)", re.I)


def source_file(source: str) -> str:
    """The file a source names: a bulk record's ``#id`` or a bulk line's ``:12`` removed (a ``#`` in any
    other file name is part of the name)."""
    match = _BULK_FILE.search(source)
    return source[: match.end()] if match else source


def _file_type(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _check_file(info: os.stat_result, limits: Limits, bulk: bool) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise LoadError(f"not a regular file ({_file_type(info.st_mode)}); not read")
    if info.st_size == 0:
        raise LoadError("empty file")
    if not bulk and info.st_size > limits.max_file_bytes:
        raise LoadError(f"file too large ({megabytes(info.st_size)}; the limit is {megabytes(limits.max_file_bytes)}, "
                        "CHIDAO_MAX_FILE_MB); not read")


def _os_reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return ("broken symbolic link (what it points to does not exist)" if os.path.islink(path)
                else "file disappeared before it could be read")
    if exc.errno == errno.ELOOP:
        return "symbolic link loop; not read"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read the file ({exc.strerror or exc})"


def open_regular(path: Path, limits: Limits, bulk: bool) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file within the limits, checked before anything is
    read; a FIFO or a device is never opened, and the open itself cannot block (O_NONBLOCK)."""
    try:
        _check_file(os.stat(path), limits, bulk)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise LoadError(_os_reason(path, exc)) from None
    handle = os.fdopen(fd, "rb")
    try:
        _check_file(os.fstat(fd), limits, bulk)  # the same checks on what was opened: it may have been swapped
    except BaseException:
        handle.close()
        raise
    return handle


def read_within(handle: BinaryIO, limit: int) -> bytes:
    """All of an opened file, refused past ``limit`` bytes (it may have grown since its size was checked);
    read in steps, so a small file never costs a buffer of the limit's size."""
    pieces, size = [], 0
    while piece := handle.read(1 << 20):
        size += len(piece)
        if size > limit:
            raise LoadError(f"file too large (more than {megabytes(limit)}; CHIDAO_MAX_FILE_MB); it grew while read")
        pieces.append(piece)
    return b"".join(pieces)


def unzip_within(data: bytes, limit: int) -> bytes:
    """The zip archive ``data`` (a .docx) re-packed uncompressed, refused when it would inflate past
    ``limit`` bytes: a decompression bomb never reaches the parser.

    The declared sizes are checked first, before anything is inflated. They may lie, so each member is
    then inflated in bounded steps and held to its declared size (Python's zipfile stops there and
    checks the CRC); the parser reads the stored copy and inflates nothing itself (zipfile inflates a
    whole member at once whatever its header says).

    Raises:
        LoadError: too large once inflated, or compressed in a way a .docx never is.
        zipfile.BadZipFile: not a zip, or corrupt (a lying header included).
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        members = archive.infolist()
        total = 0
        for info in members:
            total += info.file_size
            if total > limit:
                what = f"its part {info.filename!r}" if info.file_size > limit else "it"
                raise LoadError(f"refused: {what} would inflate to more than {megabytes(limit)} once unzipped "
                                "(a decompression bomb, or a file above CHIDAO_MAX_INFLATED_MB)")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                # bzip2 and lzma members are inflated by zipfile without a bound on the output.
                raise LoadError(f"unexpected compression in {info.filename!r} (not a Word document)")
        for info in members:
            with archive.open(info) as member:
                pieces = []
                while piece := member.read(1 << 16):
                    pieces.append(piece)
            copy.writestr(info.filename, b"".join(pieces))
    return out.getvalue()
