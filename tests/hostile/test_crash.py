"""kill -9 during a real ``chidao index``, at seeded random points, then run it again to the end.

Afterwards the index must be exactly what an uninterrupted run into a fresh home gives: the same
documents and chunks, a vector for every chunk and none without one, every stored chunk's text the
slice of its document it claims to be, the BM25 index keyed on those chunks, and a further run that
changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

SEED = 20260225
KILLS = 3
BATCH = 4  # embedding batch: the indexer then writes every 64 chunks, so a run makes several writes
AGENCIES = ["Bộ Y tế", "Bộ Công an", "Bộ Tài chính", "Bộ Nội vụ", "Bộ Tư pháp", "Bộ Khoa học và Công nghệ"]


def write_corpus(folder: Path, rng: random.Random, n: int = 32) -> None:
    """``n`` short directives of three articles each, built from the sample articles' sentences (each
    with its own numbered assignment, so no two texts are the same), two copies under other names, and
    a bulk export of five records."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.txt")))
    sentences = [s.strip() + "." for s in re.split(r"(?<=\.)\s+", text) if 60 <= len(s.strip()) <= 220]
    folder.mkdir(parents=True)
    for i in range(n):
        articles = []
        for a in range(1, 4):
            body = " ".join(rng.sample(sentences, 2))
            task = (f"{rng.choice(AGENCIES)} chủ trì nhiệm vụ số {i}.{a}, hoàn thành trong tháng "
                    f"{rng.randint(1, 12)}/2026.")
            articles.append(f"Điều {a}. Nhiệm vụ {a}\n{body} {task}")
        (folder / f"thong-bao-{i:02d}.txt").write_text(
            f"THÔNG BÁO KẾT LUẬN số {i}/TB-VPCP\n\n" + "\n\n".join(articles) + "\n", encoding="utf-8")
    shutil.copy(folder / "thong-bao-03.txt", folder / "ban-sao-03.txt")
    (folder / "con").mkdir()
    shutil.copy(folder / "thong-bao-07.txt", folder / "con" / "ban-sao-07.txt")
    with open(folder / "tin.jsonl", "w", encoding="utf-8") as out:
        for r in range(5):
            record = {"id": f"tin-{r}", "title": f"Tin {r}", "text": " ".join(rng.sample(sentences, 3))}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def runs_started(home: Path) -> int:
    """How many indexing runs the home's document store has recorded (0 before it exists)."""
    path = home / "docstore.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or busy: ask again
        return 0


def stored_counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{home / 'docstore.sqlite'}?mode=ro", uri=True, timeout=5) as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
                for table in ("documents", "chunks", "runs")}


def chidao_index(home: Path, models_dir: Path, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "CHIDAO_HOME": str(home), "CHIDAO_MODELS_DIR": str(models_dir),
           "CHIDAO_EMBEDDING_BATCH_SIZE": str(BATCH)}
    exe = shutil.which("chidao") or str(Path(sys.executable).parent / "chidao")
    return subprocess.Popen([exe, "index", "-q", str(folder)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def snapshot(assistant) -> dict:
    """What an index holds, in terms that must not depend on how it got there."""
    chunks = assistant.docstore.chunks(assistant.docstore.chunk_ids())
    return {
        "stats": assistant.docstore.stats(),
        "sources": assistant.docstore.sources(),
        "chunks": sorted((c.chunk_id, c.start, c.end, c.headings) for c in chunks.values()),
    }


def test_kill_9_at_random_points_then_rerun_gives_the_uninterrupted_index(tmp_path, models_dir, embedder):
    from assistant.build import build
    from assistant.settings import Settings
    from index.lexical import LexicalIndex, fingerprint
    from index.tasks import EXTRACTOR_VERSION

    rng = random.Random(SEED)
    folder = tmp_path / "docs"
    write_corpus(folder, rng)

    # The reference: one uninterrupted run into a fresh home (in this process, with the shared model).
    fresh = build(Settings(home=tmp_path / "fresh", models_dir=models_dir, embedding_batch_size=BATCH),
                  embedder=embedder)
    try:
        started = time.perf_counter()
        reference_report = fresh.indexer.run([folder])
        duration = time.perf_counter() - started
        reference = snapshot(fresh)
    finally:
        fresh.close()
    assert reference_report.failed == [] and reference["stats"]["documents"] == 37
    assert reference["stats"]["chunks"] > 64  # two write batches or more, so a kill can fall between two

    # The same folder into another home, killed at seeded random moments of real runs.
    home = tmp_path / "home"
    # The first run is killed just after its first write batch is committed (with a second batch
    # still to embed and write); the others at random moments of a span as long as that first batch
    # took, which covers embedding, writing vectors, writing records, tasks and the lexical index.
    killed, first_write = 0, duration
    for round_ in range(KILLS):
        before = runs_started(home)
        process = chidao_index(home, models_dir, folder)
        deadline = time.monotonic() + 240
        while runs_started(home) == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the model loads first: wait until the run itself has begun
        began = time.monotonic()
        if round_ == 0:
            while process.poll() is None and stored_counts(home)["documents"] == 0:
                time.sleep(0.02)
            first_write = time.monotonic() - began
            time.sleep(rng.uniform(0, 1))
        else:
            time.sleep(rng.uniform(0, 1.5 * first_write))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.communicate(timeout=60)
        log.info("run %d: %s %.1f s after it began; the store then held %s", round_ + 1,
                 "killed" if process.returncode == -signal.SIGKILL else "finished", time.monotonic() - began,
                 stored_counts(home))
    assert killed >= 1, "every run finished before its kill: the machine is faster than the corpus is large"

    done = chidao_index(home, models_dir, folder)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err

    crashed = build(Settings(home=home, models_dir=models_dir), embedder=embedder)
    try:
        assert snapshot(crashed) == reference
        assert crashed.vectors.ids() == crashed.docstore.chunk_ids()  # no orphans, none missing
        stored = crashed.vectors.collection.get(include=["documents", "metadatas"])
        for chunk_id, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"]):
            doc = crashed.docstore.document(meta["doc_id"])
            assert doc.text[meta["start"] : meta["end"]] == text, chunk_id
        assert crashed.docstore.docs_without_tasks(EXTRACTOR_VERSION) == []
        lexical = LexicalIndex.load(crashed.settings.lexical_path)
        assert lexical is not None and lexical.key == fingerprint(crashed.docstore.chunk_spans())

        ids = crashed.vectors.ids()
        again = crashed.indexer.run([folder])
        assert (again.added, again.updated, again.removed, again.chunks, again.repaired) == (0, 0, 0, 0, 0)
        assert crashed.vectors.ids() == ids and snapshot(crashed) == reference
    finally:
        crashed.close()
