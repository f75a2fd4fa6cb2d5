"""Acceptance: a story filed under two names is answered once, with "also published by"; it stays
answerable when the group's file goes; and incremental, pruning and killed runs group the files as a
clean ingest does."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ingest_support import raw_chunk_count

import ingest.pipeline
from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from rag.index import Index
from tests.rag.rag_support import HARBOUR, WILDFIRE, WILDFIRE_REPUBLISHED
from tests.support import (
    REPO,
    HashingEmbedder,
    chunk_rows,
    forget_open_stores,
    make_settings,
    raw_store,
    vector_rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ingest.pipeline import IngestReport
    from rag.settings import Settings
    from rag.types import Answer

QUESTION = "How many homes did the Glenhaven wildfire destroy?"


@dataclass(frozen=True)
class _File:
    """An article file: a header the loader reads, then the text."""

    name: str
    title: str
    source: str
    text: str
    date: str = "2025-01-13"

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.name
        header = f"Title: {self.title}\nSource: {self.source}\nDate: {self.date}\n\n"
        path.write_text(header + self.text + "\n", encoding="utf-8")
        return path

    @property
    def doc_id(self) -> str:
        return self.name

    @property
    def also(self) -> str:
        """How a passage names this file's article as a copy of its own."""
        return f"{self.title} — {self.source} ({self.date})"


WIRE = _File(
    "wire.txt", "Wildfire destroys 310 homes in Glenhaven", "https://wire.example.com/glenhaven", WILDFIRE
)
PAPER = _File(
    "paper.txt", "Glenhaven fire: residents flee", "https://valley-times.example.org/glenhaven", WILDFIRE
)
"""The wire story under another name, title and source: the same text."""
AGENCY = _File(
    "agency.txt", "310 homes lost in Glenhaven", "https://agency.example.net/glenhaven", WILDFIRE_REPUBLISHED
)
"""The wire story with a few words changed."""
DREDGING = _File(
    "harbour.txt", "Marrowby harbour to be dredged", "https://news.example.org/marrowby", HARBOUR
)


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, keeping the chunk texts it embeds for documents (queries are not kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts  # the sentence-vector pass calls this too
        return super().embed_documents(texts)


def _write(folder: Path, *files: _File) -> list[Path]:
    return [file.write(folder) for file in files]


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def index(settings: Settings, embedder: CountingEmbedder, memory_client: Any) -> Iterator[Index]:
    """An index in memory with the counting embedder, in collections of its own; dropped afterwards."""
    own = settings.model_copy(update={"collection": f"t-{uuid.uuid4().hex[:16]}"})
    made = Index(own, embedder, client=memory_client)
    yield made
    raw_store(made).reset()


@pytest.fixture
def clean_index(settings: Settings, memory_client: Any) -> Iterator[Index]:
    """Another index in memory, for a clean ingest to compare with."""
    own = settings.model_copy(update={"collection": f"t-{uuid.uuid4().hex[:16]}"})
    made = Index(own, HashingEmbedder(), client=memory_client)
    yield made
    raw_store(made).reset()


def _ingest(index: Index, folder: Path, **options: Any) -> IngestReport:
    report = ingest_paths([folder], index.settings, index=index, progress=False, **options)
    assert report.ok, report.files
    return report


def _groups(index: Index) -> dict[str, str]:
    """Each article's group article ("" for the group's own article, or one alone)."""
    return {doc_id: r.duplicate_of for doc_id, r in index.records().items()}


def _statuses(report: IngestReport) -> dict[str, str]:
    return {Path(f.path).name: f.status for f in report.files}


def _ask(index: Index, **options: Any) -> Answer:
    return Assistant(index.settings, embedder=index.embedder, index=index).ask(QUESTION, **options)


def _assert_answered_from(index: Index, doc_id: str) -> Answer:
    answer = _ask(index)
    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == "310"
    assert {c.doc_id for c in answer.citations} == {doc_id}
    for citation in answer.citations:
        assert index.article_text(citation.doc_id)[citation.start : citation.end] == citation.quote
    return answer


def _story_passages(answer: Answer) -> set[str]:
    """The articles of the passages about the wildfire."""
    return {p.doc_id for p in answer.passages if "Glenhaven" in p.text}


# -- one run ------------------------------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize("batch", ["one-batch", "batch-per-file"])
def test_the_same_text_under_another_name_gives_one_result_and_an_also_published_by(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch, batch: str
) -> None:
    if batch == "batch-per-file":
        monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 1)
    _write(tmp_path / "articles", DREDGING, PAPER, WIRE)

    report = _ingest(index, tmp_path / "articles")

    # Published the same day: the first file in the run's order (by name) is the group's.
    assert _groups(index) == {"harbour.txt": "", "paper.txt": "", "wire.txt": "paper.txt"}
    assert _statuses(report) == dict.fromkeys(("harbour.txt", "paper.txt", "wire.txt"), "added")
    assert (index.stats()["copies"], index.stats()["copy_groups"]) == (1, 1)
    answer = _assert_answered_from(index, PAPER.doc_id)
    assert _story_passages(answer) == {PAPER.doc_id}
    assert answer.passages[0].also_published_by == (WIRE.also,)
    assert answer.to_json()["passages"][0]["also_published_by"] == [WIRE.also]


