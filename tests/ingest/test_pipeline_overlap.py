"""The overlapped ingest: a batch is embedded in a background thread while the previous one is
written and the next files are prepared. It must end as a sequential ingest does: the same
statuses (each file reported once its batch is committed), the same records, an embedder's error
raised as itself, and ids decided again when another writer
committed between a batch's preparation and its write."""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ingest_support import article_text, assert_same_vectors, raw_chunk_count, record_rows, write_articles

import ingest.pipeline
from ingest.pipeline import ingest_paths
from rag.index import Index
from rag.types import BatchShapes
from tests.support import HashingEmbedder, chunk_rows, raw_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from ingest.pipeline import FileResult, IngestReport
    from rag.settings import Settings
    from rag.vectors import SentenceVectors

pytestmark = pytest.mark.fast

ARTICLES = 6


@pytest.fixture
def make_index(settings: Settings, memory_client: Any) -> Iterator[Callable[..., Index]]:
    """Makes indexes in memory, each over a collection of its own unless it names one; drops them afterwards."""
    made: list[Index] = []

    def make(embedder: HashingEmbedder | None = None, collection: str | None = None) -> Index:
        own = settings.model_copy(update={"collection": collection or f"t-{uuid.uuid4().hex[:16]}"})
        index = Index(own, embedder or HashingEmbedder(), client=memory_client)
        made.append(index)
        return index

    yield make
    for index in made:
        raw_store(index).reset()


def _ingest(index: Index, paths: Sequence[Path], **options: Any) -> IngestReport:
    return ingest_paths(list(paths), index.settings, index=index, progress=False, **options)


def _embedding_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rag-embed")]


def _assert_consistent(index: Index) -> None:
    """Every committed article shows exactly its own chunks at the right offsets, nothing else is stored,
    and no two articles are one file."""
    by_doc: dict[str, list[tuple[int, int, int, str]]] = {}
    for chunk in index.committed_chunks():
        by_doc.setdefault(chunk.doc_id, []).append((chunk.index, chunk.start, chunk.end, chunk.text))
    records = index.records()
    assert set(by_doc) <= set(records)
    for doc_id, record in records.items():
        chunks = sorted(by_doc.get(doc_id, []))
        assert [number for number, *_ in chunks] == list(range(record.n_chunks)), doc_id
        text = index.article_text(doc_id)
        assert all(text[start:end] == chunk_text for _, start, end, chunk_text in chunks), doc_id
    paths = [r.path for r in records.values()]
    assert len(set(paths)) == len(paths), "two articles are one file"
    assert raw_chunk_count(index) == len(chunk_rows(index)), "uncommitted chunks left behind"
    assert index.stats()["interrupted_write"] is False


def _assert_same_index(index: Index, reference: Index) -> None:
    assert record_rows(index) == record_rows(reference)
    assert chunk_rows(index) == chunk_rows(reference)
    assert_same_vectors(index, reference, tolerance=0.0)


class _ScriptedEmbedder(HashingEmbedder):
    """The hashing embedder, calling `script[n]()` as it begins its n-th embedding of chunks (which
    the ingest runs in its embedding thread)."""

    def __init__(self, script: dict[int, Callable[[], None]]) -> None:
        super().__init__()
        self.script = script
        self.calls = 0

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]:
        self.calls += 1
        if self.calls in self.script:
            self.script[self.calls]()
        return super().embed_documents_with_sentences(texts, spans)


# -- an embedder failing in the background thread ----------------------------------------------------


class _EmbedderDown(RuntimeError):
    pass


