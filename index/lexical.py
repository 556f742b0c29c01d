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
import math
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.lang.vietnamese import fold, has_marks, lexical_tokens, words

log = logging.getLogger(__name__)


#: Bumped when tokens or saved statistics change, so older saved indexes are rebuilt.
LEXICAL_VERSION = "4"
#: A delta segment is merged into a full rebuild once it (or the removals) outgrow this share of the base.
MERGE_SHARE = 0.1
MERGE_FLOOR = 2000  # ... or this many chunks, whichever is larger


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


class Segment:
    """BM25 over a set of chunks, with the statistics the rest of chidao reads (document frequencies,
    the corpus' own spellings for tone-mark restoration)."""

    def __init__(self, name: str, bm25, chunk_ids: list[str], spans: list[str], vocabulary: dict[str, str],
                 pairs: dict[str, str], df: dict[str, int], postings: dict | None = None, mean_length: float = 1.0):
        self.name = name
        self.mean_length = mean_length
        self.bm25 = bm25
        self.postings = postings  # a delta's: token -> [[row, tf], ...] and "" -> chunk lengths
        self.chunk_ids = chunk_ids
        self.spans = spans
        self.vocabulary = vocabulary
        self.pairs = pairs
        self.df = df

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str, str]], delta: bool = False) -> Segment:
        """Index ``(chunk id, span key, text)`` triples: with bm25s, or for a (small) delta as plain
        postings that :meth:`scores` weighs with the base's statistics."""
        bm25s = _bm25s()

        ids: list[str] = []
        spans: list[str] = []
        corpus: list = []  # token ids per chunk (int32 arrays: an archive's tokens fit in memory)
        token_ids: dict[str, int] = {}
        lengths: list[int] = []
        spellings: Counter[str] = Counter()
        pair_spellings: Counter[str] = Counter()
        df: Counter[str] = Counter()
        for chunk_id, span, text in chunks:
            ids.append(chunk_id)
            spans.append(span)
            tokens = lexical_tokens(text) or ["<empty>"]
            lengths.append(len(tokens))
            corpus.append(np.fromiter((token_ids.setdefault(t, len(token_ids)) for t in tokens), dtype=np.int32,
                                      count=len(tokens)))
            found = words(text)
            spellings.update(found)
            df.update({fold(w) for w in found} | set(found))  # folded and accented forms
            pair_spellings.update(f"{a} {b}" for a, b in zip(found, found[1:]))
        name = f"seg-{uuid.uuid4().hex[:12]}"
        postings: dict | None = None
        bm25 = bm25s.BM25()
        if delta:
            names = list(token_ids)
            postings = {"": lengths}
            for row, array in enumerate(corpus):
                found, counts = np.unique(array, return_counts=True)
                for token, tf in zip(found.tolist(), counts.tolist()):
                    postings.setdefault(names[token], []).append([row, tf])
        elif corpus:
            bm25.index((corpus, token_ids), show_progress=False)
        mean_length = sum(lengths) / len(lengths) if lengths else 1.0
        return cls(name, bm25, ids, spans, _best_by_fold(spellings), _best_by_fold(pair_spellings), dict(df),
                   postings, mean_length)

    def save(self, folder: Path) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=folder))
        try:
            if self.chunk_ids and self.postings is None:
                self.bm25.save(str(tmp / "bm25"))
            meta = {"chunk_ids": self.chunk_ids, "spans": self.spans, "vocabulary": self.vocabulary,
                    "pairs": self.pairs, "df": self.df, "postings": self.postings, "mean_length": self.mean_length}
            (tmp / "segment.json").write_text(json.dumps(meta, ensure_ascii=False))
            tmp.rename(folder / self.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, name: str) -> Segment:
        bm25s = _bm25s()

        meta = json.loads((folder / name / "segment.json").read_text())
        postings = meta.get("postings")
        bm25 = bm25s.BM25.load(str(folder / name / "bm25")) if meta["chunk_ids"] and postings is None \
            else bm25s.BM25()
        return cls(name, bm25, meta["chunk_ids"], meta["spans"], meta["vocabulary"], meta["pairs"], meta["df"],
                   postings, meta.get("mean_length", 1.0))

    def token_df(self, token: str) -> int:
        """Chunks of this segment holding ``token``."""
        if self.postings is not None:
            return len(self.postings.get(token, ()))
        row = self.bm25.vocab_dict.get(token) if self.chunk_ids else None
        if row is None:
            return 0
        if not hasattr(self, "_df_cache"):  # chunks per token: bm25s keeps a token-major sparse matrix
            self._df_cache = np.diff(np.asarray(self.bm25.scores["indptr"]))
        return int(self._df_cache[row])

    def scores(self, query: str, dead: np.ndarray | None, base: Segment | None = None,
               k: int | None = None, scope: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score > 0), the best ``k`` (all when None), best first. A delta scores with its
        base's chunk count and document frequencies added to its own, so that a handful of new chunks
        weigh like the archive's. ``scope``: only chunks of these documents."""
        if not self.chunk_ids:
            return []
        if self.postings is not None:
            scores = self._delta_scores(lexical_tokens(query), base)
        else:
            tokens = [t for t in lexical_tokens(query) if t in self.bm25.vocab_dict]
            if not tokens:
                return []
            scores = self.bm25.get_scores(tokens)
        if dead is not None and len(dead):
            scores[dead] = 0.0
        if scope is not None:  # a chunk id is "<doc id>-<ordinal>"
            outside = np.fromiter((cid.rsplit("-", 1)[0] not in scope for cid in self.chunk_ids), bool,
                                  count=len(self.chunk_ids))
            scores[outside] = 0.0
        if k is not None and k < len(scores):  # the top k without sorting every scored chunk
            rows = np.argpartition(-scores, k)[:k]
        else:
            rows = np.arange(len(scores))
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(self.chunk_ids[i], float(scores[i])) for i in rows if scores[i] > 0]

    def _delta_scores(self, tokens: list[str], base: Segment | None, k1: float = 1.5, b: float = 0.75):
        # bm25s' defaults ("lucene" BM25, k1 1.5, b 0.75), with the statistics of base + delta
        assert self.postings is not None
        lengths = np.asarray(self.postings[""], dtype=np.float64)
        base_n = len(base.chunk_ids) if base is not None else 0
        n = base_n + len(lengths)
        mean = ((base.mean_length * base_n if base is not None else 0.0) + lengths.sum()) / max(n, 1)
        scores = np.zeros(len(lengths))
        for token in dict.fromkeys(tokens):
            hits = self.postings.get(token)
            if not hits:
                continue
            df = len(hits) + (base.token_df(token) if base is not None else 0)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            rows = np.array([h[0] for h in hits])
            tf = np.array([h[1] for h in hits], dtype=np.float64)
            scores[rows] += idf * tf / (tf + k1 * (1 - b + b * lengths[rows] / mean))  # Lucene: no (k1 + 1)
        return scores



