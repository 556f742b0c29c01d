"""Read-only string-keyed tables in a few arrays instead of a dict, for the lexical index's large
vocabularies: half a million word pairs of 20,000 news chunks hold about 140 MiB as a Python dict of
strings and about 30 MiB here.

Keys are packed into one string with their offsets and looked up by their hashes (computed in this process
when the table is built or loaded, sorted), each hit checked against the key itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def packed(texts: list[str]) -> tuple[str, np.ndarray]:
    """``texts`` as one string and the offsets of each (n + 1)."""
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    return "".join(texts), offsets


def _lines(text: str) -> list[str]:
    return text.split("\n") if text else []


class PackedKeys:
    """The keys of a table, packed, with :meth:`_find` giving a key's row; subclasses hold the values."""

    def __init__(self, keys: list[str]):
        hashes = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
        self._order = np.argsort(hashes, kind="stable")  # rows of the given keys, in table order
        self._hashes = hashes[self._order]
        self._keys, self._key_at = packed([keys[i] for i in self._order])

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, key: str) -> bool:
        return self._find(key) >= 0

    def _find(self, key: str) -> int:
        wanted = hash(key)
        at = int(np.searchsorted(self._hashes, wanted))
        while at < len(self._hashes) and self._hashes[at] == wanted:
            if self._key(at) == key:
                return at
            at += 1
        return -1

    def _key(self, at: int) -> str:
        return self._keys[self._key_at[at] : self._key_at[at + 1]]

    def _value(self, at: int):
        raise NotImplementedError

    def get(self, key: str):
        at = self._find(key)
        return None if at < 0 else self._value(at)

    def items(self) -> Iterator[tuple[str, object]]:
        for at in range(len(self)):
            yield self._key(at), self._value(at)


class Spellings(PackedKeys):
    """Folded word or word pair -> the corpus' most frequent spelling, with how often it is written (so
    that several segments' spellings can be weighed against each other; unknown counts are 0)."""

    def __init__(self, mapping: dict[str, str] | tuple[list[str], list[str]], counts: list[int] | None = None):
        keys, values = (list(mapping), list(mapping.values())) if isinstance(mapping, dict) else mapping
        super().__init__(keys)
        self._values, self._value_at = packed([values[i] for i in self._order])
        self._counts = np.asarray(counts, dtype=np.int32)[self._order] if counts is not None and len(keys) \
            else np.zeros(len(keys), dtype=np.int32)

    def _value(self, at: int) -> str:
        return self._values[self._value_at[at] : self._value_at[at + 1]]

    def counted(self, key: str) -> tuple[str, int] | None:
        """The spelling of ``key`` and how often this segment writes it, or None."""
        at = self._find(key)
        return None if at < 0 else (self._value(at), int(self._counts[at]))

    def to_json(self) -> dict:
        """Keys and values, each joined by newlines (no key or value holds one: they are words), and counts."""
        keys, values = zip(*self.items()) if len(self) else ((), ())
        return {"packed": 1, "keys": "\n".join(keys), "values": "\n".join(values), "counts": self._counts.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> Spellings:
        """What :meth:`to_json` wrote, or a plain mapping (segments written before this table)."""
        if data.get("packed") == 1:  # a plain mapping's values are words, never a number
            return cls((_lines(data["keys"]), _lines(data["values"])), data.get("counts"))
        return cls(data)


class TokenIds(PackedKeys):
    """Token -> its BM25 row: bm25s keeps its vocabulary as a dict and a set, about 145 MiB for the half
    million words and word pairs of 20,000 news chunks; this holds about 20."""

    def __init__(self, mapping: dict[str, int] | tuple[list[str], list[int]]):
        keys, values = (list(mapping), list(mapping.values())) if isinstance(mapping, dict) else mapping
        super().__init__(keys)
        self._ids = np.asarray(values, dtype=np.int64)[self._order] if len(keys) else np.zeros(0, dtype=np.int64)

    def _value(self, at: int) -> int:
        return int(self._ids[at])

    def to_json(self) -> dict:
        return {"packed": 1, "keys": "\n".join(self._key(at) for at in range(len(self))), "ids": self._ids.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> TokenIds:
        return cls((_lines(data["keys"]), data["ids"]))
