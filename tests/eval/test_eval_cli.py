"""`rag eval` end to end: the seed gold set, the Single-Topic layout, the configured index, usage errors."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eval.cli import add_eval_parser
from eval.harness import METRICS
from eval.report import PLOTS
from rag.errors import ConfigError, NoIndexError
from rag.spans import is_list_question

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbeddings

REPO = Path(__file__).resolve().parents[2]
SEED_GOLD = REPO / "eval" / "gold" / "fentanyl_seed.jsonl"
SEEDS = REPO / "seeds"
ITEM_KEYS = {
    "id",
    "type",
    "question",
    "answer",
    "short_answer",
    "confidence",
    "correct",
    "abstained",
    "gold_answer",
    "gold_doc",
    "evidence",
    "citations",
    "passages",
    "evidence_rank",
    "scores",
    "latency_ms",
    "answerer",
    "notes",
}


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's data folder (RAG_DATA_DIR), in a working directory without a .env."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    data = tmp_path / "user-data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    return data


def run(embedder: SentenceTransformerEmbeddings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rag")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *argv, "--no-progress"])
    return int(args.run(args, embedder=embedder))


def test_seed_gold_set_with_naive_peer(
    embedder: SentenceTransformerEmbeddings, user_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        embedder,
        str(SEED_GOLD),
        "--docs",
        str(SEEDS),
        "--json",
        "out.json",
        "--report",
        "report",
        "--baseline",
        "naive",
    )

    assert code == 0
    assert not user_data.exists()
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["metric", "assistant", "naive"]
    assert "wrote out.json" in out

    payload = json.loads(Path("out.json").read_text(encoding="utf-8"))
    assert set(payload) == {"summary", "by_type", "items", "baselines", "config"}
    summary = payload["summary"]
    assert list(summary) == [*METRICS, "n"]
    assert summary["n"] == 49
    assert summary["citation_validity"] == 1.0
    assert summary["doc_hit_at_k"] == 1.0
    assert 0.0 < summary["token_f1"] <= 1.0
    # The extractive answerer gives every answer a confidence, so calibration is measured.
    assert 0.0 <= summary["ece"] <= 1.0
    assert 0.0 <= summary["aurc"] <= 1.0
    assert set(payload["by_type"]) == {"single", "multi", "unanswerable"}
    assert sum(part["n"] for part in payload["by_type"].values()) == 49
    assert len(payload["items"]) == 49
    assert all(set(item) == ITEM_KEYS for item in payload["items"])
    first = payload["items"][0]
    assert first["passages"][0]["doc_id"] == "straits-times-us-china-fentanyl.txt"
    # A person can see why a question failed: each passage's title and text travel with it.
    assert first["passages"][0]["title"]
    assert len(first["passages"][0]["text"]) > 100
    ranks = [item["evidence_rank"] for item in payload["items"] if item["type"] != "unanswerable"]
    assert all(rank is None or 1 <= rank <= 20 for rank in ranks)
    # Ranked recall grows with depth. A deeper search's top 5 are the answer's 5 passages, and its
    # top 10 a list question's (`list_top_k`): the answer's passages hold at least the top 5.
    recalls = [summary[f"recall_at_{depth}"] for depth in (1, 5, 10, 20)]
    assert recalls == sorted(recalls)
    assert summary["recall_at_5"] <= summary["evidence_recall_at_k"] <= summary["recall_at_10"]
    for item in payload["items"]:
        assert len(item["passages"]) == (10 if is_list_question(item["question"]) else 5)

    naive = payload["baselines"]["naive"]
    assert set(naive) == {"summary", "by_type"}
    assert naive["summary"]["citation_validity"] is None
    assert naive["summary"]["false_refusal_rate"] == 0.0
    assert naive["summary"]["ece"] is None  # the naive peer states no confidence
    assert naive["summary"]["n"] == 49

    config = payload["config"]
    for key in ("k", "answerer", "embedder", "chunking", "documents", "gold", "timestamp", "baselines"):
        assert key in config
    assert config["k"] == 5
    assert config["documents"]["index"] == "temporary"
    assert config["documents"]["articles"] == 1
    assert config["baselines"]["naive"]["chunk_size"] == 1000

    report = Path("report", "report.md").read_text(encoding="utf-8")
    assert "| metric | assistant | naive |" in report
    for name in PLOTS:
        assert Path("report", name).read_bytes().startswith(b"\x89PNG")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_single_topic_layout(
    embedder: SentenceTransformerEmbeddings, user_data: Path, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    _write_csv(
        dataset / "documents.csv",
        ["index", "source_url", "text"],
        [
            [
                "0",
                "https://example.org/volcano",
                "Mount Etna is an active volcano in Sicily. It erupted in 2021.",
            ],
            [
                "1",
                "https://example.org/bread",
                "Sourdough bread rises with wild yeast. Bakers feed the starter daily.",
            ],
        ],
    )
    _write_csv(
        dataset / "single_passage_questions.csv",
        ["document_index", "question", "answer"],
        [["0", "Where is Mount Etna?", "In Sicily."], ["1", "What makes sourdough rise?", "Wild yeast."]],
    )
    _write_csv(
        dataset / "no_answer_questions.csv", ["document_index", "question"], [["0", "How tall is Etna?"]]
    )

    assert run(embedder, "--single-topic", str(dataset), "--json", "st.json") == 0

    payload = json.loads(Path("st.json").read_text(encoding="utf-8"))
    assert not user_data.exists()
    assert payload["config"]["dataset"] == "single-topic"
    assert payload["summary"]["n"] == 3
    # Gold docs are the dataset indexes; the indexed files are `<index>.txt`.
    assert payload["by_type"]["single"]["doc_hit_at_k"] == 1.0
    assert payload["items"][0]["gold_doc"] == "0"
    assert payload["items"][0]["passages"][0]["doc_id"] == "0.txt"


def test_configured_index_is_used_and_not_written(
    embedder: SentenceTransformerEmbeddings, user_data: Path, tmp_path: Path
) -> None:
    from ingest.pipeline import ingest_paths
    from rag.index import Index
    from rag.settings import load_settings

    settings = load_settings()
    index = Index(settings, embedder)
    ingest_paths([SEEDS], settings, index=index, progress=False)
    generation = index.generation()
    gold = tmp_path / "three.jsonl"
    gold.write_text(
        "".join(SEED_GOLD.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8"
    )

    assert run(embedder, str(gold), "--json", "out.json") == 0

    payload = json.loads(Path("out.json").read_text(encoding="utf-8"))
    assert payload["summary"]["n"] == 3
    assert payload["config"]["documents"]["index"] == str(user_data / "chroma")
    assert Index(settings, embedder).generation() == generation


def test_no_index_without_docs(embedder: SentenceTransformerEmbeddings, user_data: Path) -> None:
    with pytest.raises(NoIndexError, match="--docs"):
        run(embedder, str(SEED_GOLD))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "either GOLD.jsonl or --single-topic"),
        ((str(SEED_GOLD), "--single-topic", "x"), "either GOLD.jsonl or --single-topic"),
        (("--single-topic", "x", "--docs", "y"), "brings its own documents"),
        ((str(SEED_GOLD), "--baseline", "clever"), "unknown clever"),
        ((str(SEED_GOLD), "--k", "0"), "--k must be at least 1"),
        (("missing.jsonl", "--docs", str(SEEDS)), "gold file not found"),
    ],
)
def test_usage_errors(
    embedder: SentenceTransformerEmbeddings,
    user_data: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    assert run(embedder, *argv) == 2
    assert message in capsys.readouterr().err
    assert not user_data.exists()


def test_judge_needs_a_chat_model(embedder: SentenceTransformerEmbeddings, user_data: Path) -> None:
    with pytest.raises(ConfigError, match="--judge needs a chat model"):
        run(embedder, str(SEED_GOLD), "--docs", str(SEEDS), "--judge")
    assert not user_data.exists()


def test_unknown_answerer_fails_before_indexing(
    embedder: SentenceTransformerEmbeddings, user_data: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown answerer 'oracle'"):
        run(embedder, str(SEED_GOLD), "--docs", str(SEEDS), "--answerer", "oracle")
