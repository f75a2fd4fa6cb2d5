"""The Chroma store: chunk vectors plus one record per article, with the index identity.

A document is committed when its record is written: chunks are upserted first, then the
record, then the document's older chunks are deleted. Readers only trust chunks whose
content hash matches the committed record, so a half-written document is never seen,
and `reconcile` removes what an interrupted ingest left behind. The record holds the
article's text; a chunk holds its offsets into it, and its text is read as that slice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rag.errors import IndexMismatchError, NoIndexError, ReadOnlyIndexError, StoreUnavailableError
from rag.types import Chunk

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from rag.settings import Settings
    from rag.types import PreparedArticle
    from rag.vectors import SentenceVectors

__all__ = [
    "DocRecord",
    "Embedder",
    "SentenceEmbedder",
    "Store",
    "WhitespaceTokenizer",
    "chunk_id",
]

_SCHEMA = 1
_KEY_SCHEMA = "rag:schema"
_KEY_EMBEDDER = "rag:embedder"
_KEY_CHUNKING = "rag:chunking"
_KEY_SENTENCES = "rag:sentence_vectors"
_META_SENTENCES = "sentence_vectors"
_KEY_GENERATION = "rag:generation"
_KEY_DIRTY = "rag:dirty"
_GET_PAGE = 5000
_IN_BATCH = 500
"""Article ids per `$in` filter when reading some articles' chunks."""
_OR_BATCH = 100
"""Articles per `$or` delete of older chunks: one call for a batch, but a bounded filter."""
_CACHED_CHARS = 16_000_000
"""Characters of article text kept in memory, least recently used dropped first: the chunks
that retrieval returns are slices of them."""
_WRITE_PAGE = 4096
"""Chunks per upsert: under the embedded store's limit of 5461 per call."""
_WRITTEN_HERE: set[str] = set()
"""Generations written by this process; any other change came from another process."""
_WRITE_REFUSED = ("readonly database", "read-only file system", "disk is full", "no space left")
"""How opening an embedded store fails when its folder cannot be written (in lower case)."""


class Embedder(Protocol):
    """What the store and the chunker need from an embedding model."""

    @property
    def model_id(self) -> str: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class WhitespaceTokenizer(Embedder, Protocol):
    """An embedder that can tell whether its tokenizer counts texts joined by whitespace as the
    sum of their parts (then the chunker need not count such runs again)."""

    @property
    def splits_at_whitespace(self) -> bool: ...


@runtime_checkable
class SentenceEmbedder(Embedder, Protocol):
    """An embedder that also pools sentence vectors out of each chunk's own pass (see `rag.vectors`)."""

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]: ...


@dataclass(frozen=True, slots=True)
class DocRecord:
    """The committed state of one article in the store."""

    doc_id: str
    title: str
    source: str
    author: str
    date: str
    path: str
    content_hash: str
    file_hash: str
    n_chunks: int
    ingested_at: float


def chunk_id(doc_id: str, content_hash: str, index: int) -> str:
    """Stable id: the same article text always gives the same chunk ids."""
    doc_key = hashlib.sha1(doc_id.encode()).hexdigest()[:16]
    return f"{doc_key}-{content_hash[:12]}-{index:05d}"


def chunking_id(chunk_tokens: int, overlap_sentences: int) -> str:
    """Identity of the chunking parameters, recorded in the collection."""
    return f"sentences;tokens={chunk_tokens};overlap={overlap_sentences}"


