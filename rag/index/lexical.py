"""BM25 over the committed chunks, kept in step with the store article by article.

The index is a list of immutable segments (`rag.index.segments`). A sync compares the store's
article records with the index's and reads and tokenises only the articles that were added
or changed; the rows of removed or replaced articles are masked out, and small or mostly
dead segments are merged now and then. Scores are computed at query time from term counts,
chunk lengths and document frequencies, with the formula and parameters of bm25s' default
(Lucene) BM25, so nothing corpus-wide is recomputed when the corpus changes.

On disk, `<data_dir>/bm25/<collection>/` holds one `.npz` file per segment, written once, and
`manifest.json`, replaced atomically, naming the live segments, the articles each has lost
and the store generation they match. A missing, damaged or outdated folder is rebuilt; a
read-only one is left alone and the index lives in memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from rag.index.segments import Segment
from rag.text import LEXICAL_VERSION, lexical_terms

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence
    from pathlib import Path

    from numpy.typing import NDArray

    from rag.index.store import Store
    from rag.types import Chunk

__all__ = ["LexicalIndex"]

_FORMAT = 2
_MANIFEST = "manifest.json"
_K1 = 1.5
_B = 0.75
_OUT_OF_DATE = "?"
"""Generation of a loaded index that misses a damaged segment: never a store's generation."""
_MERGE_RATIO = 2
"""A segment is merged into the one before it once that one has at most this many times its rows."""


class LexicalIndex:
    """BM25 over one collection's committed chunks, kept in step with the store's generation."""

    def __init__(self, data_dir: Path, collection: str) -> None:
        self.directory = data_dir / "bm25" / collection
        self._lock_path = data_dir / "bm25" / f".{collection}.lock"
        self._lock = threading.Lock()
        self._state: _State | None = None

    @property
    def size(self) -> int:
        """Chunks in the loaded index."""
        state = self._state
        return 0 if state is None else state.documents

    def sync(self, store: Store) -> None:
        """Brings the index to the store's current generation, reading only the articles that changed."""
        generation = store.generation()
        with self._lock:
            state = self._state
            if state is not None and state.generation == generation:
                return
            # Article ids and content hashes outlive a `--rebuild` (which may re-chunk): catch up
            # only from an index of this very collection.
            collection = store.collection_id()
            if state is not None and state.collection != collection:
                state = None
            state = self._load(state, generation, collection) or state
            if state is None or state.generation != generation:
                state = _catch_up(store, state or _State.of("", collection, []), generation)
                if generation:
                    self._save(state)
            self._state = state

    # -- queries -----------------------------------------------------------------------------

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a (lexical) term; unseen terms get the highest."""
        state = self._state
        if state is None or state.documents == 0:
            return _idf(0, 1)
        return _idf(state.document_frequency(term), state.documents)

    def knows(self, term: str) -> bool:
        """Whether a (lexical) term occurs anywhere in the corpus."""
        state = self._state
        return state is not None and state.document_frequency(term) > 0

    def search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[tuple[Chunk, float]]:
        """Best chunks for the query's terms, optionally limited to some articles; scores > 0 only."""
        terms = lexical_terms(query)
        state = self._state
        if state is None or not terms or state.documents == 0 or k <= 0:
            return []
        # float32 throughout, as bm25s scores.
        scores = np.zeros(int(state.offsets[-1]), dtype=np.float32)
        for term, times in Counter(terms).items():
            found = state.postings(term)
            frequency = sum(rows.size for _, rows, _ in found)
            if not frequency:
                continue
            weight = np.float32(times * _idf(frequency, state.documents))
            for position, rows, counts in found:
                tf = counts.astype(np.float32)
                part_scores = scores[state.offsets[position] : state.offsets[position + 1]]
                part_scores[rows] += weight * tf / (tf + state.parts[position].norm[rows])
        if doc_ids is not None:
            scores[~state.rows_of(doc_ids)] = 0.0
        cutoff = np.float32(0.0)
        if k < scores.size:
            cutoff = max(cutoff, np.partition(scores, scores.size - k)[scores.size - k])
        hits = np.flatnonzero(scores >= cutoff) if cutoff > 0 else np.flatnonzero(scores > 0)
        ranked = state.chunks(hits, scores[hits])
        # Ties go by article and position, so the order does not depend on how segments fell.
        ranked.sort(key=lambda hit: (-hit[1], hit[0].doc_id, hit[0].index))
        return ranked[:k]

    # -- files -------------------------------------------------------------------------------

    def _load(self, previous: _State | None, generation: str, collection: str) -> _State | None:
        """The saved index when nothing is loaded yet, or when it matches `generation`.

        Segments already in memory are reused (they never change). A damaged segment is
        left out and the state marked out of date, so the sync reads its articles again.
        """
        try:
            with self._locked(exclusive=False):
                manifest = json.loads((self.directory / _MANIFEST).read_text())
                if (
                    manifest["format"] != _FORMAT
                    or manifest["terms"] != _terms_id()
                    or manifest["collection"] != collection
                ):
                    return None
                saved = str(manifest["generation"])
                if previous is not None and saved != generation:
                    return None
                known = {part.segment.name: part.segment for part in previous.parts} if previous else {}
                parts = []
                for entry in manifest["segments"]:
                    name = str(entry["name"])
                    try:
                        segment = known.get(name) or Segment.load(self.directory, name)
                    except (OSError, ValueError, KeyError, TypeError):
                        saved = _OUT_OF_DATE
                        continue
                    parts.append((segment, frozenset(str(d) for d in entry["dead"])))
            return _State.of(saved, collection, parts)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, state: _State) -> None:
        """Writes new segments, then the manifest, then drops files no manifest names."""
        try:
            with self._locked(exclusive=True):
                if self.directory.is_symlink() or (self.directory.exists() and not self.directory.is_dir()):
                    self.directory.unlink()
                self.directory.mkdir(parents=True, exist_ok=True)
                keep = {_MANIFEST}
                for part in state.parts:
                    keep.add(f"{part.segment.name}.npz")
                    if not (self.directory / f"{part.segment.name}.npz").is_file():
                        part.segment.save(self.directory)
                manifest = {
                    "format": _FORMAT,
                    "terms": _terms_id(),
                    "generation": state.generation,
                    "collection": state.collection,
                    "segments": [{"name": p.segment.name, "dead": sorted(p.dead)} for p in state.parts],
                }
                partial = self.directory / f".manifest.{os.getpid()}.tmp"
                partial.write_text(json.dumps(manifest))
                partial.replace(self.directory / _MANIFEST)
                for path in self.directory.iterdir():
                    if path.name in keep:
                        continue
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
        except OSError:
            # A read-only data directory still answers queries from the in-memory index.
            pass

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        """Writers exclude each other and readers; a reader that cannot lock (read-only) goes ahead."""
        if exclusive:
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._lock_path.open("a")
        else:
            try:
                handle = self._lock_path.open("r")
            except OSError:
                yield
                return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield


