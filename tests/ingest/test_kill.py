"""Acceptance: an ingest killed with SIGKILL leaves an index that a rerun brings to the clean result."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import pytest
from ingest_support import (
    RAG,
    TokenizerOnlyEmbeddings,
    article_text,
    assert_same_rankings,
    assert_same_vectors,
    cli_env,
    raw_chunk_count,
    record_rows,
    write_articles,
)

from ingest.pipeline import ingest_paths
from rag.index import Index
from rag.index.chroma import Connection
from rag.index.lexical import LexicalIndex
from rag.settings import Settings
from tests.support import REPO, chunk_rows, forget_open_stores, raw_store

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings

# Of about 2.3 KB each, ~5 chunks at 128 tokens: ingest embeds and commits them in batches of
# about 256 chunks, so the first batch commits ~52 articles and the kill lands in the second.
ARTICLES = 64
CHUNK_TOKENS = 128
KILL_AFTER_COMMITS = 20


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, chunk_tokens=CHUNK_TOKENS, _env_file=None)


def _ingest_then_kill(folder: Path, data_dir: Path, status: str) -> list[str]:
    """Runs `rag ingest -v` and SIGKILLs it right after it reports KILL_AFTER_COMMITS committed files."""
    process = subprocess.Popen(
        [str(RAG), "ingest", str(folder), "-v"],
        env=cli_env(data_dir, chunk_tokens=str(CHUNK_TOKENS)),
        cwd=data_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(300, process.kill)
    guard.start()
    committed: list[str] = []
    output: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            output.append(line)
            if line.startswith(f"{status}: "):
                committed.append(line)
                if len(committed) == KILL_AFTER_COMMITS:
                    process.send_signal(signal.SIGKILL)
                    break
    finally:
        guard.cancel()
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "".join(output)[-3000:]
    return committed


def _assert_committed_view_is_whole(index: Index) -> None:
    """Every committed article shows exactly its own chunks, at the right offsets."""
    by_doc: dict[str, list[tuple[int, int, int, str]]] = {}
    for chunk in index.committed_chunks():
        by_doc.setdefault(chunk.doc_id, []).append((chunk.index, chunk.start, chunk.end, chunk.text))
    for doc_id, record in index.records().items():
        chunks = sorted(by_doc.get(doc_id, []))
        assert [number for number, *_ in chunks] == list(range(record.n_chunks)), doc_id
        text = index.article_text(doc_id)
        assert all(text[start:end] == chunk_text for _, start, end, chunk_text in chunks), doc_id


def _clean_ingest(
    folder: Path, clean_dir: Path, embedder: SentenceTransformerEmbeddings, articles: int
) -> Index:
    clean_settings = _settings(clean_dir)
    clean = Index(clean_settings, embedder)
    clean_report = ingest_paths([folder], clean_settings, index=clean)
    assert clean_report.ok
    assert clean_report.counts() == {"added": articles}
    return clean


def _assert_same_as_clean_ingest(
    index: Index, settings: Settings, folder: Path, clean_dir: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    """The index holds what a clean ingest of `folder` with the real embedder makes: the same chunks,
    records, vectors (within 1e-6) and rankings, with no leftovers."""
    clean = _clean_ingest(folder, clean_dir, embedder, ARTICLES)
    _assert_same_as(index, settings, clean, embedder, ARTICLES)


def _assert_same_as(
    index: Index, settings: Settings, clean: Index, embedder: SentenceTransformerEmbeddings, articles: int
) -> None:
    """`_assert_same_as_clean_ingest`, given the clean ingest of `articles` articles."""
    rows, clean_rows = chunk_rows(index), chunk_rows(clean)
    assert set(rows) == set(clean_rows)
    assert rows == clean_rows
    assert record_rows(index) == record_rows(clean)
    # The killed run, the rerun and the clean run each embedded other batches of chunks.
    assert_same_vectors(index, clean)
    assert_same_rankings(index, clean, embedder)
    # No duplicates and no leftovers of the killed run.
    store = raw_store(index)
    assert raw_chunk_count(index) == len(rows)
    assert int(store.docs().count()) == articles
    assert len({(doc_id, number) for doc_id, number, *_ in rows.values()}) == len(rows)
    assert index.stats()["interrupted_write"] is False
    lexical = LexicalIndex(settings.data_dir, settings.collection)
    lexical.sync(store)
    assert lexical.size == len(rows)
    manifest = json.loads((lexical.directory / "manifest.json").read_text())
    assert manifest["generation"] == index.generation()
    assert manifest["collection"] == store.collection_id()


def _assert_searchable(
    index: Index, embedder: SentenceTransformerEmbeddings, revision: int = 0, articles: int = ARTICLES
) -> None:
    for number in (0, articles - 1):
        query = article_text(number, revision=revision).split("\n\n")[-2]
        assert index.dense_search(embedder.embed_query(query), k=1)[0][0].doc_id == f"a{number:03d}.txt"


def test_killed_first_ingest_converges_on_rerun(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, ARTICLES)
    settings = _settings(tmp_path / "data")

    _ingest_then_kill(folder, settings.data_dir, "added")

    index = Index(settings, embedder)
    committed = set(index.records())
    assert KILL_AFTER_COMMITS <= len(committed) < ARTICLES, "the kill did not land mid-way"
    # Each batch is written under the lock and marked done before its files are reported: the kill
    # lands while the next batch is read and embedded, and leaves nothing half-written.
    assert index.stats()["interrupted_write"] is False
    _assert_committed_view_is_whole(index)

    report = ingest_paths([folder], settings, index=index)

    assert report.ok
    assert report.counts() == {"unchanged": len(committed), "added": ARTICLES - len(committed)}
    assert {f.doc_id for f in report.files if f.status == "unchanged"} == committed
    _assert_same_as_clean_ingest(index, settings, folder, tmp_path / "clean", embedder)
    _assert_searchable(index, embedder)


def test_killed_update_converges_on_rerun(tmp_path: Path, embedder: SentenceTransformerEmbeddings) -> None:
    folder = tmp_path / "articles"
    paths = write_articles(folder, ARTICLES)
    settings = _settings(tmp_path / "data")
    # The update replaces every article, so the first version's vectors need not be real.
    first = ingest_paths([folder], settings, index=Index(settings, TokenizerOnlyEmbeddings()))
    assert first.counts() == {"added": ARTICLES}
    write_articles(folder, ARTICLES, revision=1)
    new_hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    forget_open_stores()  # let the other process write, then read what it wrote

    _ingest_then_kill(folder, settings.data_dir, "updated")

    forget_open_stores()
    index = Index(settings, embedder)
    records = index.records()
    # Nothing is lost mid-update: each article is there, in its old or its new version.
    assert set(records) == set(new_hashes)
    updated = {doc_id for doc_id, r in records.items() if r.file_hash == new_hashes[doc_id]}
    assert KILL_AFTER_COMMITS <= len(updated) < ARTICLES, "the kill did not land mid-way"
    _assert_committed_view_is_whole(index)

    report = ingest_paths([folder], settings, index=index)

    assert report.ok
    assert report.counts() == {"unchanged": len(updated), "updated": ARTICLES - len(updated)}
    _assert_same_as_clean_ingest(index, settings, folder, tmp_path / "clean", embedder)
    _assert_searchable(index, embedder, revision=1)
    assert all("Revision 1 of report" in index.article_text(doc_id) for doc_id in new_hashes)


# The kill above lands between batches. These stop an ingest at the two points inside a batch's
# commit: the files on disk are then as a kill there would leave them.


class _Crash(Exception):
    pass


def _ingest_stopped_at(monkeypatch: pytest.MonkeyPatch, what: str, folder: Path, settings: Settings) -> Index:
    """Ingests `folder`, stopping right before the Chroma call named `what`; returns a new reader."""
    call = Connection.call

    def failing(self: Connection, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if name == what:
            raise _Crash(name)
        return call(self, name, fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "call", failing)
        with pytest.raises(_Crash):
            ingest_paths([folder], settings, index=Index(settings, TokenizerOnlyEmbeddings()))
    return Index(settings, TokenizerOnlyEmbeddings())


def _assert_rerun_repairs(folder: Path, settings: Settings, tmp_path: Path, *, leftovers: int) -> None:
    index = Index(settings, TokenizerOnlyEmbeddings())
    report = ingest_paths([folder], settings, index=index)
    assert report.ok
    assert report.recovered == leftovers
    clean_settings = _settings(tmp_path / "clean")
    clean = Index(clean_settings, TokenizerOnlyEmbeddings())
    ingest_paths([folder], clean_settings, index=clean)
    assert chunk_rows(index) == chunk_rows(clean)
    assert record_rows(index) == record_rows(clean)
    assert_same_vectors(index, clean)
    assert raw_chunk_count(index) == len(chunk_rows(index))
    assert index.stats()["interrupted_write"] is False


def test_a_batch_stopped_before_its_records_is_invisible_then_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 6)
    settings = _settings(tmp_path / "data")
    ingest_paths([folder / "a000.txt"], settings, index=Index(settings, TokenizerOnlyEmbeddings()))

    index = _ingest_stopped_at(monkeypatch, "write record", folder, settings)

    assert set(index.records()) == {"a000.txt"}
    _assert_committed_view_is_whole(index)
    written = raw_chunk_count(index) - len(chunk_rows(index))
    assert written > 0, "the batch's chunks should be on disk, unseen"
    _assert_rerun_repairs(folder, settings, tmp_path, leftovers=written)


def test_a_batch_stopped_before_dropping_old_chunks_shows_only_new_ones_then_drops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, 6)
    settings = _settings(tmp_path / "data")
    ingest_paths([folder], settings, index=Index(settings, TokenizerOnlyEmbeddings()))
    write_articles(folder, 3, revision=1)

    index = _ingest_stopped_at(monkeypatch, "drop old chunks", folder, settings)

    _assert_committed_view_is_whole(index)
    assert all("Revision 1 of report" in index.article_text(f"a00{n}.txt") for n in range(3))
    old = raw_chunk_count(index) - len(chunk_rows(index))
    assert old > 0, "the replaced versions' chunks should still be on disk, unseen"
    _assert_rerun_repairs(folder, settings, tmp_path, leftovers=old)


# The kills above land where the CLI's default batches put them. These stop the overlapped pipeline in
# mid-flight: with batches of OVERLAP_FLUSH chunks, batch n is written while batch n + 1 is embedded in
# the background and the files of batch n + 2 are read and chunked.

OVERLAP_ARTICLES = 40
OVERLAP_FLUSH = 48
"""About 200 chunks in batches of 48: five batches."""
OVERLAP_BACKEND = "onnx"
"""The real model, on a backend whose vectors do not depend on their batch-mates, so that the rerun
can be compared with a clean ingest within 1e-6. The OpenVINO backends and `torch-bf16` have fixed-shape passes
for the same reason; their passes running side by side get a test of their own below."""

_MID_FLIGHT_KILLER = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from pathlib import Path

    import ingest.pipeline
    from ingest.pipeline import ingest_paths
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.index import Index
    from rag.index.chroma import Connection
    from rag.settings import Settings

    folder, data_dir, chunk_tokens, flush, backend, where, nth = sys.argv[1:]
    nth = int(nth)
    ingest.pipeline._FLUSH_CHUNKS = int(flush)
    reported = []


    if where == "pass":
        # The bfloat16 encoders run their passes side by side, each in a thread of its own.
        from rag.embeddings import _OpenVinoEncoder, _TorchEncoder

        passes = []

        def dying(run):
            def dying_run(self, ids, mask, types):
                passes.append(threading.current_thread().name)
                if len(passes) == nth:
                    die()
                return run(self, ids, mask, types)

            return dying_run

        for encoder in (_TorchEncoder, _OpenVinoEncoder):
            encoder._run = dying(encoder._run)


    class Embedder(SentenceTransformerEmbeddings):
        # The real embedder, counting the batches it began and finished embedding.
        started = finished = 0

        def embed_documents_with_sentences(self, texts, spans):
            self.started += 1
            if where == "embedding" and self.started == nth:
                die()
            try:
                return super().embed_documents_with_sentences(texts, spans)
            finally:
                self.finished += 1


    def die():
        state = {
            "reported": reported,
            "started": embedder.started,
            "finished": embedder.finished,
            "thread": threading.current_thread().name,
        }
        sys.stderr.write("KILLED " + json.dumps(state) + "\\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


    call, seen = Connection.call, []


    def killing(self, name, fn, *args, **kwargs):
        if name == where:
            seen.append(name)
            if len(seen) == nth:
                # Batch nth + 1 went to the embedding thread just before this write began.
                deadline = time.monotonic() + 60
                while embedder.started <= nth and time.monotonic() < deadline:
                    time.sleep(0.001)
                die()
        return call(self, name, fn, *args, **kwargs)


    Connection.call = killing
    settings = Settings(data_dir=Path(data_dir), chunk_tokens=int(chunk_tokens), _env_file=None)
    embedder = Embedder(backend=backend)
    index = Index(settings, embedder)
    ingest_paths(
        [Path(folder)], settings, index=index, progress=False, on_file=lambda f: reported.append(f.doc_id)
    )
    """
)