class LexicalIndex:
    """BM25 over chunks in at most two segments, plus the tone-mark restoration vocabulary.

    Incremental: adding or removing a few documents writes a small *delta* segment beside the large
    *base* one and marks removed base chunks dead, instead of re-tokenising the whole archive; once the
    delta or the removals outgrow :data:`MERGE_SHARE` of the base, everything is rebuilt into one base.
    Each segment scores with its own BM25 statistics (document frequencies, mean length): for a delta of
    a few percent of the archive the difference is small, and a merge removes it. A manifest
    (``lexical.json``) names the live segments; it is replaced atomically, so a reader sees the old or the
    new index, never half of one.
    """

    def __init__(self, segments: list[Segment], dead: set[str], key: str):
        self.segments = segments
        self.dead = dead
        self.key = key
        self._dead_rows: list[np.ndarray | None] = []
        for segment in segments:
            rows = [i for i, c in enumerate(segment.chunk_ids) if c in dead] if dead else []
            self._dead_rows.append(np.array(rows, dtype=np.int64) if rows else None)
        self.df: dict[str, int] = dict(segments[0].df) if segments else {}
        for segment in segments[1:]:
            for word, count in segment.df.items():
                self.df[word] = self.df.get(word, 0) + count

    @property
    def size(self) -> int:
        """Live chunks indexed."""
        return sum(len(s.chunk_ids) for s in self.segments) - len(self.dead)

    @property
    def spans(self) -> set[str]:
        """``chunk_id:start:end`` of every live chunk (what :func:`fingerprint` reads)."""
        return {span for s in self.segments for c, span in zip(s.chunk_ids, s.spans) if c not in self.dead}

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str, str]], key: str) -> LexicalIndex:
        """One base segment over ``(chunk id, span key, text)`` triples; ``key`` is their :func:`fingerprint`."""
        return cls([Segment.build(chunks)], set(), key)

    def updated(self, current: set[str], texts, key: str) -> LexicalIndex | None:
        """This index brought to the chunks ``current`` (span keys) with a delta segment, or None when a
        full rebuild is due (no base yet, or the changes outgrew :data:`MERGE_SHARE`).

        Args:
            current: span keys of every chunk the store holds now.
            texts: ``texts(chunk_ids)`` -> ``(chunk id, span key, text)`` for the chunks to add.
            key: the :func:`fingerprint` of ``current``.
        """
        if not self.segments or any(len(s.spans) != len(s.chunk_ids) for s in self.segments):
            return None  # nothing yet, or an older index that does not know its spans
        base = self.segments[0]
        added = current - self.spans
        delta_live = [span for span in (self.segments[1].spans if len(self.segments) > 1 else [])
                      if span in current]
        limit = max(MERGE_FLOOR, MERGE_SHARE * len(base.chunk_ids))
        dead_base = {c for c, span in zip(base.chunk_ids, base.spans) if span not in current}
        if len(delta_live) + len(added) > limit or len(dead_base) > limit:
            return None
        wanted = [span.rsplit(":", 2)[0] for span in delta_live + sorted(added)]
        delta = Segment.build(texts(wanted), delta=True) if wanted else None
        return LexicalIndex([base] + ([delta] if delta else []), dead_base, key)

    def save(self, folder: Path) -> None:
        """Write new segments, then switch the manifest atomically; segments no longer named by the
        manifest (or the one before it, which a reader may still be loading) are removed."""
        folder.mkdir(parents=True, exist_ok=True)
        for segment in self.segments:
            if not (folder / segment.name).exists():
                segment.save(folder)
        manifest = folder / "lexical.json"
        previous = []
        if manifest.exists():
            try:
                previous = json.loads(manifest.read_text()).get("segments", [])
            except (OSError, ValueError):
                previous = []
        meta = {"version": LEXICAL_VERSION, "key": self.key, "segments": [s.name for s in self.segments],
                "previous": previous, "dead": sorted(self.dead)}
        tmp = folder / f".lexical-{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(json.dumps(meta, ensure_ascii=False))
        tmp.replace(manifest)
        keep = set(meta["segments"]) | set(previous)
        for path in folder.iterdir():
            if path.is_dir() and path.name.startswith("seg-") and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
            elif path.name == "bm25":  # an index written before segments
                shutil.rmtree(path, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, previous: LexicalIndex | None = None) -> LexicalIndex | None:
        """The saved index, or None when there is none (or only an older version's). Segments that
        ``previous`` already holds are reused, not read again."""
        meta_file = folder / "lexical.json"
        if not meta_file.exists():
            return None
        meta = json.loads(meta_file.read_text())
        if "segments" not in meta and "chunk_ids" in meta:
            return cls._legacy(folder, meta)
        if meta.get("version") != LEXICAL_VERSION or "segments" not in meta:
            return None
        known = {s.name: s for s in previous.segments} if previous is not None else {}
        segments = [known.get(name) or Segment.load(folder, name) for name in meta["segments"]]
        return cls(segments, set(meta.get("dead", [])), meta["key"])

    @classmethod
    def _legacy(cls, folder: Path, meta: dict) -> LexicalIndex:
        """An index written before segments (one BM25 and its statistics; the same tokens): searched as it
        is, so that an upgraded server keeps its lexical search until the next indexing run rebuilds it."""
        bm25s = _bm25s()
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if meta["chunk_ids"] else bm25s.BM25()
        segment = Segment("legacy", bm25, meta["chunk_ids"], [], meta.get("vocabulary") or {},
                          meta.get("pairs") or {}, meta.get("df") or {})
        return cls([segment], set(), meta["key"])

    def search(self, query: str, k: int = 20, scope: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """Best ``k`` chunks for ``query`` by BM25, as (chunk id, score) with score > 0; ``scope``: only
        chunks of these documents."""
        found: list[tuple[str, float]] = []
        for segment, dead in zip(self.segments, self._dead_rows):
            found += segment.scores(query, dead, k=k, scope=scope,
                                    base=self.segments[0] if segment is not self.segments[0] else None)
        found.sort(key=lambda item: -item[1])
        return found[:k]

    def _spelled(self, table: str, key: str) -> str | None:
        for segment in self.segments:
            value = getattr(segment, table).get(key)
            if value is not None:
                return value
        return None

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
            pair = self._spelled("pairs", f"{fold(tokens[i])} {fold(tokens[i + 1])}")
            if pair is not None:
                first, second = pair.split(" ", 1)
                if not done[i]:
                    out[i] = _keep_case(tokens[i], first)
                    done[i] = True
                out[i + 1] = _keep_case(tokens[i + 1], second)
                done[i + 1] = True
        for i, token in enumerate(tokens):
            spelled = self._spelled("vocabulary", fold(token)) if not done[i] else None
            if spelled is not None:
                out[i] = _keep_case(token, spelled)
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
