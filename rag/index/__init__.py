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
    from collections.abc import Callable, Collection, Iterator, Sequence

    from rag.index.copies import Copies, Fingerprint
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
        self._copies: tuple[str, Copies] | None = None
        """The near-copy candidates and the generation they match (loaded by the first writer)."""

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

    def check_embedder(self) -> None:
        """Checks now that the index was built by this embedder (an `auto` embedder takes on an
        `onnx-int8` index's identity here); reads check it too. Nothing when there is no index."""
        self._store.check_embedder()

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

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, tuple[list[float], str]]:
        """The vector and encoded sentence vectors ("" when none) of some committed chunks, by id."""
        return self._store.chunk_vectors(chunk_ids)

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
                self._copies = None
            recovered = store.reconcile() if store.begin_write() else 0
            writer = IndexWriter(store, recovered, self._groups)
            try:
                yield writer
            except BaseException:
                store.forget_cached()  # what was committed before the failure is read afresh
                self._copies = None
                raise
            store.end_write()
            if self._copies is not None and writer.grouped:
                self._copies = (store.generation(), self._copies[1])  # it holds this block's changes
            if sync_lexical:
                self.sync_lexical()

    def _groups(self) -> Copies:
        """The near-copy candidates as committed (under the write lock)."""
        from rag.index.copies import Copies

        generation = self._store.generation()
        if self._copies is None or self._copies[0] != generation:
            records, prints = self._store.records(), self._store.fingerprints()
            self._copies = (generation, Copies.of(records, prints, self.settings.copy_similarity))
        return self._copies[1]


class IndexWriter:
    """Writes of one `Index.writer()` block: articles put and deleted under its lock."""

    def __init__(self, store: Store, recovered: int, groups: Callable[[], Copies]) -> None:
        self._store = store
        self._groups = groups
        self.grouped = False
        """Whether this block changed the near-copy groups."""
        self.recovered = recovered
        """Uncommitted chunks an interrupted writer left, removed when this writer began."""

    def put(self, articles: Sequence[PreparedArticle]) -> list[DocRecord]:
        """Adds or replaces articles: their chunks in one write, then their records in one commit
        (readers see an article once its record is written), then their older chunks dropped.

        Each article joins the group of an earlier one it nearly copies (`DocRecord.duplicate_of`),
        or replaces it as the group's article when it is a newer version of the story. An article
        rewritten so that it tells another story first hands its copies to one of them.
        """
        from rag.index.copies import fingerprint

        if not articles:
            return []
        copies, self.grouped = self._groups(), True
        records = self._store.records()
        changes: dict[str, dict[str, Any]] = {}
        placed: dict[str, tuple[str, Fingerprint]] = {}
        copies.replaced.clear()
        prints = {p.article.doc_id: fingerprint(p.article.text) for p in articles}
        # Articles rewritten into other stories leave their groups first, so that no article of
        # this batch joins one of them for its old text.
        batch = set(prints)
        for doc_id, found in prints.items():
            old = copies.prints.get(doc_id)
            if doc_id in records and old is not None and old.text_hash != found.text_hash:
                copies.forget(doc_id)
                changes |= self._hand_over(records[doc_id], records, copies, skip=batch)
        for prepared in articles:
            article = prepared.article
            found = prints[article.doc_id]
            placed[article.doc_id] = (copies.place(article.doc_id, found, date=article.date), found)
        # A canonical article that a newer version replaced joins it, with its copies.
        for older, newer in copies.replaced.items():
            if older in placed:
                placed[older] = (newer, placed[older][1])
            else:
                changes[older] = {"duplicate_of": newer}
            for record in records.values():
                if record.duplicate_of == older and record.doc_id not in placed:
                    changes[record.doc_id] = {"duplicate_of": newer}
        # A copy of a replaced article follows it (committed copies, and those handed over above).
        for doc_id, (canonical, found) in placed.items():
            placed[doc_id] = (_final(canonical, copies.replaced), found)
        for change in changes.values():
            if change.get("duplicate_of"):
                change["duplicate_of"] = _final(change["duplicate_of"], copies.replaced)
        self._store.write_chunks(articles)
        try:
            # Other articles' group changes first, then the commit that caused them: a writer killed
            # in between leaves this batch's files uncommitted or changed, so a rerun puts them
            # again and ends where an uninterrupted run does (a copy pointing at an article not yet
            # committed counts as its group's article meanwhile).
            self._store.regroup({d: c for d, c in changes.items() if d not in placed})
            return self._store.commit_documents(articles, placed)
        finally:
            self._store.forget_cached()  # `records()` in this block sees them

    def delete(self, doc_id: str) -> None:
        """Removes an article: its record, then its chunks. When it is the article of a group of
        copies, the newest copy takes its place first, so the story stays answerable."""
        try:
            records = self._store.records()
            copies, self.grouped = self._groups(), True
            if doc_id in records:
                self._store.regroup(self._hand_over(records[doc_id], records, copies, skip=()))
            copies.forget(doc_id)
            self._store.delete_document(doc_id)
        finally:
            self._store.forget_cached()

    def _hand_over(
        self, leaving: DocRecord, records: dict[str, DocRecord], copies: Copies, skip: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """The group changes when `leaving` no longer tells its story (deleted or rewritten): its
        newest copy takes its place (of one day, the first written, as ingest would have chosen),
        and the other copies follow that one."""
        members = sorted(
            (r for r in records.values() if r.duplicate_of == leaving.doc_id and r.doc_id not in skip),
            key=lambda r: (r.ingested_at, r.doc_id),
        )
        members.sort(key=lambda r: r.date[:10], reverse=True)  # stable: the order above within a day
        if not members:
            return {}
        heir = members[0]
        copies.promote(heir.doc_id, heir.date)
        return {heir.doc_id: {"duplicate_of": ""}} | {
            m.doc_id: {"duplicate_of": heir.doc_id} for m in members[1:]
        }

    def records(self) -> dict[str, DocRecord]:
        """Committed articles by id, as they are now."""
        return self._store.records()

    def reconcile(self) -> int:
        """Removes chunks no committed record vouches for; returns how many."""
        return self._store.reconcile()


def _final(doc_id: str, became: dict[str, str]) -> str:
    """Where a chain of replacements ends (a copy of a copy is a copy of the last)."""
    seen = {doc_id}
    while doc_id in became and became[doc_id] not in seen:
        doc_id = became[doc_id]
        seen.add(doc_id)
    return doc_id
