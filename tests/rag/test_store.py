"""The store on its own: the commit protocol, reads, deletes and the index identity, on fakes."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from rag.errors import IndexMismatchError, NoIndexError, ReadOnlyIndexError
from rag.index.store import Store
from rag.vectors import SentenceVectors
from tests.rag.rag_support import fact_article, news_article, prepare
from tests.support import Fact, HashingEmbedder, chunk_rows, forget_open_stores

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.types import Article, DocRecord

pytestmark = pytest.mark.fast

FACTS = [
    Fact("Larkspur Hollow", "harbour master", "Idris Wexford", 12),
    Fact("Corriebrae", "fire chief", "Henrike Solano", 9),
]
LONG_TEXT = " ".join(
    f"Sentence {n} of the long report says that the {word} committee met again on a Tuesday."
    for n, word in enumerate(["budget", "transport", "housing", "water", "schools", "parks"] * 8)
)


def _put(store: Store, *articles: Article) -> list[DocRecord]:
    """Commits articles as ingest does: under the lock, between the write marks."""
    prepared = [prepare(store, article) for article in articles]
    with store.write_lock():
        store.begin_write()
        store.write_chunks(prepared)
        records = store.commit_documents(prepared)
        store.end_write()
    return records


def _delete(store: Store, doc_id: str) -> None:
    with store.write_lock():
        store.begin_write()
        store.delete_document(doc_id)
        store.end_write()


def test_a_committed_article_reads_back_whole(memory_store: Store) -> None:
    article = news_article("report.txt", LONG_TEXT, title="The long report")
    (record,) = _put(memory_store, article)

    (read,) = memory_store.records().values()
    # Chroma may move a float's last bit on the way through its metadata: compare the time apart.
    assert dataclasses.replace(read, ingested_at=0.0) == dataclasses.replace(record, ingested_at=0.0)
    assert read.ingested_at == pytest.approx(record.ingested_at, abs=1e-3)
    assert (record.title, record.source, record.date) == ("The long report", article.source, article.date)
    assert record.content_hash == hashlib.sha256(LONG_TEXT.encode()).hexdigest() and record.n_chunks > 2
    assert memory_store.article_text("report.txt") == LONG_TEXT
    chunks = sorted(memory_store.committed_chunks(), key=lambda c: c.index)
    assert [c.index for c in chunks] == list(range(record.n_chunks))
    assert all(LONG_TEXT[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(LONG_TEXT)
    stats = memory_store.stats()
    assert (stats["documents"], stats["chunks"]) == (1, record.n_chunks)
    assert stats["embedder"] == memory_store.embedder.model_id and not stats["interrupted_write"]


def test_a_pass_over_every_chunk_leaves_the_article_text_cache_alone(
    memory_store: Store, settings: Settings, hashing_embedder: HashingEmbedder, memory_client: Any
) -> None:
    _put(memory_store, *(fact_article(fact, n) for n, fact in enumerate(FACTS)))
    fresh = Store(memory_store.settings, hashing_embedder, client=memory_client)

    chunks = list(fresh.committed_chunks())  # the BM25 sync's read: it would fill the cache at once
    assert {c.doc_id for c in chunks} == {fact.file_name for fact in FACTS}
    assert fresh._texts == {}
    fresh.article_text(FACTS[0].file_name)  # what retrieval reads is cached
    assert [doc_id for doc_id, _hash in fresh._texts] == [FACTS[0].file_name]


def test_chunks_are_invisible_until_their_record_is_committed(memory_store: Store) -> None:
    _put(memory_store, fact_article(FACTS[0], 0))
    with memory_store.write_lock():
        memory_store.begin_write()
        memory_store.write_chunks([prepare(memory_store, fact_article(FACTS[1], 1))])  # never committed

    assert set(memory_store.records()) == {FACTS[0].file_name}
    assert {row[0] for row in chunk_rows(memory_store).values()} == {FACTS[0].file_name}
    with pytest.raises(KeyError):
        memory_store.article_text(FACTS[1].file_name)
    assert memory_store.stats()["interrupted_write"]
    assert memory_store.reconcile() > 0
    assert memory_store.chunks().count() == len(chunk_rows(memory_store))


def test_a_new_version_replaces_the_old_chunks(memory_store: Store) -> None:
    _put(memory_store, news_article("report.txt", LONG_TEXT))
    old = set(chunk_rows(memory_store))
    changed = LONG_TEXT.replace("Tuesday", "Friday")
    (record,) = _put(memory_store, news_article("report.txt", changed))

    rows = chunk_rows(memory_store)
    assert not old & set(rows)
    assert len(rows) == record.n_chunks == memory_store.chunks().count()
    assert memory_store.article_text("report.txt") == changed
    assert all(changed[start:end] == text for _doc, _i, start, end, text in rows.values())


def test_deleting_an_article_removes_its_record_and_chunks(memory_store: Store) -> None:
    _put(memory_store, *(fact_article(fact, n) for n, fact in enumerate(FACTS)))
    _delete(memory_store, FACTS[0].file_name)

    assert set(memory_store.records()) == {FACTS[1].file_name}
    assert {row[0] for row in chunk_rows(memory_store).values()} == {FACTS[1].file_name}
    assert memory_store.chunks().count() == len(chunk_rows(memory_store))


def test_dense_search_finds_the_article_by_its_words(memory_store: Store) -> None:
    _put(
        memory_store,
        news_article("report.txt", LONG_TEXT),
        *(fact_article(f, n) for n, f in enumerate(FACTS)),
    )
    vector = memory_store.embedder.embed_query(FACTS[1].question)

    found = memory_store.dense_search(vector, k=3)
    assert found[0][0].doc_id == FACTS[1].file_name
    assert [score for _c, score in found] == sorted((score for _c, score in found), reverse=True)
    best = found[0][0]
    assert memory_store.article_text(best.doc_id)[best.start : best.end] == best.text
    decoded = SentenceVectors.decode(best.sentence_vectors)
    assert decoded is not None and len(decoded.spans) >= 1
    limited = memory_store.dense_search(vector, k=10, where={"doc_id": FACTS[0].file_name})
    assert {chunk.doc_id for chunk, _score in limited} == {FACTS[0].file_name}


def test_each_write_moves_the_index_to_a_new_generation(memory_store: Store) -> None:
    assert memory_store.generation() == ""
    _put(memory_store, fact_article(FACTS[0], 0))
    first = memory_store.generation()
    _put(memory_store, fact_article(FACTS[1], 1))
    assert first and memory_store.generation() not in ("", first)


def test_an_empty_store_has_no_index_yet(memory_store: Store) -> None:
    assert not memory_store.exists()
    assert memory_store.records() == {}
    with pytest.raises(NoIndexError, match="rag ingest"):
        memory_store.dense_search([1.0] * 256, k=3)


def test_another_embedder_cannot_read_or_write_the_index(memory_store: Store, memory_client: Any) -> None:
    _put(memory_store, fact_article(FACTS[0], 0))
    other = Store(memory_store.settings, HashingEmbedder(name="another-model"), client=memory_client)

    with pytest.raises(IndexMismatchError, match="--rebuild"):
        other.dense_search(other.embedder.embed_query(FACTS[0].question), k=3)
    with pytest.raises(IndexMismatchError):
        _put(other, fact_article(FACTS[1], 1))


def test_other_chunking_reads_the_index_but_cannot_add_to_it(memory_store: Store, memory_client: Any) -> None:
    _put(memory_store, fact_article(FACTS[0], 0))
    rechunked = memory_store.settings.model_copy(update={"chunk_tokens": 64})
    other = Store(rechunked, memory_store.embedder, client=memory_client)

    assert set(other.records()) == {FACTS[0].file_name}
    with pytest.raises(IndexMismatchError, match="re-chunk"):
        _put(other, fact_article(FACTS[1], 1))


def test_a_read_only_store_refuses_writes(memory_store: Store, memory_client: Any) -> None:
    _put(memory_store, fact_article(FACTS[0], 0))
    frozen = memory_store.settings.model_copy(update={"read_only": True})
    reader = Store(frozen, memory_store.embedder, client=memory_client)

    with pytest.raises(ReadOnlyIndexError, match="RAG_READ_ONLY"):
        _put(reader, fact_article(FACTS[1], 1))
    assert set(reader.records()) == {FACTS[0].file_name}


def test_an_embedded_store_reads_back_after_reopening(
    settings: Settings, hashing_embedder: HashingEmbedder
) -> None:
    """The same round trip through a real folder, as `rag ingest` then `rag ask` in two processes."""
    store = Store(settings, hashing_embedder)
    records = _put(store, *(fact_article(fact, n) for n, fact in enumerate(FACTS)))
    rows = chunk_rows(store)
    forget_open_stores()

    reopened = Store(settings, hashing_embedder)
    assert set(reopened.records()) == {r.doc_id for r in records}
    assert chunk_rows(reopened) == rows
    assert (settings.chroma_dir / "chroma.sqlite3").exists()


def test_records_keep_where_the_date_came_from_and_stats_count_the_dated(
    memory_store: Store, memory_client: Any
) -> None:
    from_url = dataclasses.replace(news_article("url.txt", LONG_TEXT), date="2025-01-15", date_source="url")
    from_dateline = dataclasses.replace(
        news_article("dateline.txt", LONG_TEXT), date="2025-01-14", date_source="dateline"
    )
    undated = dataclasses.replace(news_article("undated.txt", LONG_TEXT), date="")
    old = news_article("old.txt", LONG_TEXT)
    _put(memory_store, from_url, from_dateline, undated, old)
    # A record written before provenance was kept has no `date_source` key at all.
    got = memory_store.docs().get(ids=["old.txt"], include=["metadatas", "documents"])
    metadata = {k: v for k, v in got["metadatas"][0].items() if k != "date_source"}
    memory_store.docs().delete(ids=["old.txt"])
    memory_store.docs().add(
        ids=["old.txt"], embeddings=[[1.0]], documents=got["documents"], metadatas=[metadata]
    )

    records = Store(memory_store.settings, memory_store.embedder, client=memory_client).records()

    assert {doc_id: (r.date, r.date_source) for doc_id, r in records.items()} == {
        "url.txt": ("2025-01-15", "url"),
        "dateline.txt": ("2025-01-14", "dateline"),
        "undated.txt": ("", ""),
        "old.txt": ("2024-05-01", ""),
    }
    stats = Store(memory_store.settings, memory_store.embedder, client=memory_client).stats()
    assert (stats["documents"], stats["dated"]) == (4, 3)
    assert stats["date_sources"] == {"url": 1, "dateline": 1, "unrecorded": 1}
