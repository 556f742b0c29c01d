"""Load on the web app: concurrent clients on loopback asking questions, p50/p95 next to the idle figures.

    python scripts/bench_load.py [--clients 20] [--requests 300] [--url URL --token T] [--json FILE]

Without --url the sample corpus is indexed into a temporary home and a real `chidao serve` is started
on 127.0.0.1 (not timed). Idle: one client, one question at a time. Loaded: --clients clients at once,
--requests questions in all. Prints the figures; exits 1 if any request failed. The test
`tests/hostile/test_web.py::test_twenty_clients_at_once` runs the same measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def questions(limit: int = 40) -> list[str]:
    """Questions of the project's own test set (answers, refusals, lists)."""
    lines = (ROOT / "data" / "eval" / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["q"] for line in lines if line.strip()][:limit]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(seconds: list[float]) -> dict:
    return {"requests": len(seconds), "p50_ms": round(1000 * percentile(seconds, 50), 1),
            "p95_ms": round(1000 * percentile(seconds, 95), 1),
            "mean_ms": round(1000 * statistics.fmean(seconds), 1) if seconds else None}


def run(url: str | list[str], clients: int, requests: int, headers: dict | None = None,
        idle_requests: int = 30) -> dict:
    """Idle figures, then ``requests`` questions from ``clients`` concurrent clients; every answer must be
    a 200 with an answer in it (anything else is counted as an error, with its reason). Several URLs (workers
    of one deployment): the clients are spread over them in turn, as a round-robin balancer would."""
    urls = [url] if isinstance(url, str) else list(url)
    url = urls[0]
    qs = questions()
    errors: list[str] = []
    lock = threading.Lock()

    def ask(client: httpx.Client, q: str) -> float:
        started = time.perf_counter()
        try:
            r = client.post("/api/ask", json={"question": q, "history": []})
            ok = r.status_code == 200 and "answer" in r.json()
            reason = f"{r.status_code} {r.text[:120]}"
        except (httpx.HTTPError, ValueError) as exc:
            ok, reason = False, repr(exc)
        took = time.perf_counter() - started
        if not ok:
            with lock:
                errors.append(reason)
        return took

    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        ask(client, qs[0])  # warm
        idle = [ask(client, qs[i % len(qs)]) for i in range(idle_requests)]

    per_client = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    def worker(index: int) -> list[float]:
        with httpx.Client(base_url=urls[index % len(urls)], headers=headers, timeout=120) as client:
            return [ask(client, qs[(index * 7 + j) % len(qs)]) for j in range(per_client[index])]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        loaded = [t for times in pool.map(worker, range(clients)) for t in times]
    wall = time.perf_counter() - started
    return {"clients": clients, "workers": len(urls), "idle": summary(idle), "loaded": summary(loaded),
            "throughput_per_s": round(len(loaded) / wall, 1), "wall_s": round(wall, 1),
            "errors": len(errors), "error_samples": errors[:5]}


def describe(result: dict) -> str:
    idle, loaded = result["idle"], result["loaded"]
    return (f"idle (1 client, {idle['requests']} questions): p50 {idle['p50_ms']} ms, p95 {idle['p95_ms']} ms\n"
            f"{result['clients']} clients at once ({loaded['requests']} questions): p50 {loaded['p50_ms']} ms, "
            f"p95 {loaded['p95_ms']} ms, {result['throughput_per_s']} answers/s, {result['errors']} errors")


def _serve(tmp: Path) -> tuple[subprocess.Popen, str]:
    chidao = str(Path(sys.executable).with_name("chidao"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "CHIDAO_HOME": str(tmp / "home")}
    subprocess.run([chidao, "index", str(ROOT / "data" / "sample"), "-q"], env=env, check=True, capture_output=True)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([chidao, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit("chidao serve exited")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300, help="questions in all under load")
    parser.add_argument("--url", help="a running chidao serve (default: start one over data/sample)")
    parser.add_argument("--token", help="its CHIDAO_API_TOKEN, if set")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = (None, args.url) if args.url else _serve(Path(tmp))
        try:
            result = run(url, args.clients, args.requests, headers)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    print(describe(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