class Store:
    """Chunks and article records of one collection, embedded or on a Chroma server."""

    def __init__(self, settings: Settings, embedder: Embedder, *, client: Any | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.chunking = chunking_id(settings.chunk_tokens, settings.chunk_overlap_sentences)
        self._client = client
        self._lock = threading.RLock()
        self._records: tuple[str, dict[str, DocRecord]] | None = None
        self._seen_generation: str | None = None
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._text_chars = 0
        self._snapshot: _Snapshot | None = None
        self._writing = False

    # -- connection -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The chromadb client, created on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        s = self.settings
        if s.chroma_host:
            headers = (
                {"Authorization": f"Bearer {s.chroma_token.get_secret_value()}"} if s.chroma_token else None
            )
            try:
                return chromadb.HttpClient(
                    host=s.chroma_host,
                    port=s.chroma_port,
                    ssl=s.chroma_ssl,
                    headers=headers,
                    settings=chroma_settings,
                )
            except Exception as exc:
                raise StoreUnavailableError(
                    f"cannot reach the Chroma server at {s.store_location} ({type(exc).__name__}); "
                    "is `chroma run` up? (RAG_CHROMA_HOST / RAG_CHROMA_PORT)"
                ) from None
        directory = s.chroma_dir
        self._refuse_foreign()
        reason = self.read_only_reason()
        if reason and (directory / "chroma.sqlite3").exists():
            return self._open_snapshot(reason)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(directory), settings=chroma_settings)
        except Exception as exc:
            _forget_embedded(directory)  # chromadb caches the half-started engine; the next try starts afresh
            message = str(exc).lower()
            write_refused = any(words in message for words in _WRITE_REFUSED)
            if write_refused and not self._writing and (directory / "chroma.sqlite3").exists():
                # Chroma writes as it opens (a full disk, a folder turned read-only since the check).
                return self._open_snapshot(str(exc))
            if write_refused:
                raise StoreUnavailableError(
                    f"cannot open the Chroma store in {directory} to write: {exc}. Nothing was changed. "
                    "Check that RAG_DATA_DIR is writable and has free space, then try again."
                ) from None
            raise StoreUnavailableError(
                f"cannot open the Chroma store in {directory}: {exc}. Nothing was changed. Check that "
                "RAG_DATA_DIR is readable and writable; if the store is damaged, move the folder away "
                "and index your articles again with `rag ingest PATH`."
            ) from None

    def read_only_reason(self) -> str:
        """Why this store only reads ("" when it can write): `RAG_READ_ONLY`, or an embedded
        store's folder that cannot be written."""
        if self.settings.read_only:
            return "RAG_READ_ONLY is set"
        if self.settings.chroma_host:
            return ""
        return _unwritable(self.settings.chroma_dir)

    @property
    def read_only(self) -> bool:
        """Whether this store refuses writes; it still answers (see `read_only_reason`)."""
        return bool(self.read_only_reason())

    def _open_snapshot(self, reason: str) -> Any:
        """A client of a copy of the embedded store in a temporary folder, for a folder it cannot write.

        Chroma writes to its database as it opens it (migrations, its log), even to read, so a
        read-only folder, or a full disk, could not be queried at all. The copy is taken again
        when the store's files change, and removed when this store is.
        """
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        directory = self.settings.chroma_dir
        _remove_orphaned_snapshots()
        scratch = Path(tempfile.mkdtemp(prefix=f"{_SNAPSHOT_PREFIX}{os.getpid()}-"))
        copy = scratch / "chroma"
        try:
            signature = _signature(directory)
            shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("*.lock"))
            client = chromadb.PersistentClient(
                path=str(copy), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            )
        except Exception as exc:
            _forget_embedded(copy)
            shutil.rmtree(scratch, ignore_errors=True)
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreUnavailableError(
                f"the Chroma store in {directory} cannot be written ({reason}), and a copy to read it "
                f"from could not be made in {scratch.parent}: {detail}. Free some space there, or set "
                "TMPDIR to a folder with room for a copy of the store."
            ) from None
        self._drop_snapshot()
        # Removed with this store, or at exit at the latest.
        remove = weakref.finalize(self, shutil.rmtree, str(scratch), True)
        self._snapshot = _Snapshot(copy, reason, signature, remove)
        return client

    def _drop_snapshot(self) -> None:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            _forget_embedded(snapshot.path, stop=True)
            snapshot.remove()

    def _refuse_foreign(self) -> None:
        """Raises when the embedded store's folder holds files that are not a Chroma store."""
        directory = self.settings.chroma_dir
        if (
            not self.settings.chroma_host
            and directory.is_dir()
            and not (directory / "chroma.sqlite3").exists()
            and any(directory.iterdir())
        ):
            raise StoreUnavailableError(
                f"{directory} exists but is not a Chroma store; nothing was changed. "
                "Move it away or point RAG_DATA_DIR elsewhere."
            )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (IndexMismatchError, NoIndexError):
            raise
        except Exception as exc:
            from chromadb.errors import InternalError

            if _is_connection_error(exc):
                raise StoreUnavailableError(
                    f"the Chroma store at {self.settings.store_location} is unavailable ({what}): {exc}"
                ) from None
            if not self.settings.chroma_host and isinstance(exc, InternalError):
                # A failed write (disk full, read-only folder) can leave the embedded engine stuck on
                # its next write: drop it, so the next call reconnects.
                _forget_embedded(self.settings.chroma_dir)
                self._client = None
                with self._lock:
                    self._records = None
                raise StoreUnavailableError(
                    f"the Chroma store in {self.settings.chroma_dir} failed to {what}: {exc}. "
                    "Check that RAG_DATA_DIR is writable and has free space, then try again."
                ) from None
            if self.settings.chroma_host and isinstance(exc, InternalError):
                with self._lock:
                    self._records = None
                raise StoreUnavailableError(
                    f"the Chroma server at {self.settings.store_location} failed to {what}: {exc}. "
                    "Check the server's log and free space, then try again."
                ) from None
            raise

    # -- collections ------------------------------------------------------------------------

    @property
    def docs_name(self) -> str:
        """Name of the collection of article records."""
        return f"{self.settings.collection}-docs"

    def exists(self) -> bool:
        """Whether the chunk collection exists (without creating an empty store folder)."""
        self._refuse_foreign()
        if (
            self._client is None
            and not self.settings.chroma_host
            and not (self.settings.chroma_dir / "chroma.sqlite3").exists()
        ):
            return False
        names = self._call("list collections", self.client.list_collections)
        return self.settings.collection in {getattr(c, "name", c) for c in names}

    def _existing(self) -> Any | None:
        """The chunk collection, or None when there is none: one round trip, unlike `exists`."""
        self._refuse_foreign()
        if (
            self._client is None
            and not self.settings.chroma_host
            and not (self.settings.chroma_dir / "chroma.sqlite3").exists()
        ):
            return None
        from chromadb.errors import NotFoundError

        try:
            return self._call("open collection", self.client.get_collection, self.settings.collection)
        except NotFoundError:
            return None

    def _identity(self) -> dict[str, Any]:
        return {
            _KEY_SCHEMA: _SCHEMA,
            _KEY_EMBEDDER: self.embedder.model_id,
            _KEY_CHUNKING: self.chunking,
            _KEY_SENTENCES: _sentence_format(),
        }

    def chunks(self, *, create: bool = False) -> Any:
        """The chunk collection; checks that it was built by this embedder."""
        if create:
            proposed = uuid.uuid4().hex
            collection = self._call(
                "open collection",
                self.client.get_or_create_collection,
                self.settings.collection,
                metadata=self._identity() | {_KEY_GENERATION: proposed},
                configuration={"hnsw": {"space": "cosine"}},
            )
            if (collection.metadata or {}).get(_KEY_GENERATION) == proposed:
                # Created here (e.g. by `--rebuild`): not another process's write, so no reconnect.
                _WRITTEN_HERE.add(proposed)
        else:
            collection = self._existing()
            if collection is None:
                raise NoIndexError(
                    f"no index yet in {self.settings.store_location} (collection {self.settings.collection!r}); "
                    "run `rag ingest PATH` first"
                )
        self._check_identity(collection.metadata or {}, writing=create)
        return collection

    def _check_identity(self, metadata: dict[str, Any], *, writing: bool) -> None:
        built_with = metadata.get(_KEY_EMBEDDER)
        if built_with is None:
            raise IndexMismatchError(
                f"collection {self.settings.collection!r} was not made by this tool; "
                "choose another RAG_COLLECTION, or run `rag ingest --rebuild PATH` to replace it"
            )
        if built_with != self.embedder.model_id:
            raise IndexMismatchError(
                f"the index was built with {built_with}, but the embedder is {self.embedder.model_id}; "
                "run `rag ingest --rebuild PATH` (or set RAG_EMBEDDING_MODEL back)"
            )
        if writing and metadata.get(_KEY_CHUNKING) != self.chunking:
            raise IndexMismatchError(
                f"the index was chunked with {metadata.get(_KEY_CHUNKING)}, but the settings say {self.chunking}; "
                "run `rag ingest --rebuild PATH` to re-chunk everything"
            )
        # Reading an index without sentence vectors works (the answerer embeds sentences
        # itself); adding to it would leave one index answering two ways.
        if writing and metadata.get(_KEY_SENTENCES) != _sentence_format():
            raise IndexMismatchError(
                f"the index stores sentence vectors as {metadata.get(_KEY_SENTENCES) or 'nothing (an older index)'}, "
                f"but this version writes {_sentence_format()}; run `rag ingest --rebuild PATH` to rebuild it"
            )

    def docs(self) -> Any:
        """The collection of article records (one per committed article)."""
        return self._call(
            "open collection",
            self.client.get_or_create_collection,
            self.docs_name,
            metadata={_KEY_SCHEMA: _SCHEMA},
        )

    # -- identity and state -----------------------------------------------------------------

    def generation(self) -> str:
        """Changes whenever a write completes; caches key on it."""
        snapshot = self._snapshot
        if snapshot is not None and _signature(self.settings.chroma_dir) != snapshot.signature:
            self._reopen()  # the store was written since it was copied (its folder is writable again)
        collection = self._existing()
        if collection is None:
            return ""
        generation = str((collection.metadata or {}).get(_KEY_GENERATION, ""))
        if self._seen_generation not in (None, generation) and generation not in _WRITTEN_HERE:
            self._reopen()
        self._seen_generation = generation
        return generation

    def collection_id(self) -> str:
        """Identity of this incarnation of the chunk collection ("" when there is none); `reset` changes it."""
        collection = self._existing()
        return "" if collection is None else str(collection.id)

    def _reopen(self) -> None:
        """Another process wrote to the embedded store: this process's vector index is stale.

        The embedded client keeps the HNSW index in memory per process and does not see
        other processes' writes, so drop the cached system for this path and connect again.
        """
        if self.settings.chroma_host or self._client is None:
            return
        if self._snapshot is None and not _forget_embedded(self._client):
            return
        self._client = None
        self._drop_snapshot()
        self._client = self._connect()
        with self._lock:
            self._records = None

    def _set_metadata(self, **values: Any) -> None:
        collection = self.chunks(create=True)
        metadata = {k: v for k, v in (collection.metadata or {}).items() if k.startswith("rag:")}
        metadata.update(values)
        self._call("write metadata", collection.modify, metadata=metadata)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per data directory (ingest, chat uploads and deletes, other processes).

        Raises `ReadOnlyIndexError` when the store is read-only, before anything is written.
        """
        self.check_writable()
        if self._snapshot is not None:  # opened while it could not be written: write to the store itself
            self._client = None
            self._drop_snapshot()
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            handle = (self.settings.data_dir / ".ingest.lock").open("a")
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot write to RAG_DATA_DIR {self.settings.data_dir}: {exc.strerror or exc}"
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._writing = True
            try:
                yield
            finally:
                self._writing = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_writable(self) -> None:
        """Raises `ReadOnlyIndexError`, saying why and what still works, when the store is read-only."""
        reason = self.read_only_reason()
        if not reason:
            return
        where = self.settings.store_location
        fix = (
            "unset RAG_READ_ONLY to change it"
            if self.settings.read_only
            else "to change it, make the folder writable or copy RAG_DATA_DIR somewhere that is"
        )
        raise ReadOnlyIndexError(
            f"the index in {where} is read-only ({reason}): it answers questions, but articles cannot be "
            f"added or deleted; {fix}"
        )

    def begin_write(self) -> bool:
        """Marks the index as being written; returns whether a previous write was interrupted."""
        try:
            return self._mark_dirty()
        except StoreUnavailableError as failure:
            if self.settings.chroma_host:
                raise
            # A connection opened while the folder was read-only stays read-only after the folder
            # is writable again; the failed write dropped the engine, so try once on a fresh one.
            try:
                return self._mark_dirty()
            except StoreUnavailableError:
                raise failure from None  # still failing: the first error says why

    def _mark_dirty(self) -> bool:
        collection = self.chunks(create=True)
        interrupted = bool((collection.metadata or {}).get(_KEY_DIRTY))
        self._set_metadata(**{_KEY_DIRTY: True})
        return interrupted

    def end_write(self) -> None:
        """Marks the index consistent and moves it to a new generation."""
        generation = uuid.uuid4().hex
        _WRITTEN_HERE.add(generation)
        self._set_metadata(**{_KEY_DIRTY: False, _KEY_GENERATION: generation})
        with self._lock:
            self._records = None

    def reset(self) -> None:
        """Deletes both collections (used by `--rebuild`)."""
        for name in (self.settings.collection, self.docs_name):
            try:
                self._call("delete collection", self.client.delete_collection, name)
            except StoreUnavailableError:
                raise
            except Exception:
                pass
        with self._lock:
            self._records = None
            self._texts.clear()
            self._text_chars = 0

    # -- records ----------------------------------------------------------------------------

    def records(self) -> dict[str, DocRecord]:
        """Committed articles by id, cached per generation."""
        generation = self.generation()
        with self._lock:
            if self._records is not None and self._records[0] == generation and generation:
                return self._records[1]
        result = self._read_records() if generation or self.exists() else {}
        with self._lock:
            self._records = (generation, result)
        return result

    def article_text(self, doc_id: str) -> str:
        """The cleaned text of a committed article (what citation offsets index into)."""
        record = self.records().get(doc_id)
        if record is None:
            raise KeyError(doc_id)
        texts = self._article_texts({doc_id: record})
        if doc_id not in texts:
            raise KeyError(doc_id)
        return texts[doc_id]

    def _article_texts(self, records: dict[str, DocRecord]) -> dict[str, str]:
        """The texts of these committed articles, from the cache or in one read.

        An article whose stored record no longer has the given content hash (rewritten since
        `records` was read) is left out, so its text never meets offsets of another version.
        """
        found: dict[str, str] = {}
        with self._lock:
            for doc_id, record in records.items():
                key = (doc_id, record.content_hash)
                if key in self._texts:
                    self._texts.move_to_end(key)
                    found[doc_id] = self._texts[key]
        missing = sorted(set(records) - set(found))
        for start in range(0, len(missing), _IN_BATCH):
            got = self._call(
                "read article",
                self.docs().get,
                ids=missing[start : start + _IN_BATCH],
                include=["documents", "metadatas"],
            )
            for doc_id, text, metadata in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                content_hash = (metadata or {}).get("content_hash")
                if content_hash != records[doc_id].content_hash:
                    continue
                found[doc_id] = str(text or "")
                with self._lock:
                    self._remember((doc_id, content_hash), found[doc_id])
        return found

    def _remember(self, key: tuple[str, str], text: str) -> None:
        if key in self._texts:
            return
        self._texts[key] = text
        self._text_chars += len(text)
        while self._text_chars > _CACHED_CHARS and len(self._texts) > 1:
            _key, dropped = self._texts.popitem(last=False)
            self._text_chars -= len(dropped)

    # -- writing ----------------------------------------------------------------------------

    def write_chunks(self, documents: Sequence[PreparedArticle]) -> None:
        """Writes the chunks of several articles, with their vectors and sentence vectors.

        One Chroma write serves many articles (per-call cost dominates small writes); readers
        see none of these chunks until `commit_documents` writes their articles' records.
        A chunk is stored as offsets into its article's text, which the record holds: storing
        the text again as the chunk's document would double the text stored, and Chroma's
        full-text indexing of documents (which retrieval does not use) was a third of ingest's
        own cost.
        """
        ids: list[str] = []
        embeddings: list[list[float]] = []
        metadatas: list[dict[str, Any]] = []
        for document in documents:
            chunks, sentence_vectors = document.chunks, document.sentence_vectors
            if sentence_vectors is not None and len(sentence_vectors) != len(chunks):
                raise ValueError(f"{len(chunks)} chunks but {len(sentence_vectors)} sentence vector sets")
            encoded = [v.encode() if v is not None else "" for v in sentence_vectors or [None] * len(chunks)]
            ids += [c.chunk_id for c in chunks]
            embeddings += [list(v) for v in document.vectors]
            metadatas += [
                {
                    "doc_id": document.article.doc_id,
                    "content_hash": document.content_hash,
                    "chunk_index": c.index,
                    "start": c.start,
                    "end": c.end,
                }
                | ({_META_SENTENCES: packed} if packed else {})
                for c, packed in zip(chunks, encoded, strict=True)
            ]
        collection = self.chunks(create=True)
        for start in range(0, len(ids), _WRITE_PAGE):
            stop = start + _WRITE_PAGE
            self._call(
                "write chunks",
                collection.upsert,
                ids=ids[start:stop],
                embeddings=embeddings[start:stop],
                metadatas=metadatas[start:stop],
            )

    def commit_documents(self, documents: Sequence[PreparedArticle]) -> list[DocRecord]:
        """Commits articles whose chunks `write_chunks` wrote: their records in one write, then
        drops their older chunks.

        Each Chroma write costs about 15 ms whatever its size, so a batch of small articles
        commits in one.
        """
        if not documents:
            return []
        ids = [d.article.doc_id for d in documents]
        if len(set(ids)) != len(ids):
            raise ValueError("an article appears twice in one commit")
        now = time.time()
        records = [
            DocRecord(
                doc_id=d.article.doc_id,
                title=d.article.title,
                source=d.article.source,
                author=d.article.author,
                date=d.article.date,
                path=d.article.path,
                content_hash=d.content_hash,
                file_hash=d.file_hash,
                n_chunks=len(d.chunks),
                ingested_at=now,
            )
            for d in documents
        ]
        self._call(
            "write record",
            self.docs().upsert,
            ids=[r.doc_id for r in records],
            embeddings=[[1.0]] * len(records),
            documents=[d.article.text for d in documents],
            metadatas=[asdict(r) for r in records],
        )
        older = [{"$and": [{"doc_id": r.doc_id}, {"content_hash": {"$ne": r.content_hash}}]} for r in records]
        collection = self.chunks(create=True)
        for start in range(0, len(older), _OR_BATCH):
            group = older[start : start + _OR_BATCH]
            self._call(
                "drop old chunks", collection.delete, where=group[0] if len(group) == 1 else {"$or": group}
            )
        return records

    def delete_document(self, doc_id: str) -> None:
        """Removes an article's record, then its chunks."""
        collection = self.chunks(create=True)
        self._call("delete record", self.docs().delete, ids=[doc_id])
        self._call("delete chunks", collection.delete, where={"doc_id": doc_id})

    def reconcile(self) -> int:
        """Deletes chunks no committed record vouches for; returns how many."""
        # Read afresh, not from `records()`: a writer killed mid-batch committed records without
        # moving to a new generation, so the cached records can miss them.
        records = {doc_id: r.content_hash for doc_id, r in self._read_records().items()}
        stale = [
            chunk_id
            for chunk_id, _text, metadata in self._paged(self.chunks(create=True), include_text=False)
            if records.get(str(metadata.get("doc_id"))) != metadata.get("content_hash")
        ]
        collection = self.chunks(create=True)
        for start in range(0, len(stale), _GET_PAGE):
            self._call("delete stale chunks", collection.delete, ids=stale[start : start + _GET_PAGE])
        return len(stale)

    def _read_records(self) -> dict[str, DocRecord]:
        """Committed articles by id, as stored now (`records` caches them)."""
        result = {}
        for _id, _text, metadata in self._paged(self.docs(), include_text=False):
            record = _record_from_metadata(metadata)
            result[record.doc_id] = record
        return result

    # -- reading ----------------------------------------------------------------------------

    def committed_chunks(self) -> Iterator[Chunk]:
        """Every chunk of every committed article, in no particular order."""
        return self._committed(self.records(), None)

    def article_chunks(self, doc_ids: Collection[str]) -> Iterator[Chunk]:
        """The committed chunks of some articles, in no particular order."""
        records = self.records()
        wanted = sorted(d for d in doc_ids if d in records)
        for start in range(0, len(wanted), _IN_BATCH):
            yield from self._committed(records, {"doc_id": {"$in": wanted[start : start + _IN_BATCH]}})

    def _committed(self, records: dict[str, DocRecord], where: dict[str, Any] | None) -> Iterator[Chunk]:
        page: list[tuple[str, str, dict[str, Any]]] = []
        for row in self._paged(self.chunks(), include_text=True, where=where):
            page.append(row)
            if len(page) == _GET_PAGE:
                yield from (c for c in self._stored(page, records, with_vectors=False) if c is not None)
                page = []
        yield from (c for c in self._stored(page, records, with_vectors=False) if c is not None)

    def _stored(
        self,
        rows: Sequence[tuple[str, str, dict[str, Any]]],
        records: dict[str, DocRecord],
        *,
        with_vectors: bool,
    ) -> list[Chunk | None]:
        """The chunks of (id, document, metadata) rows; None for a row no committed record vouches
        for, or whose article text is no longer that version's.

        A chunk's text is the slice of its article's text; an index written before chunks were
        stored as offsets holds it as the chunk's document too.
        """
        vouched: list[DocRecord | None] = []
        for _id, _document, metadata in rows:
            record = records.get(str(metadata.get("doc_id")))
            ok = record is not None and record.content_hash == metadata.get("content_hash")
            vouched.append(record if ok else None)
        wanted = {
            r.doc_id: r for r, (_id, document, _m) in zip(vouched, rows, strict=True) if r and not document
        }
        texts = self._article_texts(wanted) if wanted else {}
        chunks: list[Chunk | None] = []
        for record, (chunk_id_, document, metadata) in zip(vouched, rows, strict=True):
            if record is None or not (document or record.doc_id in texts):
                chunks.append(None)
                continue
            start, end = int(metadata["start"]), int(metadata["end"])
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_,
                    doc_id=record.doc_id,
                    index=int(metadata["chunk_index"]),
                    start=start,
                    end=end,
                    text=document or texts[record.doc_id][start:end],
                    sentence_vectors=str(metadata.get(_META_SENTENCES, "")) if with_vectors else "",
                )
            )
        return chunks

    def dense_search(
        self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest committed chunks by cosine similarity, best first."""
        collection = self.chunks()
        records = self.records()
        # Committed chunks are all in the collection, so their sum bounds n_results safely, and it
        # is cached per generation: `collection.count()` costs 10+ ms a query at 10^5 chunks.
        committed = sum(record.n_chunks for record in records.values())
        if committed == 0:
            return []
        got = self._call(
            "search",
            collection.query,
            query_embeddings=[list(vector)],
            n_results=min(k, committed),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        rows = [
            (str(chunk_id_), str(document or ""), dict(metadata or {}))
            for chunk_id_, document, metadata in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], strict=True
            )
        ]
        chunks = self._stored(rows, records, with_vectors=True)
        return [
            (chunk, 1.0 - float(distance))
            for chunk, distance in zip(chunks, got["distances"][0], strict=True)
            if chunk is not None
        ]

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """Encoded sentence vectors of some chunks, by chunk id (chunks without any are left out)."""
        if not chunk_ids:
            return {}
        got = self._call("read", self.chunks().get, ids=list(chunk_ids), include=["metadatas"])
        return {
            str(item_id): str(metadata[_META_SENTENCES])
            for item_id, metadata in zip(got["ids"], got["metadatas"], strict=True)
            if metadata and metadata.get(_META_SENTENCES)
        }

    def _paged(
        self, collection: Any, *, include_text: bool, where: dict[str, Any] | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            got = self._call(
                "read", collection.get, where=where, include=include, limit=_GET_PAGE, offset=offset
            )
            ids = got["ids"]
            if not ids:
                return
            documents = got.get("documents") or [""] * len(ids)
            for item_id, text, metadata in zip(ids, documents, got["metadatas"], strict=True):
                yield item_id, text or "", dict(metadata or {})
            if len(ids) < _GET_PAGE:
                return
            offset += len(ids)

    def stats(self) -> dict[str, Any]:
        """Counts and identity, for `rag stats`."""
        records = self.records() if self.exists() else {}
        metadata: dict[str, Any] = {}
        if self.exists():
            metadata = (
                self._call("read metadata", self.client.get_collection, self.settings.collection).metadata
                or {}
            )
        return {
            "documents": len(records),
            "chunks": sum(r.n_chunks for r in records.values()),
            "embedder": metadata.get(_KEY_EMBEDDER, self.embedder.model_id),
            "chunking": metadata.get(_KEY_CHUNKING, self.chunking),
            "sentence_vectors": metadata.get(_KEY_SENTENCES, "none" if metadata else _sentence_format()),
            "store": "server" if self.settings.chroma_host else "embedded",
            "location": self.settings.store_location,
            "collection": self.settings.collection,
            "interrupted_write": bool(metadata.get(_KEY_DIRTY, False)),
            "read_only": self.read_only_reason() or False,
        }


def _sentence_format() -> str:
    from rag.vectors import FORMAT

    return FORMAT


def _record_from_metadata(metadata: dict[str, Any]) -> DocRecord:
    return DocRecord(
        doc_id=str(metadata["doc_id"]),
        title=str(metadata.get("title", "")),
        source=str(metadata.get("source", "")),
        author=str(metadata.get("author", "")),
        date=str(metadata.get("date", "")),
        path=str(metadata.get("path", "")),
        content_hash=str(metadata["content_hash"]),
        file_hash=str(metadata.get("file_hash", "")),
        n_chunks=int(metadata.get("n_chunks", 0)),
        ingested_at=float(metadata.get("ingested_at", 0.0)),
    )


def _forget_embedded(engine: Path | Any, *, stop: bool = False) -> bool:
    """Drops chromadb's process-wide engine of an embedded store folder, or of a client (and stops
    it); returns False when this chromadb keeps its engines elsewhere, and nothing was dropped.

    chromadb shares one engine per folder among all of a process's clients, and offers no public
    way to drop one: `clear_system_cache()` drops every folder's, and `close()` keeps the engine
    while another client uses it. So this is the one place that uses its private registry.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = str(engine) if isinstance(engine, Path) else engine._identifier
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    except (ImportError, AttributeError):
        return False
    if stop and system is not None:
        with contextlib.suppress(Exception):
            system.stop()
    return True


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The copy a read-only store reads: where, why, and the files it was copied from."""

    path: Path
    reason: str
    signature: tuple[tuple[str, int, int], ...]
    remove: weakref.finalize[Any, Any]


_SNAPSHOT_PREFIX = "rag-read-only-"


def _remove_orphaned_snapshots() -> None:
    """Removes the copies that processes which ended without cleaning up (SIGTERM, SIGKILL) left behind."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SNAPSHOT_PREFIX}*-*"):
        pid = folder.name.removeprefix(_SNAPSHOT_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, someone else's
            pass


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of the store's database files: they change on every write."""
    found = []
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal"):
        with contextlib.suppress(OSError):
            stat = (directory / name).stat()
            found.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _unwritable(directory: Path) -> str:
    """Why the embedded store in `directory` cannot be written ("" when it can, or does not exist yet)."""
    database = directory / "chroma.sqlite3"
    if not database.exists():
        return ""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "Read-only file system"
    except OSError:
        pass
    if not (os.access(directory, os.W_OK) and os.access(database, os.W_OK)):
        return "Permission denied"
    return ""


def _is_connection_error(exc: BaseException) -> bool:
    import httpx  # what chromadb's HTTP client uses

    lost = (
        ConnectionError,
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
    )
    # chromadb reports a server it cannot reach while connecting as a bare ValueError.
    return any(isinstance(e, lost) for e in _chain(exc)) or "Could not connect" in str(exc)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__
