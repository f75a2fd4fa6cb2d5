"""Hostile files, through the real `rag` command and the chat's Python API: an HTML page that keeps the
parser busy for minutes, file names that are not UTF-8, and escape sequences in titles and names.

A file that blows the parse budget fails with its reason while the rest is indexed, and the chat
keeps answering and taking uploads meanwhile; names and titles reach `--json` as exact, valid
data and a terminal without their control characters.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest
from reliability_support import BIN, FACTS, fact_question, write_artifact

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from tests.support import make_settings
from ui.app import _Handlers

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    return env | {"RAG_DATA_DIR": str(data_dir)} | {f"RAG_{k.upper()}": v for k, v in settings.items()}


def _rag(args: list[str], data_dir: Path, **settings: str) -> subprocess.CompletedProcess[bytes]:
    """The real `rag` command, with only the RAG_* settings given; output as bytes."""
    return subprocess.run(
        [str(BIN / "rag"), *args],
        env=_env(data_dir, **settings),
        cwd=data_dir.parent,
        capture_output=True,
        timeout=300,
        check=False,
    )


def hostile_html(attributes: int) -> bytes:
    """A page whose one paragraph carries `attributes` attributes: lxml's parse time grows with their
    square (here 20,000 took 9 s and 40,000 took 61 s; the issue's 3.5 MB page, hours)."""
    names = " ".join(f'a{i}="x"' for i in range(attributes))
    return (
        f"<html><head><title>Harbour notice</title></head><body><article><p {names}>"
        "The harbour council met on Monday to discuss the ferry budget.</p></article></body></html>"
    ).encode()


TOWNS = [
    f"{first}{second}"
    for first in ("Ash", "Bram", "Cold", "Dun", "Elm", "Fern", "Glen", "Holt", "Iver", "Kirk")
    for second in ("wick", "mere", "ford", "stead", "by")
]


def news(number: int) -> str:
    """A short news article with one fact to ask about, on a town of its own."""
    town = TOWNS[number * 7 % len(TOWNS)]
    return (
        f"Title: {town} opens a new library\nDate: 2024-05-{1 + number % 28:02d}\n\n"
        f"The town of {town} opened a library with {1000 + 37 * number} books on Saturday, the mayor said.\n\n"
        f"Volunteers from {town} spent {number + 2} months painting its reading rooms, the local paper reported.\n"
    )


HOSTILE_ATTRIBUTES = 40_000  # a 0.4 MB page: a minute of parsing on the old code, here
BUDGET_S = 3.0
"""The chat's parse budget here."""
COMMAND_BUDGET_S = 10.0
"""The command's: long enough that the chat's upload and answer come well before the page fails."""


@pytest.mark.timeout(600)
def test_a_page_that_stalls_the_parser_fails_alone_while_the_chat_answers_and_takes_uploads(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "000-hostile.html").write_bytes(hostile_html(HOSTILE_ATTRIBUTES))
    for number in range(20):
        (folder / f"news-{number:02d}.txt").write_text(news(number), encoding="utf-8")
    data_dir = tmp_path / "data"
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_PARSE_TIMEOUT_S", str(BUDGET_S))  # the old code ignores a variable it lacks
    settings = make_settings(data_dir)
    assistant = Assistant(settings, embedder=embedder)
    seeded = tmp_path / "seeded"
    seeded.mkdir()
    for number, fact in enumerate(FACTS[:2]):
        (seeded / fact.file_name).write_text(fact.article(number), encoding="utf-8")
    assert ingest_paths([seeded], settings, index=assistant.index).ok
    (data_dir / ".ingest.lock").unlink()  # so that the command's first lock shows when it has begun
    chat = _Handlers(assistant)
    question = fact_question(FACTS[1])
    *_, _warm = chat.ask(question.text, [], 5, None, None, "", "", "")  # gradio imported, model loaded
    upload = tmp_path / "incoming" / "quarry.txt"
    upload.parent.mkdir()
    upload.write_text(news(99), encoding="utf-8")

    # The command indexes the folder while the chat, in this process, takes an upload and answers.
    began = time.monotonic()
    command = subprocess.Popen(
        [str(BIN / "rag"), "ingest", str(folder), "-v", "--json"],
        env=_env(data_dir, parse_timeout_s=str(COMMAND_BUDGET_S)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    printed: list[tuple[float, str]] = []

    def read() -> None:
        assert command.stderr is not None
        printed.extend((time.monotonic(), line.decode(errors="replace")) for line in command.stderr)

    reader = threading.Thread(target=read)
    reader.start()
    while not (data_dir / ".ingest.lock").exists() and command.poll() is None:
        time.sleep(0.05)
    started = time.monotonic()
    chat.upload([str(upload)], "", "newest", 1, False, None, lambda *args, **kwargs: None)
    uploaded_at = time.monotonic()
    *_, last = chat.ask(question.text, [], 5, None, None, "", "", "")
    answered_at = time.monotonic()
    assert command.stdout is not None
    stdout = command.stdout.read()
    command.wait(timeout=300)
    seconds = time.monotonic() - began
    reader.join(timeout=60)
    turns = last[2]
    assert turns[-1].answer is not None and question.expect in turns[-1].answer.citations[0].quote
    # Both were done while the command was still parsing its hostile page: neither waited for it.
    failed_at = next((t for t, line in printed if "000-hostile.html: parsing took longer" in line), None)
    assert failed_at is not None, "".join(line for _, line in printed)[-2000:]
    assert uploaded_at < failed_at and answered_at < failed_at

    assert command.returncode == 1
    report = json.loads(stdout)
    results = {f["doc_id"]: f for f in report["files"]}
    hostile = results["000-hostile.html"]
    assert hostile["status"] == "failed"
    assert hostile["reason"] == f"parsing took longer than {COMMAND_BUDGET_S:g} s (RAG_PARSE_TIMEOUT_S)"
    assert report["counts"] == {"added": 20, "failed": 1}
    assert seconds < 60
    records = assistant.index.records()
    assert {f"news-{n:02d}.txt" for n in range(20)} | {"quarry.txt"} <= set(records)
    answer = assistant.ask(f"How many books did the library of {TOWNS[7 * 7 % len(TOWNS)]} open with?")
    assert answer.citations and "1259 books" in answer.citations[0].quote

    # The same page uploaded in the chat fails within the budget, and the next upload is indexed.
    staged = tmp_path / "incoming2" / "hostile.html"
    staged.parent.mkdir()
    staged.write_bytes(hostile_html(HOSTILE_ATTRIBUTES))
    hostile_began = time.monotonic()
    _files, status, *_ = chat.upload(
        [str(staged)], "", "newest", 1, False, None, lambda *args, **kwargs: None
    )
    hostile_upload = time.monotonic() - hostile_began
    assert f"parsing took longer than {BUDGET_S:g} s" in status
    later = tmp_path / "incoming3" / "later.txt"
    later.parent.mkdir()
    later.write_text(news(98), encoding="utf-8")
    _files, status, *_ = chat.upload([str(later)], "", "newest", 1, False, None, lambda *args, **kwargs: None)
    assert "added" in status and "later.txt" in assistant.index.records()
    assert hostile_upload < BUDGET_S + 20
    write_artifact(
        "hostile-html",
        {
            "page_bytes": len(hostile_html(HOSTILE_ATTRIBUTES)),
            "attributes": HOSTILE_ATTRIBUTES,
            "command_parse_budget_s": COMMAND_BUDGET_S,
            "ingest_seconds": round(seconds, 1),
            "ingest_counts": report["counts"],
            "hostile_reason": hostile["reason"],
            "hostile_failed_after_s": round(failed_at - began, 1),
            "chat_upload_during_ingest_s": round(uploaded_at - started, 2),
            "chat_answer_during_ingest_s": round(answered_at - uploaded_at, 2),
            "chat_parse_budget_s": BUDGET_S,
            "hostile_upload_s": round(hostile_upload, 2),
        },
    )


@pytest.mark.timeout(300)
def test_a_file_that_needs_more_memory_than_the_budget_fails_alone(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    sentence = "The harbour council met on Monday to discuss the ferry budget, officials said. "
    (folder / "big.txt").write_text((sentence * 10 + "\n\n") * 22_000, encoding="utf-8")  # 18 MB
    for number in range(3):
        (folder / f"news-{number}.txt").write_text(news(number), encoding="utf-8")
    settings = make_settings(tmp_path / "data", parse_memory_mb=256)
    assistant = Assistant(settings, embedder=embedder)

    began = time.monotonic()
    report = ingest_paths([folder], settings, index=assistant.index)
    seconds = time.monotonic() - began

    results = {f.doc_id: f for f in report.files}
    assert results["big.txt"].status == "failed"
    assert results["big.txt"].reason == "parsing needed more than 256 MB of memory (RAG_PARSE_MEMORY_MB)"
    assert report.counts() == {"added": 3, "failed": 1}
    answer = assistant.ask(f"How many books did the library of {TOWNS[7]} open with?")
    assert answer.citations and "1037 books" in answer.citations[0].quote
    write_artifact(
        "parse-memory-budget", {"file_mb": 18, "budget_mb": 256, "ingest_seconds": round(seconds, 1)}
    )


@pytest.mark.timeout(300)
def test_file_names_that_are_not_utf8_round_trip_through_json(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    names = [b"caf\xe9.txt", b"\xff\xfe-report.txt", "北京.txt".encode()]
    for number, name in enumerate(names):
        (folder / os.fsdecode(name)).write_text(news(number), encoding="utf-8")
    data_dir = tmp_path / "data"

    done = _rag(["ingest", str(folder), "--json"], data_dir)

    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    report = json.loads(done.stdout.decode("utf-8"))  # strict: valid UTF-8 only
    shown = sorted(f["doc_id"] for f in report["files"])
    assert shown == sorted(["caf\\xe9.txt", "\\xff\\xfe-report.txt", "北京.txt"])
    assert all(f["status"] == "added" for f in report["files"])
    assert all(f["path"].startswith(str(folder)) and "\\udc" not in f["path"] for f in report["files"])
    # The same names again: the same articles, unchanged; and a prune elsewhere keeps them.
    again = json.loads(_rag(["ingest", str(folder), "--json"], data_dir).stdout)
    assert {f["doc_id"]: f["status"] for f in again["files"]} == dict.fromkeys(shown, "unchanged")
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.txt").write_text(news(9), encoding="utf-8")
    pruned = json.loads(_rag(["ingest", str(other), "--prune", "--json"], data_dir).stdout)
    assert pruned["documents"] == 4 and "removed" not in pruned["counts"], pruned
    asked = _rag(["ask", f"How many books did the library of {TOWNS[0]} open with?", "--json"], data_dir)
    answer = json.loads(asked.stdout.decode("utf-8"))
    assert answer["citations"][0]["doc_id"] == "caf\\xe9.txt"
    write_artifact("non-utf8-names", {"doc_ids": shown, "exit_code": done.returncode})


ESCAPES = ["\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31m", "\x9b1m", "\r", "\x08", "\u202e"]
TITLE = "Harbour \x1b]0;pwned\x07budget\x1b[2J vote\x1b[31m passes\x9b1m\r\x08\u202e"


def _assert_clean(text: bytes, what: str) -> None:
    decoded = text.decode("utf-8")
    bad = sorted(
        {repr(ch) for ch in decoded if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0}
    )
    assert not bad and "\u202e" not in decoded, (what, bad, decoded[-500:])


@pytest.mark.timeout(300)
def test_escape_sequences_in_titles_and_names_never_reach_the_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    article = (
        f"Title: {TITLE}\n\nThe harbour council voted on Monday to raise the ferry budget by 40 per cent.\n"
    )
    (folder / "vote.txt").write_text(article, encoding="utf-8")
    (folder / "esc\x1b[2Jname\x07.txt").write_text(news(1), encoding="utf-8")
    (folder / "broken\x1b]0;x\x07.html").write_bytes(b"")
    data_dir = tmp_path / "data"

    ingested = _rag(["ingest", str(folder), "-v"], data_dir)
    asked = _rag(["ask", "By how much did the harbour council raise the ferry budget?"], data_dir)
    stats = _rag(["stats"], data_dir)
    as_json = _rag(["ask", "By how much did the harbour council raise the ferry budget?", "--json"], data_dir)

    assert ingested.returncode == 1  # the empty file
    _assert_clean(ingested.stderr + ingested.stdout, "rag ingest -v")
    err = ingested.stderr.decode()
    assert f"added: {folder}/escname.txt (1 chunks)" in err
    assert f"error: {folder}/broken.html: empty file" in err
    _assert_clean(asked.stdout + asked.stderr, "rag ask")
    assert "[1] Harbour budget vote passes1m (chars" in asked.stdout.decode()
    _assert_clean(stats.stdout + stats.stderr, "rag stats")
    _assert_clean(as_json.stdout, "rag ask --json")  # the escapes are JSON escapes, and the data exact
    citation = json.loads(as_json.stdout)["citations"][0]
    assert citation["title"] == TITLE.strip()
    write_artifact(
        "terminal-escapes",
        {"escapes_tried": ESCAPES, "printed_title": asked.stdout.decode().split("[1] ")[1].split(" (")[0]},
    )