@dataclass(frozen=True, slots=True)
class _Part:
    """A segment with the articles it no longer serves."""

    segment: Segment
    dead: frozenset[str]
    alive: NDArray[np.bool_]
    norm: NDArray[np.float32]
    """BM25's length normalisation of each row, k1 * (1 - b + b * length / average length)."""


@dataclass(frozen=True, slots=True)
class _State:
    """One consistent version of the index; never changed once made, so queries need no lock."""

    generation: str
    collection: str
    """`Store.collection_id` of the collection indexed."""
    parts: tuple[_Part, ...]
    offsets: NDArray[np.int64]
    """First row of each part in the rows of the whole index, then the total."""
    owner: dict[str, int]
    """Part holding each live article."""
    documents: int

    @classmethod
    def of(cls, generation: str, collection: str, parts: Sequence[tuple[Segment, frozenset[str]]]) -> _State:
        alive: list[NDArray[np.bool_]] = []
        owner: dict[str, int] = {}
        documents = total_length = 0
        for position, (segment, dead) in enumerate(parts):
            if not dead <= segment.articles.keys():
                raise ValueError(f"segment {segment.name} lost articles it never had")
            alive.append(segment.alive(dead))
            documents += int(alive[-1].sum())
            total_length += int(segment.lengths[alive[-1]].sum())
            for doc_id in segment.articles.keys() - dead:
                if doc_id in owner:
                    raise ValueError(f"article {doc_id} is in two segments")
                owner[doc_id] = position
        average = total_length / max(documents, 1)
        made = tuple(
            _Part(segment, dead, mask, (_K1 * (1 - _B + _B * segment.lengths / average)).astype(np.float32))
            for (segment, dead), mask in zip(parts, alive, strict=True)
        )
        offsets = np.zeros(len(made) + 1, dtype=np.int64)
        np.cumsum([part.segment.size for part in made], out=offsets[1:])
        return cls(generation, collection, made, offsets, owner, documents)

    def articles(self) -> dict[str, str]:
        """Live articles and the content hash they were indexed at."""
        return {doc_id: self.parts[i].segment.articles[doc_id] for doc_id, i in self.owner.items()}

    def postings(self, term: str) -> list[tuple[int, NDArray[np.int32], NDArray[np.uint16]]]:
        """Live rows containing `term` in each part (by position), with the term's counts."""
        found = []
        for position, part in enumerate(self.parts):
            hit = part.segment.postings(term)
            if hit is None:
                continue
            rows, counts = hit
            if part.dead:
                live = part.alive[rows]
                rows, counts = rows[live], counts[live]
            if rows.size:
                found.append((position, rows, counts))
        return found

    def document_frequency(self, term: str) -> int:
        """Live chunks containing `term`."""
        return sum(rows.size for _, rows, _ in self.postings(term))

    def rows_of(self, doc_ids: Collection[str]) -> NDArray[np.bool_]:
        """Mask of the rows of some articles."""
        mask = np.zeros(int(self.offsets[-1]), dtype=np.bool_)
        for doc_id in doc_ids:
            position = self.owner.get(doc_id)
            if position is None:
                continue
            start, end = self.parts[position].segment.spans.get(doc_id, (0, 0))
            base = int(self.offsets[position])
            mask[base + start : base + end] = True
        return mask

    def chunks(self, rows: NDArray[np.int64], scores: NDArray[np.float32]) -> list[tuple[Chunk, float]]:
        """The chunks at some rows of the whole index, each with its score."""
        positions = np.searchsorted(self.offsets, rows, side="right") - 1
        local = rows - self.offsets[positions]
        return [
            (self.parts[position].segment.chunks[row], score)
            for position, row, score in zip(positions.tolist(), local.tolist(), scores.tolist(), strict=True)
        ]


