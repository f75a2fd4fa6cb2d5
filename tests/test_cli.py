"""`rag ask` as people read it: the short answer first, then the quoted answer, sources, confidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ingest.pipeline import ingest_paths
from rag.answering import ABSTENTION
from rag.assistant import Assistant
from rag.cli import main
from rag.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings

ARTICLE = """Title: Port Velloran names a new harbour master
Source: https://news.example.org/port-velloran
Date: 2024-03-11

Ingrid Castellane will serve as the new harbour master of Port Velloran from next month, the town council said on Monday.

Castellane previously spent 12 years working in the region, and residents of Port Velloran welcomed the decision at a public meeting, the local paper reported.
"""


@pytest.fixture(scope="module")
def data_dir(
    clean_env: None, tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings
) -> Path:
    folder = tmp_path_factory.mktemp("articles")
    (folder / "port-velloran.txt").write_text(ARTICLE, encoding="utf-8")
    settings = Settings(data_dir=tmp_path_factory.mktemp("cli") / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    report = ingest_paths([folder], settings, index=assistant.index, progress=False)
    assert report.ok
    return settings.data_dir


def _ask(data_dir: Path, capsys: pytest.CaptureFixture[str], question: str, *options: str) -> str:
    assert main(["ask", question, "--data-dir", str(data_dir), *options]) == 0
    return capsys.readouterr().out


def test_ask_prints_the_short_answer_first_then_the_answer_and_its_confidence(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "Who is the harbour master of Port Velloran?"
    payload = json.loads(_ask(data_dir, capsys, question, "--json"))
    assert payload["short_answer"]["text"] == "Ingrid Castellane"
    lines = _ask(data_dir, capsys, question).splitlines()
    assert lines[0] == "Answer: Ingrid Castellane"
    assert lines[1] == payload["answer"]
    assert "Ingrid Castellane — Ingrid Castellane will serve" in lines[1]
    assert "[1] Port Velloran names a new harbour master — https://news.example.org/port-velloran" in lines[3]
    assert f"confidence: {payload['confidence']:.2f}" in lines


def test_a_refusal_has_no_short_answer_and_no_confidence(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _ask(data_dir, capsys, "What is the capital of France?")
    assert out.splitlines()[0] == ABSTENTION
    assert "Answer:" not in out and "confidence" not in out


@pytest.mark.fast
def test_a_bad_as_of_day_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ask", "Who is the harbour master of Port Velloran?", "--as-of", "last week"])
    assert exited.value.code == 2
    assert "argument --as-of: 'last week' is not a date written YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.fast
def test_a_mistyped_option_shows_the_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ask", "Who is the harbour master?", "--persist-dir", "x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rag ask [-h]") and "--data-dir DATA_DIR" in err
    assert err.rstrip().endswith("rag ask: error: unrecognized arguments: --persist-dir x")


def test_ask_answers_as_of_a_day(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    question = "Who is the harbour master of Port Velloran?"
    before = json.loads(_ask(data_dir, capsys, question, "--as-of", "2024-03-10", "--json"))
    assert before["abstained"] and before["citations"] == []
    on_the_day = json.loads(_ask(data_dir, capsys, question, "--as-of", "2024-03-11", "--json"))
    assert on_the_day["short_answer"]["text"] == "Ingrid Castellane"

    this_week = "Who is the new harbour master of Port Velloran this week?"
    payload = json.loads(_ask(data_dir, capsys, this_week, "--as-of", "2024-03-13", "--json"))
    assert payload["rewritten_query"] == f"{this_week} [published 2024-03-05 to 2024-03-13 (this week)]"
    assert payload["citations"][0]["doc_id"] == "port-velloran.txt"
    later = _ask(data_dir, capsys, this_week, "--as-of", "2024-03-25").splitlines()
    assert later[0] == f"(searched for: {this_week} [published 2024-03-17 to 2024-03-25 (this week)])"
    # Nothing from that week: the earlier story answers, and says how old it is.
    assert "Ingrid Castellane" in later[1]
    assert any(
        line.endswith(
            "(Nothing published 17 Mar 2024 to 25 Mar 2024 (this week) answers it; this is from 11 Mar 2024.)"
        )
        for line in later
    )
    before_it = _ask(data_dir, capsys, this_week, "--as-of", "2024-03-08").splitlines()
    assert before_it[1] == f"{ABSTENTION} No article published from 29 Feb 2024 to 8 Mar 2024 answers it."


def test_stats_of_a_missing_index_says_there_is_none(
    clean_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here"
    assert main(["stats", "--data-dir", str(missing)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no index yet in ") and "rag ingest PATH" in out
    assert "embedder" not in out and "documents" not in out
    assert main(["stats", "--data-dir", str(missing), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["exists"] is False and stats["documents"] == 0


def test_stats_of_an_index_reports_it(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "documents: 1" in out and "embedder:" in out
    assert main(["stats", "--data-dir", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exists"] is True
