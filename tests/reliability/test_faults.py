"""Faults: the Chroma server going away and coming back, a foreign or damaged store folder, a read-only
or full disk during an ingest, and an LLM backend that stalls or talks nonsense.

Each fault must end in a clear `RagError` message (what failed, where, what to do) rather than a
traceback, leave what was committed whole, and heal once the fault is gone — with the same
`Assistant`, no restart. The disk faults are real: a read-only bind mount (EROFS, which root cannot
override, unlike `chmod`) and a small tmpfs filled up with a filler file; they need root and the
right to mount (as in CI), and fail, rather than skip, without them.
"""

from __future__ import annotations

import contextlib
import gc
import html
import os
import random
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

import pytest
from reliability_servers import FakeOpenAI, Reply, restating, served
from reliability_support import (
    BIN,
    FACTS,
    LONG,
    ChromaServer,
    answer_problem,
    assert_same_as_clean,
    assert_whole,
    can_mount,
    fact_question,
    fill_disk,
    read_only,
    small_disk,
    tree,
    write_artifact,
)

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from rag.errors import BackendUnavailableError, NoIndexError, ReadOnlyIndexError, StoreUnavailableError
from rag.index import Index
from tests.support import SEED_ARTICLE, Fact, chunk_rows, make_settings, raw_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings

pytestmark = pytest.mark.slow

FREE_KB = [0, 64, 160, 320] if LONG else [0, 64]
"""Free space left on the full disk: 0 fails the first write, 64 KB fails inside an article's commit."""


def _require_mount() -> None:
    """The disk-full and read-only cases need a tmpfs mount (root, as in CI): missing is a failure, not a skip."""
    problem = can_mount()
    assert problem is None, f"cannot mount a tmpfs for this fault test: {problem}"


needs_mount = pytest.mark.usefixtures("_mount_available")


@pytest.fixture
def _mount_available() -> None:
    _require_mount()


