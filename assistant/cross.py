"""The cross reader: the question and a candidate unit read together by one encoder pass.

The linear ranker (:mod:`assistant.reader`) sees a unit through features: shared words, vectors made
apart from each other. A cross-encoder reads the question and the sentence side by side, so it can tell
"who leads" from "who takes part", or a sentence about the asked year from one about another year. It is
the embedding model itself (multilingual-e5-small, already prepared by ``chidao prepare``) with a small
LoRA adapter and a one-unit head, trained by ``scripts/train_reader.py`` on the Vietnamese QA training
sets (``../shared/corpora/qa/``); the adapter lives in ``assistant/data/cross/`` (a few MB).

It runs only on the few units the linear ranker puts first (:data:`TOP`), and its score is added to the
ranker's (weighted as chosen on the tuning data), so it re-orders the top of the list and feeds the
refusal calibrator. Training also learns a "no answer here" score (``null``): a question whose best unit
scores below it reads as unanswerable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from index.onnx_export import weights_key

log = logging.getLogger(__name__)

ADAPTER_DIR = Path(__file__).with_name("data") / "cross"
#: Units the cross reader reads per question part: the linear ranker's best ones.
TOP = 8
#: Longest question + unit pair in tokens (a longer unit is cut; the answer is rarely past it).
MAX_TOKENS = 128


def pair_texts(question: str, unit: str) -> tuple[str, str]:
    """How a question and a unit are given to the encoder (e5's own query/passage prompts)."""
    return "query: " + question, "passage: " + unit


class PairHead:
    """Mean-pooled pair encoding -> one score (a linear unit), as plain NumPy."""

    def __init__(self, weight: np.ndarray, bias: float, null: float):
        self.weight, self.bias, self.null = weight, bias, null

    def __call__(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
        return pooled @ self.weight + self.bias


def load_head(folder: Path) -> PairHead:
    data = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    return PairHead(np.asarray(data["weight"], dtype=np.float32), float(data["bias"]), float(data["null"]))


def _adapter_key(adapter: Path, base_folder: Path) -> str:
    """Identifies a merged model: the adapter's bytes and the base model's files."""
    digest = hashlib.sha256()
    for path in sorted(Path(adapter).glob("*")):
        if path.is_file() and path.suffix in (".json", ".safetensors"):
            digest.update(path.name.encode() + path.read_bytes())
    digest.update(weights_key(base_folder).encode())
    return digest.hexdigest()[:16]


def merged_folder(base_folder: Path, adapter: Path, models_dir: Path) -> Path:
    """The base encoder with the adapter merged into its weights, saved once under ``models_dir/cross``
    (a plain Hugging Face model folder, so it is exported to ONNX like the embedding model)."""
    base_folder = Path(base_folder)
    target = Path(models_dir) / "cross" / f"cross-reader-{_adapter_key(adapter, base_folder)}"
    if (target / "config.json").exists():
        return target
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        base = AutoModel.from_pretrained(str(base_folder), local_files_only=True)
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        merged.save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(base_folder), local_files_only=True).save_pretrained(str(tmp))
        try:
            tmp.rename(target)  # a killed merge leaves no half model behind
        except OSError:
            if not (target / "config.json").exists():  # not another process that merged it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stale in target.parent.glob("cross-reader-*"):  # an older adapter's model, and its ONNX exports
        if stale != target and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
            for export in (Path(models_dir) / "onnx").glob(f"{stale.name}-*"):
                shutil.rmtree(export, ignore_errors=True)
    log.info("merged the cross reader's adapter into %s", target)
    return target


class CrossReader:
    """Scores (question, unit) pairs with the base encoder merged with the trained adapter.

    Args:
        base_folder: the prepared embedding model folder (its Hugging Face encoder is the base).
        models_dir: the models cache (the merged model and its ONNX export are kept there).
        adapter: the folder ``scripts/train_reader.py`` wrote (``adapter_config.json``,
            ``adapter_model.safetensors``, ``head.json``).
        backend: ``onnx`` (onnxruntime, the default) or ``torch``; a failed export falls back to torch.
    """

    def __init__(self, base_folder: str | Path, models_dir: Path, adapter: Path = ADAPTER_DIR,
                 backend: str = "onnx"):
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        folder = merged_folder(Path(base_folder), Path(adapter), Path(models_dir))
        self.key = folder.name  # names the adapter and base model these scores come from
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.head = load_head(Path(adapter))
        self._session = self._model = None
        if backend == "onnx":
            try:
                from index.onnx_export import onnx_file, session

                self._session = session(onnx_file(folder, Path(models_dir) / "onnx"))
            except Exception as exc:  # noqa: BLE001 - any failure of the exporter or of onnxruntime
                log.warning("the cross reader's ONNX export failed (%s: %s); using PyTorch", type(exc).__name__, exc)
        if self._session is None:
            from transformers import AutoModel

            self._model = AutoModel.from_pretrained(str(folder), local_files_only=True,
                                                    attn_implementation="eager").eval()
        self.backend = "onnx" if self._session is not None else "torch"
        # one pass at a time: the tokenizer's padding state is shared, and a pass already uses every core
        self._lock = threading.Lock()

    def logits(self, question: str, texts: list[str]) -> np.ndarray:
        """One score per unit text: above :attr:`null` reads as "this unit answers the question"."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            return self._logits(question, texts)

    def _logits(self, question: str, texts: list[str]) -> np.ndarray:
        pairs = [pair_texts(question, t) for t in texts]
        tensors = "np" if self._session is not None else "pt"
        encoded = self.tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True,
                                 truncation="longest_first", max_length=MAX_TOKENS, return_tensors=tensors)
        if self._session is not None:
            mask = encoded["attention_mask"].astype("int64")
            hidden = self._session.run(None, {"input_ids": encoded["input_ids"].astype("int64"),
                                              "attention_mask": mask})[0]
            return self.head(hidden, mask.astype(bool))
        import torch

        with torch.inference_mode():
            hidden = self._model(input_ids=encoded["input_ids"],
                                 attention_mask=encoded["attention_mask"]).last_hidden_state.float().numpy()
        return self.head(hidden, encoded["attention_mask"].numpy().astype(bool))

    @property
    def null(self) -> float:
        """The learned "no answer here" score."""
        return self.head.null


def shipped(adapter: Path = ADAPTER_DIR) -> bool:
    """Whether a trained adapter is in place."""
    return (Path(adapter) / "head.json").exists() and (Path(adapter) / "adapter_config.json").exists()
