"""One place builds everything: ``build(settings)`` returns a ready :class:`Assistant`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from assistant.settings import DEFAULT_EMBEDDING_MODEL, Settings
from index.chunk import Chunker
from index.docstore import DocStore
from index.embed import SentenceEmbedder
from index.pipeline import Indexer
from index.store import VectorStore, collection_name, make_client

log = logging.getLogger(__name__)


def apply_offline_environment(settings: Settings) -> None:
    """Keep every library off the network unless the settings allow the hub explicitly."""
    if settings.hub_offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Assistant:
    """The wired parts: settings, embedding model, stores, indexer and retriever."""

    settings: Settings
    embedder: SentenceEmbedder
    docstore: DocStore
    vectors: VectorStore

    @cached_property
    def chunker(self) -> Chunker:
        """Chunker measuring with the embedding model's own tokenizer."""
        return Chunker(
            self.embedder.count_tokens,
            max_tokens=self.settings.chunk_max_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
        )

    @cached_property
    def indexer(self) -> Indexer:
        """Incremental indexer over this assistant's stores."""
        from index.load import Limits

        return Indexer(self.docstore, self.vectors, self.embedder, self.chunker,
                       # many chunks per write: the model sorts them by length, so batches pad less
                       batch_chunks=max(self.settings.embedding_batch_size * 16, 64),
                       lexical_dir=self.settings.lexical_path,
                       limits=Limits.from_mb(self.settings.max_file_mb, self.settings.max_document_mb,
                                             self.settings.max_inflated_mb),
                       lock_path=self.settings.home / "index.lock")  # one writer per home

    @cached_property
    def retriever(self):
        """The retriever answering questions (``CHIDAO_RETRIEVAL``: hybrid or dense)."""
        from assistant.retrieve import DenseRetriever, HybridRetriever

        if self.settings.retrieval == "dense":
            return DenseRetriever(self.vectors, self.embedder, self.docstore)
        return HybridRetriever(self.vectors, self.embedder, self.docstore, self.settings.lexical_path)

    @cached_property
    def answerer(self):
        """The configured answering backend (``CHIDAO_ANSWER_BACKEND``)."""
        from assistant.extractive import ExtractiveAnswerer

        extractive = ExtractiveAnswerer(self.retriever, self.docstore, cross=make_cross_reader(self.settings))
        if self.settings.answer_backend == "extractive":
            return extractive
        if self.settings.answer_backend == "llm":
            from assistant.answer_llm import LLMAnswerer, make_chat_model

            chat, server = make_chat_model(self.settings)
            return LLMAnswerer(chat, extractive, self.settings.prompts_dir, server=server)
        raise ValueError(f"unknown answer backend {self.settings.answer_backend!r}; use 'extractive' or 'llm'")

    def ask(self, question: str, history: list[dict] | None = None, scope: frozenset[str] | None = None):
        """Answer a question in the context of ``history`` (``[{"role", "content"}, ...]``), from the
        ``scope`` documents only when given.

        Example:
            >>> answer = assistant.ask("Ai chủ trì Cơ sở dữ liệu ngành Y tế, hạn khi nào?")  # doctest: +SKIP
            >>> answer.text, [c.quote for c in answer.citations]  # doctest: +SKIP
        """
        return self.answerer.answer(question, history or [], scope)

    def close(self) -> None:
        """Release the document store (and a local LLM server, if one was started)."""
        closer = getattr(self.__dict__.get("answerer"), "close", None)
        if closer:
            closer()
        self.docstore.close()


def make_embedder(settings: Settings) -> SentenceEmbedder:
    """The embedding model the settings name, on their backend and quantisation."""
    return SentenceEmbedder(
        settings.embedding_model, settings.models_dir, device=settings.embedding_device,
        batch_size=settings.embedding_batch_size, quantize=settings.embedding_quantize,
        backend=settings.embedding_backend,
    )


def make_cross_reader(settings: Settings):
    """The cross reader over the settings' embedding model, or None when it is switched off
    (``CHIDAO_CROSS_READER=false``), not shipped, or not trained for this embedding model. Loaded once per
    process (the merged model and its ONNX export are kept under the models folder)."""
    from assistant.cross import shipped
    from assistant.reader import default_reader
    from index.embed import resolve_model_path

    if not settings.cross_reader or default_reader().cross is None or not shipped():
        return None
    if settings.embedding_model != DEFAULT_EMBEDDING_MODEL:
        log.warning("the cross reader was trained on %s; not used with %s", DEFAULT_EMBEDDING_MODEL,
                    settings.embedding_model)
        return None
    return _cross_reader(resolve_model_path(settings.embedding_model, settings.models_dir), str(settings.models_dir),
                         "torch" if settings.embedding_backend == "torch" else "onnx")


@lru_cache(maxsize=2)
def _cross_reader(base_folder: str, models_dir: str, backend: str):
    from assistant.cross import CrossReader

    return CrossReader(base_folder, Path(models_dir), backend=backend)


def build(settings: Settings | None = None, embedder: SentenceEmbedder | None = None) -> Assistant:
    """Build the assistant from settings: one embedding model, one Chroma client, one store.

    Example:
        >>> from assistant import Settings
        >>> from assistant.build import build
        >>> assistant = build(Settings(home="/tmp/chidao"))  # doctest: +SKIP
        >>> assistant.indexer.run(["data/sample"]).summary()  # doctest: +SKIP

    Args:
        settings: configuration; read from the environment when omitted.
        embedder: an already loaded model of ``settings.embedding_model`` to share (tests, reloads).
    """
    settings = settings or Settings()
    apply_offline_environment(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    embedder = embedder or make_embedder(settings)
    client = make_client(
        path=settings.chroma_path, host=settings.chroma_host, port=settings.chroma_port,
        ssl=settings.chroma_ssl,
    )
    vectors = VectorStore(client, collection_name(settings.collection, embedder.slug),
                          model=embedder.name, dimension=embedder.dimension)
    return Assistant(settings, embedder, DocStore(settings.store_target), vectors)