def _articles(folder: Path, facts: list[Fact]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for fact in facts:
        (folder / fact.file_name).write_text(fact.article(FACTS.index(fact)), encoding="utf-8")
    return folder


def _assert_answers(assistant: Assistant, facts: list[Fact]) -> None:
    for fact in facts:
        question = fact_question(fact)
        assert answer_problem(assistant.ask(question.text), question, assistant.index) is None


def _forget_store(settings: Settings) -> None:
    """Closes this process's embedded Chroma engine for one folder (so it can be unmounted cleanly)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(settings.chroma_dir), None)
    if system is not None:
        with contextlib.suppress(Exception):
            system.stop()


def _rag_ingest(data_dir: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    """The real `rag ingest` command, in a fresh process."""
    env = {"RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env |= {"PATH": "/usr/bin:/bin", "ANONYMIZED_TELEMETRY": "False"}
    return subprocess.run(
        [str(BIN / "rag"), "ingest", *map(str, paths)],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# -- the Chroma server stops and starts again ---------------------------------------------------


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server", tmp_path / "chroma-server.log")
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(300)
def test_chroma_server_stopped_and_restarted(
    chroma: ChromaServer, settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    facts = FACTS[:4]
    folder = _articles(tmp_path / "articles", facts)
    remote = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": chroma.port})
    assistant = Assistant(remote, embedder=embedder)
    assert ingest_paths([folder], remote, index=assistant.index).ok
    _assert_answers(assistant, facts[:1])

    outages: list[dict[str, Any]] = []
    for how in ("SIGTERM", "SIGKILL"):
        chroma.stop(kill=how == "SIGKILL")
        messages = {}
        actions: dict[str, Callable[[], object]] = {
            "ask": lambda: assistant.ask(facts[1].question),
            "articles": assistant.articles,
            "ingest": lambda: ingest_paths([folder], remote, index=assistant.index),
        }
        for what, action in actions.items():
            began = time.monotonic()
            with pytest.raises(StoreUnavailableError) as failure:
                action()
            messages[what] = {"message": str(failure.value), "seconds": round(time.monotonic() - began, 3)}
            assert f"127.0.0.1:{chroma.port}" in str(failure.value)
            assert "unavailable" in str(failure.value)
        chroma.start()
        # The same assistant, no restart: the next questions are answered again.
        _assert_answers(assistant, facts)
        report = ingest_paths([folder], remote, index=assistant.index)
        assert report.counts() == {"unchanged": len(facts)}
        outages.append({"stopped_with": how, "while_down": messages, "recovered": True})
    assert_whole(assistant.index)
    write_artifact("faults-chroma-restart", {"articles": len(facts), "outages": outages, "lost": 0})


# -- a store folder that is not ours, or is damaged ---------------------------------------------


def test_foreign_folder_where_the_store_should_be(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    chroma_dir = settings.chroma_dir
    (chroma_dir / "holiday").mkdir(parents=True)
    (chroma_dir / "notes.txt").write_text("my notes, not an index\n")
    (chroma_dir / "holiday" / "photo.jpg").write_bytes(random.Random(1).randbytes(4096))
    (chroma_dir / "data.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(4080))
    before = tree(chroma_dir)
    folder = _articles(tmp_path / "articles", FACTS[:2])

    with pytest.raises(StoreUnavailableError) as ingested:
        ingest_paths([folder], settings, index=Index(settings, embedder))
    message = str(ingested.value)
    assert f"{chroma_dir} exists but is not a Chroma store" in message
    assert "nothing was changed" in message and "RAG_DATA_DIR" in message
    with pytest.raises(StoreUnavailableError) as asked:
        Assistant(settings, embedder=embedder).ask(FACTS[0].question)
    assert str(asked.value) == message  # not "no index yet": asking names the same fix

    done = _rag_ingest(settings.data_dir, folder)
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr and "not a Chroma store" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree(chroma_dir) == before
    write_artifact(
        "faults-foreign-folder",
        {
            "ingest": message,
            "ask": str(asked.value),
            "cli_stderr": done.stderr.strip(),
            "files_kept": len(before),
        },
    )


@pytest.fixture(scope="module")
def small_index(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A data folder holding two indexed articles, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("small-index")
    settings = make_settings(root / "data")
    folder = _articles(root / "articles", FACTS[:2])
    assert ingest_paths([folder], settings, index=Index(settings, embedder)).ok
    _forget_store(settings)
    return settings.data_dir


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated-to-half": lambda data: data[: len(data) // 2],
    "header-page-only": lambda data: data[:4096],
    "overwritten-with-noise": lambda data: random.Random(7).randbytes(len(data)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_store_file(
    damage: str, small_index: Path, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(small_index, data_dir)
    database = data_dir / "chroma" / "chroma.sqlite3"
    database.write_bytes(DAMAGE[damage](database.read_bytes()))
    before = tree(data_dir / "chroma")
    settings = make_settings(data_dir)
    folder = _articles(tmp_path / "articles", FACTS[:3])

    assistant = Assistant(settings, embedder=embedder)
    with pytest.raises(StoreUnavailableError) as asked:
        assistant.ask(FACTS[0].question)
    with pytest.raises(StoreUnavailableError) as ingested:
        ingest_paths([folder], settings, index=Index(settings, embedder))
    for failure in (asked, ingested):
        assert f"cannot open the Chroma store in {settings.chroma_dir}" in str(failure.value)
        assert "Nothing was changed" in str(failure.value)
        assert "move the folder away and index your articles again with `rag ingest PATH`" in str(
            failure.value
        )
    done = _rag_ingest(data_dir, folder) if damage == "overwritten-with-noise" else None
    if done is not None:
        assert done.returncode == 2, done.stderr
        assert "error: cannot open the Chroma store" in done.stderr and "Traceback" not in done.stderr
    assert tree(data_dir / "chroma") == before
    write_artifact(
        f"faults-damaged-store-{damage}",
        {"ask": str(asked.value), "ingest": str(ingested.value), "file_kept": True},
    )


# -- a read-only data folder ---------------------------------------------------------------------


@needs_mount
@pytest.mark.timeout(300)
def test_ingest_into_a_read_only_data_folder(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    first = _articles(tmp_path / "first", FACTS[:3])
    second = _articles(tmp_path / "second", FACTS[3:6])
    assistant = Assistant(settings, embedder=embedder)
    assert ingest_paths([first], settings, index=assistant.index).ok
    rows = chunk_rows(assistant.index)

    with read_only(settings.data_dir):
        with pytest.raises(ReadOnlyIndexError) as failure:
            ingest_paths([first, second], settings, index=assistant.index)
        assert str(failure.value) == _read_only_message(settings, "Read-only file system")
        _assert_answers(assistant, FACTS[:3])  # the open index still answers
    assert chunk_rows(assistant.index) == rows

    report = ingest_paths([first, second], settings, index=assistant.index)
    assert report.counts() == {"unchanged": 3, "added": 3}
    same = assert_same_as_clean(assistant.index, [first, second], tmp_path / "reference", embedder)
    _forget_store(settings)
    write_artifact(
        "faults-read-only-folder",
        {"ingest": str(failure.value), "articles_kept": 3, "lost": 0, "against_a_clean_ingest": same},
    )


@needs_mount
@pytest.mark.timeout(300)
def test_store_turns_read_only_in_the_middle_of_an_ingest(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    first = _articles(tmp_path / "first", FACTS[:2])
    second = _articles(tmp_path / "second", FACTS[2:10])
    assistant = Assistant(settings, embedder=embedder)
    assert ingest_paths([first], settings, index=assistant.index).ok
    committed_before: list[str] = []

    with contextlib.ExitStack() as mounted:

        def after_each_file(result: Any) -> None:
            if result.status == "added" and not committed_before:
                committed_before.append(result.doc_id)
                mounted.enter_context(read_only(settings.chroma_dir))

        with pytest.raises(StoreUnavailableError) as failure:
            ingest_paths(
                [first, second],
                settings,
                index=assistant.index,
                on_file=after_each_file,
            )
    assert committed_before, "the fault was never injected"
    message = str(failure.value)
    assert str(settings.chroma_dir) in message and "writable" in message

    # What was committed is whole; the rest waits for the next run, which completes the index.
    assert_whole(assistant.index)
    assert {f.file_name for f in FACTS[:2]} | set(committed_before) <= set(assistant.index.records())
    _assert_answers(assistant, FACTS[:2])
    report = ingest_paths([first, second], settings, index=assistant.index)
    assert report.ok
    same = assert_same_as_clean(assistant.index, [first, second], tmp_path / "reference", embedder)
    assert raw_store(assistant.index).chunks().count() == len(chunk_rows(assistant.index))
    assert assistant.index.stats()["interrupted_write"] is False
    _assert_answers(assistant, FACTS[:10])
    _forget_store(settings)
    write_artifact(
        "faults-read-only-mid-ingest",
        {
            "error": message,
            "rerun": report.counts(),
            "articles": 10,
            "lost": 0,
            "against_a_clean_ingest": same,
        },
    )


def _rag(data_dir: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    """The real `rag` command, started in a fresh process."""
    env = {"RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env |= {"PATH": "/usr/bin:/bin", "ANONYMIZED_TELEMETRY": "False"}
    env |= {f"RAG_{name.upper()}": value for name, value in settings.items()}
    return subprocess.Popen(
        [str(BIN / "rag"), *args],
        env=env,
        cwd=data_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def _read_only_message(settings: Settings, reason: str) -> str:
    fix = (
        "unset RAG_READ_ONLY to change it"
        if reason == "RAG_READ_ONLY is set"
        else "to change it, make the folder writable or copy RAG_DATA_DIR somewhere that is"
    )
    return (
        f"the index in {settings.chroma_dir} is read-only ({reason}): it answers questions, but articles "
        f"cannot be added or deleted; {fix}"
    )


def _assert_writes_refused(assistant: Assistant, more: Path, expected: str) -> dict[str, str]:
    """Ingest, delete, and the chat's upload and delete are refused with `expected`; returns what each said."""
    from ui.app import _Handlers

    with pytest.raises(ReadOnlyIndexError) as ingested:
        ingest_paths([more], assistant.settings, index=assistant.index)
    with pytest.raises(ReadOnlyIndexError) as deleted:
        assistant.delete_article(FACTS[0].file_name)
    chat = _Handlers(assistant)
    upload = chat.upload(
        [str(next(more.iterdir()))], "", "newest", 1, False, None, lambda *args, **kwargs: None
    )[1]
    delete = chat.delete(FACTS[0].file_name, "", "newest", 1, False, None)[0]
    said = {
        "ingest": str(ingested.value),
        "delete": str(deleted.value),
        "chat_upload": html.unescape(upload),
        "chat_delete": html.unescape(delete),
    }
    assert said["ingest"] == said["delete"] == expected
    assert expected in said["chat_upload"] and expected in said["chat_delete"]
    return said


@needs_mount
@pytest.mark.timeout(300)
def test_a_read_only_index_answers_and_refuses_writes_with_the_reason(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    # An archive on a read-only mount: Chroma writes to its database as it opens it, so even
    # `rag ask` failed with "attempt to write a readonly database".
    folder = _articles(tmp_path / "articles", FACTS[:3])
    more = _articles(tmp_path / "more", FACTS[3:5])
    assert ingest_paths([folder], settings, index=Index(settings, embedder)).ok
    _forget_store(settings)
    before = tree(settings.data_dir)
    assistant = Assistant(settings, embedder=embedder)
    expected = _read_only_message(settings, "Read-only file system")

    with read_only(settings.data_dir):
        _assert_answers(assistant, FACTS[:3])
        # Two more readers at once, each its own process.
        askers = [_rag(settings.data_dir, "ask", FACTS[n].question) for n in (1, 2)]
        asked = [_finished(asker) for asker in askers]
        said = _assert_writes_refused(assistant, more, expected)
        code, _out, ingest_stderr = _finished(_rag(settings.data_dir, "ingest", str(more)))
        assert tree(settings.data_dir) == before
    for (status, stdout, stderr), n in zip(asked, (1, 2), strict=True):
        assert status == 0, stderr
        assert FACTS[n].answer_sentence in stdout
    assert code == 2 and f"error: {expected}" in ingest_stderr and "Traceback" not in ingest_stderr

    # Writable again: the same assistant writes to the store itself, not to the copy it read.
    report = ingest_paths([more], settings, index=assistant.index)
    assert report.counts() == {"added": 2}
    _assert_answers(assistant, FACTS[:5])
    _forget_store(settings)
    _assert_answers(Assistant(settings, embedder=embedder), FACTS[:5])
    _forget_store(settings)
    write_artifact("faults-read-only-index", {"refused": said, "answered_while_read_only": 3 + 2, "lost": 0})


@pytest.mark.timeout(300)
def test_read_only_setting_answers_and_leaves_the_folder_untouched(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    # A backup, or another process's index, opened with RAG_READ_ONLY: not a byte of it changes.
    folder = _articles(tmp_path / "articles", FACTS[:3])
    more = _articles(tmp_path / "more", FACTS[3:5])
    assert ingest_paths([folder], settings, index=Index(settings, embedder)).ok
    _forget_store(settings)
    before = tree(settings.data_dir)
    reader = settings.model_copy(update={"read_only": True})
    assistant = Assistant(reader, embedder=embedder)

    _assert_answers(assistant, FACTS[:3])
    said = _assert_writes_refused(assistant, more, _read_only_message(settings, "RAG_READ_ONLY is set"))
    code, stdout, stderr = _finished(_rag(settings.data_dir, "ask", FACTS[1].question, read_only="true"))
    assert code == 0 and FACTS[1].answer_sentence in stdout, stderr
    code, _out, stderr = _finished(_rag(settings.data_dir, "ingest", str(more), read_only="true"))
    assert code == 2 and "RAG_READ_ONLY is set" in stderr and "Traceback" not in stderr
    del assistant
    _forget_store(settings)
    assert tree(settings.data_dir) == before
    write_artifact("faults-read-only-setting", {"refused": said, "files_changed": 0})


@pytest.mark.timeout(300)
def test_a_read_only_reader_sees_what_a_writer_adds_and_leaves_no_copies(
    settings: Settings,
    embedder: SentenceTransformerEmbeddings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ended = subprocess.Popen(["true"])
    ended.wait()  # gone and reaped: its pid names no process
    orphan = scratch / f"rag-read-only-{ended.pid}-x"
    folder = _articles(tmp_path / "articles", FACTS[:2])
    more = _articles(tmp_path / "more", FACTS[2:4])
    assert ingest_paths([folder], settings, index=Index(settings, embedder)).ok
    reader = Assistant(settings.model_copy(update={"read_only": True}), embedder=embedder)
    _assert_answers(reader, FACTS[:2])
    copies = sorted(scratch.iterdir())
    assert len(copies) == 1 and copies[0].name.startswith(f"rag-read-only-{os.getpid()}-")

    # Another writer (here, an index of its own) adds articles: the reader's next question sees them.
    assert ingest_paths([more], settings, index=Index(settings, embedder)).counts() == {"added": 2}
    _assert_answers(reader, FACTS[:4])
    assert len(list(scratch.iterdir())) == 1  # the old copy made way for the new one

    orphan.mkdir()
    (orphan / "chroma").mkdir()
    Assistant(settings.model_copy(update={"read_only": True}), embedder=embedder).ask(FACTS[0].question)
    assert not orphan.exists()  # a copy whose process ended without removing it
    del reader
    gc.collect()
    _forget_store(settings)
    assert [p.name for p in scratch.iterdir()] == []


# -- a full disk ---------------------------------------------------------------------------------


@needs_mount
@pytest.mark.timeout(300)  # a store left stuck by the failed write would hang the rerun
@pytest.mark.parametrize("free_kb", FREE_KB)
def test_disk_full_during_ingest(
    free_kb: int, clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    first = _articles(tmp_path / "first", FACTS[:3])
    rest = _articles(tmp_path / "rest", FACTS[3:])
    shutil.copy(SEED_ARTICLE, rest / SEED_ARTICLE.name)
    disk = tmp_path / "disk"
    with small_disk(disk, "16M"):
        settings = make_settings(disk / "data")
        assistant = Assistant(settings, embedder=embedder)
        assert ingest_paths([first], settings, index=assistant.index).ok
        filler = fill_disk(disk, leave_bytes=free_kb * 1024)
        try:
            with pytest.raises(StoreUnavailableError) as failure:
                ingest_paths([first, rest], settings, index=assistant.index)
            message = str(failure.value)
            assert str(settings.chroma_dir) in message and "free space" in message
            # While the disk is full the store may not even open; if so, it says why.
            try:
                _assert_answers(assistant, FACTS[:3])
                while_full = "answered"
            except StoreUnavailableError as exc:
                assert "disk is full" in str(exc) or "free space" in str(exc)
                while_full = str(exc)
        finally:
            filler.unlink()
        # Nothing half-done is visible; the same assistant answers again.
        assert_whole(assistant.index)
        _assert_answers(assistant, FACTS[:3])
        report = ingest_paths([first, rest], settings, index=assistant.index)
        assert report.ok, report.to_json()
        assert assistant.index.stats()["interrupted_write"] is False
        _assert_answers(assistant, FACTS)
        same = assert_same_as_clean(assistant.index, [first, rest], tmp_path / "reference", embedder)
        _forget_store(settings)
    write_artifact(
        f"faults-disk-full-{free_kb}kb",
        {
            "disk": f"tmpfs 16M, filled to {free_kb} KB free",
            "error": message,
            "asked_while_full": while_full,
            "rerun": report.counts(),
            "lost": 0,
            "against_a_clean_ingest": same,
        },
    )


@needs_mount
@pytest.mark.timeout(300)
def test_a_full_disk_still_answers(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    # Chroma writes to its database as it opens it: on a full disk a new `rag ask` failed with
    # "database or disk is full".
    first = _articles(tmp_path / "first", FACTS[:3])
    more = _articles(tmp_path / "more", FACTS[3:5])
    disk = tmp_path / "disk"
    with small_disk(disk, "16M"):
        settings = make_settings(disk / "data")
        assert ingest_paths([first], settings, index=Index(settings, embedder)).ok
        _forget_store(settings)
        filler = fill_disk(disk, leave_bytes=0)
        try:
            assistant = Assistant(settings, embedder=embedder)
            _assert_answers(assistant, FACTS[:3])
            code, stdout, stderr = _finished(_rag(settings.data_dir, "ask", FACTS[2].question))
            assert code == 0 and FACTS[2].answer_sentence in stdout, stderr
            with pytest.raises(StoreUnavailableError) as failure:
                ingest_paths([more], settings, index=assistant.index)
            message = str(failure.value)
            assert str(settings.chroma_dir) in message and "free space" in message
        finally:
            filler.unlink()
        report = ingest_paths([more], settings, index=assistant.index)
        assert report.counts() == {"added": 2}
        _assert_answers(assistant, FACTS[:5])
        _forget_store(settings)
    write_artifact("faults-disk-full-ask", {"disk": "tmpfs 16M, 0 bytes free", "ingest": message, "lost": 0})


# -- an LLM backend that stalls, or answers with nonsense ----------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with served(FakeOpenAI()) as server:
        yield server


def _llm_settings(settings: Settings, server: FakeOpenAI, **updates: Any) -> Settings:
    values = {"answerer": "llm", "llm_base_url": server.url, "llm_model": "fake", "llm_timeout_s": 2.0}
    return settings.model_copy(update=values | updates)


LLM_FAULTS = {
    "stalls-mid-stream": (Reply(restating(1), stall_after=3, stall_s=60), "did not answer in time"),
    "sends-non-json-events": (
        Reply(raw_events=[b"data: {not json at all\n\n", b"data: [DONE]\n\n"]),
        "could not be used",
    ),
    "sends-html-instead-of-a-stream": (Reply(raw=b"<html><body>Bad gateway</body></html>"), "could not"),
    "is-overloaded": (Reply(status=503), "answered HTTP 503"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", list(LLM_FAULTS))
def test_llm_backend_fault_falls_back_to_a_cited_answer(
    fault: str, seeded: Settings, embedder: SentenceTransformerEmbeddings, llm: FakeOpenAI
) -> None:
    llm.reply, expected_note = LLM_FAULTS[fault]
    question = fact_question(FACTS[5])
    assistant = Assistant(_llm_settings(seeded, llm), embedder=embedder)
    began = time.monotonic()
    answer = assistant.ask(question.text)
    seconds = time.monotonic() - began
    assert llm.requests, "the backend was never asked"
    assert answer.answerer == "extractive"
    (note,) = [n for n in answer.notes if "answered extractively instead" in n]
    assert expected_note in note and "Traceback" not in note
    assert answer_problem(answer, question, assistant.index) is None

    strict = Assistant(_llm_settings(seeded, llm, llm_fallback=False), embedder=embedder)
    with pytest.raises(BackendUnavailableError, match=expected_note) as failure:
        strict.ask(question.text)
    assert "Traceback" not in str(failure.value)
    write_artifact(
        f"faults-llm-{fault}",
        {"note": note, "strict_error": str(failure.value), "seconds_with_fallback": round(seconds, 2)},
    )


def test_llm_backend_with_an_empty_reply_abstains_and_says_why(
    seeded: Settings, embedder: SentenceTransformerEmbeddings, llm: FakeOpenAI
) -> None:
    llm.reply = Reply("")
    answer = Assistant(_llm_settings(seeded, llm), embedder=embedder).ask(FACTS[5].question)
    assert answer.abstained and answer.answerer == "llm"
    assert "the model returned no answer" in answer.notes


def test_no_index_is_a_clear_error(settings: Settings, embedder: SentenceTransformerEmbeddings) -> None:
    with pytest.raises(NoIndexError, match="run `rag ingest PATH` first"):
        Assistant(settings, embedder=embedder).ask(FACTS[0].question)
    assert not settings.chroma_dir.exists()
