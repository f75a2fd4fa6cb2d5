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
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rag.errors import IndexMismatchError, NoIndexError, ReadOnlyIndexError, StoreUnavailableError
from rag.index.chroma import GET_PAGE, Connection
from rag.memory import release_freed_memory
from rag.types import Chunk, DocRecord

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence

    from rag.index.copies import Fingerprint
    from rag.settings import Settings
    from rag.types import Embedder, PreparedArticle

__all__ = ["Store", "chunk_id", "chunking_id"]

_SCHEMA = 1
_EF_SEARCH = 400
"""Candidates HNSW keeps while searching (Chroma's default is 100). Retrieval asks for 100 chunks, so
at 100 the graph's approximation decided which low-ranked candidates came back: an index built in
another order (a killed ingest rerun) ranked a question differently from a clean one."""
_KEY_SCHEMA = "rag:schema"
_KEY_EMBEDDER = "rag:embedder"
_KEY_CHUNKING = "rag:chunking"
_KEY_SENTENCES = "rag:sentence_vectors"
_META_SENTENCES = "sentence_vectors"
_KEY_GENERATION = "rag:generation"
_KEY_DIRTY = "rag:dirty"
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
        self._db = Connection(settings, client=client, on_lost=self.forget_cached)
        self._lock = threading.RLock()
        self._records: tuple[str, dict[str, DocRecord]] | None = None
        self._seen_generation: str | None = None
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._text_chars = 0
        self._embedder_checked = False

    @property
    def client(self) -> Any:
        """The chromadb client, created on first use."""
        return self._db.client

    def read_only_reason(self) -> str:
        """Why this store only reads ("" when it can write): `RAG_READ_ONLY`, or an embedded
        store's folder that cannot be written."""
        return self._db.read_only_reason()

    @property
    def read_only(self) -> bool:
        """Whether this store refuses writes; it still answers (see `read_only_reason`)."""
        return bool(self._db.read_only_reason())

    def forget_cached(self) -> None:
        """Drops the cached records: the next read asks the store."""
        with self._lock:
            self._records = None

    # -- collections ------------------------------------------------------------------------

    @property
    def docs_name(self) -> str:
        """Name of the collection of article records."""
        return f"{self.settings.collection}-docs"

    def exists(self) -> bool:
        """Whether the chunk collection exists (without creating an empty store folder)."""
        self._db.refuse_foreign()
        if not self._db.exists_on_disk():
            return False
        names = self._db.call("list collections", self.client.list_collections)
        return self.settings.collection in {getattr(c, "name", c) for c in names}

    def _existing(self) -> Any | None:
        """The chunk collection, or None when there is none: one round trip, unlike `exists`."""
        self._db.refuse_foreign()
        if not self._db.exists_on_disk():
            return None
        from chromadb.errors import NotFoundError

        try:
            return self._db.call("open collection", self.client.get_collection, self.settings.collection)
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
            collection = self._db.call(
                "open collection",
                self.client.get_or_create_collection,
                self.settings.collection,
                metadata=self._identity() | {_KEY_GENERATION: proposed},
                configuration={"hnsw": {"space": "cosine", "ef_search": _EF_SEARCH}},
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

    def check_embedder(self) -> None:
        """Checks the index's identity against the embedder, as the first read does, so that an
        embedder can take on the index's before it embeds a question; nothing when there is no index."""
        if self._embedder_checked:
            return
        collection = self._existing()
        if collection is not None:
            self._check_identity(collection.metadata or {}, writing=False)
            self._embedder_checked = True

    def _check_identity(self, metadata: dict[str, Any], *, writing: bool) -> None:
        built_with = metadata.get(_KEY_EMBEDDER)
        if built_with is None:
            raise IndexMismatchError(
                f"collection {self.settings.collection!r} was not made by this tool; "
                "choose another RAG_COLLECTION, or run `rag ingest --rebuild PATH` to replace it"
            )
        # An embedder may take on an index's compatible identity (`SentenceTransformerEmbeddings.adopt`).
        adopt = getattr(self.embedder, "adopt", None)
        if built_with != self.embedder.model_id and not (adopt is not None and adopt(built_with)):
            raise IndexMismatchError(
                f"the index was built with {built_with}, but the embedder is {self.embedder.model_id}; "
                "run `rag ingest --rebuild PATH` (or set RAG_EMBEDDING_MODEL and RAG_EMBEDDING_BACKEND back)"
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
        return self._db.call(
            "open collection",
            self.client.get_or_create_collection,
            self.docs_name,
            metadata={_KEY_SCHEMA: _SCHEMA},
        )

    # -- identity and state -----------------------------------------------------------------

    def generation(self) -> str:
        """Changes whenever a write completes; caches key on it."""
        if self._db.snapshot_stale:
            self._db.reopen()  # the store was written since it was copied (its folder is writable again)
        collection = self._existing()
        if collection is None:
            return ""
        generation = str((collection.metadata or {}).get(_KEY_GENERATION, ""))
        if self._seen_generation not in (None, generation) and generation not in _WRITTEN_HERE:
            self._db.reopen()
        self._seen_generation = generation
        return generation

    def collection_id(self) -> str:
        """Identity of this incarnation of the chunk collection ("" when there is none); `reset` changes it."""
        collection = self._existing()
        return "" if collection is None else str(collection.id)

    def _set_metadata(self, **values: Any) -> None:
        collection = self.chunks(create=True)
        metadata = {k: v for k, v in (collection.metadata or {}).items() if k.startswith("rag:")}
        metadata.update(values)
        self._db.call("write metadata", collection.modify, metadata=metadata)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per data directory (ingest, chat uploads and deletes, other processes).

        Raises `ReadOnlyIndexError` when the store is read-only, before anything is written.
        """
        self.check_writable()
        self._db.for_writing()  # opened while it could not be written: write to the store itself
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            handle = (self.settings.data_dir / ".ingest.lock").open("a")
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot write to RAG_DATA_DIR {self.settings.data_dir}: {exc.strerror or exc}"
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._db.writing = True
            try:
                yield
            finally:
                self._db.writing = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_writable(self) -> None:
        """Raises `ReadOnlyIndexError`, saying why and what still works, when the store is read-only."""
        reason = self._db.read_only_reason()
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
                self._db.call("delete collection", self.client.delete_collection, name)
            except StoreUnavailableError:
                raise
            except Exception:
                pass
        with self._lock:
            self._records = None
            self._texts.clear()
            self._text_chars = 0
        # The new collection takes the embedder's own identity, not one it took on for the old one.
        forget = getattr(self.embedder, "forget_adopted", None)
        if forget is not None:
            forget()

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

    def _article_texts(self, records: dict[str, DocRecord], *, remember: bool = True) -> dict[str, str]:
        """The texts of these committed articles, from the cache or in one read (kept in the cache
        unless `remember` is false: a pass over the whole collection would fill it at once).

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
            got = self._db.call(
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
                if remember:
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
            self._db.call(
                "write chunks",
                collection.upsert,
                ids=ids[start:stop],
                embeddings=embeddings[start:stop],
                metadatas=metadatas[start:stop],
            )
        del ids, embeddings, metadatas
        # Chroma's threads build each request in malloc arenas of their own, which keep it once
        # freed: trimming here took the peak RSS of ingesting the 1,113 articles of a news
        # archive from 692 to 642 MB (one run each).
        release_freed_memory()

    def commit_documents(
        self,
        documents: Sequence[PreparedArticle],
        groups: Mapping[str, tuple[str, Fingerprint]] | None = None,
    ) -> list[DocRecord]:
        """Commits articles whose chunks `write_chunks` wrote: their records in one write, then
        drops their older chunks. `groups` gives each article's canonical article ("" for none)
        and its fingerprint (see `rag.index.copies`).

        Each Chroma write costs about 15 ms whatever its size, so a batch of small articles
        commits in one.
        """
        groups = groups or {}
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
                date_source=d.article.date_source,
                duplicate_of=groups.get(d.article.doc_id, ("", None))[0],
            )
            for d in documents
        ]
        prints = [groups.get(r.doc_id, ("", None))[1] for r in records]
        self._db.call(
            "write record",
            self.docs().upsert,
            ids=[r.doc_id for r in records],
            embeddings=[[1.0]] * len(records),
            documents=[d.article.text for d in documents],
            metadatas=[
                asdict(r) | ({"text_hash": f.text_hash, "minhash": f.minhash} if f else {})
                for r, f in zip(records, prints, strict=True)
            ],
        )
        older = [{"$and": [{"doc_id": r.doc_id}, {"content_hash": {"$ne": r.content_hash}}]} for r in records]
        collection = self.chunks(create=True)
        for start in range(0, len(older), _OR_BATCH):
            group = older[start : start + _OR_BATCH]
            self._db.call(
                "drop old chunks", collection.delete, where=group[0] if len(group) == 1 else {"$or": group}
            )
        return records

    def fingerprints(self) -> dict[str, Fingerprint]:
        """The fingerprints of the committed articles that have one (written since copies are found)."""
        from rag.index.copies import Fingerprint

        found = {}
        for doc_id, _text, metadata in self._db.paged(self.docs(), include_text=False):
            if metadata.get("minhash"):
                found[doc_id] = Fingerprint(str(metadata.get("text_hash", "")), str(metadata["minhash"]))
        return found

    def regroup(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Changes some records' group fields (`duplicate_of`, `n_chunks`) in one write."""
        if changes:
            ids = sorted(changes)
            self._db.call(
                "write record", self.docs().update, ids=ids, metadatas=[dict(changes[i]) for i in ids]
            )

    def delete_document(self, doc_id: str) -> None:
        """Removes an article's record, then its chunks."""
        collection = self.chunks(create=True)
        self._db.call("delete record", self.docs().delete, ids=[doc_id])
        self._db.call("delete chunks", collection.delete, where={"doc_id": doc_id})

    def reconcile(self) -> int:
        """Deletes chunks no committed record vouches for; returns how many."""
        # Read afresh, not from `records()`: a writer killed mid-batch committed records without
        # moving to a new generation, so the cached records can miss them.
        records = {doc_id: r.content_hash for doc_id, r in self._read_records().items()}
        stale = [
            chunk_id
            for chunk_id, _text, metadata in self._db.paged(self.chunks(create=True), include_text=False)
            if records.get(str(metadata.get("doc_id"))) != metadata.get("content_hash")
        ]
        collection = self.chunks(create=True)
        for start in range(0, len(stale), GET_PAGE):
            self._db.call("delete stale chunks", collection.delete, ids=stale[start : start + GET_PAGE])
        return len(stale)

    def _read_records(self) -> dict[str, DocRecord]:
        """Committed articles by id, as stored now (`records` caches them)."""
        result = {}
        for _id, _text, metadata in self._db.paged(self.docs(), include_text=False):
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
        for row in self._db.paged(self.chunks(), include_text=True, where=where):
            page.append(row)
            if len(page) == GET_PAGE:
                yield from (
                    c
                    for c in self._stored(page, records, with_vectors=False, remember=False)
                    if c is not None
                )
                page = []
        yield from (
            c for c in self._stored(page, records, with_vectors=False, remember=False) if c is not None
        )

    def _stored(
        self,
        rows: Sequence[tuple[str, str, dict[str, Any]]],
        records: dict[str, DocRecord],
        *,
        with_vectors: bool,
        remember: bool = True,
    ) -> list[Chunk | None]:
        """The chunks of (id, document, metadata) rows; None for a row no committed record vouches
        for, or whose article text is no longer that version's (`remember`: see `_article_texts`).

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
        texts = self._article_texts(wanted, remember=remember) if wanted else {}
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
        got = self._db.call(
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

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, tuple[list[float], str]]:
        """The vector and the encoded sentence vectors ("" when none) of some committed chunks, by
        chunk id; a chunk that is missing or not of a committed article is left out."""
        if not chunk_ids:
            return {}
        records = self.records()
        got = self._db.call(
            "read", self.chunks().get, ids=list(chunk_ids), include=["embeddings", "metadatas"]
        )
        found = {}
        for item_id, vector, metadata in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True):
            record = records.get(str((metadata or {}).get("doc_id")))
            if record is not None and record.content_hash == metadata.get("content_hash"):
                found[str(item_id)] = ([float(x) for x in vector], str(metadata.get(_META_SENTENCES, "")))
        return found

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """Encoded sentence vectors of some chunks, by chunk id (chunks without any are left out)."""
        if not chunk_ids:
            return {}
        got = self._db.call("read", self.chunks().get, ids=list(chunk_ids), include=["metadatas"])
        return {
            str(item_id): str(metadata[_META_SENTENCES])
            for item_id, metadata in zip(got["ids"], got["metadatas"], strict=True)
            if metadata and metadata.get(_META_SENTENCES)
        }

    def stats(self) -> dict[str, Any]:
        """Counts and identity, for `rag stats`."""
        exists = self.exists()
        records = self.records() if exists else {}
        metadata: dict[str, Any] = {}
        if exists:
            metadata = (
                self._db.call("read metadata", self.client.get_collection, self.settings.collection).metadata
                or {}
            )
        dated = [r for r in records.values() if r.date]
        return {
            "exists": exists,
            "documents": len(records),
            "chunks": sum(r.n_chunks for r in records.values()),
            "dated": len(dated),
            # An index from before provenance was kept knows its dates but not where they came from.
            "date_sources": dict(Counter(r.date_source or "unrecorded" for r in dated).most_common()),
            "copies": sum(1 for r in records.values() if r.duplicate_of),
            "copy_groups": len({r.duplicate_of for r in records.values() if r.duplicate_of}),
            "embedder": metadata.get(_KEY_EMBEDDER, self.embedder.model_id),
            "chunking": metadata.get(_KEY_CHUNKING, self.chunking),
            "sentence_vectors": metadata.get(_KEY_SENTENCES, "none" if metadata else _sentence_format()),
            "store": "server" if self.settings.chroma_host else "embedded",
            "location": self.settings.store_location,
            "collection": self.settings.collection,
            "interrupted_write": bool(metadata.get(_KEY_DIRTY, False)),
            "read_only": self._db.read_only_reason() or False,
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
        date_source=str(metadata.get("date_source", "")),
        duplicate_of=str(metadata.get("duplicate_of", "")),
    )
