"""The BM25 index: bm25s' rankings, incremental syncs equal to full builds, damaged and read-only folders."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ingest.pipeline import ingest_paths
from rag.index import Index
from rag.index.lexical import LexicalIndex
from rag.index.store import Store
from rag.text import lexical_terms
from tests.support import raw_lexical, raw_store

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings
    from rag.types import Chunk

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "straits-times-us-china-fentanyl.txt"
QUERIES = [
    "What did China do about fentanyl precursors?",
    "tariffs trade war Trump",
    "Howard Lutnick interview March",
    "cartels in Mexico smuggle across the border",
    "drug deaths of Americans aged 18 to 45",
    "Chinese chemical companies ingredients ingredients",
    "cooperation between Beijing and Washington",
    "painkiller addictive potent",
    "nothing matches zyxwv",
]


def _paragraphs() -> list[str]:
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n\n") if len(p.strip()) > 60]


def _write_corpus(folder: Path, count: int, *, first: int = 0, revision: int = 0) -> list[Path]:
    """Articles of real news text: the seed article's paragraphs, each article a different selection."""
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = _paragraphs()
    paths = []
    for number in range(first, first + count):
        start = (number * 5 + revision * 3) % len(paragraphs)
        picked = [
            paragraphs[(start + step * (1 + number % 3)) % len(paragraphs)] for step in range(4 + number % 6)
        ]
        path = folder / f"article-{number:02d}.txt"
        path.write_text(f"Report {number}\n\n" + "\n\n".join(picked) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def small_chunks(settings: Settings) -> Settings:
    """Settings with short chunks, so a small corpus still has a few hundred rows to rank."""
    return settings.model_copy(update={"chunk_tokens": 64})


class _CountingStore(Store):
    """A real store that counts the chunks the index reads from it."""

    read = 0

    def committed_chunks(self) -> Iterator[Chunk]:
        for chunk in super().committed_chunks():
            self.read += 1
            yield chunk

    def article_chunks(self, doc_ids: Collection[str]) -> Iterator[Chunk]:
        for chunk in super().article_chunks(doc_ids):
            self.read += 1
            yield chunk


def _counting_index(
    settings: Settings, embedder: SentenceTransformerEmbeddings
) -> tuple[Index, _CountingStore]:
    """An index whose store counts the chunks read from it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("rag.index.store.Store", _CountingStore)
        index = Index(settings, embedder)
    store = raw_store(index)
    assert isinstance(store, _CountingStore)
    return index, store


def _bm25_elsewhere(index: Index, folder: Path, **updates: Any) -> tuple[Index, Settings]:
    """An index of the same Chroma store (with settings `updates`) whose BM25 folder is under
    `folder`: its writes leave the data dir's BM25 folder behind, as another process's would."""
    settings = index.settings.model_copy(update={"data_dir": folder, **updates})
    return Index(settings, index.embedder, client=raw_store(index).client), settings


def _saved_generation(index: LexicalIndex) -> str:
    """The store generation the BM25 folder was saved at."""
    return str(json.loads((index.directory / "manifest.json").read_text())["generation"])


def _results(index: LexicalIndex) -> list[list[tuple[str, float]]]:
    return [[(c.chunk_id, round(s, 9)) for c, s in index.search(q, 25)] for q in QUERIES]


def _idfs(index: LexicalIndex) -> list[float]:
    terms = sorted({t for q in QUERIES for t in lexical_terms(q)} | {"fentanyl", "report", "zzz"})
    return [round(index.idf(t), 12) for t in terms]


def _full_build(store: Store, folder: Path) -> LexicalIndex:
    fresh = LexicalIndex(folder, store.settings.collection)
    fresh.sync(store)
    return fresh


def test_rankings_and_idf_match_bm25s(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    import bm25s

    written = Index(small_chunks, embedder)
    assert ingest_paths(
        [SEED_ARTICLE, *_write_corpus(tmp_path / "corpus", 12)], small_chunks, index=written
    ).ok
    index = raw_lexical(written)
    chunks = sorted(written.committed_chunks(), key=lambda c: (c.doc_id, c.index))
    assert index.size == len(chunks) > 100
    reference = bm25s.BM25()  # the "lucene" variant, k1=1.5, b=0.75
    reference.index([lexical_terms(c.text) or [""] for c in chunks], show_progress=False)

    for query in QUERIES:
        expected = dict(
            zip(
                [c.chunk_id for c in chunks], reference.get_scores(lexical_terms(query)).tolist(), strict=True
            )
        )
        got = index.search(query, len(chunks))
        assert {c.chunk_id for c, _s in got} == {cid for cid, s in expected.items() if s > 0}, query
        for chunk, score in got:
            assert math.isclose(score, expected[chunk.chunk_id], rel_tol=1e-5), query
        # The same ranking: bm25s never scores a chunk clearly above one ranked before it.
        for (before, _s), (after, _t) in itertools.pairwise(got):
            assert expected[before.chunk_id] >= expected[after.chunk_id] * (1 - 1e-5), query

    indptr = reference.scores["indptr"]
    for term, column in reference.vocab_dict.items():
        if not term:  # bm25s' empty token, outside its matrix
            continue
        frequency = int(indptr[column + 1] - indptr[column])
        assert index.knows(term) == (frequency > 0)
        assert index.idf(term) == pytest.approx(
            math.log(1 + (len(chunks) - frequency + 0.5) / (frequency + 0.5))
        )
    assert not index.knows("zyxwv")


def test_incremental_sync_equals_a_full_build(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    paths = _write_corpus(corpus, 10)
    written, store = _counting_index(small_chunks, embedder)
    index = raw_lexical(written)
    assert ingest_paths([corpus], small_chunks, index=written).ok
    assert store.read == index.size

    def add_and_remove() -> None:
        _write_corpus(corpus, 1, first=12)
        paths[7].unlink()

    steps: list[tuple[str, Callable[[], object]]] = [
        ("add", lambda: _write_corpus(corpus, 2, first=10)),
        ("update", lambda: _write_corpus(corpus, 1, first=3, revision=1)),
        ("remove", paths[5].unlink),
        ("add and remove", add_and_remove),
    ]
    for step, change in steps:
        before = index.size
        change()
        store.read = 0
        assert ingest_paths([corpus], small_chunks, index=written, prune=True).ok, step
        assert store.read < before / 3, f"{step}: read {store.read} chunks of {index.size}"
        full = _full_build(store, tmp_path / f"full-{step}")
        reloaded = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
        reloaded.sync(store)
        assert index.size == full.size == reloaded.size == sum(r.n_chunks for r in store.records().values())
        assert _results(index) == _results(full) == _results(reloaded), step
        assert _idfs(index) == _idfs(full) == _idfs(reloaded), step


def test_two_processes_share_the_folder(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    """A chat's index catches up from what an ingest saved, or from memory when the folder is behind."""
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 4)
    chatting = Index(small_chunks, embedder)
    store = raw_store(chatting)
    chat = raw_lexical(chatting)
    assert ingest_paths([corpus], small_chunks, index=chatting).ok
    for number in range(4, 8):  # another process's ingests, merging segments as they go
        _write_corpus(corpus, 1, first=number)
        assert ingest_paths([corpus], small_chunks, index=Index(small_chunks, embedder)).ok
    chatting.sync_lexical()
    assert _results(chat) == _results(_full_build(store, tmp_path / "full-1"))

    stale = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
    stale.sync(store)
    for number in range(8, 11):
        _write_corpus(corpus, 1, first=number)
        assert ingest_paths([corpus], small_chunks, index=chatting).ok
    # One more ingest whose index lives elsewhere: the folder is behind, and `stale` holds
    # segments that `chat` has since merged and deleted; it catches up from its own memory.
    _write_corpus(corpus, 1, first=11)
    elsewhere, elsewhere_settings = _bm25_elsewhere(chatting, tmp_path / "x")
    assert ingest_paths([corpus], elsewhere_settings, index=elsewhere).ok
    assert _saved_generation(stale) != store.generation()
    stale.sync(store)
    expected = _results(_full_build(store, tmp_path / "full-2"))
    assert _results(stale) == expected
    fresh = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
    fresh.sync(store)
    assert _results(fresh) == expected
    assert fresh.size == sum(r.n_chunks for r in store.records().values())


