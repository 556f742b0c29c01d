"""The ``chidao`` command line.

Examples::

    chidao prepare                      # materialise the embedding model once
    chidao index data/sample            # index (incremental; prunes removed files)
    chidao search "ai chịu trách nhiệm cơ sở dữ liệu y tế"
    chidao stats
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from assistant.settings import Settings

log = logging.getLogger("chidao")

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
EXIT_BUSY = 75  # sysexits' EX_TEMPFAIL: another indexing run holds this home; try again later
_STARTED = time.perf_counter()  # when the command began (imports of this module are light)


def _display(source: str) -> str:
    """A source path relative to the working directory when it lies below it, on one line (control
    characters in a file name are escaped, so a name cannot forge lines of a report)."""
    from index.load import printable, source_file

    path = source_file(source)
    rest = source[len(path) :]
    if Path(path).is_absolute():
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            path = relative
    return printable(path + rest)


def _cmd_prepare(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.build import apply_offline_environment, make_cross_reader, make_embedder

    apply_offline_environment(settings)
    embedder = make_embedder(settings)
    print(f"embedding model ready: {embedder.name} ({embedder.dimension} dimensions, max {embedder.max_tokens} "
          f"tokens, {embedder.backend} backend), cached under {settings.models_dir}")
    cross = make_cross_reader(settings)
    if cross is not None:
        print(f"cross reader ready ({cross.backend} backend)")
    return EXIT_OK


def _cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.build import build
    from index.load import printable
    from index.pipeline import IndexBusy

    assistant = build(settings)
    try:
        report = assistant.indexer.run(
            args.paths, prune=settings.prune and not args.no_prune, progress=not args.quiet and sys.stderr.isatty()
        )
    except IndexBusy as exc:
        print(f"chidao: {exc}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        assistant.close()
    for failure in report.failed:
        print(f"skipped {_display(failure.source)}: {printable(failure.reason)}", file=sys.stderr)
    print(report.summary())
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


def _cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.build import build

    assistant = build(settings)
    try:
        hits = assistant.retriever.search(args.query, k=args.k)
    finally:
        assistant.close()
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not hits:
        print("Chưa có văn bản nào trong chỉ mục, hoặc không tìm thấy đoạn phù hợp.")
    for rank, hit in enumerate(hits, start=1):
        where = f" — {' > '.join(hit.chunk.headings)}" if hit.chunk.headings else ""
        date = f", {hit.document.date}" if hit.document.date else ""
        print(f"[{rank}] {hit.score:.3f}  {hit.document.title}{date}{where}")
        print(f"    {_display(hit.document.source)} @ {hit.chunk.start}-{hit.chunk.end}")
        print("    " + hit.chunk.text.replace("\n", "\n    "))
        print()
    return EXIT_OK


def _format_answer(answer, with_text: bool = True) -> str:
    lines = [answer.text, ""] if with_text else [""]
    if answer.note:
        lines += [f"({answer.note})", ""]
    for c in answer.citations:
        where = _display(c.source) + (f", {c.date}" if c.date else "")
        lines.append(f"[{c.n}] {c.title[:90]} — {where} @ {c.start}-{c.end}")
        lines.append(f"    «{c.quote}»")
    lines.append(f"({answer.elapsed_ms:.0f} ms, {answer.backend})")
    return "\n".join(lines)


def _doc_filter(args: argparse.Namespace):
    from assistant.tasktable import doc_filter

    return doc_filter(args.type, args.issuer, args.number, args.since, args.until)


def _add_doc_filter(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", help="only documents of this type (Thông báo, Chỉ thị, Nghị quyết, Công văn, ...)")
    p.add_argument("--issuer", help="only documents issued by this body or a body under it (any alias)")
    p.add_argument("--number", help="only the document with this number and symbol, e.g. 447/TB-VPCP")
    p.add_argument("--since", help="only documents dated on or after (YYYY-MM-DD or dd/mm/yyyy)")
    p.add_argument("--until", help="only documents dated on or before")


def _stream_answer(assistant, question: str, scope=None) -> int:
    """Print a model's words as they come, then the sources of the checked answer; when the words
    failed the check, say so and print the answer that replaces them."""
    live = getattr(assistant.answerer, "streams", False)
    shown = False
    for item in assistant.answerer.stream(question, [], scope):
        if isinstance(item, str):
            if live:
                sys.stdout.write(item)
                sys.stdout.flush()
                shown = True
            continue
        if shown:
            print()
            if item.backend != "llm":
                print("--- (không dùng câu trả lời trên)")
        print(_format_answer(item, with_text=not (shown and item.backend == "llm")))
    return EXIT_OK


def _cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.build import build

    if args.backend:
        settings = settings.model_copy(update={"answer_backend": args.backend})
    where = _doc_filter(args)  # a bad date fails here, before the model loads
    assistant = build(settings)
    try:
        scope = assistant.docstore.select_docs(where) if where else None
        if args.question and args.json:
            print(json.dumps(assistant.ask(args.question, scope=scope).to_dict(), ensure_ascii=False, indent=2))
            return EXIT_OK
        if args.question:
            return _stream_answer(assistant, args.question, scope)
        # Batch mode: one question per line on stdin (or a JSON object with "q"/"question" and "history").
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            history: list = []
            question = line
            if line.startswith("{"):
                try:
                    item = json.loads(line)
                    question, history = item.get("q") or item.get("question") or "", item.get("history") or []
                except ValueError:
                    print(json.dumps({"question": line, "error": "invalid JSON line"}, ensure_ascii=False))
                    continue
            print(json.dumps(assistant.ask(question, history, scope).to_dict(), ensure_ascii=False), flush=True)
    finally:
        assistant.close()
    return EXIT_OK


def _cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    import tempfile

    from assistant import evaluate
    from assistant.build import build

    if not args.testset and not args.squad:
        print("chidao eval: give a test set (JSONL) and/or --squad FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.backend:
        settings = settings.model_copy(update={"answer_backend": args.backend})
    out = Path(args.out)
    assistant = build(settings)
    tables: dict = {}
    outcomes: dict = {}
    with tempfile.TemporaryDirectory(prefix="chidao-eval-") as tmp:
        try:
            if args.index:
                assistant.indexer.run(args.index)
            runs = []
            if args.testset:
                runs.append(("own", evaluate.in_part(evaluate.load_testset(Path(args.testset)), args.part),
                             assistant))
            for path in map(Path, args.squad or []):
                if not path.exists():
                    print(f"skipping {path}: the file is not there", file=sys.stderr)
                    continue
                runs.append(_squad_run(settings, assistant, path, Path(tmp), args))
            for name, cases, target in runs:
                for system, ask in _systems(target, args.baseline).items():
                    results = [evaluate.run_case(c, ask, target.docstore, evaluate.source_names(target.docstore))
                               for c in cases]
                    key = system if name == "own" else f"{system} ({name})"
                    outcomes[key], tables[key] = results, evaluate.by_kind(results)
                    print(evaluate.table_text(tables[key], key), end="\n\n", flush=True)
                if target is not assistant:
                    target.close()
            if len(tables) > 1:
                print(evaluate.table_text(evaluate.side_by_side(tables), "side by side"), end="\n\n")
            source = Path(args.testset) if args.testset else Path(args.squad[0])
            json_path, md_path = evaluate.write_reports(tables, outcomes, out, source)
            print(f"reports: {json_path}, {md_path}")
        finally:
            assistant.close()
    return EXIT_OK


def _squad_run(settings: Settings, assistant, path: Path, tmp: Path, args: argparse.Namespace):
    """A SQuAD file's paragraphs indexed in a home of their own (beside ``--squad-with`` documents),
    and the cases of the chosen part."""
    from assistant.build import build
    from assistant.squad import load_squad

    squad = load_squad(path)
    home = tmp / squad.name
    corpus = squad.write_corpus(home / "corpus" / f"{squad.name}.jsonl")
    target = build(settings.model_copy(update={"home": home / "index"}), embedder=assistant.embedder)
    report = target.indexer.run([corpus, *args.squad_with])
    print(f"{squad.name}: {report.summary()}", file=sys.stderr)
    cases = squad.select(args.part, args.sample, args.seed)
    name = squad.name if args.part == "all" else f"{squad.name}, {args.part}"
    return name, cases, target


def _systems(target, baseline: bool) -> dict:
    """chidao, and with ``--baseline`` the trivial reader over chidao's own retrieval and the plain
    LangChain retrieval under chidao's answerer, all over the same index."""
    systems = {"chidao": target.ask}
    if baseline:
        from assistant.baseline import BaselineRetriever, ReadingStore, TrivialReader
        from assistant.build import make_cross_reader
        from assistant.extractive import ExtractiveAnswerer

        systems["trivial reader"] = TrivialReader(target.retriever, target.docstore).answer
        retriever = BaselineRetriever(target.docstore, target.embedder)
        # the same reader as chidao's (cross reader included): the difference is retrieval and chunking
        systems["langchain"] = ExtractiveAnswerer(retriever, ReadingStore(target.docstore, retriever),
                                                  cross=make_cross_reader(target.settings)).answer
    return systems