@pytest.mark.parametrize(
    "fail_on",
    [
        pytest.param(1, id="first-batch"),
        pytest.param(3, id="middle-batch"),  # surfaces from its write, as batch 4 is being embedded
        pytest.param(ARTICLES, id="last-batch"),  # raised by the write after the loop
    ],
)
def test_an_embedder_error_surfaces_as_itself_and_the_batches_before_it_stay(
    tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch, fail_on: int
) -> None:
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 1)  # a batch per file
    folder = tmp_path / "articles"
    write_articles(folder, ARTICLES)
    down = _EmbedderDown(f"the model went away on its call {fail_on}")

    def fail() -> None:
        raise down

    index = make_index(_ScriptedEmbedder({fail_on: fail}))
    reported: list[FileResult] = []
    switching = sys.getswitchinterval()

    with pytest.raises(_EmbedderDown) as raised:
        _ingest(index, [folder], on_file=reported.append)

    assert raised.value is down
    assert not _embedding_threads(), "the embedding thread outlived the failed run"
    assert sys.getswitchinterval() == switching, "the failed run left the switch interval short"
    before = [f"a{n:03d}.txt" for n in range(fail_on - 1)]
    assert sorted(index.records()) == before
    assert [(f.doc_id, f.status) for f in reported] == [(doc_id, "added") for doc_id in before]
    _assert_consistent(index)

    again = make_index(HashingEmbedder(), collection=index.settings.collection)
    report = _ingest(again, [folder])

    assert report.ok
    counts = {"unchanged": len(before), "added": ARTICLES - len(before)}
    assert report.counts() == {status: n for status, n in counts.items() if n}
    assert [f.doc_id for f in report.files] == [f"a{n:03d}.txt" for n in range(ARTICLES)]
    clean = make_index()
    assert _ingest(clean, [folder]).counts() == {"added": ARTICLES}
    _assert_same_index(again, clean)
    _assert_consistent(again)


# -- another writer between a batch's preparation and its write ---------------------------------------

_STORIES = {
    "a.txt": "The harbour board approved a new ferry terminal at the northern pier on Tuesday.",
    "b.txt": "The city museum reopened its east wing after a two-year renovation of the tiled roof.",
    "c.txt": "Durian growers in the northern valleys expect a record harvest after the late rains.",
    "d-empty.txt": "",
    "e.txt": "The rail operator will run night trains to the airport from the first of June.",
}
"""One chunk each, so that with two chunks a batch the batches are [a, b] and [c, e]; d fails."""
_ELSEWHERE = "A council in another town also named its file c.txt, about a new public library."


def _write_stories(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in _STORIES}
    for name, text in _STORIES.items():
        paths[name].write_text(text and f"{text}\n", encoding="utf-8")
    return paths


@pytest.mark.parametrize(
    "when",
    [
        # As d fails, c's id is decided and [a, b] is being embedded, not yet written: the write of
        # [a, b] sees the change and decides its ids again, and [c, e], prepared before that,
        # must be decided again too (the generation no longer tells it: it moved with [a, b]).
        pytest.param("d-empty.txt", id="before-the-previous-batch-is-written"),
        # As b is reported, [a, b] is written and [c, e] is being embedded: the generation tells
        # the write of [c, e].
        pytest.param("b.txt", id="after-the-previous-batch-is-written"),
        # From the embedding thread, as it begins [c, e], while the main thread writes [a, b]
        # (holding the write lock, or about to): either of the above, and no deadlock.
        pytest.param("embedding", id="while-the-previous-batch-is-written", marks=pytest.mark.timeout(60)),
    ],
)
@pytest.mark.parametrize("claim", ["another-file", "the-same-file"])
def test_a_commit_by_another_writer_before_a_batch_is_written_decides_its_ids_again(
    tmp_path: Path,
    make_index: Callable[..., Index],
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    claim: str,
) -> None:
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 2)
    folder = tmp_path / "articles"
    paths = _write_stories(folder)
    elsewhere = tmp_path / "elsewhere" / "c.txt"
    elsewhere.parent.mkdir()
    elsewhere.write_text(_ELSEWHERE + "\n", encoding="utf-8")
    embedder = _ScriptedEmbedder({})
    index = make_index(embedder)
    other = make_index(collection=index.settings.collection)  # e.g. a second `rag ingest`, or an upload
    theirs = elsewhere if claim == "another-file" else paths["c.txt"]
    committed: dict[str, Any] = {}

    def another_writer_commits() -> None:
        report = _ingest(other, [theirs])  # named on its own: its id is its name, c.txt
        assert report.counts() == {"added": 1}
        committed["record"] = other.records()["c.txt"]

    def on_file(result: FileResult) -> None:
        if Path(result.path).name == when:
            assert "c.txt" not in index.records(), "the batch of c.txt was written too early"
            another_writer_commits()

    if when == "embedding":
        embedder.script[2] = another_writer_commits

    report = _ingest(index, [folder], on_file=on_file)

    assert committed, "the other writer never ran"
    mine = {Path(f.path).name: f for f in report.files}
    assert {name: f.status for name, f in mine.items()} == {
        "a.txt": "added",
        "b.txt": "added",
        "c.txt": "added" if claim == "another-file" else "unchanged",
        "d-empty.txt": "failed",
        "e.txt": "added",
    }
    records = index.records()
    # The other writer's article is as it committed it.
    assert records["c.txt"] == committed["record"]
    if claim == "another-file":
        assert index.article_text("c.txt").strip() == _ELSEWHERE
        assert mine["c.txt"].doc_id.startswith("c.txt~")
        assert records[mine["c.txt"].doc_id].path == str(paths["c.txt"].resolve())
    else:
        assert mine["c.txt"].doc_id == "c.txt"
    ids = [f.doc_id for f in report.files if f.status != "failed"]
    assert len(set(ids)) == len(ids)
    assert set(records) == set(ids) | {"c.txt"}
    _assert_consistent(index)

    # A rerun finds everything as it is, under the same ids.
    again = _ingest(index, [folder])
    assert {Path(f.path).name: (f.doc_id, f.status) for f in again.files} == {
        name: (f.doc_id, "failed" if f.status == "failed" else "unchanged") for name, f in mine.items()
    }
    assert index.records()["c.txt"] == committed["record"]