def test_a_rebuilt_collection_is_indexed_afresh(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    """`--rebuild` with new chunking keeps article ids and content hashes, but every chunk changes."""
    corpus = _write_corpus(tmp_path / "corpus", 4)
    chatting = Index(small_chunks, embedder)
    index = raw_lexical(chatting)
    assert ingest_paths(corpus, small_chunks, index=chatting).ok
    # Rebuilt by another process with other chunking, whose BM25 folder is elsewhere: both the
    # index in memory and the folder are of the collection that was replaced.
    rebuilt, rechunked = _bm25_elsewhere(chatting, tmp_path / "x", chunk_tokens=128)
    assert ingest_paths(corpus, rechunked, index=rebuilt, rebuild=True).ok
    store = raw_store(rebuilt)
    assert _saved_generation(index) != store.generation()
    expected = _results(_full_build(store, tmp_path / "full"))
    chatting.sync_lexical()
    assert _results(index) == expected
    reloaded = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
    reloaded.sync(store)
    assert _results(reloaded) == expected
    assert index.size == reloaded.size == sum(r.n_chunks for r in store.records().values())


def test_many_small_adds_keep_few_segments(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    written = Index(small_chunks, embedder)
    store, index = raw_store(written), raw_lexical(written)
    corpus = tmp_path / "corpus"
    for number in range(12):
        _write_corpus(corpus, 1, first=number)
        assert ingest_paths([corpus], small_chunks, index=written).ok
    segments = json.loads((index.directory / "manifest.json").read_text())["segments"]
    assert len(segments) <= 5
    assert sorted(p.name for p in index.directory.iterdir()) == sorted(
        ["manifest.json", *(f"{s['name']}.npz" for s in segments)]
    )
    assert _results(index) == _results(_full_build(store, tmp_path / "full"))


@pytest.mark.parametrize(
    "damage",
    [
        "garbage manifest",
        "truncated segment",
        "missing segment",
        "old format",
        "folder is a file",
        "empty folder",
    ],
)
def test_a_damaged_folder_is_rebuilt(
    damage: str, small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    written = Index(small_chunks, embedder)
    store, index = raw_store(written), raw_lexical(written)
    assert ingest_paths(_write_corpus(tmp_path / "corpus", 6), small_chunks, index=written).ok
    expected = _results(index)
    folder = index.directory
    segment = next(folder.glob("seg-*.npz"))
    if damage == "garbage manifest":
        (folder / "manifest.json").write_bytes(b"\x00{not json")
    elif damage == "truncated segment":
        segment.write_bytes(segment.read_bytes()[:1000])
    elif damage == "missing segment":
        segment.unlink()
    elif damage == "old format":
        shutil.rmtree(folder)
        folder.mkdir()
        (folder / "stamp.json").write_text(json.dumps({"generation": store.generation(), "chunks": 3}))
        (folder / "chunks.json").write_text("[]")
    elif damage == "folder is a file":
        shutil.rmtree(folder)
        folder.write_text("not a folder")
    else:
        shutil.rmtree(folder)
        folder.mkdir()

    again = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
    again.sync(store)
    assert _results(again) == expected
    assert again.size == index.size
    # The folder is whole again: a third process loads it as it is.
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["generation"] == store.generation()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", *(f"{s['name']}.npz" for s in manifest["segments"])]
    )


def test_a_read_only_data_dir_answers_from_memory(
    small_chunks: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    written = Index(small_chunks, embedder)
    store = raw_store(written)
    corpus = _write_corpus(tmp_path / "corpus", 6)
    assert ingest_paths(corpus[:4], small_chunks, index=written).ok
    saved_at = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
    saved_at.sync(store)
    elsewhere, elsewhere_settings = _bm25_elsewhere(written, tmp_path / "elsewhere")
    assert ingest_paths(corpus, elsewhere_settings, index=elsewhere).ok
    assert _saved_generation(saved_at) != store.generation()
    expected = _results(_full_build(store, tmp_path / "full"))
    before = {p.name: p.stat().st_mtime_ns for p in saved_at.directory.iterdir()}

    with _read_only(small_chunks.data_dir):
        # The saved index is one ingest behind: the two new articles are read into memory only.
        index = LexicalIndex(small_chunks.data_dir, small_chunks.collection)
        index.sync(store)
        assert _results(index) == expected
        assert {p.name: p.stat().st_mtime_ns for p in saved_at.directory.iterdir()} == before
    # Nowhere to write at all (the data dir is a file) still answers.
    nowhere = LexicalIndex(tmp_path / "corpus" / "article-00.txt", "x")
    nowhere.sync(store)
    assert _results(nowhere) == expected


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """`path` as a read-only bind mount of itself (EROFS even for root, unlike chmod).

    Needs root and mount(8), as in CI (like the disk faults in tests/reliability): without them the
    test fails rather than skips.
    """
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("needs root and mount(8) for a read-only bind mount")
    if subprocess.run(["mount", "--bind", str(path), str(path)], check=False).returncode != 0:
        pytest.fail("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)
