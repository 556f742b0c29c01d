"""chidao's assistant: retrieval over the indexed directives, the extractive reader, the LLM backends.

Importing the package imports nothing else: ``Assistant`` and ``Settings`` load on first use, so a
``chidao`` command pays only for what it touches. The builder is ``assistant.build.build``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from assistant.build import Assistant
    from assistant.settings import Settings

__all__ = ["Assistant", "Settings"]
_WHERE = {"Assistant": "assistant.build", "Settings": "assistant.settings"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
