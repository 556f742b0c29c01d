"""Settings come from CHIDAO_* variables, .env and a TOML file, in that order of priority."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistant.settings import DEFAULT_EMBEDDING_MODEL, Settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("CHIDAO_HOME", "CHIDAO_MODELS_DIR", "CHIDAO_EMBEDDING_MODEL", "CHIDAO_CHROMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = Settings()
    assert s.home == tmp_path / "data" / "chidao"
    assert s.embedding_model == DEFAULT_EMBEDDING_MODEL
    assert s.chroma_host is None and s.hub_offline is True
    assert s.docstore_path.parent == s.home


def test_environment_toml_and_priority(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chidao.toml").write_text('chroma_host = "10.0.0.5"\nchroma_port = 9000\nhome = "/srv/a"\n')
    monkeypatch.delenv("CHIDAO_HOME", raising=False)
    s = Settings()
    assert (s.chroma_host, s.chroma_port, str(s.home)) == ("10.0.0.5", 9000, "/srv/a")
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("CHIDAO_CHROMA_PORT", "8123")
    s = Settings()
    assert s.home == tmp_path / "env-home" and s.chroma_port == 8123 and s.chroma_host == "10.0.0.5"


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("CHIDAO_CHUNK_MAX_TOKENS", "5000")
    with pytest.raises(ValidationError):
        Settings()
