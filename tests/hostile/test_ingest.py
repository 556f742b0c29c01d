"""Ingestion under hostile input: every kind of bad file is skipped with a clear one-line reason (or
indexed correctly, where that is right), the good file beside it is indexed, and the index stays
consistent (every stored chunk has its vector and nothing else has one).

All through the real indexer (real embedding model, real Chroma in tmp_path). Each kind lives in a
folder of its own with a good document beside it; the whole tree is indexed in one run (with small
limits, so bombs stay small on disk), and the second run must change nothing.
"""

from __future__ import annotations

import ctypes
import fcntl
import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from index.load import printable
from tests.ingest_support import declare_size, padded_docx

VIET = "Cơ sở dữ liệu ngành Y tế do Bộ Y tế chủ trì, hoàn thành trong quý 3/2026."
MB = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: ``make`` writes it into an empty folder; then either some failure of that
    folder holds ``reason``, or ``indexed`` checks what was stored."""

    name: str
    make: Callable[[Path], None]
    reason: str | None = None
    indexed: Callable[[object, Path], None] | None = None
    given: str | None = None  # a file to name on the command line rather than find in the folder


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def lines(name: str, *records: str | dict, gz: bool = False) -> Callable[[Path], None]:
    text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)
    return lambda folder: (folder / name).write_bytes(gzip.compress(text.encode()) if gz else text.encode())


def gzip_bomb(folder: Path) -> None:
    with gzip.open(folder / "bom.jsonl.gz", "wb") as out:
        out.write(b'{"id": "bom", "text": "')
        for _ in range(64):  # one 64 MB line in 64 KB
            out.write(b"a" * MB)
        out.write(b'"}\n' + json.dumps({"id": "sau-bom", "text": VIET + " Sau quả bom."}, ensure_ascii=False).encode())


def truncated_gzip(folder: Path) -> None:
    records = "".join(json.dumps({"id": f"r{i}", "text": f"{VIET} Bản ghi số {i} của tệp bị cắt."},
                                 ensure_ascii=False) + "\n" for i in range(300))
    whole = gzip.compress(records.encode())
    (folder / "cat.jsonl.gz").write_bytes(whole[: len(whole) // 2])


def sparse(name: str, size: int) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        with open(folder / name, "wb") as out:
            out.truncate(size)
    return make


def pdf(folder: Path, name: str, encrypt: bool) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt(user_password="mat-khau", owner_password="chu")
    with open(folder / name, "wb") as out:
        writer.write(out)


def truncated_docx(folder: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph(VIET)
    document.save(str(folder / "nua.docx"))
    data = (folder / "nua.docx").read_bytes()
    (folder / "nua.docx").write_bytes(data[: len(data) // 2])


def lying_docx(folder: Path) -> None:
    padded_docx(folder / "noi-doi.docx", inflated=8 * MB)
    declare_size(folder / "noi-doi.docx", "word/document.xml", 4096)


def deep_html(folder: Path) -> None:
    depth = 100_000
    (folder / "sau.html").write_text(f"<html><body>{'<div>' * depth}<p>{VIET} Trang lồng sâu.</p>"
                                     f"{'</div>' * depth}</body></html>", encoding="utf-8")


def non_utf8_name(folder: Path) -> None:
    with open(os.path.join(os.fsencode(folder), b"k\xeat lu\xe2n.txt"), "wb") as out:
        out.write(f"{VIET} Tên tệp không phải UTF-8.".encode())


def fifo(folder: Path) -> None:
    os.mkfifo(folder / "ong.txt")  # opening it for reading would wait for ever


def unix_socket(folder: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "o-cam.txt"))  # the socket file stays after close


def hidden(folder: Path) -> None:
    (folder / ".git").mkdir()
    (folder / ".git" / "an.txt").write_text(VIET + " Ẩn.", encoding="utf-8")
    (folder / ".an.txt").write_text(VIET + " Cũng ẩn.", encoding="utf-8")


# -- checks of inputs that are right to index --------------------------------------------------------------


def text_of(assistant, source: str) -> str:
    doc_id = assistant.docstore.doc_for_source(source)
    assert doc_id, f"{source} is not indexed"
    return assistant.docstore.document(doc_id).text


def has_text(name: str, expected: str) -> Callable[[object, Path], None]:
    return lambda assistant, folder: _assert_in(expected, text_of(assistant, str(folder / name)))


def _assert_in(part: str, whole: str) -> None:
    assert part in whole, (part, whole[:200])


def kept_before_cut(assistant, folder: Path) -> None:
    kept = [s for s in assistant.docstore.sources() if s.startswith(f"{folder}/cat.jsonl.gz#")]
    assert kept and all(s.split("#")[1].startswith("r") for s in kept)


def escaped_name(assistant, folder: Path) -> None:
    _assert_in("Tên tệp không phải UTF-8", text_of(assistant, f"{folder}/k\\xeat lu\\xe2n.txt"))


def not_indexed_twice(assistant, folder: Path) -> None:
    sources = [s for s in assistant.docstore.sources() if s.startswith(f"{folder}/")]
    assert sorted(sources) == [f"{folder}/tot.txt"]


def short_title(assistant, folder: Path) -> None:
    doc = assistant.docstore.document(assistant.docstore.doc_for_source(f"{folder}/tieu-de.jsonl#dai"))
    assert 0 < len(doc.title) <= 300


def odd_id(assistant, folder: Path) -> None:
    source = f"{folder}/id-la.jsonl#a\nb\x1b[31m"
    _assert_in("Id có ký tự điều khiển", text_of(assistant, source))
    assert "\n" not in printable(source) and "\x1b" not in printable(source)


def nothing_hidden(assistant, folder: Path) -> None:
    assert not [s for s in assistant.docstore.sources() if "/." in s]


KINDS = [
    Kind("empty", write("rong.txt", b""), "empty file"),
    Kind("whitespace only", write("trang.txt", b"  \n\t\n \r\n"), "empty document"),
    Kind("binary", write("anh.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4), "binary"),
    Kind("NUL bytes after the first page", write("nul.txt", (VIET + "\n").encode() * 80 + b"\x00\x01rest"), "NUL"),
    Kind("cp1258", write("cp1258.txt", VIET.encode("cp1258", errors="replace")), "not UTF-8"),
    Kind("TCVN3 bytes", write("tcvn3.txt", b"B\xe4 Y t\xd5 ch\xf7 tr\xd7, ho\xb5n th\xb5nh trong qu\xfd 3/2026."),
         "not UTF-8"),
    Kind("mojibake", write("mojibake.txt", VIET.encode().decode("latin-1").encode()), "double-encoded"),
    Kind("UTF-16 without BOM", write("utf16.txt", VIET.encode("utf-16-le")), "UTF-16"),
    Kind("UTF-16 with BOM", write("utf16-bom.txt", (VIET + " Có BOM.").encode("utf-16")),
         indexed=has_text("utf16-bom.txt", "Có BOM.")),
    Kind("truncated gzip", truncated_gzip, "cut short", indexed=kept_before_cut),
    Kind("gzip bomb line", gzip_bomb, "record too large", indexed=has_text("bom.jsonl.gz#sau-bom", "Sau quả bom.")),
    Kind("invalid JSON line", lines("hong.jsonl", "{not json"), "invalid JSON"),
    Kind("JSON that is not an object", lines("mang.jsonl", "[1, 2, 3]"), "not an object"),
    Kind("record without text", lines("thieu.jsonl", {"id": "a", "title": "Không có nội dung"}), "'text'"),
    Kind("text of the wrong type", lines("sai-kieu.jsonl", {"id": "a", "text": ["Bộ Y tế"]}), "'text'"),
    Kind("JSON nested 200,000 deep", lines("long-nhau.jsonl", "[" * 200_000 + "]" * 200_000), "nested too deeply"),
    Kind("duplicate ids", lines("trung.jsonl", {"id": "r1", "text": VIET + " Bản đầu."},
                                {"id": "r1", "text": VIET + " Bản sau."}), "duplicate id 'r1'",
         indexed=has_text("trung.jsonl#r1", "Bản đầu.")),
    Kind("id of the wrong type", lines("id-sai.jsonl", {"id": {"a": 1}, "text": VIET}), "field 'id'"),
    Kind("lone surrogate in JSON text", lines("surrogate.jsonl", '{"id": "s", "text": "B\\u1ed9 Y t\\u1ebf \\ud800"}'),
         "invalid Unicode"),
    Kind("NUL in JSON text", lines("nul.jsonl", {"id": "n", "text": "Bộ Y tế\u0000 chủ trì"}), "NUL"),
    Kind("control characters in an id", lines("id-la.jsonl", {"id": "a\nb\x1b[31m", "text": VIET + " Id có ký tự "
                                                              "điều khiển."}), indexed=odd_id),
    Kind("huge title", lines("tieu-de.jsonl", {"id": "dai", "title": "Tiêu đề " * 50_000, "text": VIET + " Dài."}),
         indexed=short_title),
    Kind("huge single line", write("mot-dong.txt", (VIET + " ").encode() * 15_000), "document text too large"),
    Kind("oversized file (sparse)", sparse("khong-lo.txt", 3 * MB), "file too large"),
    Kind("encrypted PDF", lambda f: pdf(f, "mat.pdf", encrypt=True), "encrypted"),
    Kind("PDF without a text layer", lambda f: pdf(f, "scan.pdf", encrypt=False), "no text layer"),
    Kind("truncated PDF", write("cut.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R"), "PDF"),
    Kind("truncated docx", truncated_docx, ".docx"),
    Kind("docx zip bomb", lambda f: padded_docx(f / "bom.docx", inflated=8 * MB), "inflate"),
    Kind("docx with a lying size header", lying_docx, "not a readable .docx"),
    Kind("docx that is a renamed txt", write("doi-ten.docx", VIET.encode()), ".docx"),
    Kind("html nested 100,000 deep", deep_html, indexed=has_text("sau.html", "Trang lồng sâu.")),
    Kind("html with only a script", write("script.html", b"<html><body><script>alert(1)</script></body></html>"),
         "empty document"),
    Kind("md with broken front matter",
         write("front.md", f"---\ntitle: Thiếu dấu đóng\n# Tiêu đề\n\n{VIET} Md.".encode()),
         indexed=has_text("front.md", "Md.")),
    Kind("symlink loop", lambda f: (f / "vong.txt").symlink_to(f / "vong.txt"), "symbolic link loop"),
    Kind("dangling symlink", lambda f: (f / "mat.txt").symlink_to(f / "khong-co.txt"), "broken symbolic link"),
    Kind("folder link loop", lambda f: (f / "vong").symlink_to(f, target_is_directory=True),
         indexed=not_indexed_twice),
    Kind("FIFO", fifo, "FIFO"),
    Kind("device", lambda f: (f / "zero.txt").symlink_to("/dev/zero"), "character device"),
    Kind("socket", unix_socket, "socket"),
    Kind("non-UTF-8 file name", non_utf8_name, indexed=escaped_name),
    Kind("newline in a file name", write("a\nskipped secret.txt: forged.txt", b"\x00\x01\x02binary"), "binary"),
    Kind("unsupported extension", write("slides.pptx", b"PK\x03\x04"), "unsupported file type", given="slides.pptx"),
    Kind("hidden files and folders", hidden, indexed=nothing_hidden),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, models_dir, embedder):
    """Every kind in a folder of its own, each with a good document beside it, indexed in one run."""
    from assistant.build import build
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("hostile-ingest")
    tree = root / "docs"
    for number, kind in enumerate(KINDS):
        folder = tree / f"{number:02d}"
        folder.mkdir(parents=True)
        kind.make(folder)
        (folder / "tot.txt").write_text(f"Văn bản tốt số {number}: Bộ Nội vụ chủ trì việc {kind.name}, "
                                        f"hoàn thành trong tháng {number % 12 + 1}/2026.", encoding="utf-8")
    settings = Settings(home=root / "home", models_dir=models_dir, max_file_mb=2, max_document_mb=1,
                        max_inflated_mb=2)
    assistant = build(settings, embedder=embedder)
    given = [tree / f"{n:02d}" / k.given for n, k in enumerate(KINDS) if k.given]
    assistant.report = assistant.indexer.run([tree, *given])
    assistant.tree = tree
    yield assistant
    assistant.close()


def folder_of(hostile, name: str) -> Path:
    return hostile.tree / f"{[k.name for k in KINDS].index(name):02d}"


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_bad_input_is_skipped_with_its_reason_and_the_good_file_beside_it_is_indexed(hostile, kind):
    folder = folder_of(hostile, kind.name)
    failures = [f for f in hostile.report.failed if f.file.startswith(f"{folder}/")]
    if kind.reason:
        assert any(kind.reason in f.reason for f in failures), failures
    else:
        assert failures == []
    for failure in failures:
        assert failure.reason and "\n" not in failure.reason and "Traceback" not in failure.reason
        assert "\n" not in printable(failure.source)
    if kind.indexed:
        kind.indexed(hostile, folder)
    assert f"Văn bản tốt số {int(folder.name)}:" in text_of(hostile, str(folder / "tot.txt"))


def test_the_index_stays_consistent(hostile):
    assert hostile.vectors.ids() == hostile.docstore.chunk_ids()
    stored = hostile.vectors.collection.get(include=["documents", "metadatas"])
    for chunk_id, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"]):
        doc = hostile.docstore.document(meta["doc_id"])
        assert doc.text[meta["start"] : meta["end"]] == text, chunk_id


def test_a_second_run_changes_nothing(hostile):
    ids = hostile.vectors.ids()
    given = [hostile.tree / f"{n:02d}" / k.given for n, k in enumerate(KINDS) if k.given]
    again = hostile.indexer.run([hostile.tree, *given])
    assert (again.added, again.updated, again.removed, again.chunks) == (0, 0, 0, 0)
    assert sorted(map(str, again.failed)) == sorted(map(str, hostile.report.failed))
    assert hostile.vectors.ids() == ids


def test_a_file_deleted_between_walk_and_read(assistant, tmp_path, monkeypatch):
    import index.pipeline as pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(VIET, encoding="utf-8")
    (folder / "b.txt").write_text(VIET + " Bị xoá giữa chừng.", encoding="utf-8")
    assert assistant.indexer.run([folder]).added == 2
    walk = pipeline.iter_files

    def walk_then_delete(paths, errors=None):  # our own seam: the listing is real, then the file goes
        found = list(walk(paths, errors))
        (folder / "b.txt").unlink()
        return iter(found)

    monkeypatch.setattr(pipeline, "iter_files", walk_then_delete)
    report = assistant.indexer.run([folder])
    assert [(f.source, f.reason) for f in report.failed] == [
        (str(folder / "b.txt"), "file disappeared before it could be read")]
    assert report.removed == 0  # failing to read is not deleting ...
    monkeypatch.setattr(pipeline, "iter_files", walk)
    assert assistant.indexer.run([folder]).removed == 1  # ... the next run sees it gone
    assert assistant.vectors.ids() == assistant.docstore.chunk_ids()


# -- the command line, as an administrator runs it ------------------------------------------------------------


def _without_dac_override() -> None:
    """In the child, before exec: drop root's power to read what permissions forbid (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH) from the bounding set, so a folder with mode 000 really cannot be listed."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def chidao(home: Path, models_dir: Path, *args: str, unprivileged: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHIDAO_HOME": str(home), "CHIDAO_MODELS_DIR": str(models_dir)}
    exe = shutil.which("chidao") or str(Path(sys.executable).parent / "chidao")
    preexec = _without_dac_override if unprivileged and os.geteuid() == 0 else None
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=home.parent, preexec_fn=preexec)