# -- fixed-shape batches filled from the batch after ---------------------------------------------


class _FixedShapeEmbedder(HashingEmbedder):
    """The hashing embedder, as if it ran fixed-shape batches of `rows` texts of one length class
    (word pieces rounded up to `step`); records the texts of each embedding call."""

    def __init__(self, rows: int, step: int) -> None:
        super().__init__()
        self.rows, self.step = rows, step
        self.calls: list[list[str]] = []

    def batch_shapes(self, texts: Sequence[str]) -> BatchShapes:
        return BatchShapes(self.rows, [-(-n // self.step) * self.step for n in self.count_tokens(texts)])

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]:
        self.calls.append(list(texts))
        return super().embed_documents_with_sentences(texts, spans)

    def padded_rows(self, groups: Iterable[Sequence[str]]) -> int:
        """Rows the encoder would run for these embedding calls, copies included."""
        rows = 0
        for texts in groups:
            per_length = Counter(self.batch_shapes(texts).lengths)
            rows += sum(-(-count // self.rows) * self.rows for count in per_length.values())
        return rows


@pytest.mark.parametrize(
    "step", [pytest.param(10_000, id="one-length"), pytest.param(40, id="several-lengths")]
)
def test_fixed_shape_passes_are_filled_from_the_next_batch(
    tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 1)  # a batch per file
    folder = tmp_path / "articles"
    write_articles(folder, ARTICLES)
    reference = make_index()
    _ingest(reference, [folder])
    shaped = _FixedShapeEmbedder(rows=3, step=step)
    index = make_index(shaped)

    _ingest(index, [folder])

    by_file: dict[str, list[str]] = {}
    for doc_id, *_, text in sorted(chunk_rows(index).values()):
        by_file.setdefault(doc_id, []).append(text)
    alone = shaped.padded_rows(by_file.values())  # each batch (file) embedded on its own
    embedded = [text for call in shaped.calls for text in call]
    assert len(embedded) == len(set(embedded)) == sum(len(texts) for texts in by_file.values())
    assert shaped.padded_rows(shaped.calls) < alone
    if step == 10_000:  # one length: every pass but the last ones is full
        assert [len(call) % 3 for call in shaped.calls[:-1]] == [0] * (len(shaped.calls) - 1)
    _assert_same_index(index, reference)
    _assert_consistent(index)


# -- the report and the records, as a sequential ingest gives them ---------------------------------

_ONE_BATCH = 10**9


def _folder_with_history(folder: Path, index: Index) -> list[str]:
    """Articles a000-a007 of which an earlier run indexed a001, a002 and a005; since then a002 was
    edited and a003 and a006 emptied (they fail), and a file of an unsupported type came. a007 is
    a000 under another name: the one written first is the group's article. Returns the names in the
    order an ingest reads them."""
    paths = write_articles(folder, 8)
    paths[7].write_text(article_text(0), encoding="utf-8")
    assert _ingest(index, [paths[1], paths[2], paths[5]]).counts() == {"added": 3}
    paths[2].write_text(article_text(2, revision=1), encoding="utf-8")
    paths[3].write_bytes(b"")
    paths[6].write_bytes(b"")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not read")
    return [p.name for p in paths]


def _report_order(names: list[str], results: dict[str, FileResult], flush: int) -> list[str]:
    """The order an ingest reports files in: what finding the files skipped, then each file as it
    is read, except that a file to write is reported when its batch is committed. A batch is full
    at `flush` chunks; it is written once the next one is full and handed to the embedder (or after
    the last file), so that the writing overlaps the next batch's embedding."""
    order = [name for name, r in results.items() if name not in names]
    batch: list[str] = []
    embedded: list[str] = []
    for name in names:
        if results[name].status not in ("added", "updated"):
            order.append(name)
            continue
        batch.append(name)
        if sum(results[n].chunks for n in batch) >= flush:
            order += embedded
            embedded, batch = batch, []
    if batch:
        order += embedded
        embedded = batch
    return order + embedded


@pytest.mark.parametrize(
    "flush", [pytest.param(1, id="a-batch-per-file"), pytest.param(8, id="two-files-a-batch")]
)
def test_the_report_and_the_records_are_what_a_sequential_ingest_gives(
    tmp_path: Path, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch, flush: int
) -> None:
    reference = make_index()  # the same history, written in one batch: nothing overlaps
    names = _folder_with_history(tmp_path / "reference", reference)
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", _ONE_BATCH)
    expected = _ingest(reference, [tmp_path / "reference"])
    index = make_index()
    assert _folder_with_history(tmp_path / "articles", index) == names
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", flush)
    reported: list[FileResult] = []

    report = _ingest(index, [tmp_path / "articles"], on_file=reported.append)

    def by_name(report: IngestReport) -> dict[str, FileResult]:
        return {Path(f.path).name: f for f in report.files}

    results = by_name(report)
    assert len(results) == len(report.files) == len(names) + 1
    assert {doc_id: r.duplicate_of for doc_id, r in index.records().items() if r.duplicate_of} == {
        "a007.txt": "a000.txt"
    }
    statuses = {name: (f.doc_id, f.status, f.chunks) for name, f in results.items()}
    assert statuses == {name: (f.doc_id, f.status, f.chunks) for name, f in by_name(expected).items()}
    assert report.counts() == {"added": 3, "updated": 1, "unchanged": 2, "failed": 2, "skipped": 1}
    assert max(r.chunks for r in results.values()) > 1, "batches of one chunk would not tell the orders apart"
    assert (report.documents, report.chunks) == (expected.documents, expected.chunks)
    _assert_same_index_but_paths(index, reference)
    _assert_consistent(index)
    assert reported == report.files
    assert [Path(f.path).name for f in expected.files] == _report_order(names, results, _ONE_BATCH)
    assert [Path(f.path).name for f in report.files] == _report_order(names, results, flush), (
        "the files are not reported when their batches are committed"
    )


def _assert_same_index_but_paths(index: Index, reference: Index) -> None:
    """The same records (but for the folder their files are in), chunks and vectors."""

    def rows(index: Index) -> dict[str, dict[str, Any]]:
        return {doc_id: row | {"path": Path(row["path"]).name} for doc_id, row in record_rows(index).items()}

    assert rows(index) == rows(reference)
    assert chunk_rows(index) == chunk_rows(reference)
    # A chunk whose text an earlier batch committed takes its vector from the store, where Chroma
    # normalised it in float32: one rounding apart from embedding it again in the same batch.
    assert_same_vectors(index, reference, tolerance=1e-7)


def test_the_gil_changes_hands_promptly_while_an_ingest_runs_and_as_before_after(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """The embedding thread waits for the GIL between torch's operations: while files are prepared
    and written, the interpreter switches threads every millisecond, and as before afterwards."""
    before = sys.getswitchinterval()
    during: list[float] = []
    paths = write_articles(tmp_path / "a", ARTICLES)
    report = _ingest(make_index(), paths, on_file=lambda _result: during.append(sys.getswitchinterval()))
    assert report.counts() == {"added": ARTICLES}
    assert during and max(during) <= 0.001 < before
    assert sys.getswitchinterval() == before


def test_the_switch_interval_comes_back_when_the_last_of_overlapping_ingests_ends() -> None:
    before = sys.getswitchinterval()
    with contextlib.ExitStack() as first:
        first.enter_context(ingest.pipeline._SWITCHING.shortened())
        with contextlib.ExitStack() as second:
            second.enter_context(ingest.pipeline._SWITCHING.shortened())
            first.close()  # the first ingest ends while the second still runs
            assert sys.getswitchinterval() <= 0.001
        assert sys.getswitchinterval() == before


def test_a_switch_interval_already_short_is_left_alone() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.0002)
        with ingest.pipeline._SWITCHING.shortened():
            assert sys.getswitchinterval() == pytest.approx(0.0002)
        assert sys.getswitchinterval() == pytest.approx(0.0002)
    finally:
        sys.setswitchinterval(before)
