"""BM25 over the committed chunks, persisted next to the store and rebuilt once per store generation."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.store import StoredChunk
from rag.text import lexical_terms

if TYPE_CHECKING:
    from collections.abc import Collection

    from rag.store import Store

__all__ = ["LexicalIndex"]

_STAMP = "stamp.json"
_CHUNKS = "chunks.json"


class LexicalIndex:
    """A bm25s index of one collection, kept in step with the store's generation."""

    def __init__(self, data_dir: Path, collection: str) -> None:
        self.directory = data_dir / "bm25" / collection
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._bm25: Any = None
        self._chunks: list[StoredChunk] = []
        self._doc_rows: dict[str, list[int]] = {}

    @property
    def size(self) -> int:
        """Chunks in the loaded index."""
        return len(self._chunks)

    def sync(self, store: Store) -> None:
        """Loads or rebuilds the index so it matches the store's current generation."""
        generation = store.generation()
        with self._lock:
            if self._generation == generation:
                return
            if not self._load(generation):
                self._build(store, generation)

    def _load(self, generation: str) -> bool:
        stamp_file = self.directory / _STAMP
        try:
            stamp = json.loads(stamp_file.read_text())
            if stamp.get("generation") != generation:
                return False
            import bm25s

            chunks = [StoredChunk(*row) for row in json.loads((self.directory / _CHUNKS).read_text())]
            bm25 = (
                bm25s.BM25.load(str(self.directory / "bm25"), show_progress=False, verbosity=0)
                if chunks
                else None
            )
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self._install(generation, bm25, chunks)
        return True

    def _build(self, store: Store, generation: str) -> None:
        import bm25s

        chunks = sorted(store.committed_chunks(), key=lambda c: (c.doc_id, c.index))
        bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index([lexical_terms(c.text) or [""] for c in chunks], show_progress=False)
        self._install(generation, bm25, chunks)
        self._save(generation, bm25, chunks)

    def _save(self, generation: str, bm25: Any, chunks: list[StoredChunk]) -> None:
        try:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=self.directory.parent))
            if bm25 is not None:
                bm25.save(str(staging / "bm25"), show_progress=False)
            rows = [[c.chunk_id, c.doc_id, c.index, c.start, c.end, c.text] for c in chunks]
            (staging / _CHUNKS).write_text(json.dumps(rows, ensure_ascii=False))
            (staging / _STAMP).write_text(json.dumps({"generation": generation, "chunks": len(chunks)}))
            if self.directory.exists():
                shutil.rmtree(self.directory)
            staging.rename(self.directory)
        except OSError:
            # A read-only data directory still answers queries from the in-memory index.
            shutil.rmtree(staging, ignore_errors=True) if "staging" in locals() else None

    def _install(self, generation: str, bm25: Any, chunks: list[StoredChunk]) -> None:
        self._bm25 = bm25
        self._chunks = chunks
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks):
            rows.setdefault(chunk.doc_id, []).append(row)
        self._doc_rows = rows
        self._generation = generation

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a (lexical) term; unseen terms get the highest."""
        with self._lock:
            bm25, documents = self._bm25, len(self._chunks)
        if bm25 is None:
            return _idf(0, 1)
        column = bm25.vocab_dict.get(term)
        if column is None:
            return _idf(0, documents)
        indptr = bm25.scores["indptr"]
        return _idf(int(indptr[column + 1] - indptr[column]), documents)

    def knows(self, term: str) -> bool:
        """Whether a (lexical) term occurs anywhere in the corpus."""
        with self._lock:
            bm25 = self._bm25
        return bm25 is not None and term in bm25.vocab_dict

    def search(
        self, query: str, k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """Best chunks for the query's terms, optionally limited to some articles; scores > 0 only."""
        import numpy as np

        terms = lexical_terms(query)
        with self._lock:
            bm25, chunks = self._bm25, self._chunks
            mask = None
            if doc_ids is not None:
                mask = np.zeros(len(chunks), dtype=np.float32)
                for doc_id in doc_ids:
                    mask[self._doc_rows.get(doc_id, [])] = 1.0
        if bm25 is None or not terms or not chunks:
            return []
        scores = bm25.get_scores(terms)
        if mask is not None:
            scores = scores * mask
        k = min(k, len(chunks))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(chunks[i], float(scores[i])) for i in top if scores[i] > 0]


def _idf(document_frequency: int, documents: int) -> float:
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))
