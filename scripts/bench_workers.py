"""One worker against two: 40 concurrent clients on loopback, throughput and p50/p95 for each.

    python scripts/bench_workers.py [--clients 40] [--requests 400] [--json FILE]

Starts a throwaway PostgreSQL (Debian's postgresql, as the tests do) and a `chroma run` server, indexes
data/sample into them from the command line, then starts `chidao serve` workers sharing them (each with its
own CHIDAO_HOME) and drives them with scripts/bench_load.py's clients: first one worker, then two (the
clients spread over both, as a round-robin proxy would). Prints the figures and the machine's CPU count;
asserts nothing. Everything binds to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_load import describe, run  # noqa: E402
from tests import pg_support  # noqa: E402  (the throwaway cluster the tests use)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited")
        time.sleep(0.3)
    raise SystemExit(f"{what} not ready after 180 s")


@contextmanager
def _process(args: list[str], env: dict, ready: str, what: str):
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(ready, proc, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    chidao = str(Path(sys.executable).with_name("chidao"))
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        database = pg_support.new_database(stack.enter_context(pg_support.postgres()))
        chroma_port = _port()
        stack.enter_context(_process([chroma, "run", "--host", "127.0.0.1", "--port", str(chroma_port), "--path",
                                      str(folder / "chroma")], dict(os.environ),
                                     f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", "chroma run"))
        base = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                "CHIDAO_DATABASE_URL": database, "CHIDAO_CHROMA_HOST": "127.0.0.1",
                "CHIDAO_CHROMA_PORT": str(chroma_port)}
        subprocess.run([chidao, "index", str(ROOT / "data" / "sample"), "-q"], check=True, capture_output=True,
                       env={**base, "CHIDAO_HOME": str(folder / "cli")})
        urls = []
        for name in ("a", "b"):
            port = _port()
            stack.enter_context(_process([chidao, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                         {**base, "CHIDAO_HOME": str(folder / name)},
                                         f"http://127.0.0.1:{port}/healthz", f"worker {name}"))
            urls.append(f"http://127.0.0.1:{port}")
        for workers in (1, 2):
            result = run(urls[:workers], args.clients, args.requests)
            results[f"{workers} worker{'s' if workers > 1 else ''}"] = result
            print(f"--- {workers} worker(s), {os.cpu_count()} CPU cores on this machine\n{describe(result)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