def _by_text(index: Index, doc_id: str) -> dict[str, str]:
    """A committed article's chunk ids by their text."""
    return {c.text: c.chunk_id for c in index.article_chunks([doc_id])}


@pytest.mark.fast
@pytest.mark.parametrize("batch", ["one-batch", "batch-per-file"])
def test_a_text_is_embedded_once_a_run_and_its_copies_take_its_vectors(
    tmp_path: Path, index: Index, embedder: CountingEmbedder, monkeypatch: pytest.MonkeyPatch, batch: str
) -> None:
    # In one batch the copy takes the first chunk's vectors; a batch later, the stored ones.
    if batch == "batch-per-file":
        monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 1)
    _write(tmp_path / "articles", DREDGING, PAPER, WIRE)

    report = _ingest(index, tmp_path / "articles")

    paper, wire = _by_text(index, PAPER.doc_id), _by_text(index, WIRE.doc_id)
    assert set(paper) == set(wire) and len(paper) > 1
    assert all(embedder.embedded.count(text) == 1 for text in paper)  # not once per copy
    assert report.repeated == len(wire) and report.to_json()["repeated_chunks"] == len(wire)
    assert f"({len(wire)} repeated chunks not embedded again)" in report.summary()
    one = dataclasses.replace(report, repeated=1).summary()
    assert "(1 repeated chunk not embedded again)" in one
    vectors = vector_rows(index)
    for text, chunk_id in paper.items():
        assert abs(vectors[chunk_id] - vectors[wire[text]]).max() <= 1e-7
    packed = index.sentence_vectors([*paper.values(), *wire.values()])
    assert {text: packed[paper[text]] for text in paper} == {text: packed[wire[text]] for text in wire}
    assert _groups(index) == {"harbour.txt": "", "paper.txt": "", "wire.txt": "paper.txt"}


