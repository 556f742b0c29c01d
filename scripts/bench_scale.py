"""The archive at scale, in one run: index, re-index, add 10, task table, a list question, 50 answers.

    python scripts/bench_scale.py                       # all 35,440 baomoi-2017 reports (hours on 2 cores)
    python scripts/bench_scale.py --limit 2000          # the first 2,000
    python scripts/bench_scale.py --limit 2000 --compare 300   # + embedding paths compared on 300 reports
    python scripts/bench_scale.py --budget 120          # stop indexing after 120 minutes, then later:
    python scripts/bench_scale.py --resume --budget 120 # go on where it stopped (attempts summed)

Each indexing step is the real command (``chidao index``) in a child process, so its wall time includes
loading the model, and its peak RSS is the child's own. The answering steps run in this (warm) process.
``--compare N`` indexes the first N reports from empty once per embedding path (PyTorch fp32, the previous
default; onnxruntime fp32; onnxruntime int8) for the speed ratio on the same text. Prints a Markdown table
and writes it to ``<work>/bench-scale.md``. Nothing is asserted: it prints figures.

The full archive takes longer to index than one sitting on a 2-core machine, so the "from empty" step can be
split: ``--budget MINUTES`` interrupts ``chidao index`` (SIGINT, as Ctrl-C: the next run repairs and skips
what is stored) and records the attempt in ``<work>/index-attempts.json``; ``--resume`` goes on from there.
The row then sums the attempts' wall times (each resume reloads the model and re-reads the stored
records, so the sum is slightly more than one uninterrupted run) and says how many there were.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CORPORA = ROOT.parent / "shared" / "corpora"
LIST_QUESTION = "Bộ Công an được giao những nhiệm vụ gì?"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(share * len(ordered))) - 1)]


def write_corpus(source: Path, work: Path, limit: int | None) -> tuple[Path, Path, int, int]:
    """The first ``limit`` records (streamed, never held), and 10 more for the "add 10" step: the next
    records when there are any, else the last 10 with a new first line (new texts, new ids)."""
    corpus, extra = work / "corpus" / "baomoi.jsonl", work / "extra" / "extra-10.jsonl"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    extra.parent.mkdir(parents=True, exist_ok=True)
    records = chars = 0
    last: list[dict] = []
    added: list[dict] = []
    with gzip.open(source, "rt", encoding="utf-8") as lines, corpus.open("w", encoding="utf-8") as out:
        for line in lines:
            if not line.strip():
                continue
            if limit is not None and records >= limit:
                added.append(json.loads(line))
                if len(added) == 10:
                    break
                continue
            out.write(line)
            record = json.loads(line)
            records += 1
            chars += len(record.get("text") or "")
            last = (last + [record])[-10:]
    if len(added) < 10:
        added = [{**r, "id": f"{r.get('id', i)}-update", "text": "Bản cập nhật.\n" + (r.get("text") or "")}
                 for i, r in enumerate(last)]
    with extra.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in added[:10])
    return corpus, extra, records, chars


def run_index(home: Path, path: Path, env: dict[str, str] | None = None, budget: float | None = None) -> dict:
    """``chidao index PATH`` in a child process: wall seconds, the child's peak RSS, its summary line;
    ``interrupted`` when ``budget`` seconds passed first (the child got SIGINT and stopped)."""
    environment = {**os.environ, "CHIDAO_HOME": str(home), **(env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "index", str(path)], env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupted = False
    try:
        out, err = child.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        interrupted = True
        child.send_signal(signal.SIGINT)
        out, err = child.communicate()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # 1: some documents could not be read (reported and skipped, e.g. an empty record); the rest is indexed
    if child.returncode not in (0, 1) and not interrupted:
        sys.exit(f"chidao index failed ({child.returncode}):\n{err[-3000:]}")
    summary = (out.strip().splitlines() or [""])[-1]
    # ru_maxrss of children is the largest child so far: exact for the first, a bound for later ones
    return {"seconds": seconds, "peak_mib": max(peak, before) / 1024, "summary": summary,
            "interrupted": interrupted}


def disk_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="index only the first N records")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--compare", type=int, default=0, help="compare embedding paths on the first N records")
    parser.add_argument("--work", type=Path, default=ROOT / ".chidao" / "bench-scale")
    parser.add_argument("--keep", action="store_true", help="keep the index of an earlier run (skip 'from empty')")
    parser.add_argument("--compare-only", action="store_true", help="only the --compare step")
    parser.add_argument("--budget", type=float, default=None,
                        help="minutes this invocation may spend indexing from empty before it stops (resumable)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with an index from empty that --budget stopped")
    args = parser.parse_args()

    source = CORPORA / "baomoi-2017.jsonl.gz"
    if not source.exists():
        sys.exit(f"{source} is not there")
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    if not args.compare_only:
        scale(args, source, rows)
    if args.compare:
        compare(args, source, rows)
    lines = ["| step | time | figures |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table_md = "\n".join(lines)
    (args.work / "bench-scale.md").write_text(table_md + "\n", encoding="utf-8")
    print(table_md)


def scale(args: argparse.Namespace, source: Path, rows: list[tuple[str, str, str]]) -> None:
    """The archive's steps: index from empty, re-run, add 10, task table, a list question, answers."""
    home = args.work / "home"
    attempts_file = args.work / "index-attempts.json"
    if args.resume:
        if not attempts_file.exists():
            sys.exit(f"nothing to resume: {attempts_file} is not there")
        state = json.loads(attempts_file.read_text(encoding="utf-8"))
        if state["limit"] != args.limit:
            sys.exit(f"the stopped run had --limit {state['limit']}; resume it with the same")
        corpus, extra, records, chars = (Path(state["corpus"]), Path(state["extra"]), state["records"],
                                         state["chars"])
    else:
        corpus, extra, records, chars = write_corpus(source, args.work, args.limit)
        state = {"limit": args.limit, "corpus": str(corpus), "extra": str(extra), "records": records,
                 "chars": chars, "attempts": []}
    print(f"{records} records, {chars / 1e6:.1f} M characters; cores: {os.cpu_count()}", flush=True)

    if not args.keep and not args.resume and home.exists():
        shutil.rmtree(home)
    if not args.keep:
        budget = args.budget * 60 if args.budget else None
        attempt = run_index(home, corpus, budget=budget)
        state["attempts"].append({key: attempt[key] for key in ("seconds", "peak_mib", "interrupted")})
        attempts_file.write_text(json.dumps(state, indent=1), encoding="utf-8")
        if attempt["interrupted"]:
            print(f"stopped after {attempt['seconds']:.0f} s ({len(state['attempts'])} attempt(s)); "
                  f"go on with: python scripts/bench_scale.py --resume"
                  + (f" --limit {args.limit}" if args.limit else ""), flush=True)
            sys.exit(3)
        attempts = state["attempts"]
        seconds = sum(a["seconds"] for a in attempts)
        peak = max(a["peak_mib"] or 0 for a in attempts)
        split = f" ({len(attempts)} sittings, summed)" if len(attempts) > 1 else ""
        rows.append(("index from empty" + split, f"{seconds:.0f} s",
                     f"{records / seconds:.2f} docs/s, {chars / seconds / 1000:.0f} k chars/s, "
                     f"peak RSS {peak:.0f} MiB, disk {disk_mib(home):.0f} MiB; last sitting: {attempt['summary']}"))
        print(rows[-1], flush=True)
    again = run_index(home, corpus)
    rows.append(("re-run, nothing changed", f"{again['seconds']:.1f} s", again["summary"]))
    print(rows[-1], flush=True)
    add = run_index(home, extra)
    rows.append(("add 10 documents", f"{add['seconds']:.1f} s", add["summary"]))
    print(rows[-1], flush=True)

    from assistant import tasktable
    from assistant.build import build
    from assistant.evaluate import load_testset
    from assistant.settings import Settings
    from assistant.squad import load_squad

    assistant = build(Settings(home=home))
    stats = assistant.docstore.stats()
    started = time.perf_counter()
    table = tasktable.rows(tasktable.select(assistant.docstore), assistant.docstore)
    seconds = time.perf_counter() - started
    conflicts = sum(1 for row in table if row["conflict"])
    rows.append(("`chidao tasks` (whole table)", f"{seconds:.2f} s",
                 f"{len(table)} tasks, {conflicts} with a conflict"))
    print(rows[-1], flush=True)
    assistant.ask("Ai chủ trì nhiệm vụ, hoàn thành khi nào?")  # warm: model, BM25, reader loaded
    started = time.perf_counter()
    answer = assistant.ask(LIST_QUESTION)
    rows.append((f"list question «{LIST_QUESTION}»", f"{time.perf_counter() - started:.2f} s",
                 f"{len(answer.citations)} citations"))
    print(rows[-1], flush=True)

    questions = [c.q for c in load_testset(ROOT / "data" / "eval" / "sample.jsonl")]
    for path in (CORPORA / "uit-regulation-qa.json", CORPORA / "qa" / "viquad1-dev.json.gz"):
        if path.exists():
            questions += [c.q for c in load_squad(path).select("all", sample=args.questions)]
    questions = random.Random(7).sample(questions, min(args.questions, len(questions)))
    times = []
    for question in questions:
        t0 = time.perf_counter()
        assistant.ask(question)
        times.append((time.perf_counter() - t0) * 1000)
    rows.append((f"{len(times)} answers (extractive, warm)", f"p50 {statistics.median(times):.0f} ms",
                 f"p95 {percentile(times, 0.95):.0f} ms, max {max(times):.0f} ms; "
                 f"{stats['documents']} documents, {stats['chunks']} chunks"))
    print(rows[-1], flush=True)
    assistant.close()


def compare(args: argparse.Namespace, source: Path, rows: list[tuple[str, str, str]]) -> None:
    """The first ``--compare`` records indexed from empty once per embedding path, on the same text."""
    sample, _, n, n_chars = write_corpus(source, args.work / "compare", args.compare)
    for label, env in (("PyTorch fp32 (before)", {"CHIDAO_EMBEDDING_BACKEND": "torch"}),
                       ("onnxruntime fp32", {"CHIDAO_EMBEDDING_BACKEND": "onnx"}),
                       ("auto: passages in bf16 (default)", {"CHIDAO_EMBEDDING_BACKEND": "auto"}),
                       ("onnxruntime int8", {"CHIDAO_EMBEDDING_BACKEND": "onnx",
                                            "CHIDAO_EMBEDDING_QUANTIZE": "int8"})):
        scratch = args.work / "compare" / "home"
        shutil.rmtree(scratch, ignore_errors=True)
        result = run_index(scratch, sample, env)
        rows.append((f"index {n} from empty: {label}", f"{result['seconds']:.0f} s",
                     f"{n / result['seconds']:.2f} docs/s, {n_chars / result['seconds'] / 1000:.0f} k chars/s"))
        print(rows[-1], flush=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