def _ingest_killed_mid_flight(
    folder: Path, data_dir: Path, where: str, nth: int, backend: str = OVERLAP_BACKEND
) -> dict[str, Any]:
    """Runs an ingest with the real embedder in batches of OVERLAP_FLUSH chunks in another process, and
    SIGKILLs it right before its `nth` Chroma call named `where` (or as the embedding of batch `nth`
    begins, for "embedding"; as the bfloat16 encoder's pass `nth` begins, for "pass"); returns what
    it had reported, and how many batches it had begun and finished embedding."""
    forget_open_stores()  # the other process writes: this one opens the folder afresh afterwards
    env = cli_env(data_dir) | {"PYTHONPATH": str(REPO)}
    args = [
        str(folder),
        str(data_dir),
        str(CHUNK_TOKENS),
        str(OVERLAP_FLUSH),
        backend,
        where,
        str(nth),
    ]
    done = subprocess.run(
        [sys.executable, "-c", _MID_FLIGHT_KILLER, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    forget_open_stores()
    killed = [line for line in done.stderr.splitlines() if line.startswith("KILLED ")]
    assert len(killed) == 1, done.stderr[-3000:]
    state: dict[str, Any] = json.loads(killed[0].removeprefix("KILLED "))
    return state


@pytest.fixture(scope="module")
def overlap_embedder() -> SentenceTransformerEmbeddings:
    from rag.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings(backend=OVERLAP_BACKEND)


@pytest.fixture(scope="module")
def overlap_articles(
    tmp_path_factory: pytest.TempPathFactory, overlap_embedder: SentenceTransformerEmbeddings
) -> tuple[Path, Index]:
    """OVERLAP_ARTICLES articles, and their clean ingest."""
    root = tmp_path_factory.mktemp("overlap")
    folder = root / "articles"
    write_articles(folder, OVERLAP_ARTICLES)
    return folder, _clean_ingest(folder, root / "clean", overlap_embedder, OVERLAP_ARTICLES)


@pytest.mark.parametrize(
    ("where", "nth"),
    [
        pytest.param("write chunks", 2, id="batch-2-before-its-chunks"),
        pytest.param("write record", 3, id="batch-3-chunks-written-not-committed"),
        pytest.param("drop old chunks", 2, id="batch-2-committed-not-marked-done"),
        pytest.param("embedding", 4, id="batch-4-starting-to-embed"),
    ],
)
def test_a_kill_while_batches_overlap_converges_on_rerun(
    tmp_path: Path,
    overlap_embedder: SentenceTransformerEmbeddings,
    overlap_articles: tuple[Path, Index],
    where: str,
    nth: int,
) -> None:
    folder, clean = overlap_articles
    settings, embedder = _settings(tmp_path / "data"), overlap_embedder

    state = _ingest_killed_mid_flight(folder, settings.data_dir, where, nth)

    if where == "embedding":
        assert state["thread"].startswith("rag-embed"), state
        assert state["finished"] == nth - 1, state
    else:
        # Batch nth was being written while batch nth + 1 was embedded.
        assert (state["started"], state["finished"]) == (nth + 1, nth), state
    index = Index(settings, embedder)
    committed, reported = set(index.records()), set(state["reported"])
    assert 0 < len(committed) < OVERLAP_ARTICLES, "the kill did not land mid-way"
    if where == "drop old chunks":
        assert committed > reported, "batch nth should be committed, not yet reported"
    elif where == "embedding":  # batch nth - 1 may have been committed, not yet reported
        assert committed >= reported
    else:
        assert committed == reported
    _assert_committed_view_is_whole(index)
    leftovers = raw_chunk_count(index) - len(chunk_rows(index))
    assert leftovers > 0 if where == "write record" else leftovers == 0

    report = ingest_paths([folder], settings, index=index)

    assert report.ok
    assert report.counts() == {"unchanged": len(committed), "added": OVERLAP_ARTICLES - len(committed)}
    assert {f.doc_id for f in report.files if f.status == "unchanged"} == committed
    assert report.recovered == leftovers
    _assert_same_as(index, settings, clean, embedder, OVERLAP_ARTICLES)
    _assert_searchable(index, embedder, articles=OVERLAP_ARTICLES)


@pytest.mark.parametrize("backend", ["openvino-int8", "openvino", "torch-bf16"])
def test_a_kill_while_passes_run_side_by_side_converges_on_rerun(tmp_path: Path, backend: str) -> None:
    # `openvino-int8` (what `auto` stores with on a CPU with AMX or AVX512-BF16), `openvino` (its
    # choice before, still used for indexes built with it) and `torch-bf16` run a
    # batch's passes in threads of their own; their vectors do not depend on batch-mates, so a
    # rerun can match a clean ingest. Killed as the 16th pass begins (of about 30), with earlier
    # batches embedded.
    from rag.embeddings import SentenceTransformerEmbeddings

    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]
    folder = tmp_path / "articles"
    write_articles(folder, OVERLAP_ARTICLES)
    clean = _clean_ingest(folder, tmp_path / "clean", embedder, OVERLAP_ARTICLES)
    settings = _settings(tmp_path / "data")

    state = _ingest_killed_mid_flight(folder, settings.data_dir, "pass", 16, backend=backend)

    assert state["thread"].startswith("rag-pass"), state
    assert state["started"] > state["finished"] >= 1, state
    index = Index(settings, embedder)
    committed = set(index.records())
    assert 0 < len(committed) < OVERLAP_ARTICLES, "the kill did not land mid-way"
    _assert_committed_view_is_whole(index)

    report = ingest_paths([folder], settings, index=index)

    assert report.ok
    assert report.counts() == {"unchanged": len(committed), "added": OVERLAP_ARTICLES - len(committed)}
    _assert_same_as(index, settings, clean, embedder, OVERLAP_ARTICLES)
    _assert_searchable(index, embedder, articles=OVERLAP_ARTICLES)
