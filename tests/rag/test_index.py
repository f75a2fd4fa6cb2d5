"""The public `Index` and its one writer: what a block changes, what readers see, and when."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import TYPE_CHECKING, Any

import pytest

from rag.errors import ReadOnlyIndexError
from rag.index import Index
from rag.text import lexical_terms
from tests.rag.rag_support import fact_article, news_article, prepare
from tests.support import Fact, chunk_rows, raw_store

if TYPE_CHECKING:
    from pathlib import Path

    from rag.settings import Settings
    from rag.types import PreparedArticle
    from tests.support import HashingEmbedder

pytestmark = pytest.mark.fast

FACTS = [
    Fact("Larkspur Hollow", "harbour master", "Idris Wexford", 12),
    Fact("Corriebrae", "fire chief", "Henrike Solano", 9),
    Fact("Tollemarch", "head librarian", "Ysolde Karanja", 15),
]
REPORT = " ".join(
    f"Sentence {n} of the long report says that the {word} committee met again on a Tuesday."
    for n, word in enumerate(["budget", "transport", "housing", "water", "schools", "parks"] * 8)
)


def _fact(index: Index, number: int) -> PreparedArticle:
    return prepare(index, fact_article(FACTS[number], number))


def _surname(number: int) -> str:
    """The analysed term of a fact's person's surname: in that article only."""
    (term,) = lexical_terms(FACTS[number].person.split()[-1])
    return term


def _found(index: Index, query: str) -> set[str]:
    """The articles BM25 finds for `query`."""
    return {chunk.doc_id for chunk, _score in index.lexical_search(query, 20)}


def _stored_chunks(index: Index) -> int:
    """Every chunk row Chroma holds, committed or not."""
    return int(raw_store(index).chunks().count())


def test_put_articles_read_back_as_records_text_and_chunks(memory_index: Index) -> None:
    assert not memory_index.exists()
    report = prepare(memory_index, news_article("report.txt", REPORT, title="The long report"))
    with memory_index.writer() as writer:
        records = writer.put([report, _fact(memory_index, 0)])

    assert memory_index.exists()
    read = memory_index.records()
    assert set(read) == {"report.txt", FACTS[0].file_name} == {r.doc_id for r in records}
    for record in records:
        # Chroma may move a float's last bit on the way through its metadata: compare the time apart.
        assert dataclasses.replace(read[record.doc_id], ingested_at=0.0) == dataclasses.replace(
            record, ingested_at=0.0
        )
    (written,) = (r for r in records if r.doc_id == "report.txt")
    assert (written.title, written.content_hash, written.n_chunks) == (
        "The long report",
        report.content_hash,
        len(report.chunks),
    )
    assert written.n_chunks > 2
    assert memory_index.article_text("report.txt") == REPORT
    chunks = sorted(memory_index.article_chunks(["report.txt"]), key=lambda c: c.index)
    assert [c.chunk_id for c in chunks] == [c.chunk_id for c in report.chunks]
    assert all(REPORT[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(REPORT)
    assert {c.doc_id for c in memory_index.committed_chunks()} == set(read)
    assert len(chunk_rows(memory_index)) == sum(r.n_chunks for r in records) == _stored_chunks(memory_index)
    assert set(memory_index.sentence_vectors([c.chunk_id for c in chunks])) == {c.chunk_id for c in chunks}

    best, _similarity = memory_index.dense_search(memory_index.embedder.embed_query(FACTS[0].question), 1)[0]
    assert best.doc_id == FACTS[0].file_name
    stats = memory_index.stats()
    assert stats["documents"] == 2 and stats["chunks"] == len(chunk_rows(memory_index))
    assert not stats["interrupted_write"]


def test_a_put_replaces_the_articles_older_chunks(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([prepare(memory_index, news_article("report.txt", REPORT))])
    old = set(chunk_rows(memory_index))
    changed = REPORT.replace("Tuesday", "Friday")
    with memory_index.writer() as writer:
        (record,) = writer.put([prepare(memory_index, news_article("report.txt", changed))])

    rows = chunk_rows(memory_index)
    assert not old & set(rows)
    assert len(rows) == record.n_chunks == _stored_chunks(memory_index)
    assert memory_index.article_text("report.txt") == changed
    assert all(changed[start:end] == text for _doc, _i, start, end, text in rows.values())
    assert _found(memory_index, "Friday") == {"report.txt"}
    assert _found(memory_index, "Tuesday") == set()


def test_the_writers_records_follow_its_own_puts_and_deletes(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    with memory_index.writer() as writer:
        assert set(writer.records()) == {FACTS[0].file_name}
        writer.put([_fact(memory_index, 1)])
        assert set(writer.records()) == {FACTS[0].file_name, FACTS[1].file_name}
        writer.delete(FACTS[0].file_name)
        assert set(writer.records()) == {FACTS[1].file_name}


def test_delete_removes_the_record_the_chunks_and_the_bm25_hits(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0), _fact(memory_index, 1)])
    assert _found(memory_index, FACTS[0].person) == {FACTS[0].file_name}

    with memory_index.writer() as writer:
        writer.delete(FACTS[0].file_name)

    assert set(memory_index.records()) == {FACTS[1].file_name}
    assert {row[0] for row in chunk_rows(memory_index).values()} == {FACTS[1].file_name}
    assert _stored_chunks(memory_index) == len(chunk_rows(memory_index))
    with pytest.raises(KeyError):
        memory_index.article_text(FACTS[0].file_name)
    assert _found(memory_index, FACTS[0].person) == set()
    assert not memory_index.knows(_surname(0)) and memory_index.knows(_surname(1))


def test_a_clean_block_moves_the_generation_and_brings_bm25_up_to_date(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    first = memory_index.generation()
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 1)])

    assert first and memory_index.generation() not in ("", first)
    # `knows` and `idf` answer as of the last sync, and nothing but the writer has synced.
    assert memory_index.knows(_surname(1))
    assert memory_index.idf(_surname(1)) == memory_index.idf(_surname(0)) < memory_index.idf("zyxwv")
    folder = memory_index.settings.data_dir / "bm25" / memory_index.settings.collection
    assert json.loads((folder / "manifest.json").read_text())["generation"] == memory_index.generation()
    assert _found(memory_index, FACTS[1].person) == {FACTS[1].file_name}


def test_a_block_without_the_sync_leaves_bm25_to_the_first_search(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    with memory_index.writer(sync_lexical=False) as writer:
        writer.put([_fact(memory_index, 1)])

    assert memory_index.knows(_surname(0)) and not memory_index.knows(_surname(1))
    assert _found(memory_index, FACTS[1].person) == {FACTS[1].file_name}
    assert memory_index.knows(_surname(1))


def test_a_failed_block_leaves_the_index_interrupted_and_the_next_writer_recovers(
    memory_index: Index,
) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    committed = memory_index.generation()
    # Two versions of one article in one put: their chunks are written, then the commit refuses them.
    article = fact_article(FACTS[1], 1)
    revised = dataclasses.replace(article, text=article.text + "The council meets again in June.\n")
    versions = [prepare(memory_index, article), prepare(memory_index, revised)]
    with pytest.raises(ValueError, match="twice"), memory_index.writer() as writer:
        writer.put(versions)

    orphans = sum(len(v.chunks) for v in versions)
    assert _stored_chunks(memory_index) == len(chunk_rows(memory_index)) + orphans
    assert memory_index.stats()["interrupted_write"]
    assert memory_index.generation() == committed
    # Readers see only what was committed.
    assert set(memory_index.records()) == {FACTS[0].file_name}
    assert {row[0] for row in chunk_rows(memory_index).values()} == {FACTS[0].file_name}
    with pytest.raises(KeyError):
        memory_index.article_text(FACTS[1].file_name)
    for fact in FACTS[:2]:
        vector = memory_index.embedder.embed_query(fact.question)
        assert {c.doc_id for c, _s in memory_index.dense_search(vector, 10)} <= {FACTS[0].file_name}
    assert memory_index.dense_search(memory_index.embedder.embed_query(FACTS[0].question), 1)
    assert _found(memory_index, FACTS[1].person) == set()

    with memory_index.writer() as writer:
        assert writer.recovered == orphans
        assert writer.reconcile() == 0
    assert _stored_chunks(memory_index) == len(chunk_rows(memory_index))
    assert not memory_index.stats()["interrupted_write"]
    assert memory_index.generation() != committed
    with memory_index.writer() as writer:
        assert writer.recovered == 0


def test_what_a_failed_block_committed_is_read_afresh(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    assert set(memory_index.records()) == {FACTS[0].file_name}  # cached for this generation

    with pytest.raises(RuntimeError, match="after the put"), memory_index.writer() as writer:
        writer.put([_fact(memory_index, 1)])
        raise RuntimeError("failed after the put")

    # Still the same generation, but the records are read again: the commit counts.
    assert set(memory_index.records()) == {FACTS[0].file_name, FACTS[1].file_name}
    assert memory_index.article_text(FACTS[1].file_name) == fact_article(FACTS[1], 1).text
    with memory_index.writer() as writer:
        assert writer.recovered == 0
    assert _found(memory_index, FACTS[1].person) == {FACTS[1].file_name}


def test_rebuild_empties_the_index_first(memory_index: Index) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0), _fact(memory_index, 1)])

    with memory_index.writer(rebuild=True) as writer:
        assert writer.records() == {}
        writer.put([_fact(memory_index, 2)])

    assert set(memory_index.records()) == {FACTS[2].file_name}
    assert _stored_chunks(memory_index) == len(chunk_rows(memory_index)) == memory_index.stats()["chunks"]
    assert _found(memory_index, f"{FACTS[0].person} {FACTS[1].person}") == set()
    assert not memory_index.knows(_surname(0)) and memory_index.knows(_surname(2))

    with memory_index.writer(rebuild=True):
        pass
    assert memory_index.records() == {} and _stored_chunks(memory_index) == 0
    assert _found(memory_index, FACTS[2].person) == set()


@pytest.mark.parametrize("rebuild", [False, True], ids=["write", "rebuild"])
def test_a_read_only_index_refuses_a_writer_before_anything_is_written(
    memory_index: Index, memory_client: Any, tmp_path: Path, rebuild: bool
) -> None:
    with memory_index.writer() as writer:
        writer.put([_fact(memory_index, 0)])
    generation, rows = memory_index.generation(), chunk_rows(memory_index)
    frozen = memory_index.settings.model_copy(update={"read_only": True, "data_dir": tmp_path / "frozen"})
    reader = Index(frozen, memory_index.embedder, client=memory_client)
    assert reader.read_only and "RAG_READ_ONLY" in reader.read_only_reason()

    entered = False
    with pytest.raises(ReadOnlyIndexError, match="RAG_READ_ONLY"), reader.writer(rebuild=rebuild):
        entered = True

    assert not entered
    assert not frozen.data_dir.exists()  # not even the lock file
    assert memory_index.generation() == generation and chunk_rows(memory_index) == rows
    assert not memory_index.stats()["interrupted_write"]
    assert set(reader.records()) == {FACTS[0].file_name}  # it still reads
    with pytest.raises(ReadOnlyIndexError):
        reader.check_writable()


def test_two_writers_in_two_threads_take_turns(settings: Settings, hashing_embedder: HashingEmbedder) -> None:
    index = Index(settings, hashing_embedder)
    events: list[str] = []
    first_in, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write(number: int, hold: bool) -> None:
        try:
            with index.writer() as writer:
                events.append(f"{number} in")
                if hold:
                    first_in.set()
                    assert release.wait(30)
                writer.put([_fact(index, number)])
                events.append(f"{number} out")
        except BaseException as failure:
            failures.append(failure)

    first = threading.Thread(target=write, args=(0, True))
    second = threading.Thread(target=write, args=(1, False))
    first.start()
    assert first_in.wait(30)
    second.start()
    second.join(1.0)  # long enough to get in, were the lock not held
    assert second.is_alive() and events == ["0 in"]
    release.set()
    first.join(30)
    second.join(30)

    assert not failures
    assert events == ["0 in", "0 out", "1 in", "1 out"]
    assert set(index.records()) == {FACTS[0].file_name, FACTS[1].file_name}
    assert not index.stats()["interrupted_write"]
    assert _found(index, f"{FACTS[0].person} {FACTS[1].person}") == {FACTS[0].file_name, FACTS[1].file_name}
