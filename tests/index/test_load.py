"""Loaders on real files generated here: the Vietnamese text must come back intact."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import pytest

from index.load import Document, LoadFailure, iter_files, load_path

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