@pytest.mark.fast
def test_a_copy_whose_stored_vectors_went_is_embedded_after_all(
    tmp_path: Path, index: Index, embedder: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer may delete the earlier article between a batch's plan and its write.
    monkeypatch.setattr(ingest.pipeline, "_FLUSH_CHUNKS", 1)
    monkeypatch.setattr(Index, "chunk_vectors", lambda self, ids: {})
    _write(tmp_path / "articles", PAPER, WIRE)

    report = _ingest(index, tmp_path / "articles")

    paper, wire = _by_text(index, PAPER.doc_id), _by_text(index, WIRE.doc_id)
    assert all(embedder.embedded.count(text) == 2 for text in paper)
    assert report.repeated == 0 and "repeated" not in report.summary()
    vectors = vector_rows(index)
    assert all(abs(vectors[paper[text]] - vectors[wire[text]]).max() <= 1e-7 for text in paper)
    assert all(index.sentence_vectors([wire[text]]) for text in wire)


@pytest.mark.fast
def test_a_near_copy_is_grouped(tmp_path: Path, index: Index) -> None:
    _write(tmp_path / "articles", AGENCY, WIRE)

    _ingest(index, tmp_path / "articles")

    assert _groups(index) == {"agency.txt": "", "wire.txt": "agency.txt"}
    answer = _ask(index)
    assert _story_passages(answer) == {AGENCY.doc_id}
    assert answer.passages[0].also_published_by == (WIRE.also,)


@pytest.mark.fast
def test_a_newer_version_filed_later_takes_the_groups_place(tmp_path: Path, index: Index) -> None:
    folder = tmp_path / "articles"
    _write(folder, WIRE, DREDGING)
    _ingest(index, folder)

    newer = dataclasses.replace(AGENCY, date="2025-01-14")
    _write(folder, newer)
    _ingest(index, folder)

    assert _groups(index) == {"wire.txt": "agency.txt", "agency.txt": "", "harbour.txt": ""}
    answer = _ask(index)
    assert _story_passages(answer) == {AGENCY.doc_id}
    assert answer.passages[0].also_published_by == (WIRE.also,)
    # As of the wire story's day, the newer version is not used, but the story is.
    as_of = _ask(index, as_of=WIRE.date)
    assert {c.doc_id for c in as_of.citations} == {WIRE.doc_id}


# -- later runs ---------------------------------------------------------------------------------


@pytest.mark.fast
def test_prune_after_removing_the_groups_file_keeps_the_story_answerable(
    tmp_path: Path, index: Index, embedder: CountingEmbedder
) -> None:
    folder = tmp_path / "articles"
    paper, _wire, _dredging = _write(folder, PAPER, WIRE, DREDGING)
    _ingest(index, folder)
    copy_chunks = {k: v for k, v in chunk_rows(index).items() if v[0] == WIRE.doc_id}
    embedder.embedded.clear()

    paper.unlink()
    report = _ingest(index, folder, prune=True)

    assert _statuses(report)["paper.txt"] == "removed"
    assert _groups(index) == {"wire.txt": "", "harbour.txt": ""}
    assert {k: v for k, v in chunk_rows(index).items() if v[0] == WIRE.doc_id} == copy_chunks
    assert embedder.embedded == []  # nothing embedded again
    assert raw_chunk_count(index) == len(chunk_rows(index))
    assert (index.stats()["copies"], index.stats()["copy_groups"]) == (0, 0)
    assert {c.doc_id for c, _ in index.lexical_search("reservoir brush", 10)} == {WIRE.doc_id}
    _assert_answered_from(index, WIRE.doc_id)


@pytest.mark.fast
def test_copies_added_in_a_later_run_join_the_group(
    tmp_path: Path, index: Index, embedder: CountingEmbedder
) -> None:
    folder = tmp_path / "articles"
    _write(folder, WIRE, DREDGING)
    _ingest(index, folder)
    first_rows = chunk_rows(index)

    _write(folder, PAPER, AGENCY)
    report = _ingest(index, folder)

    assert _statuses(report) == {
        "wire.txt": "unchanged",
        "harbour.txt": "unchanged",
        "paper.txt": "added",
        "agency.txt": "added",
    }
    groups = _groups(index)
    assert groups == {"wire.txt": "", "harbour.txt": "", "paper.txt": "wire.txt", "agency.txt": "wire.txt"}
    assert {k: v for k, v in chunk_rows(index).items() if k in first_rows} == first_rows
    answer = _assert_answered_from(index, WIRE.doc_id)
    assert _story_passages(answer) == {WIRE.doc_id}
    assert set(answer.passages[0].also_published_by) == {PAPER.also, AGENCY.also}

    embedder.embedded.clear()
    again = _ingest(index, folder)

    assert set(_statuses(again).values()) == {"unchanged"}
    assert _groups(index) == groups
    assert embedder.embedded == []


@pytest.mark.fast
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("wire.txt", id="changed-last"),
        pytest.param("a-wire.txt", id="changed-first"),
    ],
)
def test_a_copy_of_a_text_whose_original_changes_in_the_same_run_keeps_its_story(
    tmp_path: Path, index: Index, name: str
) -> None:
    folder = tmp_path / "articles"
    original = dataclasses.replace(WIRE, name=name)
    original.write(folder)
    _ingest(index, folder)

    # The original now tells another story; a new file has its old text.
    _write(folder, dataclasses.replace(DREDGING, name=name), PAPER)
    _ingest(index, folder)

    assert _groups(index) == {name: "", "paper.txt": ""}
    _assert_answered_from(index, PAPER.doc_id)


