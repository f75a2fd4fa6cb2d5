"""Acceptance: `rag ingest` is an idempotent sync of the index with the files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ingest_support import (
    TokenizerOnlyEmbeddings,
    article_text,
    raw_chunk_count,
    record_rows,
    run_rag_json,
    write_articles,
)

from ingest.chunking import chunk_article
from ingest.loaders import load_article
from ingest.pipeline import FileResult, content_hash, ingest_paths
from rag.errors import IndexMismatchError
from rag.index import Index
from rag.index.lexical import LexicalIndex
from rag.index.store import Store
from rag.settings import Settings
from tests.support import chunk_rows, raw_store

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbeddings

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SEED_ARTICLE = SEEDS / "straits-times-us-china-fentanyl.txt"
OLD_SENTENCE = "Fentanyl has been identified as the leading cause of death for Americans aged 18 to 45."
NEW_SENTENCE = (
    "Fentanyl overdoses forced 17 rural clinics near Columbus to shut their emergency wards last winter."
)


def _seed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    return folder


def _statuses(report: object) -> dict[str, str]:
    return {Path(f.path).name: f.status for f in report.files}  # type: ignore[attr-defined]


def test_cli_second_run_reports_every_file_unchanged(
    settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    code, first = run_rag_json(["ingest", str(SEEDS)], settings.data_dir)
    assert code == 0, first
    seed_files = sorted(str(p) for p in SEEDS.rglob("*") if p.is_file())
    assert sorted(f["path"] for f in first["files"]) == seed_files
    assert {f["status"] for f in first["files"]} == {"added"}
    assert first["ok"] is True
    assert first["chunks"] > 0
    index = Index(settings, embedder)
    chunks_before = chunk_rows(index)
    times_before = {doc_id: r.ingested_at for doc_id, r in index.records().items()}

    code, second = run_rag_json(["ingest", str(SEEDS)], settings.data_dir)

    assert code == 0, second
    assert {f["status"] for f in second["files"]} == {"unchanged"}
    assert [f["chunks"] for f in second["files"]] == [f["chunks"] for f in first["files"]]
    assert (second["documents"], second["chunks"]) == (first["documents"], first["chunks"])
    index = Index(settings, embedder)
    assert chunk_rows(index) == chunks_before
    assert len(chunks_before) == first["chunks"]
    # Unchanged articles are not rewritten.
    assert {doc_id: r.ingested_at for doc_id, r in index.records().items()} == times_before


def test_edited_article_replaces_all_its_old_chunks(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = _seed_folder(tmp_path)
    path = folder / SEED_ARTICLE.name
    index = Index(settings, embedder)
    ingest_paths([folder], settings, index=index)
    old_ids = set(chunk_rows(index))
    original = path.read_text(encoding="utf-8")
    assert OLD_SENTENCE in original
    path.write_text(original.replace(OLD_SENTENCE, NEW_SENTENCE), encoding="utf-8")

    report = ingest_paths([folder], settings, index=index)

    assert _statuses(report) == {path.name: "updated"}
    rows = chunk_rows(index)
    texts = [row[4] for row in rows.values()]
    assert any(NEW_SENTENCE in text for text in texts)
    assert not any(OLD_SENTENCE in text for text in texts)
    assert not old_ids & set(rows)
    # The old chunks are deleted, not merely hidden behind the new record.
    assert raw_chunk_count(index) == len(rows)
    hits = index.dense_search(embedder.embed_query(OLD_SENTENCE), k=len(rows))
    assert len(hits) == len(rows)
    assert all(OLD_SENTENCE not in chunk.text for chunk, _ in hits)
    assert NEW_SENTENCE in index.dense_search(embedder.embed_query(NEW_SENTENCE), k=1)[0][0].text
    # The BM25 files on disk, read by a fresh engine, hold the new version only.
    lexical = LexicalIndex(settings.data_dir, settings.collection)
    lexical.sync(raw_store(index))
    assert lexical.size == len(rows)
    assert NEW_SENTENCE in lexical.search("rural clinics Columbus emergency wards", k=1)[0][0].text
    assert NEW_SENTENCE in index.lexical_search("rural clinics Columbus emergency wards", k=1)[0][0].text

    clean_settings = Settings(data_dir=tmp_path / "clean", _env_file=None)
    clean = Index(clean_settings, embedder)
    clean_report = ingest_paths([folder], clean_settings, index=clean)
    assert report.chunks == clean_report.chunks == len(rows)
    assert chunk_rows(clean) == rows
    assert record_rows(clean) == record_rows(index)


def test_prune_removes_articles_whose_files_were_deleted(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = _seed_folder(tmp_path)
    write_articles(folder, 2)
    index = Index(settings, embedder)
    ingest_paths([folder], settings, index=index)
    (folder / "a001.txt").unlink()

    kept = ingest_paths([folder], settings, index=index)
    assert set(index.records()) == {SEED_ARTICLE.name, "a000.txt", "a001.txt"}
    assert set(_statuses(kept).values()) == {"unchanged"}
    # Kept, but said: the article still answers though its file is gone.
    assert kept.gone == 1 and kept.to_json()["gone"] == 1
    assert kept.summary().endswith(
        "; 1 indexed article whose file is gone still answers (`--prune` removes it)"
    )

    pruned = ingest_paths([folder], settings, index=index, prune=True)

    assert _statuses(pruned) == {
        SEED_ARTICLE.name: "unchanged",
        "a000.txt": "unchanged",
        "a001.txt": "removed",
    }
    assert set(index.records()) == {SEED_ARTICLE.name, "a000.txt"}
    assert raw_store(index).chunks().get(where={"doc_id": "a001.txt"})["ids"] == []
    assert pruned.gone == 0 and "--prune" not in pruned.summary()
    assert raw_chunk_count(index) == len(chunk_rows(index)) == pruned.chunks
    hits = index.dense_search(embedder.embed_query(article_text(1)[:400]), k=10)
    assert hits
    assert "a001.txt" not in {chunk.doc_id for chunk, _ in hits}


def test_rebuild_starts_over(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 2)
    index = Index(settings, embedder)
    ingest_paths([folder], settings, index=index)
    (folder / "a001.txt").unlink()

    report = ingest_paths([folder], settings, index=index, rebuild=True)

    # Everything is indexed again from scratch, and the article whose file is gone is not kept.
    assert _statuses(report) == {"a000.txt": "added"}
    assert set(index.records()) == {"a000.txt"}
    clean_settings = Settings(data_dir=tmp_path / "clean", _env_file=None)
    clean = Index(clean_settings, embedder)
    ingest_paths([folder], clean_settings, index=clean)
    assert chunk_rows(index) == chunk_rows(clean)
    assert raw_chunk_count(index) == raw_chunk_count(clean)


def test_a_rebuild_in_this_process_keeps_the_store_connection(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    # Reconnecting is for seeing other processes' writes; the collection a rebuild makes is our own.
    folder = tmp_path / "articles"
    write_articles(folder, 1)
    index = Index(settings, embedder)
    ingest_paths([folder], settings, index=index)
    client = raw_store(index).client

    report = ingest_paths([folder], settings, index=index, rebuild=True)

    assert _statuses(report) == {"a000.txt": "added"}
    assert raw_store(index).client is client
    assert set(index.records()) == {"a000.txt"}


def test_new_chunking_needs_rebuild(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 1)
    index = Index(settings, embedder)
    ingest_paths([folder], settings, index=index)
    before = chunk_rows(index)
    narrow = Settings(data_dir=settings.data_dir, chunk_tokens=64, _env_file=None)

    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest_paths([folder], narrow, index=Index(narrow, embedder))
    assert chunk_rows(Index(settings, embedder)) == before

    narrow_index = Index(narrow, embedder)
    report = ingest_paths([folder], narrow, index=narrow_index, rebuild=True)

    assert _statuses(report) == {"a000.txt": "added"}
    assert narrow_index.stats()["chunking"] == "sentences;tokens=64;overlap=1"
    rows = chunk_rows(narrow_index)
    assert len(rows) > len(before)
    assert max(embedder.count_tokens([row[4] for row in rows.values()])) <= 64


def test_chunk_ids_are_stable_across_fresh_indexes(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    indexes = []
    for name in ("one", "two"):
        data_settings = Settings(data_dir=tmp_path / name, _env_file=None)
        index = Index(data_settings, embedder)
        ingest_paths([SEED_ARTICLE], data_settings, index=index)
        indexes.append(index)

    first, second = (chunk_rows(index) for index in indexes)

    assert first == second
    article = load_article(SEED_ARTICLE)
    expected = chunk_article(
        article,
        embedder,
        max_tokens=settings.chunk_tokens,
        overlap_sentences=settings.chunk_overlap_sentences,
        content_hash=content_hash(article),
    )
    assert set(first) == {c.chunk_id for c in expected}
    assert len(expected) > 1


def test_index_opened_before_a_cli_prune_still_searches(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    """A long-lived reader (the chat) keeps working while `rag ingest --prune` runs in another process."""
    folder = _seed_folder(tmp_path)
    write_articles(folder, 2)
    reader = Index(settings, embedder)
    ingest_paths([folder], settings, index=reader)
    query = embedder.embed_query(article_text(1)[:400])
    assert reader.dense_search(query, k=3)[0][0].doc_id == "a001.txt"
    (folder / "a001.txt").unlink()

    code, report = run_rag_json(["ingest", str(folder), "--prune"], settings.data_dir)

    assert code == 0, report
    assert report["counts"] == {"unchanged": 2, "removed": 1}
    hits = Index(settings, embedder).dense_search(query, k=5)
    assert hits
    assert {chunk.doc_id for chunk, _ in hits} <= {"a000.txt", SEED_ARTICLE.name}


def test_files_embedded_together_commit_together_and_are_reported_after(
    tmp_path: Path, settings: Settings
) -> None:
    # Small files share one embedding call, one chunk write and one commit: no file may be
    # reported before its record is written, and a reader sees each file whole, old or new.
    folder = tmp_path / "articles"
    write_articles(folder, 6)
    index = Index(settings, TokenizerOnlyEmbeddings())
    ingest_paths([folder / "a000.txt", folder / "a001.txt"], settings, index=index)
    old = {doc_id: r.content_hash for doc_id, r in index.records().items()}
    write_articles(folder, 2, revision=1)  # a000 and a001 become updates
    views: list[tuple[FileResult, dict[str, str], dict[str, int]]] = []

    def on_file(result: FileResult) -> None:
        view = Index(settings, index.embedder)  # the index as a reader sees it right now
        visible: dict[str, int] = {}
        for chunk in view.committed_chunks():
            visible[chunk.doc_id] = visible.get(chunk.doc_id, 0) + 1
        views.append((result, {d: r.content_hash for d, r in view.records().items()}, visible))

    report = ingest_paths([folder], settings, index=index, on_file=on_file)

    assert report.ok
    assert sum(r.chunks for r in report.files) < 256, "the files should share one batch"
    assert [(r.doc_id, r.status) for r, *_ in views] == [
        ("a000.txt", "updated"),
        ("a001.txt", "updated"),
        *((f"a00{n}.txt", "added") for n in range(2, 6)),
    ]
    chunks = {r.doc_id: r.chunks for r, *_ in views}
    for _result, records, visible in views:
        # Every file of the batch is committed by the first report, each with exactly its new chunks.
        assert set(records) == set(chunks)
        assert all(records[doc_id] != old[doc_id] for doc_id in old)
        assert visible == chunks
    final = index.records()
    assert all(final[doc_id].content_hash != old[doc_id] for doc_id in old)
    assert raw_chunk_count(index) == sum(r.chunks for r in report.files)


def test_each_article_text_is_stored_once_and_chunks_read_as_its_slices(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 3)
    index = Index(settings, TokenizerOnlyEmbeddings())
    ingest_paths([folder], settings, index=index)

    texts = {doc_id: index.article_text(doc_id) for doc_id in index.records()}
    stored = raw_store(index).chunks().get(include=["documents"])["documents"] or []
    assert stored and not any(stored)  # a chunk holds offsets, not a second copy of its text
    chunks = list(index.committed_chunks())
    assert len(chunks) == raw_chunk_count(index)
    assert all(chunk.text == texts[chunk.doc_id][chunk.start : chunk.end] for chunk in chunks)
    assert all(chunk.text.strip() for chunk in chunks)


def test_a_chunk_is_never_cut_from_another_version_of_its_article(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 2)
    index = Index(settings, TokenizerOnlyEmbeddings())
    ingest_paths([folder], settings, index=index)
    before = index.records()
    old_text = index.article_text("a000.txt")
    write_articles(folder, 1, revision=1)
    ingest_paths([folder], settings, index=Index(settings, index.embedder))

    # A reader holding the records from before the update reads texts: the rewritten article's
    # stored text is not the one its offsets index into, so it is left out rather than sliced.
    texts = Store(settings, index.embedder)._article_texts(before)
    assert set(texts) == {"a001.txt"}
    # A text read before the update is kept for the version it belongs to.
    assert raw_store(index)._article_texts(before)["a000.txt"] == old_text
    assert "Revision 1" in Index(settings, index.embedder).article_text("a000.txt")


def test_article_texts_kept_in_memory_stay_within_their_budget(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 6)
    index = Index(settings, TokenizerOnlyEmbeddings())
    ingest_paths([folder], settings, index=index)
    sizes = [len(Index(settings, index.embedder).article_text(doc_id)) for doc_id in index.records()]
    budget = 2 * max(sizes)
    monkeypatch.setattr("rag.index.store._CACHED_CHARS", budget)
    reader = Store(settings, index.embedder)

    chunks = list(reader.committed_chunks())

    assert {c.doc_id for c in chunks} == set(index.records())
    assert all(c.text == reader.article_text(c.doc_id)[c.start : c.end] for c in chunks)
    assert 0 < sum(len(text) for text in reader._texts.values()) <= budget