def _cmd_tasks(settings: Settings, args: argparse.Namespace) -> int:
    from assistant import tasktable
    from index.docstore import DocStore

    days = tasktable.parse_days(args.due_within) if args.due_within else None
    docstore = DocStore(settings.store_target)  # the table needs no model: open the store alone
    try:
        tasks = tasktable.select(docstore, args.agency, args.due_before, args.due_after, args.doc, args.status,
                                 _doc_filter(args), args.with_history)
        if days is not None:
            tasks = tasktable.due_soon(tasks, days)
        table = tasktable.rows(tasks, docstore)
    finally:
        docstore.close()
    if args.format in ("xlsx", "ics"):
        out = Path(args.output or f"nhiem-vu.{args.format}")
        if args.format == "xlsx":
            tasktable.to_xlsx(table, out)
        else:
            base = settings.public_url or f"http://{settings.host}:{settings.port}"
            out.write_bytes(tasktable.to_ics(table, base, f"Nhiệm vụ — {args.agency}" if args.agency else "Nhiệm vụ"))
        print(f"{len(table)} nhiệm vụ -> {out}")
        return EXIT_OK
    if days is not None and args.format == "table":
        print(tasktable.to_due_text(table))
        return EXIT_OK
    text = {"table": tasktable.to_text, "csv": tasktable.to_csv, "json": tasktable.to_json}[args.format](table)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8-sig" if args.format == "csv" else "utf-8")
        print(f"{len(table)} nhiệm vụ -> {args.output}")
    else:
        print(text)
    return EXIT_OK


