"""Helpers that build hostile files for the ingestion tests (tests/index, tests/hostile)."""

from __future__ import annotations

import zipfile
from pathlib import Path

VIET = "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026."


def padded_docx(path: Path, inflated: int) -> Path:
    """A real .docx whose word/document.xml is padded with whitespace to ``inflated`` bytes (a few
    kilobytes once deflated: the shape of a decompression bomb)."""
    import docx

    plain = path.with_suffix(".plain.docx")
    document = docx.Document()
    document.add_paragraph(VIET)
    document.save(str(plain))
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"</w:body>", b" " * max(0, inflated - len(data)) + b"</w:body>")
            target.writestr(info.filename, data)
    plain.unlink()
    return path


def declare_size(path: Path, member: str, size: int) -> None:
    """Make the zip's central directory lie about ``member``'s inflated size."""
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_len] == member.encode():
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
            break
        at += 4
    path.write_bytes(bytes(data))