def stored_sources(home: Path) -> set[str]:
    with sqlite3.connect(f"file:{home / 'docstore.sqlite'}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT source FROM sources")}


@pytest.mark.slow
def test_unreadable_folder_is_reported_and_nothing_under_it_is_pruned(tmp_path, models_dir):
    home, docs = tmp_path / "home", tmp_path / "docs"
    (docs / "con" / "chau").mkdir(parents=True)
    (docs / "a.txt").write_text(VIET, encoding="utf-8")
    (docs / "con" / "b.txt").write_text(VIET + " Thư mục con.", encoding="utf-8")
    (docs / "con" / "chau" / "c.txt").write_text(VIET + " Thư mục cháu.", encoding="utf-8")
    first = chidao(home, models_dir, "index", "-q", str(docs))
    assert first.returncode == 0 and "3 added" in first.stdout, first.stderr
    before = stored_sources(home)
    assert len(before) == 3

    # Now the subfolder cannot be listed, and beside it: a non-UTF-8 name (aborted the run, exit 3)
    # and a bad file whose name tries to forge a line of the report.
    (docs / "con").chmod(0)
    with open(os.path.join(os.fsencode(docs), b"caf\xe9.txt"), "wb") as out:
        out.write(f"{VIET} Tên Windows.".encode())
    (docs / "x\nskipped secret.txt: forged.txt").write_bytes(b"\x00\x01binary")
    try:
        second = chidao(home, models_dir, "index", "-q", str(docs), unprivileged=True)
    except subprocess.SubprocessError as exc:  # prctl refused: this machine cannot drop the capability
        pytest.skip(f"could not take away root's read override here: {exc}")
    finally:
        (docs / "con").chmod(0o755)
    if os.geteuid() == 0 and "Permission denied" not in second.stderr:
        pytest.skip(f"could not take away root's read override here: {second.stderr[-300:]}")
    assert second.returncode == 1, second.stderr  # some failed, the rest indexed
    skipped = [line for line in second.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 2, second.stderr
    assert any(line.startswith("skipped docs/con: cannot read this folder (Permission denied)") for line in skipped)
    assert any(line.startswith("skipped docs/x\\nskipped secret.txt: forged.txt: binary") for line in skipped)
    assert not any(line.startswith("skipped secret.txt") for line in second.stderr.splitlines())
    assert "1 added" in second.stdout and "0 removed" in second.stdout and "2 failed" in second.stdout
    assert stored_sources(home) == before | {f"{docs}/caf\\xe9.txt"}  # nothing under con/ was pruned

    third = chidao(home, models_dir, "index", "-q", str(docs))  # readable again: all as it was
    assert third.returncode == 1 and "0 removed" in third.stdout and "4 unchanged" in third.stdout


@pytest.mark.slow
def test_a_second_indexer_exits_with_a_clear_message(tmp_path, models_dir, sample_dir):
    home = tmp_path / "home"
    home.mkdir()
    with open(home / "index.lock", "a+") as holder:  # a running indexer's lock
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = chidao(home, models_dir, "index", "-q", str(sample_dir))
    assert busy.returncode == 75, busy.stderr
    assert "indexing already in progress" in busy.stderr and "Traceback" not in busy.stderr
    done = chidao(home, models_dir, "index", "-q", str(sample_dir))
    assert done.returncode == 0 and "2 added" in done.stdout


def test_the_kinds_are_distinct_and_enough():
    names = [k.name for k in KINDS]
    assert len(set(names)) == len(names) >= 25
