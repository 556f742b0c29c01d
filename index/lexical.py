"""The lexical half of hybrid search: a BM25 index (bm25s) over Vietnamese-aware tokens.

Built at index time from the document store and persisted next to the Chroma data; a query only
loads it. Alongside it lives a small vocabulary that maps tone-less words and word pairs back to
their most frequent spelling in the corpus, so "co so du lieu y te" can be searched densely as
"cơ sở dữ liệu y tế".
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from index.lang.vietnamese import fold, has_marks, lexical_tokens, words

log = logging.getLogger(__name__)


#: Bumped when tokens or saved statistics change, so older saved indexes are rebuilt.
LEXICAL_VERSION = "3"


def _bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG when imported; let the application's logging config decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def fingerprint(chunk_spans: Iterable[str]) -> str:
    """Identifies a set of chunks by id *and* span (a re-chunked document may keep its chunk ids):
    a lexical index built for another set, or by another version of this module, is stale."""
    digest = hashlib.sha256(LEXICAL_VERSION.encode())
    for span in sorted(chunk_spans):
        digest.update(span.encode())
    return digest.hexdigest()[:16]


class LexicalIndex:
    """BM25 over chunks, plus the tone-mark restoration vocabulary."""

    def __init__(self, bm25, chunk_ids: list[str], vocabulary: dict[str, str], pairs: dict[str, str], key: str,
                 df: dict[str, int] | None = None):
        self.df = df or {}
        self.bm25 = bm25
        self.chunk_ids = chunk_ids
        self.vocabulary = vocabulary
        self.pairs = pairs
        self.key = key

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str]], key: str) -> LexicalIndex:
        """Index ``(chunk_id, text)`` pairs; ``key`` is the :func:`fingerprint` of what is indexed."""
        bm25s = _bm25s()

        ids: list[str] = []
        corpus: list[list[str]] = []
        spellings: Counter[str] = Counter()
        pair_spellings: Counter[str] = Counter()
        df: Counter[str] = Counter()
        for chunk_id, text in chunks:
            ids.append(chunk_id)
            corpus.append(lexical_tokens(text) or ["<empty>"])
            found = words(text)
            spellings.update(found)
            df.update({fold(w) for w in found} | set(found))  # folded and accented forms
            pair_spellings.update(f"{a} {b}" for a, b in zip(found, found[1:]))
        bm25 = bm25s.BM25()
        if corpus:
            bm25.index(corpus, show_progress=False)
        return cls(bm25, ids, _best_by_fold(spellings), _best_by_fold(pair_spellings), key, dict(df))

    def save(self, folder: Path) -> None:
        """Write atomically (a reader never sees half an index)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            if self.chunk_ids:
                self.bm25.save(str(tmp / "bm25"))
            meta = {"chunk_ids": self.chunk_ids, "key": self.key, "vocabulary": self.vocabulary,
                    "pairs": self.pairs, "df": self.df}
            (tmp / "lexical.json").write_text(json.dumps(meta, ensure_ascii=False))
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none yet."""
        bm25s = _bm25s()

        meta_file = folder / "lexical.json"
        if not meta_file.exists():
            return None
        meta = json.loads(meta_file.read_text())
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if meta["chunk_ids"] else bm25s.BM25()
        return cls(bm25, meta["chunk_ids"], meta["vocabulary"], meta["pairs"], meta["key"], meta.get("df"))

    def search(self, query: str, k: int = 20) -> list[tuple[str, float]]:
        """Best ``k`` chunks for ``query`` by BM25, as (chunk id, score) with score > 0."""
        if not self.chunk_ids:
            return []
        tokens = [t for t in lexical_tokens(query) if t in self.bm25.vocab_dict]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        order = scores.argsort()[::-1][:k]
        return [(self.chunk_ids[i], float(scores[i])) for i in order if scores[i] > 0]

    def restore_marks(self, query: str) -> str:
        """Put tone marks back on a query typed without them, using the corpus' own spellings.

        Word pairs are tried first (they disambiguate "y te" -> "y tế"), then single words; words
        the corpus does not know stay as typed. A query that already has marks is returned as is.

        Example:
            >>> index.restore_marks("ai chu tri co so du lieu y te")  # doctest: +SKIP
            'ai chủ trì cơ sở dữ liệu y tế'
        """
        if has_marks(query):
            return query
        tokens = query.split()
        out = list(tokens)
        done = [False] * len(tokens)
        for i in range(len(tokens) - 1):
            key = f"{fold(tokens[i])} {fold(tokens[i + 1])}"
            if key in self.pairs:
                first, second = self.pairs[key].split(" ", 1)
                if not done[i]:
                    out[i] = _keep_case(tokens[i], first)
                    done[i] = True
                out[i + 1] = _keep_case(tokens[i + 1], second)
                done[i + 1] = True
        for i, token in enumerate(tokens):
            if not done[i] and fold(token) in self.vocabulary:
                out[i] = _keep_case(token, self.vocabulary[fold(token)])
        return " ".join(out)


def _keep_case(typed: str, spelled: str) -> str:
    if typed.isupper() and len(typed) > 1:
        return spelled.upper()
    if typed[:1].isupper():
        return spelled[:1].upper() + spelled[1:]
    return spelled


def _best_by_fold(counts: Counter[str]) -> dict[str, str]:
    best: dict[str, tuple[int, str]] = {}
    for spelling, count in counts.items():
        key = fold(spelling)
        if key not in best or count > best[key][0]:
            best[key] = (count, spelling)
    return {key: spelling for key, (_, spelling) in best.items()}
