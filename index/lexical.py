"""The lexical half of hybrid search: a BM25 index (bm25s) over Vietnamese-aware tokens.

Built at index time from the document store and persisted next to the Chroma data; a query only
loads it. Alongside it lives a small vocabulary that maps tone-less words and word pairs back to
their most frequent spelling in the corpus, so "co so du lieu y te" can be searched densely as
"cơ sở dữ liệu y tế".
"""

from __future__ import annotations

import functools
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
from index.packed import Spellings, TokenIds

log = logging.getLogger(__name__)


#: Bumped when tokens or saved statistics change, so older saved indexes are rebuilt.
LEXICAL_VERSION = "4"
#: A delta segment is sealed into a base segment of its own once it outgrows this share of the archive, and
#: a base segment is rebuilt from its live chunks once this share of it was removed ...
MERGE_SHARE = 0.1
MERGE_FLOOR = 2000  # ... or this many chunks, whichever is larger
#: A base segment holds at most this many chunks. Building one holds every token, spelling and word pair
#: of its chunks at once (about 600 MiB for 20,000 news chunks), so segments of bounded size bound the
#: memory of every build, whatever the archive's size; and no change ever rebuilds more than one segment
#: (or two small ones merged).
SEGMENT_CHUNKS = 20000
#: Document frequencies remembered per word asked (about 100 bytes each).
DF_CACHE = 50000


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

    def __init__(self, name: str, bm25, chunk_ids: list[str], spans: list[str], vocabulary: Spellings,
                 pairs: Spellings, df: dict[str, int], postings: dict | None = None, mean_length: float = 1.0):
        self.name = name
        self.mean_length = mean_length
        self.bm25 = bm25
        self.postings = postings  # a delta's: token -> [[row, tf], ...] and "" -> chunk lengths
        self.chunk_ids = chunk_ids
        self.spans = spans
        self.vocabulary = vocabulary
        self.pairs = pairs
        self.df = df
        self.ids: TokenIds | None = None  # a base's tokens -> bm25s rows (bm25s' own dict and set are dropped)
        if postings is None and chunk_ids and getattr(bm25, "vocab_dict", None):
            self._own_vocabulary(TokenIds(bm25.vocab_dict))

    def _own_vocabulary(self, ids: TokenIds) -> None:
        self.ids = ids
        self.bm25.vocab_dict, self.bm25.unique_token_ids_set = {}, set()

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
                self.bm25.save(str(tmp / "bm25"))  # its scores; the vocabulary is ours (``ids``)
            meta = {"ids": self.ids.to_json() if self.ids is not None else None,
                    "chunk_ids": self.chunk_ids, "spans": self.spans, "vocabulary": self.vocabulary.to_json(),
                    "pairs": self.pairs.to_json(), "df": self.df, "postings": self.postings,
                    "mean_length": self.mean_length}
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
        segment = cls(name, bm25, meta["chunk_ids"], meta["spans"], Spellings.from_json(meta["vocabulary"]),
                      Spellings.from_json(meta.pop("pairs")), meta["df"], postings, meta.get("mean_length", 1.0))
        if meta.get("ids"):
            segment._own_vocabulary(TokenIds.from_json(meta["ids"]))
        return segment

    def token_df(self, token: str) -> int:
        """Chunks of this segment holding ``token``."""
        if self.postings is not None:
            return len(self.postings.get(token, ()))
        row = self.ids.get(token) if self.ids is not None else None
        if row is None:
            return 0
        if not hasattr(self, "_df_cache"):  # chunks per token: bm25s keeps a token-major sparse matrix
            self._df_cache = np.diff(np.asarray(self.bm25.scores["indptr"]))
        return int(self._df_cache[row])

    def scores(self, query: str, dead: np.ndarray | None, archive: Statistics | None = None,
               k: int | None = None, scope: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score > 0), the best ``k`` (all when None), best first. Every segment weighs a
        query word by the whole archive's document frequency (``archive``), not its own, so that scores of
        different segments compare, and a handful of new chunks weigh like the archive's. ``scope``: only
        chunks of these documents."""
        if not self.chunk_ids:
            return []
        if self.postings is not None:
            scores = self._delta_scores(lexical_tokens(query), archive)
        else:
            tokens = [t for t in lexical_tokens(query) if self.ids is not None and t in self.ids]
            if not tokens:
                return []
            scores = self._base_scores(tokens, archive)
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

    def _base_scores(self, tokens: list[str], archive: Statistics | None) -> np.ndarray:
        """bm25s' precomputed scores (token-major: each token's chunks and weights), each token's
        reweighted from this segment's inverse document frequency to the archive's (a factor of 1 when
        this segment is the archive)."""
        matrix = self.bm25.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        n = len(self.chunk_ids)
        scores = np.zeros(n, dtype=np.float64)
        for token in tokens:  # repeated words count again, as bm25s counts them
            row = self.ids.get(token)
            weight = 1.0
            if archive is not None and archive.n != n:
                weight = _idf(archive.n, archive.df(token)) / _idf(n, self.token_df(token))
            span = slice(int(indptr[row]), int(indptr[row + 1]))
            scores += np.bincount(indices[span], weights=data[span] * weight, minlength=n)
        return scores

    def _delta_scores(self, tokens: list[str], archive: Statistics | None, k1: float = 1.5, b: float = 0.75):
        # bm25s' defaults ("lucene" BM25, k1 1.5, b 0.75), with the archive's statistics (bases + delta)
        assert self.postings is not None
        lengths = np.asarray(self.postings[""], dtype=np.float64)
        n = archive.n if archive is not None else len(lengths)
        mean = archive.mean_length if archive is not None else (lengths.mean() if len(lengths) else 1.0)
        scores = np.zeros(len(lengths))
        for token, repeats in Counter(tokens).items():  # a repeated word counts again, as bm25s counts it
            hits = self.postings.get(token)
            if not hits:
                continue
            df = archive.df(token) if archive is not None else len(hits)
            idf = _idf(n, df)
            rows = np.array([h[0] for h in hits])
            tf = np.array([h[1] for h in hits], dtype=np.float64)
            scores[rows] += repeats * idf * tf / (tf + k1 * (1 - b + b * lengths[rows] / mean))  # Lucene: no (k1+1)
        return scores


def _idf(n: int, df: int) -> float:
    """bm25s' default ("lucene") inverse document frequency."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class Statistics:
    """What BM25 needs to know of the whole archive: its chunk count, mean length, and each word's document
    frequency summed over the segments (the last :data:`DF_CACHE` words asked are remembered: a query asks
    a few, and a server that runs for months must not remember every word it was ever sent)."""

    def __init__(self, segments: list[Segment]):
        self.segments = segments
        self.n = sum(len(s.chunk_ids) for s in segments)
        self.mean_length = (sum(s.mean_length * len(s.chunk_ids) for s in segments) / self.n) if self.n else 1.0
        self.df = functools.lru_cache(maxsize=DF_CACHE)(self._df)

    def _df(self, token: str) -> int:
        return sum(s.token_df(token) for s in self.segments)


