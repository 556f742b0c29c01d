"""Loaders on real files generated here: the Vietnamese text must come back intact."""

from __future__ import annotations

import gzip
import json
import os
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from index.load import Document, Limits, LoadFailure, iter_files, load_path, printable
from tests.ingest_support import declare_size, padded_docx

VIET = "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026."
VIET2 = "Bộ Công an trình Thủ tướng Chính phủ Chương trình tổng thể triển khai Đề án 06 trong tháng 3/2026."
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def only_document(path: Path) -> Document:
    items = list(load_path(path))
    assert len(items) == 1, items
    assert isinstance(items[0], Document), items[0]
    return items[0]


def only_failure(path: Path) -> LoadFailure:
    items = list(load_path(path))
    assert len(items) == 1 and isinstance(items[0], LoadFailure), items
    return items[0]


def only_document_with(path: Path, limits: Limits) -> Document:
    items = list(load_path(path, limits))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def only_failure_with(path: Path, limits: Limits) -> LoadFailure:
    items = list(load_path(path, limits))
    assert len(items) == 1 and isinstance(items[0], LoadFailure), items
    return items[0]


def test_txt_with_date_header_and_decomposed_accents(tmp_path):
    path = tmp_path / "ket-luan.txt"
    decomposed = unicodedata.normalize("NFD", VIET)
    path.write_text(f" date 2026-02-25 {decomposed}\n\n\n{VIET2}\n", encoding="utf-8")
    doc = only_document(path)
    assert doc.date == "2026-02-25"
    assert doc.text == f"{VIET}\n\n{VIET2}"  # NFC, header removed, blank lines collapsed
    assert "date" not in doc.text
    assert doc.source == str(path)


def test_md_front_matter_and_markup(tmp_path):
    path = tmp_path / "thong-bao.md"
    front = "---\ntitle: Thông báo kết luận\ndate: 2026-03-01\n---\n"
    path.write_text(f"{front}# Nhiệm vụ\n\n**{VIET}**\n", encoding="utf-8")
    doc = only_document(path)
    assert doc.title == "Thông báo kết luận"
    assert doc.date == "2026-03-01"
    assert doc.text == f"Nhiệm vụ\n\n{VIET}"


def test_html_drops_script_and_keeps_text(tmp_path):
    path = tmp_path / "trang.html"
    path.write_text(
        "<html><head><title>Kết luận phiên họp</title><meta name='date' content='2026-02-25'>"
        "<script>alert('x')</script><style>p{}</style></head>"
        "<body><nav>Trang chủ</nav><h1>Kết luận của Thủ tướng</h1>"
        f"<p>{VIET}</p><ul><li>{VIET2}</li></ul></body></html>",
        encoding="utf-8",
    )
    doc = only_document(path)
    assert doc.title == "Kết luận của Thủ tướng"
    assert doc.date == "2026-02-25"
    assert VIET in doc.text and VIET2 in doc.text
    assert "alert" not in doc.text and "Trang chủ" not in doc.text
    assert doc.text.index(VIET) < doc.text.index(VIET2)


def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    path = tmp_path / "chi-thi.docx"
    document = docx.Document()
    document.core_properties.title = "Chỉ thị về chuyển đổi số"
    document.add_paragraph("THỦ TƯỚNG CHÍNH PHỦ")
    document.add_heading("Điều 1. Nhiệm vụ", level=1)
    document.add_paragraph(VIET)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Bộ Công an"
    table.rows[0].cells[1].text = "tháng 3/2026"
    document.add_paragraph(VIET2)
    document.save(str(path))
    doc = only_document(path)
    assert doc.title == "Chỉ thị về chuyển đổi số"
    assert doc.issuer == "THỦ TƯỚNG CHÍNH PHỦ"
    assert VIET in doc.text and VIET2 in doc.text
    assert "Bộ Công an | tháng 3/2026" in doc.text
    assert doc.date is not None  # python-docx stamps the creation time


