"""Prompt templates as files, rendered strictly: a missing or unexpected variable is an error."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

_DECLARED = re.compile(r"^#\s*variables\s*:\s*(.*)$", re.I)


class PromptError(ValueError):
    """A template or its variables do not fit together."""


@dataclass(frozen=True)
class PromptTemplate:
    """A template file: leading ``#`` lines are its header (``# variables: a, b`` declares the variables)."""

    name: str
    body: str
    variables: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> PromptTemplate:
        """Read and check a template: the placeholders must be exactly the declared variables."""
        lines = path.read_text(encoding="utf-8").splitlines()
        declared: set[str] = set()
        i = 0
        while i < len(lines) and lines[i].startswith("#"):
            match = _DECLARED.match(lines[i])
            if match:
                declared |= {v.strip() for v in match.group(1).split(",") if v.strip()}
            i += 1
        body = "\n".join(lines[i:]).strip() + "\n"
        used = {field for _, field, _, _ in string.Formatter().parse(body) if field}
        if used != declared:
            raise PromptError(f"{path.name}: placeholders {sorted(used)} differ from declared {sorted(declared)}")
        return cls(path.stem, body, frozenset(declared))

    def render(self, **values: str) -> str:
        """Fill the template; every declared variable is required and nothing else is accepted."""
        missing = self.variables - values.keys()
        extra = values.keys() - self.variables
        if missing or extra:
            raise PromptError(f"prompt {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return self.body.format(**values)


def load_prompt(folder: Path, name: str) -> PromptTemplate:
    """``prompts/<name>.txt``."""
    path = folder / f"{name}.txt"
    if not path.exists():
        raise PromptError(f"no prompt template {path}")
    return PromptTemplate.load(path)