class LexicalIndex:
    """BM25 over chunks in segments, plus the tone-mark restoration vocabulary.

    *Base* segments (bm25s) hold at most :data:`SEGMENT_CHUNKS` chunks each; after them comes at most one
    small *delta* segment (plain postings). Adding or removing a few documents rewrites only the delta and
    marks removed base chunks dead. When the delta outgrows :data:`MERGE_SHARE` of the archive it is sealed
    into a base segment of its own; a base segment that lost that share of its chunks is rebuilt from the
    rest; small base segments are merged pairwise while the pair fits in one. So no update ever rebuilds
    more than :data:`SEGMENT_CHUNKS` chunks, and a build from nothing holds one segment's tokens at a time.
    Every segment scores a word with the whole archive's document frequency (:class:`Statistics`), so
    their scores merge as one index's would; only the length normalisation stays each segment's own.
    A manifest (``lexical.json``) names the live segments; it is replaced atomically, so a reader sees the
    old or the new index, never half of one.
    """

    def __init__(self, segments: list[Segment], dead: set[str], key: str):
        """``dead``: span keys (``chunk_id:start:end``) of base chunks no longer in the store. By span, not
        by chunk id: a re-chunked document may keep a chunk's id with another span, and its new row (in
        the delta or a newer segment) must stay alive while the old one is dead."""
        self.segments = segments
        self.dead = dead
        self.key = key
        self._dead_rows: list[np.ndarray | None] = []
        for segment in segments:
            rows = [i for i, span in enumerate(segment.spans) if span in dead] \
                if dead and segment.postings is None else []
            self._dead_rows.append(np.array(rows, dtype=np.int64) if rows else None)
        self.df: dict[str, int] = dict(segments[0].df) if segments else {}
        for segment in segments[1:]:
            for word, count in segment.df.items():
                self.df[word] = self.df.get(word, 0) + count
        self.statistics = Statistics(segments)

    @property
    def bases(self) -> list[Segment]:
        return [s for s in self.segments if s.postings is None]

    @property
    def delta(self) -> Segment | None:
        return next((s for s in self.segments if s.postings is not None), None)

    @property
    def size(self) -> int:
        """Live chunks indexed."""
        return sum(len(s.chunk_ids) for s in self.segments) - sum(len(r) for r in self._dead_rows if r is not None)

    @property
    def spans(self) -> set[str]:
        """``chunk_id:start:end`` of every live chunk (what :func:`fingerprint` reads)."""
        return {span for s in self.segments for span in s.spans if span not in self.dead}

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str, str]], key: str, segment_chunks: int | None = None,
              total: int | None = None) -> LexicalIndex:
        """Base segments of at most ``segment_chunks`` (default :data:`SEGMENT_CHUNKS`) over ``(chunk id,
        span key, text)`` triples, built one after the other; ``key`` is their :func:`fingerprint`;
        ``total``: how many triples come (for segments of equal size), when known."""
        segments = _sealed(chunks, segment_chunks or SEGMENT_CHUNKS, total)
        return cls(segments or [Segment.build([])], set(), key)

    def updated(self, current: set[str], texts, key: str, segment_chunks: int | None = None) -> LexicalIndex | None:
        """This index brought to the chunks ``current`` (span keys), rebuilding as little as it can (see the
        class), or None when it cannot be updated (nothing yet, or an index written before segments).

        Args:
            current: span keys of every chunk the store holds now.
            texts: ``texts(chunk_ids)`` -> ``(chunk id, span key, text)`` for chunks to (re)index.
            key: the :func:`fingerprint` of ``current``.
            segment_chunks: the largest base segment (default :data:`SEGMENT_CHUNKS`).
        """
        size = segment_chunks or SEGMENT_CHUNKS
        if not self.segments or any(len(s.spans) != len(s.chunk_ids) for s in self.segments):
            return None  # nothing yet, or an older index that does not know its spans
        bases = [b for b in self.bases if b.chunk_ids]
        delta = self.delta
        known = {span for b in bases for span in b.spans}
        delta_live = [span for span in (delta.spans if delta else []) if span in current]
        pending = delta_live + sorted(current - known - set(delta_live))  # the delta's chunks, then new ones
        archive = sum(len(b.chunk_ids) for b in bases)
        limit = min(max(MERGE_FLOOR, MERGE_SHARE * archive), size / 4)  # a delta stays small whatever the archive
        kept: list[Segment] = []
        rebuild = False
        for base in bases:
            live = [span for span in base.spans if span in current]
            if len(base.spans) - len(live) > MERGE_SHARE * len(base.spans):
                pending, rebuild = live + pending, True  # rebuilt from its live chunks, below
            elif live:
                kept.append(base)
        new: list[Segment] = []
        if len(pending) > limit or (pending and rebuild):
            new = _sealed(texts([_chunk_of(span) for span in pending]), size, len(pending))
            pending = []
        kept = _compacted(kept + new, texts, current, size)
        dead = {span for b in kept for span in b.spans if span not in current}
        delta = Segment.build(texts([_chunk_of(span) for span in pending]), delta=True) if pending else None
        return LexicalIndex((kept or [Segment.build([])]) + ([delta] if delta else []), dead, key)

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
        dead = set(meta.get("dead", []))
        by_id = {entry for entry in dead if ":" not in entry}  # written when dead chunks were named by id
        if by_id:
            dead = (dead - by_id) | {span for s in segments if s.postings is None
                                     for c, span in zip(s.chunk_ids, s.spans) if c in by_id}
        return cls(segments, dead, meta["key"])

    @classmethod
    def _legacy(cls, folder: Path, meta: dict) -> LexicalIndex:
        """An index written before segments (one BM25 and its statistics; the same tokens): searched as it
        is, so that an upgraded server keeps its lexical search until the next indexing run rebuilds it."""
        bm25s = _bm25s()
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if meta["chunk_ids"] else bm25s.BM25()
        segment = Segment("legacy", bm25, meta["chunk_ids"], [], Spellings(meta.get("vocabulary") or {}),
                          Spellings(meta.get("pairs") or {}), meta.get("df") or {})
        return cls([segment], set(), meta["key"])

    def search(self, query: str, k: int = 20, scope: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """Best ``k`` chunks for ``query`` by BM25, as (chunk id, score) with score > 0; ``scope``: only
        chunks of these documents."""
        found: list[tuple[str, float]] = []
        for segment, dead in zip(self.segments, self._dead_rows):
            found += segment.scores(query, dead, self.statistics, k=k, scope=scope)
        found.sort(key=lambda item: -item[1])
        return found[:k]

    def _spelled(self, table: str, key: str) -> str | None:
        """The archive's most frequent spelling of ``key``: each segment's best, weighed by its counts
        summed over the segments (the first segment's on a tie)."""
        totals: dict[str, int] = {}
        for segment in self.segments:
            found = getattr(segment, table).counted(key)
            if found is not None:
                totals[found[0]] = totals.get(found[0], 0) + found[1]
        return max(totals, key=totals.__getitem__) if totals else None

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


def _chunk_of(span: str) -> str:
    return span.rsplit(":", 2)[0]


def _sealed(chunks: Iterable[tuple[str, str, str]], size: int, total: int | None = None) -> list[Segment]:
    """Base segments of at most ``size`` chunks each, built one at a time (only one's tokens in memory);
    knowing the ``total``, of equal sizes (2,001 chunks make three of 667, not two full ones and one)."""
    if total:
        size = math.ceil(total / math.ceil(total / size))
    out: list[Segment] = []
    batch: list[tuple[str, str, str]] = []
    for item in chunks:
        batch.append(item)
        if len(batch) >= size:
            out.append(Segment.build(batch))
            batch = []
    if batch:
        out.append(Segment.build(batch))
    return out


def _compacted(bases: list[Segment], texts, current: set[str], size: int) -> list[Segment]:
    """Merge the two smallest base segments while both are under a quarter of ``size`` (each merge
    rebuilds at most half a segment's chunks), so that many small sealed deltas do not pile up."""
    bases = list(bases)
    while len(bases) > 1:
        first, second = sorted(bases, key=lambda b: len(b.chunk_ids))[:2]
        if len(second.chunk_ids) >= size / 4:
            break
        live = [span for b in (first, second) for span in b.spans if span in current]
        bases = [b for b in bases if b is not first and b is not second]  # the others keep their order
        bases += _sealed(texts([_chunk_of(span) for span in live]), size, len(live))
    return bases


def _keep_case(typed: str, spelled: str) -> str:
    if typed.isupper() and len(typed) > 1:
        return spelled.upper()
    if typed[:1].isupper():
        return spelled[:1].upper() + spelled[1:]
    return spelled


def _best_by_fold(counts: Counter[str]) -> Spellings:
    """Each folded form's most frequent spelling, with its count."""
    best: dict[str, tuple[int, str]] = {}
    for spelling, count in counts.items():
        key = fold(spelling)
        if key not in best or count > best[key][0]:
            best[key] = (count, spelling)
    return Spellings((list(best), [spelling for _, spelling in best.values()]), [c for c, _ in best.values()])
