"""Gold items asked on a day (`asked_on`): read, written, and answered as of that day by `rag eval`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

import pytest

from eval.cli import add_eval_parser
from eval.gold import DatasetError, read_gold_jsonl, validate_gold_item, write_gold_jsonl
from eval.harness import run_eval
from tests.support import HashingEmbedder, make_settings

if TYPE_CHECKING:
    from pathlib import Path

    from eval.gold import GoldItem
    from eval.harness import EvalRun

pytestmark = [pytest.mark.fast, pytest.mark.usefixtures("clean_env")]

ARTICLES = {
    "fires-2020.txt": (
        "Title: Wildfires burn homes near Glenhaven\nDate: 2020-09-08\n\n"
        "Wildfires burned 40 homes near Glenhaven, the county fire service said on Tuesday.\n"
    ),
    "fires-2025.txt": (
        "Title: Glenhaven wildfires force evacuations\nDate: 2025-01-13\n\n"
        "Wildfires burned 310 homes near Glenhaven, the county fire service said on Monday.\n"
    ),
    "fires-later.txt": (
        "Title: Glenhaven wildfires: the final count\nDate: 2025-02-03\n\n"
        "Wildfires burned 920 homes near Glenhaven in the final count, the county fire service said.\n"
    ),
}


def _item(item_id: str, question: str, answer: str, doc: str, asked_on: object = None) -> dict[str, object]:
    evidence = [line for line in ARTICLES[doc].splitlines() if answer in line]
    item: dict[str, object] = {
        "id": item_id,
        "question": question,
        "answer": answer,
        "type": "single",
        "evidence": evidence,
        "doc": doc,
    }
    if asked_on is not None:
        item["asked_on"] = asked_on
    return item


FINAL = _item(
    "final",
    "How many homes did the Glenhaven wildfires burn in the final count?",
    "920",
    "fires-later.txt",
    "2025-01-15",
)
THIS_WEEK = _item(
    "week",
    "How many homes did the Glenhaven wildfires burn this week?",
    "310",
    "fires-2025.txt",
    "2025-01-15",
)
UNDATED = _item(
    "today", "How many homes did the Glenhaven wildfires burn in the final count?", "920", "fires-later.txt"
)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _evaluate(gold: list[GoldItem], docs: Path, tmp_path: Path, *, use_dates: bool = True) -> EvalRun:
    settings = make_settings(tmp_path / "data")
    return run_eval(
        gold, settings, embedder=HashingEmbedder(), docs=[docs], progress=False, use_dates=use_dates
    )


def _cited(run: EvalRun, item_id: str) -> set[str]:
    (result,) = (r for r in run.assistant.results if r.gold["id"] == item_id)
    return {citation.doc_id for citation in result.answer.citations}


def _answer(run: EvalRun, item_id: str) -> str:
    (result,) = (r for r in run.assistant.results if r.gold["id"] == item_id)
    return result.answer.text


# -- the gold file --------------------------------------------------------------------------------


def test_asked_on_is_optional_and_validated() -> None:
    assert validate_gold_item(FINAL, "here")["asked_on"] == "2025-01-15"
    assert "asked_on" not in validate_gold_item(UNDATED, "here")


@pytest.mark.parametrize(
    "bad", ["last week", "2025-1-15", "20250115", "2025-02-30", "2025-01-15T10:00", 20250115]
)
def test_a_bad_asked_on_is_a_dataset_error_naming_it(bad: object) -> None:
    with pytest.raises(DatasetError, match=rf"^gold.jsonl:3: 'asked_on' must be a day .*got {bad!r}$"):
        validate_gold_item({**FINAL, "asked_on": bad}, "gold.jsonl:3")


def test_a_bad_asked_on_in_a_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    lines = [json.dumps(UNDATED), json.dumps({**FINAL, "asked_on": "yesterday"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(DatasetError, match=rf"^{path}:2: 'asked_on' .*'yesterday'"):
        read_gold_jsonl(path)


def test_asked_on_is_written_only_where_it_is_set(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"

    write_gold_jsonl([FINAL, UNDATED, {**THIS_WEEK, "asked_on": None}], path)

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row.get("asked_on", "absent") for row in rows] == ["2025-01-15", "absent", "absent"]
    assert [item.get("asked_on") for item in read_gold_jsonl(path)] == ["2025-01-15", None, None]


# -- answering as of the day ----------------------------------------------------------------------


def test_each_question_is_answered_as_of_its_asked_on_day(docs: Path, tmp_path: Path) -> None:
    gold = [validate_gold_item(item, "test") for item in (FINAL, THIS_WEEK, UNDATED)]

    run = _evaluate(gold, docs, tmp_path)

    # As of 15 January the final count (3 February) was not published.
    assert "fires-later.txt" not in _cited(run, "final") and "920" not in _answer(run, "final")
    assert _cited(run, "week") == {"fires-2025.txt"}
    # Without a day: asked today, when the final count is out.
    assert "fires-later.txt" in _cited(run, "today") and "920" in _answer(run, "today")
    assert run.config["as_of"] == "asked_on"
    # The deeper retrieval that recall@N is read from keeps to the day as well.
    ranked = {r.gold["id"]: {p.doc_id for p in r.ranked} for r in run.assistant.results}
    assert "fires-later.txt" not in ranked["final"] | ranked["week"]
    assert "fires-later.txt" in ranked["today"]


def test_dates_can_be_ignored(docs: Path, tmp_path: Path) -> None:
    gold = [validate_gold_item(item, "test") for item in (FINAL, THIS_WEEK)]

    run = _evaluate(gold, docs, tmp_path, use_dates=False)

    assert "fires-later.txt" in _cited(run, "final") and "920" in _answer(run, "final")
    assert run.config["as_of"] == "today"
    assert all("fires-later.txt" in {p.doc_id for p in r.ranked} for r in run.assistant.results)


def test_rag_eval_ignore_dates(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "user-data"))
    gold = tmp_path / "gold.jsonl"
    write_gold_jsonl([FINAL], gold)
    parser = argparse.ArgumentParser(prog="rag")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))

    hits = {}
    for extra in ([], ["--ignore-dates"]):
        out = tmp_path / f"run{len(extra)}.json"
        args = parser.parse_args(
            ["eval", str(gold), "--docs", str(docs), "--json", str(out), "--no-progress", *extra]
        )
        assert args.run(args, embedder=HashingEmbedder()) == 0
        payload = json.loads(out.read_text(encoding="utf-8"))
        hits[tuple(extra)] = payload["summary"]["answer_hit"]
        assert payload["config"]["as_of"] == ("today" if extra else "asked_on")
    capsys.readouterr()

    assert hits == {(): 0.0, ("--ignore-dates",): 1.0}
