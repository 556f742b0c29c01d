"""The embedding paths side by side on the same news chunks: chunks per second and closeness to float32.

    python scripts/bench_embed.py                 # 160 chunks of at most 1,000 characters, batches of 8
    python scripts/bench_embed.py --chunks 320 --batch 16

Each path embeds the same passages (``SentenceEmbedder.embed_documents``, after a warm-up batch): PyTorch
float32, onnxruntime float32, ``auto`` (passages in bfloat16 where the CPU has it natively) and onnxruntime
int8. Prints chunks/s and the mean and lowest cosine of each path's vectors to PyTorch float32's, and the
query latency of one short question on each. Nothing is asserted: it prints figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BAOMOI = ROOT.parent / "shared" / "corpora" / "baomoi-2017.jsonl.gz"


def passages(n: int, size: int = 1000) -> list[str]:
    out: list[str] = []
    with gzip.open(BAOMOI, "rt", encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line).get("text") or ""
            out += [text[i : i + size] for i in range(0, min(len(text), 3 * size), size)]
            if len(out) >= n:
                return out[:n]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    if not BAOMOI.exists():
        sys.exit(f"{BAOMOI} is not there")
    import numpy as np

    from assistant.settings import Settings
    from index.embed import SentenceEmbedder, native_bf16

    settings = Settings()
    texts = passages(args.chunks)
    questions = [t[:80] for t in texts[:40]]
    print(f"{len(texts)} chunks; native bfloat16: {native_bf16()}; cores: {os.cpu_count()}")
    reference = None
    for label, backend, quantize in (("PyTorch fp32", "torch", "none"), ("onnxruntime fp32", "onnx", "none"),
                                     ("auto", "auto", "none"), ("onnxruntime int8", "onnx", "int8")):
        embedder = SentenceEmbedder(settings.embedding_model, settings.models_dir, backend=backend,
                                    quantize=quantize, batch_size=args.batch)
        embedder.embed_documents(texts[: args.batch])  # warm-up
        started = time.perf_counter()
        vectors = np.asarray(embedder.embed_documents(texts))
        rate = len(texts) / (time.perf_counter() - started)
        reference = vectors if reference is None else reference
        cosine = (vectors * reference).sum(axis=1)
        times = []
        for question in questions:
            t0 = time.perf_counter()
            embedder._encode([question], embedder._query_prompt)  # one query, not remembered
            times.append((time.perf_counter() - t0) * 1000)
        print(f"{label:18s} ({embedder.backend}): {rate:5.1f} chunks/s; cosine to PyTorch fp32 mean "
              f"{cosine.mean():.5f}, lowest {cosine.min():.5f}; one query p50 {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