@pytest.mark.fast
def test_pruning_the_groups_file_leaves_what_a_clean_ingest_makes(
    tmp_path: Path, index: Index, clean_index: Index
) -> None:
    folder = tmp_path / "articles"
    wire, *_ = _write(folder, dataclasses.replace(WIRE, name="a-wire.txt"), PAPER, AGENCY)
    _ingest(index, folder)
    assert _groups(index) == {"a-wire.txt": "", "agency.txt": "a-wire.txt", "paper.txt": "a-wire.txt"}

    wire.unlink()
    _ingest(index, folder, prune=True)

    _ingest(clean_index, folder)
    assert _groups(index) == _groups(clean_index) == {"agency.txt": "", "paper.txt": "agency.txt"}


@pytest.mark.fast
def test_files_pruned_one_by_one_leave_what_a_clean_ingest_makes(
    tmp_path: Path, index: Index, clean_index: Index
) -> None:
    folder = tmp_path / "articles"
    wire, _dredging = _write(folder, WIRE, DREDGING)
    _ingest(index, folder)
    mirror = _File("mirror.txt", "Agency story (mirror)", "https://mirror.example.com/glenhaven", AGENCY.text)
    agency, _mirror = _write(folder, AGENCY, mirror)
    _ingest(index, folder)
    assert _groups(index) == {
        "wire.txt": "",
        "harbour.txt": "",
        "agency.txt": "wire.txt",
        "mirror.txt": "wire.txt",
    }

    for path in (agency, wire):
        path.unlink()
        _ingest(index, folder, prune=True)

    _ingest(clean_index, folder)
    assert _groups(index) == _groups(clean_index) == {"harbour.txt": "", "mirror.txt": ""}
    assert chunk_rows(index) == chunk_rows(clean_index)


