"""chidao's assistant: retrieval over the indexed directives (answering lands on top of it)."""

from assistant.build import Assistant, build
from assistant.settings import Settings

__all__ = ["Assistant", "Settings", "build"]
