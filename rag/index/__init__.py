"""The article index: one collection's chunks, vectors and article records in Chroma, with the
BM25 index beside it, read through `Index` and written through its one writer.

    index = Index(settings, embedder)
    with index.writer() as w:          # the lock, the commit protocol, the BM25 sync
        w.put([prepared_article])
        w.delete("old-article")
    index.dense_search(vector, 20)     # reads trust committed records only

Inside: `chroma` (the client, errors by type, paging), `store` (collections, the commit
protocol, records, reads), `lexical` and `segments` (BM25). Nothing outside this package
touches Chroma or the BM25 index (`tests/test_layering.py` checks it).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from typing import TYPE_CHECKING, Any

from rag.index.store import chunk_id, chunking_id

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store
    from rag.settings import Settings
    from rag.types import Chunk, DocRecord, Embedder, PreparedArticle

__all__ = ["Index", "IndexWriter", "chunk_id", "chunking_id"]


class Index:
    """Reads of one collection, and `writer()`, the only way to change it."""

    def __init__(self, settings: Settings, embedder: Embedder, *, client: Any | None = None) -> None:
        from rag.index.lexical import LexicalIndex
        from rag.index.store import Store

        self.settings = settings
        self.embedder = embedder
        self._store: Store = Store(settings, embedder, client=client)
        self._lexical: LexicalIndex = LexicalIndex(settings.data_dir, settings.collection)
        self.lexical_sync_seconds = 0.0
        """Time spent bringing BM25 up to date in this process, for benchmarks."""

    # -- state ------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the collection exists (without creating an empty store folder)."""
        return self._store.exists()

    def generation(self) -> str:
        """Changes whenever a write completes ("" when there is no index); caches key on it."""
        return self._store.generation()

    @property
    def read_only(self) -> bool:
        """Whether the index refuses writes; it still answers (see `read_only_reason`)."""
        return self._store.read_only

    def read_only_reason(self) -> str:
        """Why the index only reads ("" when it can write)."""
        return self._store.read_only_reason()

    def check_writable(self) -> None:
        """Raises `ReadOnlyIndexError`, saying why and what still works, when the index is read-only."""
        self._store.check_writable()

    @property
    def chunking(self) -> str:
        """Identity of the chunking parameters the settings ask for."""
        return self._store.chunking

    def stats(self) -> dict[str, Any]:
        """Counts and identity, for `rag stats`."""
        return self._store.stats()

    # -- reads ------------------------------------------------------------------------------

    def records(self) -> dict[str, DocRecord]:
        """Committed articles by id."""
        return self._store.records()

    def article_text(self, doc_id: str) -> str:
        """The cleaned text of a committed article (what citation offsets index into)."""
        return self._store.article_text(doc_id)

    def committed_chunks(self) -> Iterator[Chunk]:
        """Every chunk of every committed article, in no particular order."""
        return self._store.committed_chunks()

    def article_chunks(self, doc_ids: Collection[str]) -> Iterator[Chunk]:
        """The committed chunks of some articles, in no particular order."""
        return self._store.article_chunks(doc_ids)

    def dense_search(
        self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest committed chunks by cosine similarity, best first."""
        return self._store.dense_search(vector, k, where)

    def lexical_search(
        self, query: str, k: int, allowed: Collection[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """The `k` best committed chunks by BM25, best first, among the articles `allowed` (all if None)."""
        self.sync_lexical()
        return self._lexical.search(query, k, allowed)

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """Encoded sentence vectors of some chunks, by chunk id (chunks without any are left out)."""
        return self._store.sentence_vectors(chunk_ids)

    # -- BM25 -------------------------------------------------------------------------------

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of an analysed term, as of the last sync."""
        return self._lexical.idf(term)

    def knows(self, term: str) -> bool:
        """Whether any committed chunk has this analysed term, as of the last sync."""
        return self._lexical.knows(term)

    def sync_lexical(self) -> None:
        """Brings BM25 up to the store's generation, reading only the articles that changed."""
        started = time.perf_counter()
        self._lexical.sync(self._store)
        self.lexical_sync_seconds += time.perf_counter() - started

    def rebuild_lexical(self) -> None:
        """Builds BM25 again from every committed chunk, as a missing or damaged folder is."""
        from rag.index.lexical import LexicalIndex

        shutil.rmtree(self._lexical.directory, ignore_errors=True)
        self._lexical = LexicalIndex(self.settings.data_dir, self.settings.collection)
        self.sync_lexical()

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, *, rebuild: bool = False, sync_lexical: bool = True) -> Iterator[IndexWriter]:
        """The one writer: holds the data directory's write lock, finishes what an interrupted
        writer left (`IndexWriter.recovered`), and on a clean exit marks the index consistent
        at a new generation, then brings BM25 up to date (unless `sync_lexical` is False: many
        small writes in a row sync once, at the end, or at the first search).

        `rebuild` deletes the whole collection first. When the block raises, the index stays
        marked as interrupted, and the next writer removes the uncommitted chunks.
        Raises `ReadOnlyIndexError` before anything is written when the index is read-only.
        """
        store = self._store
        with store.write_lock():
            if rebuild:
                store.reset()
            recovered = store.reconcile() if store.begin_write() else 0
            writer = IndexWriter(store, recovered)
            try:
                yield writer
            except BaseException:
                store.forget_cached()  # what was committed before the failure is read afresh
                raise
            store.end_write()
            if sync_lexical:
                self.sync_lexical()


class IndexWriter:
    """Writes of one `Index.writer()` block: articles put and deleted under its lock."""

    def __init__(self, store: Store, recovered: int) -> None:
        self._store = store
        self.recovered = recovered
        """Uncommitted chunks an interrupted writer left, removed when this writer began."""

    def put(self, articles: Sequence[PreparedArticle]) -> list[DocRecord]:
        """Adds or replaces articles: their chunks in one write, then their records in one commit
        (readers see an article once its record is written), then their older chunks dropped."""
        if not articles:
            return []
        self._store.write_chunks(articles)
        try:
            return self._store.commit_documents(articles)
        finally:
            self._store.forget_cached()  # `records()` in this block sees them

    def delete(self, doc_id: str) -> None:
        """Removes an article: its record, then its chunks."""
        try:
            self._store.delete_document(doc_id)
        finally:
            self._store.forget_cached()

    def records(self) -> dict[str, DocRecord]:
        """Committed articles by id, as they are now."""
        return self._store.records()

    def reconcile(self) -> int:
        """Removes chunks no committed record vouches for; returns how many."""
        return self._store.reconcile()