# -- killed runs ----------------------------------------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    import ingest.pipeline
    from ingest.pipeline import ingest_paths
    from rag.index import Index
    from rag.index.chroma import Connection
    from tests.support import HashingEmbedder, make_settings

    folder, data_dir, what, nth, prune = sys.argv[1:]
    ingest.pipeline._FLUSH_CHUNKS = 1  # a batch per file, so that a kill can land between them
    call, seen = Connection.call, []

    def killing(self, name, fn, *args, **kwargs):
        if name == what:
            seen.append(name)
            if len(seen) == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
        return call(self, name, fn, *args, **kwargs)

    Connection.call = killing
    settings = make_settings(Path(data_dir))
    index = Index(settings, HashingEmbedder())
    ingest_paths([Path(folder)], settings, index=index, prune=prune == "prune", progress=False)
    """
)


def _ingest_killed(folder: Path, data_dir: Path, what: str, nth: int, *, prune: bool = False) -> None:
    """Runs an ingest in another process (hashing embedder, a batch per file) and SIGKILLs it right
    before its `nth` Chroma call named `what`."""
    forget_open_stores()  # the other process writes: this one opens the folder afresh afterwards
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run(
        [sys.executable, "-c", _KILLER, str(folder), str(data_dir), what, str(nth), "prune" if prune else ""],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    forget_open_stores()


def _on_disk(data_dir: Path) -> Index:
    return Index(make_settings(data_dir), HashingEmbedder())


def _assert_same_as_clean_ingest(index: Index, folder: Path, clean_dir: Path) -> None:
    """The index has the groups, chunks and counts a clean ingest of `folder` makes, and no leftovers."""
    clean = _on_disk(clean_dir)
    _ingest(clean, folder)
    assert _groups(index) == _groups(clean)
    assert chunk_rows(index) == chunk_rows(clean)
    assert raw_chunk_count(index) == raw_chunk_count(clean) == len(chunk_rows(clean))
    assert index.stats()["interrupted_write"] is False
    counted = ("documents", "copies", "copy_groups")
    assert {k: index.stats()[k] for k in counted} == {k: clean.stats()[k] for k in counted}


_FOUR = [
    dataclasses.replace(WIRE, name="a-wire.txt"),
    dataclasses.replace(PAPER, name="b-paper.txt"),
    dataclasses.replace(AGENCY, name="c-agency.txt", date="2025-01-12"),
    dataclasses.replace(DREDGING, name="d-harbour.txt"),
]
"""The wire story, the same text, a near-copy published the day before, and another story, ingested in
this order."""


@pytest.mark.parametrize("committed", [1, 2, 3])
def test_a_rerun_after_a_kill_between_batches_groups_as_a_clean_ingest(
    tmp_path: Path, committed: int
) -> None:
    folder, data_dir = tmp_path / "articles", tmp_path / "data"
    _write(folder, *_FOUR)

    _ingest_killed(folder, data_dir, "write record", committed + 1)

    index = _on_disk(data_dir)
    assert len(index.records()) == committed, "the kill did not land where it should"
    report = _ingest(index, folder)
    assert report.counts() == {"unchanged": committed, "added": len(_FOUR) - committed}
    _assert_same_as_clean_ingest(index, folder, tmp_path / "clean")
    assert _groups(index) == {
        "a-wire.txt": "",
        "b-paper.txt": "a-wire.txt",
        "c-agency.txt": "a-wire.txt",
        "d-harbour.txt": "",
    }


@pytest.mark.parametrize(
    "what",
    [
        "write record",  # before the newest copy (the same text) takes the group's place
        "delete record",  # it has, and the group's article is still there
        "delete chunks",  # the group's article's record is gone, its chunks not yet
    ],
)
def test_a_rerun_after_a_kill_while_pruning_the_groups_file_groups_as_a_clean_ingest(
    tmp_path: Path, what: str
) -> None:
    folder, data_dir = tmp_path / "articles", tmp_path / "data"
    wire, *_ = _write(folder, *_FOUR)
    _ingest(_on_disk(data_dir), folder)
    wire.unlink()

    _ingest_killed(folder, data_dir, what, 1, prune=True)

    index = _on_disk(data_dir)
    # Whatever the kill left, a reader finds the story.
    assert _ask(index).short_answer is not None
    _ingest(index, folder, prune=True)
    _assert_same_as_clean_ingest(index, folder, tmp_path / "clean")
    assert _groups(index) == {"b-paper.txt": "", "c-agency.txt": "b-paper.txt", "d-harbour.txt": ""}


_REWRITTEN = dataclasses.replace(DREDGING, name="a-wire.txt", text=HARBOUR + " The work was approved.")
"""The group's file, now telling another story."""
_UPDATE = dataclasses.replace(AGENCY, name="e-update.txt", date="2025-01-14")
"""A newer version of the story."""


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_REWRITTEN, id="rewritten"),
        pytest.param(_UPDATE, id="newer"),
    ],
)
def test_a_rerun_after_a_kill_between_a_commit_and_its_regrouping_groups_as_an_uninterrupted_run(
    tmp_path: Path, change: _File
) -> None:
    folder, data_dir = tmp_path / "articles", tmp_path / "data"
    _write(folder, *_FOUR)
    reference = _on_disk(tmp_path / "reference")
    for index in (_on_disk(data_dir), reference):
        _ingest(index, folder)
    change.write(folder)
    _ingest(reference, folder)

    # The batch's record is committed ("write record" 1); its regrouping is the next write.
    _ingest_killed(folder, data_dir, "write record", 2)

    index = _on_disk(data_dir)
    _ingest(index, folder)
    assert _groups(index) == _groups(reference)
    assert chunk_rows(index) == chunk_rows(reference)
    assert raw_chunk_count(index) == len(chunk_rows(index))