@pytest.mark.skipif(not FONT.exists(), reason="DejaVuSans.ttf (Debian fonts-dejavu-core) is needed")
def test_pdf_with_embedded_ttf_font(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=12)
    pdf.set_title("Thông báo kết luận")
    pdf.add_page()
    pdf.multi_cell(0, 8, VIET, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 8, VIET2, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "thong-bao.pdf"
    pdf.output(str(path))
    doc = only_document(path)
    flat = " ".join(doc.text.split())
    assert VIET in flat and VIET2 in flat
    assert doc.title == "Thông báo kết luận"


def test_jsonl_gz_records_and_a_bad_line(tmp_path):
    path = tmp_path / "export.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        first = {"id": "a1", "title": "Tin 1", "text": VIET, "date": "2017-03-02"}
        out.write(json.dumps(first, ensure_ascii=False) + "\n")
        out.write("{not json\n")
        out.write(json.dumps({"id": "a2", "title": "Tin 2"}) + "\n")
        out.write(json.dumps({"id": "a3", "title": "Tin 3", "text": VIET2, "url": "x"}, ensure_ascii=False) + "\n")
    items = list(load_path(path))
    docs = [i for i in items if isinstance(i, Document)]
    failures = [i for i in items if isinstance(i, LoadFailure)]
    assert [d.text for d in docs] == [VIET, VIET2]
    assert docs[0].source == f"{path}#a1" and docs[0].date == "2017-03-02" and docs[0].title == "Tin 1"
    assert docs[1].extra == {"url": "x"}
    assert [f.source for f in failures] == [f"{path}:2", f"{path}:3"]
    assert "JSON" in failures[0].reason and "'text'" in failures[1].reason
    assert failures[0].file == str(path)


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    whole = gzip.compress("".join(
        json.dumps({"id": f"r{i}", "text": f"{VIET} Bản ghi số {i}."}, ensure_ascii=False) + "\n" for i in range(200)
    ).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    items = list(load_path(path))
    assert any(isinstance(i, Document) for i in items)
    assert isinstance(items[-1], LoadFailure) and "cut short" in items[-1].reason


def test_same_text_same_id_different_text_different_id(tmp_path):
    (tmp_path / "a.txt").write_text(VIET, encoding="utf-8")
    (tmp_path / "b.txt").write_text(unicodedata.normalize("NFD", VIET) + "\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text(VIET2, encoding="utf-8")
    a, b, c = (only_document(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt"))
    assert a.doc_id == b.doc_id != c.doc_id


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n \t\n", "empty document"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("cp1258.txt", VIET.encode("cp1258", errors="replace"), "not UTF-8"),
        ("mojibake.txt", VIET.encode("utf-8").decode("latin-1").encode("utf-8"), "double-encoded"),
        ("broken.docx", b"PK\x03\x04 this is not really a zip", "docx"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "PDF"),
        ("slides.pptx", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    failure = only_failure(path)
    assert reason in failure.reason
    assert failure.source == str(path)


def test_encrypted_pdf_is_reported(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="mat-khau", owner_password="chu")
    path = tmp_path / "mat.pdf"
    with open(path, "wb") as out:
        writer.write(out)
    assert "encrypted" in only_failure(path).reason


def test_iter_files_walks_folders_and_skips_hidden(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("x")
    (tmp_path / "a" / "y.docx").write_bytes(b"")
    (tmp_path / "a" / "z.png").write_bytes(b"")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert found == ["a/b/x.txt", "a/y.docx"]


# --------------------------------------------------------------------------- limits (issue 9: #2, #3)


def test_docx_bomb_is_refused_before_it_is_unzipped(tmp_path):
    limits = Limits.from_mb(file_mb=5, document_mb=5, inflated_mb=2)
    bomb = padded_docx(tmp_path / "bom.docx", inflated=8 * 1024 * 1024)
    assert bomb.stat().st_size < 200_000  # small on disk ...
    failure = only_failure_with(bomb, limits)  # ... refused for what it would become
    assert "inflate" in failure.reason and "CHIDAO_MAX_INFLATED_MB" in failure.reason
    assert "word/document.xml" in failure.reason

    fine = padded_docx(tmp_path / "vua.docx", inflated=1024 * 1024)
    assert VIET in only_document_with(fine, limits).text


def test_docx_whose_header_lies_about_its_size_is_corrupt_not_a_bomb(tmp_path):
    limits = Limits.from_mb(file_mb=5, document_mb=5, inflated_mb=2)
    liar = padded_docx(tmp_path / "noi-doi.docx", inflated=8 * 1024 * 1024)
    declare_size(liar, "word/document.xml", 4096)  # zipfile stops at the declared size, then the CRC fails
    tracemalloc.start()
    try:
        failure = only_failure_with(liar, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "not a readable .docx" in failure.reason
    assert peak < 4 * 1024 * 1024  # the 8 MB it holds were never inflated


def test_file_above_the_limit_is_skipped_without_being_read(tmp_path):
    path = tmp_path / "khong-lo.txt"
    with open(path, "wb") as out:
        out.truncate(200 * 1024 * 1024)  # sparse: 200 MB long, nothing on disk (the size)
    tracemalloc.start()
    try:
        failure = only_failure(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "file too large" in failure.reason and "CHIDAO_MAX_FILE_MB" in failure.reason
    assert peak < 1024 * 1024


def test_document_text_above_the_limit_is_refused(tmp_path):
    limits = Limits.from_mb(file_mb=5, document_mb=1, inflated_mb=5)
    path = tmp_path / "dai.txt"
    path.write_text((VIET + "\n") * 20_000, encoding="utf-8")  # about 1.6 MB of text
    assert "document text too large" in only_failure_with(path, limits).reason
    assert only_document_with(path, Limits.from_mb(5, 2, 5)).text.startswith(VIET)


def test_bulk_line_from_a_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    limits = Limits.from_mb(file_mb=1, document_mb=1, inflated_mb=1)
    path = tmp_path / "bom.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.write(b'{"id": "bom", "text": "')
        block = b"a" * (1024 * 1024)
        for _ in range(64):  # one 64 MB line, 64 KB on disk
            out.write(block)
        out.write(b'"}\n')
        out.write(json.dumps({"id": "sau", "text": VIET2}, ensure_ascii=False).encode() + b"\n")
    assert path.stat().st_size < 1024 * 1024  # bulk files are exempt from the file limit ...
    tracemalloc.start()
    try:
        items = list(load_path(path, limits))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [type(i).__name__ for i in items] == ["LoadFailure", "Document"]
    assert items[0].source == f"{path}:1" and "record too large" in items[0].reason
    assert items[1].text == VIET2 and items[1].source == f"{path}#sau"
    assert peak < 8 * 1024 * 1024  # ... but a line is never held beyond the limit


# --------------------------------------------------------------------------- bulk ids (issue 9: #8)


def test_bulk_duplicate_ids_keep_the_first_and_are_reported(tmp_path):
    path = tmp_path / "trung.jsonl"
    lines = [
        {"id": "r1", "text": VIET},
        {"text": VIET2},  # no id: line 2 -> 'line-2', never the explicit id "2"
        {"id": "2", "text": VIET + " Bản ghi có id là 2."},
        {"id": "r1", "text": VIET2 + " Bản khác cùng id."},
        {"id": 7, "text": VIET + " Id là số."},
        {"id": "7", "text": VIET + " Id là chuỗi 7."},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    items = list(load_path(path))
    docs = [i for i in items if isinstance(i, Document)]
    failures = [i for i in items if isinstance(i, LoadFailure)]
    assert [d.source.split("#", 1)[1] for d in docs] == ["r1", "line-2", "2", "7"]
    assert docs[0].text == VIET  # the first r1 is kept
    assert [f.source for f in failures] == [f"{path}:4", f"{path}:6"]
    assert "duplicate id 'r1'" in failures[0].reason and "line 4" in failures[0].reason
    assert "line 1" in failures[0].reason
    assert "line 6" in failures[1].reason and "line 5" in failures[1].reason


# --------------------------------------------------------------------------- HTML (issue 9: #13)


def test_html_nested_100000_deep_loads_whole(tmp_path):
    depth = 100_000
    path = tmp_path / "sau.html"
    path.write_text(
        f"<html><head><title>Trang sâu</title></head><body><h1>Kết luận</h1>{'<div>' * depth}<p>{VIET}</p>"
        f"{'</div>' * depth}<p>{VIET2}</p></body></html>",
        encoding="utf-8",
    )
    doc = only_document(path)  # took 500 s through BeautifulSoup; linear now (scripts/bench_ingest.py)
    assert doc.title == "Kết luận"
    assert doc.text == f"Kết luận\n\n{VIET}\n\n{VIET2}"


def test_html_blocks_entities_and_hidden_parts(tmp_path):
    path = tmp_path / "trang.html"
    path.write_text(
        "<html><head><meta charset='windows-1258'><meta property='article:published_time' content='2026-03-01'>"
        "</head><body><h1>Bộ Y tế &amp; <!-- x --> Bộ Công an</h1><div>một<br>hai</div>"
        "<nav><div>menu</div></nav><svg><svg><text>hình</text></svg>vẽ</svg><p>ba</p></body></html>",
        encoding="utf-8",
    )
    doc = only_document(path)
    assert doc.title == "Bộ Y tế & Bộ Công an"
    assert doc.date == "2026-03-01"
    assert doc.text == "Bộ Y tế & Bộ Công an\n\nmột\n\nhai\n\nba"


# --------------------------------------------------------------------------- names (issue 9: #7)


def test_file_name_that_is_not_utf8_is_loaded_under_an_escaped_source(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9 k\xead lu\xe2n.txt")
    with open(raw, "wb") as out:
        out.write(VIET.encode())
    (path,) = iter_files([tmp_path])
    doc = only_document(path)
    assert doc.source == f"{tmp_path}/caf\\xe9 k\\xead lu\\xe2n.txt"
    doc.source.encode("utf-8")  # storable as it is
    assert doc.source == only_document(path).source  # the same on every run


def test_printable_escapes_what_could_forge_a_report_line():
    assert printable("a.txt") == "a.txt"
    assert printable("Kết luận số 3.txt") == "Kết luận số 3.txt"
    assert printable("a\nskipped b.txt: ok\r\x1b[2K\u202e") == "a\\nskipped b.txt: ok\\r\\x1b[2K\\u202e"
    assert "\n" not in printable(os.fsdecode(b"x\n\xff.txt"))


def test_special_files_are_never_opened(tmp_path):
    fifo = tmp_path / "ong.txt"
    os.mkfifo(fifo)  # opening it for reading would block for ever
    assert "FIFO" in only_failure(fifo).reason
    device = tmp_path / "zero.txt"
    device.symlink_to("/dev/zero")  # reading it would never end
    assert "character device" in only_failure(device).reason
    loop = tmp_path / "vong.txt"
    loop.symlink_to(loop)
    assert "loop" in only_failure(loop).reason
    dangling = tmp_path / "mat.txt"
    dangling.symlink_to(tmp_path / "khong-co.txt")
    assert "broken symbolic link" in only_failure(dangling).reason
    assert "disappeared" in only_failure(tmp_path / "da-xoa.txt").reason


def test_walk_reports_a_folder_it_cannot_list(tmp_path):
    # A path longer than PATH_MAX cannot be listed even by root: a real walk error, made here
    # without privileges (chmod 000 does not stop root).
    (tmp_path / "ok.txt").write_text(VIET, encoding="utf-8")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters > 4096
            os.mkdir("d" * 250, dir_fd=fd)
            deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        with os.fdopen(os.open("sau.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as out:
            out.write(VIET2)
    finally:
        os.close(fd)
    errors: list[LoadFailure] = []
    found = list(iter_files([tmp_path], errors=errors))
    assert found == [tmp_path / "ok.txt"]
    assert len(errors) == 1 and "cannot read this folder" in errors[0].reason
    assert "File name too long" in errors[0].reason
    assert errors[0].source.startswith(str(tmp_path / ("d" * 250)))
