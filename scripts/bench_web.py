"""Web app figures: time from `chidao serve` to ready, and from Enter to the answer in a real browser.

    python scripts/bench_web.py [--questions 30] [--home DIR]

Without --home the sample corpus is indexed into a temporary home first (not timed). Prints figures;
asserts nothing (targets: ready within 20 s, first answer within 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--home", help="an indexed CHIDAO_HOME (default: sample corpus in a temporary home)")
    args = parser.parse_args()
    chidao = str(Path(sys.executable).with_name("chidao"))
    tmp = tempfile.TemporaryDirectory()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "CHIDAO_HOME": args.home or str(Path(tmp.name) / "home")}
    if not args.home:
        subprocess.run([chidao, "index", str(ROOT / "data" / "sample"), "-q"], env=env, check=True,
                       capture_output=True)
    questions = [json.loads(line)["q"] for line in (ROOT / "data" / "eval" / "sample.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()][: args.questions]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([chidao, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise SystemExit("chidao serve exited")
            time.sleep(0.05)
        ready = time.perf_counter() - started
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page()
            t = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_selector("#chidao-question textarea")
            page_load = time.perf_counter() - t
            usable = time.perf_counter() - started
            times = []
            for i, q in enumerate(questions):
                page.fill("#chidao-question textarea", q)
                t = time.perf_counter()
                page.press("#chidao-question textarea", "Enter")
                page.locator("#chidao-chat .chidao-answer:not(.chidao-pending)").nth(i).wait_for(timeout=60000)
                times.append(time.perf_counter() - t)
            browser.close()
        rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        tmp.cleanup()

    times_ms = sorted(t * 1000 for t in times)
    p95 = times_ms[min(len(times_ms) - 1, round(0.95 * (len(times_ms) - 1)))]
    print(f"ready (/healthz answers):         {ready:.1f} s after `chidao serve` started")
    print(f"chat usable in Chromium:          {usable:.1f} s after start (page load {page_load * 1000:.0f} ms)")
    print(f"Enter -> answer shown, first:     {times_ms and times[0] * 1000:.0f} ms")
    print(f"Enter -> answer shown, {len(times_ms)} questions: p50 {statistics.median(times_ms):.0f} ms, "
          f"p95 {p95:.0f} ms, max {times_ms[-1]:.0f} ms")
    print(f"server RSS after the questions:   {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