def _cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.build import build

    assistant = build(settings)
    try:
        stats = assistant.docstore.stats()
        stats["vectors"] = assistant.vectors.count()
        info = {
            "home": str(settings.home),
            "store": f"chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host
            else f"embedded chroma at {settings.chroma_path}",
            "collection": assistant.vectors.name,
            "embedding_model": settings.embedding_model,
            **stats,
        }
        if args.json:
            info["documents_list"] = [
                {"doc_id": d.doc_id, "title": d.title, "date": d.date, "chunks": d.n_chunks,
                 "sources": list(d.sources)} for d in assistant.docstore.documents()
            ]
            print(json.dumps(info, ensure_ascii=False, indent=2))
            return EXIT_OK
        for key, value in info.items():
            print(f"{key:>16}: {value}")
        for doc in assistant.docstore.documents():
            print(f"  - {doc.title[:90]} ({doc.date or 'không rõ ngày'}, {doc.n_chunks} đoạn) "
                  f"{_display(doc.source)}")
    finally:
        assistant.close()
    return EXIT_OK


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        import webapp
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{exc}; the web app needs gradio: pip install -e .") from None
    webapp.serve(settings, host=args.host, port=args.port, example_page=args.example_page, started=_STARTED)
    return EXIT_OK


def _cmd_feedback(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.feedback import FeedbackStore

    store = FeedbackStore(settings.feedback_target)
    try:
        if args.format == "csv":
            text = store.to_csv()
        else:
            text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in store.to_testset())
        count = len(store.all())
    finally:
        store.close()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8-sig" if args.format == "csv" else "utf-8")
        print(f"{count} góp ý -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands grow with the product)."""
    root = argparse.ArgumentParser(
        prog="chidao", description="Trợ lý tra cứu văn bản chỉ đạo điều hành (offline)."
    )
    root.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="materialise the embedding model (once per models dir)")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("index", help="index files and folders (txt, md, html, docx, pdf, jsonl[.gz])")
    p.add_argument("paths", nargs="+", help="files or folders (walked recursively)")
    p.add_argument("--no-prune", action="store_true",
                   help="keep index entries of files that disappeared from these paths")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("search", help="show the passages that best match a question")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited passages (no question: one per stdin line, JSON out)")
    p.add_argument("question", nargs="?")
    p.add_argument("--json", action="store_true", help="the answer as JSON")
    p.add_argument("--backend", choices=["extractive", "llm"], help="override CHIDAO_ANSWER_BACKEND")
    _add_doc_filter(p)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("eval", help="run a test set (JSONL) and/or SQuAD-format sets and report accuracy, "
                                    "refusals, citations, retrieval, latency")
    p.add_argument("testset", nargs="?", help="a chidao test set (JSONL)")
    p.add_argument("--baseline", action="store_true",
                   help="also run the trivial best-sentence reader and the plain LangChain RAG, over the same index")
    p.add_argument("--index", nargs="*", default=[], help="index these paths first (e.g. data/sample)")
    p.add_argument("--squad", action="append", metavar="FILE",
                   help="a SQuAD-format file (.json or .json.gz): its paragraphs are indexed in a temporary home "
                        "and its questions asked (repeatable)")
    p.add_argument("--squad-with", nargs="*", default=[], metavar="PATH",
                   help="documents indexed beside every --squad file's paragraphs (e.g. data/sample)")
    p.add_argument("--part", choices=["tuning", "check", "all"], default="check",
                   help="which part of each SQuAD set to ask (fixed split by paragraph; default: check); "
                   "test-set lines with a \"part\" are asked in theirs only")
    p.add_argument("--sample", type=int, help="ask a seeded sample of this many questions of the part")
    p.add_argument("--seed", type=int, default=2026, help="seed of the sample (the split's seed is fixed)")
    p.add_argument("--out", default="eval-report", help="folder for eval.json, report.md and charts")
    p.add_argument("--backend", choices=["extractive", "llm"], help="override CHIDAO_ANSWER_BACKEND")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("tasks", help="the task table: who must do what, by when, from which document")
    p.add_argument("--agency", help="lead or collaborator, any alias (Bộ KH-CN = Bộ Khoa học và Công nghệ)")
    p.add_argument("--due-before", help="deadline ends on or before (YYYY-MM-DD or dd/mm/yyyy)")
    p.add_argument("--due-after", help="deadline ends on or after")
    p.add_argument("--doc", help="a document id, or part of its file name or title")
    p.add_argument("--status", help="after the latest progress report: done / in_progress / late "
                                    "(or hoàn thành / đang thực hiện / chậm)")
    _add_doc_filter(p)
    p.add_argument("--with-history", action="store_true",
                   help="also the rows a newer document replaced or restated (marked); default: what is in force")
    p.add_argument("--due-within", metavar="SPAN",
                   help="only tasks falling due within SPAN (30d, 2w, 1m) and those past due and not done, "
                        "grouped by lead agency")
    p.add_argument("--format", choices=["table", "csv", "json", "xlsx", "ics"], default="table",
                   help="ics: an iCalendar file, one event on each dated task's deadline")
    p.add_argument("-o", "--output", help="write to this file (xlsx/ics default: nhiem-vu.xlsx / nhiem-vu.ics)")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("serve", help="the web app: staff chat, widget (/widget), HTTP API (/api, /docs)")
    p.add_argument("--host", help="bind address (default CHIDAO_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default CHIDAO_PORT, 7860)")
    p.add_argument("--example-page", type=int, metavar="PORT",
                   help="also serve examples/intranet.html on this port (another origin) to show the widget")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("feedback", help="export users' feedback: CSV, or test-set lines for `chidao eval`")
    p.add_argument("--format", choices=["csv", "testset"], default="csv")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=_cmd_feedback)

    p = sub.add_parser("stats", help="what is indexed, and where")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_stats)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chidao`` console script."""
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"chidao: invalid configuration:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    level = [settings.log_level, "INFO", "DEBUG"][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers", "bm25s"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    try:
        return int(args.func(settings, args))
    except KeyboardInterrupt:
        print("chidao: interrupted; the next run repairs the index", file=sys.stderr)
        return 130
    except (ValueError, OSError, ModuleNotFoundError) as exc:
        log.debug("failed", exc_info=True)
        print(f"chidao: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
