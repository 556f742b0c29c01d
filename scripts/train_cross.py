"""Train the cross reader (:mod:`assistant.cross`): a LoRA adapter and a one-unit head on the embedding model.

Used by ``scripts/train_reader.py`` (its step 5); not a command of its own. Data: the feature files of the
training sets (their unit texts and labels). Each training question gives a group: the answering unit
the linear ranker puts first among its top :data:`assistant.cross.TOP`, and up to ``negatives`` units
from that top that do not hold the answer (the hard cases). An unanswerable question gives a group of
negatives only. The loss is a softmax over the group plus a learned "no answer" score (``null``): the
answering unit must beat the others and the null; for an unanswerable question the null must win.
Seeded (torch, data order), one pass, CPU.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
from reader_features import spans

from assistant.cross import MAX_TOKENS, TOP, pair_texts
from assistant.reader import read_order


def groups_from(data: dict, texts: list[str], logits: np.ndarray, ok: np.ndarray, negatives: int = 3,
                top: int = TOP) -> list[tuple[str, list[str], int]]:
    """(question, unit texts, index of the answering one or -1) for every usable question of a set."""
    out = []
    for qi, a, b in spans(data):
        order = [a + i for i in read_order(logits[a:b], ok[a:b], top)]
        if not order:
            continue
        question = str(data["questions"][qi])
        y = data["y"]
        if data["answerable"][qi]:
            answering = [i for i in order if y[i] == 1]
            if not answering:
                continue
            wrong = [i for i in order if y[i] == 0 and data["correct"][i] == 0][:negatives]
            if not wrong:
                continue
            units = [answering[0], *wrong]
            out.append((question, [texts[i] for i in units], 0))
        else:
            out.append((question, [texts[i] for i in order[: negatives + 1]], -1))
    return out


def train(groups: list[tuple[str, list[str], int]], base_folder: Path, out: Path, *, rank: int = 16,
          first_layer: int = 4, batch: int = 4, rate: float = 3e-4, seed: int = 0, log=print) -> dict:
    """Fit the adapter and head on ``groups`` (one pass) and write them to ``out``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder), local_files_only=True)
    base = AutoModel.from_pretrained(str(base_folder), local_files_only=True, attn_implementation="eager")
    layers = base.config.num_hidden_layers
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05,
                        target_modules=["query", "key", "value", "dense"],
                        layers_to_transform=list(range(first_layer, layers)), layers_pattern="layer")
    model = get_peft_model(base, config)
    head = torch.nn.Linear(base.config.hidden_size, 1)
    null = torch.nn.Parameter(torch.zeros(1))
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([{"params": params, "lr": rate},
                                   {"params": [*head.parameters(), null], "lr": rate * 5}], weight_decay=0.01)
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    steps = (len(order) + batch - 1) // batch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / max(1, steps // 20)) * max(0.05, 1 - s / steps))
    model.train()
    started, running = time.perf_counter(), []
    for step in range(steps):
        chosen = [groups[i] for i in order[step * batch : (step + 1) * batch]]
        firsts, seconds, sizes = [], [], []
        for question, texts, _ in chosen:
            for t in texts:
                a, b = pair_texts(question, t)
                firsts.append(a)
                seconds.append(b)
            sizes.append(len(texts))
        encoded = tokenizer(firsts, seconds, padding=True, truncation="longest_first", max_length=MAX_TOKENS,
                            return_tensors="pt")
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        scores = head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).squeeze(-1)
        loss, at = 0.0, 0
        for (_, _units, target), size in zip(chosen, sizes):
            row = torch.cat([scores[at : at + size], null])
            loss = loss + torch.nn.functional.cross_entropy(row[None, :], torch.tensor([target % (size + 1)]))
            at += size
        loss = loss / len(chosen)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        running.append(loss.item())
        if (step + 1) % 100 == 0 or step + 1 == steps:
            elapsed = time.perf_counter() - started
            log(f"  cross reader: step {step + 1}/{steps}, loss {np.mean(running[-100:]):.3f}, "
                f"{elapsed / (step + 1):.2f} s/step")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    meta = {"groups": len(groups), "rank": rank, "layers": f"{first_layer}-{layers - 1}", "batch": batch,
            "rate": rate, "seed": seed, "seconds": round(time.perf_counter() - started)}
    (out / "head.json").write_text(json.dumps(
        {"weight": head.weight.detach()[0].tolist(), "bias": float(head.bias.detach()[0]),
         "null": float(null.detach()[0]), "meta": meta}, indent=None) + "\n", encoding="utf-8")
    readme = out / "README.md"
    readme.write_text(
        "# The cross reader's adapter\n\nWritten by `scripts/train_reader.py` (do not edit): a LoRA adapter "
        "(peft) for the encoder of multilingual-e5-small and the pair head (`head.json`). See "
        "`assistant/cross.py`.\n\n" + json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def score_set(cross, data: dict, texts: list[str], logits: np.ndarray, ok: np.ndarray, top: int = TOP,
              log=print) -> np.ndarray:
    """The cross reader's score for the ranker's ``top`` allowed units of every question (NaN elsewhere)."""
    out = np.full(len(texts), np.nan, dtype=np.float32)
    questions = spans(data)
    started = time.perf_counter()
    for n, (qi, a, b) in enumerate(questions):
        order = [a + i for i in read_order(logits[a:b], ok[a:b], top)]
        if order:
            out[order] = cross.logits(str(data["questions"][qi]), [texts[i] for i in order])
        if (n + 1) % 500 == 0:
            each = (time.perf_counter() - started) / (n + 1) * 1000
            log(f"  scored {n + 1}/{len(questions)} questions ({each:.0f} ms each)")
    return out
