"""The ``chidao`` command as a user runs it (a real subprocess, a real index in tmp_path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def chidao(tmp_path: Path, models_dir: Path, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHIDAO_HOME": str(tmp_path / "home"), "CHIDAO_MODELS_DIR": str(models_dir), **env_vars}
    exe = shutil.which("chidao") or str(Path(sys.executable).parent / "chidao")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)


def test_index_search_stats(tmp_path, models_dir, sample_dir):
    (sample_dir / "hong.pdf").write_bytes(b"%PDF-1.4 cut")
    done = chidao(tmp_path, models_dir, "index", str(sample_dir))
    assert done.returncode == 1, done.stderr  # some files failed ...
    assert "hong.pdf" in done.stderr and "PDF" in done.stderr
    assert "2 added" in done.stdout and "1 failed" in done.stdout  # ... and the rest was indexed

    one_file = next(sample_dir.glob("ket-luan*.txt"))
    again = chidao(tmp_path, models_dir, "index", "--quiet", str(one_file))
    assert again.returncode == 0 and "1 unchanged" in again.stdout

    found = chidao(tmp_path, models_dir, "search", "--json", "-k", "2", "ai chịu trách nhiệm cơ sở dữ liệu y tế")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and "cơ sở dữ liệu ngành y tế" in hits[0]["text"].lower()

    stats = chidao(tmp_path, models_dir, "stats", "--json")
    info = json.loads(stats.stdout)
    assert info["documents"] == 2 and info["vectors"] == info["chunks"] > 0
    assert {d["date"] for d in info["documents_list"]} == {"2026-02-25", None}


def test_unreachable_chroma_server_is_a_clear_error(tmp_path, models_dir):
    # Nothing listens on port 1 of the loopback interface.
    done = chidao(tmp_path, models_dir, "stats", CHIDAO_CHROMA_HOST="127.0.0.1", CHIDAO_CHROMA_PORT="1")
    assert done.returncode == 3
    assert "chidao:" in done.stderr and "Traceback" not in done.stderr


def test_bad_configuration_exit_code(tmp_path, models_dir):
    done = chidao(tmp_path, models_dir, "stats", CHIDAO_CHUNK_MAX_TOKENS="oops")
    assert done.returncode == 2 and "chunk_max_tokens" in done.stderr


def test_ask_single_json_and_batch(tmp_path, models_dir, sample_dir):
    assert chidao(tmp_path, models_dir, "index", "-q", str(sample_dir)).returncode == 0
    done = chidao(tmp_path, models_dir, "ask", "Ai chủ trì xây dựng Cơ sở dữ liệu ngành Y tế, hạn khi nào?")
    assert done.returncode == 0, done.stderr
    lead = done.stdout.splitlines()[0]
    assert lead.startswith("Bộ Y tế chủ trì") and "thời hạn: quý 3/2026" in lead and "[1]" in lead

    as_json = json.loads(chidao(tmp_path, models_dir, "ask", "--json", "ai chu tri co so du lieu y te").stdout)
    assert not as_json["refused"] and as_json["citations"][0]["quote"]

    env = {**os.environ, "CHIDAO_HOME": str(tmp_path / "home"), "CHIDAO_MODELS_DIR": str(models_dir)}
    exe = shutil.which("chidao") or str(Path(sys.executable).parent / "chidao")
    lines = "\n".join([
        "Bộ Quốc phòng chủ trì cơ sở dữ liệu nào?",  # an agency the documents never name: refused
        json.dumps({"q": "Còn Bộ Y tế thì sao?", "history": [
            {"role": "user", "content": "Bộ Công an chủ trì cơ sở dữ liệu nào?"}]}, ensure_ascii=False),
        "{broken json",
    ])
    batch = subprocess.run([exe, "ask"], input=lines, capture_output=True, text=True, env=env, timeout=300)
    out = [json.loads(line) for line in batch.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["refused"] is True
    assert "Bộ Y tế" in out[1]["answer"] and not out[1]["refused"]
    assert out[2]["error"] == "invalid JSON line"


def test_tasks_table_filters_and_exports(tmp_path, models_dir, sample_dir):
    assert chidao(tmp_path, models_dir, "index", "-q", str(sample_dir)).returncode == 0
    table = chidao(tmp_path, models_dir, "tasks", "--agency", "Bộ Công an")
    assert table.returncode == 0, table.stderr
    assert "Chương trình tổng thể triển khai Đề án 06" in table.stdout and "trong tháng 3" in table.stdout
    assert "ket-luan-phien-hop" in table.stdout  # every row names its source

    rows = json.loads(chidao(tmp_path, models_dir, "tasks", "--agency", "Bộ KH-CN", "--format", "json").stdout)
    assert rows and all("Bộ Khoa học và Công nghệ" in (r["lead"] + r["collaborators"]) for r in rows)
    for row in rows:
        assert row["sentence"] and row["source"]

    q3 = json.loads(chidao(tmp_path, models_dir, "tasks", "--due-after", "2026-07-01", "--due-before",
                           "30/09/2026", "--format", "json").stdout)
    assert q3 and all("2026-07-01" <= r["due_end"] <= "2026-09-30" for r in q3)
    conflicted = [r for r in q3 if r["conflict"]]
    assert any(r["lead"] == "Thanh tra Chính phủ" and "tháng 6.2026" in r["conflict"] for r in conflicted)

    csv_out = tmp_path / "t.csv"
    assert chidao(tmp_path, models_dir, "tasks", "--format", "csv", "-o", str(csv_out)).returncode == 0
    assert csv_out.read_text(encoding="utf-8-sig").splitlines()[0].startswith("lead,collaborators,task")

    xlsx = tmp_path / "t.xlsx"
    assert chidao(tmp_path, models_dir, "tasks", "--format", "xlsx", "-o", str(xlsx)).returncode == 0
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    assert sheet.cell(1, 1).value == "lead" and sheet.max_row == len(
        json.loads(chidao(tmp_path, models_dir, "tasks", "--format", "json").stdout)) + 1

    bad = chidao(tmp_path, models_dir, "tasks", "--due-before", "quý 3")
    assert bad.returncode == 3 and "not a date" in bad.stderr

    reports = tmp_path / "reports"  # a progress report with an assignment table
    reports.mkdir()
    (reports / "bao-cao.md").write_text(
        "Hà Nội, ngày 10 tháng 10 năm 2025\n\n| TT | Nhiệm vụ | Cơ quan chủ trì | Thời hạn | Tiến độ |\n"
        "|---|---|---|---|---|\n"
        "| 1 | Xây dựng cơ sở dữ liệu văn bằng | Bộ Giáo dục và Đào tạo | Tháng 3/2025 | Đang thực hiện |\n"
        "| 2 | Xây dựng kho dữ liệu y tế | Bộ Y tế | Tháng 12/2025 | Đã hoàn thành |\n", encoding="utf-8")
    assert chidao(tmp_path, models_dir, "index", "-q", str(reports)).returncode == 0
    late = json.loads(chidao(tmp_path, models_dir, "tasks", "--status", "chậm", "--format", "json").stdout)
    assert [(r["lead"], r["status"], r["status_text"], r["reported"]) for r in late] == [
        ("Bộ Giáo dục và Đào tạo", "late", "Đang thực hiện", "2025-10-10")]
    text = chidao(tmp_path, models_dir, "tasks", "--status", "done").stdout
    assert "Bộ Y tế" in text and "tiến độ: đã hoàn thành" in text
    assert chidao(tmp_path, models_dir, "tasks", "--status", "mai").returncode == 3
    due = chidao(tmp_path, models_dir, "tasks", "--due-within", "30d")
    assert due.returncode == 0 and "== Bộ Giáo dục và Đào tạo" in due.stdout and "quá hạn" in due.stdout
    ics = tmp_path / "lich.ics"
    made = chidao(tmp_path, models_dir, "tasks", "--agency", "Bộ Y tế", "--format", "ics", "-o", str(ics))
    assert made.returncode == 0, made.stderr
    from icalendar import Calendar

    events = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert events and all("Bộ Y tế" in str(e["SUMMARY"]) or "Bộ Y tế" in str(e["DESCRIPTION"]) for e in events)