def _catch_up(store: Store, state: _State, generation: str) -> _State:
    """`state` brought in line with the store's records: changed articles are read and tokenised."""
    records = store.records()
    indexed = state.articles()
    fresh = {d: r.content_hash for d, r in records.items() if indexed.get(d) != r.content_hash}
    gone = [d for d, h in indexed.items() if d not in records or records[d].content_hash != h]
    parts = [(part.segment, part.dead) for part in state.parts]
    for doc_id in gone:
        segment, dead = parts[state.owner[doc_id]]
        parts[state.owner[doc_id]] = (segment, dead | {doc_id})
    if fresh:
        # One pass over the whole collection beats many filtered reads once most articles are new.
        chunks: Iterable[Chunk]
        if 2 * len(fresh) > len(records):
            chunks = (c for c in store.committed_chunks() if c.doc_id in fresh)
        else:
            chunks = store.article_chunks(fresh)
        parts.append((Segment.build(chunks, fresh), frozenset()))
    return _State.of(generation, state.collection, _tidy(parts))


def _tidy(parts: Sequence[tuple[Segment, frozenset[str]]]) -> list[tuple[Segment, frozenset[str]]]:
    """Drops dead segments, compacts mostly dead ones, and merges newer segments of similar size.

    Keeping each segment over `_MERGE_RATIO` times larger than the next keeps their number
    logarithmic in the corpus, and each row is rewritten a logarithmic number of times.
    """
    tidy: list[tuple[Segment, frozenset[str]]] = []
    for segment, dead in parts:
        if not segment.articles.keys() - dead:
            continue
        if dead and 2 * _live_rows(segment, dead) < segment.size:
            segment, dead = Segment.merged([(segment, dead)]), frozenset()
        tidy.append((segment, dead))
        while len(tidy) > 1 and _live_rows(*tidy[-2]) <= _MERGE_RATIO * _live_rows(*tidy[-1]):
            tidy[-2:] = [(Segment.merged(tidy[-2:]), frozenset())]
    return tidy


def _live_rows(segment: Segment, dead: frozenset[str]) -> int:
    return segment.size - sum(end - start for start, end in (segment.spans.get(d, (0, 0)) for d in dead))


def _idf(document_frequency: int, documents: int) -> float:
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


@lru_cache(maxsize=1)
def _terms_id() -> str:
    """Identity of the tokeniser: a saved index made by another one is rebuilt."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        stemmer = version("PyStemmer")
    except PackageNotFoundError:
        stemmer = "unknown"
    return f"lexical_terms/{LEXICAL_VERSION};PyStemmer/{stemmer}"
