"""`rag bench --quick --json` runs end to end and writes every section; no figure is asserted."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from eval.bench import TARGETS, add_bench_parser

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rag")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_quick_bench_writes_every_section(
    model_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAG_EMBEDDING_BACKEND", "RAG_DATA_DIR", "RAG_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(model_cache))
    out = tmp_path / "bench.json"
    args = _parse(
        [
            "bench",
            "--quick",
            "--backend",
            "onnx-int8",
            "--json",
            str(out),
        ]
    )
    assert args.run(args) == 0
    printed = capsys.readouterr().out
    for heading in ("Ingest", "Warm query latency", "Cold start and memory", "Scale", "Targets"):
        assert heading in printed
    result = json.loads(out.read_text())
    assert set(result) >= {
        "machine",
        "config",
        "documents",
        "ingest",
        "query",
        "seed_index",
        "cold_start",
        "memory",
        "scale",
        "targets",
        "seconds",
    }
    systems = {row["system"] for row in result["ingest"]}
    assert {
        "rag ingest (torch)",
        "raw encode (torch)",
        "rag ingest (onnx-int8)",
        "raw encode (onnx-int8)",
    } <= systems
    peers = [row for row in result["ingest"] if row["system"].startswith(("LangChain", "LlamaIndex"))]
    assert len(peers) == 2
    for row in peers:  # measured, or clearly marked with the install hint
        assert row["measured"] or "rag-articles[peers]" in row["note"]
    ours = next(row for row in result["ingest"] if row["system"] == "rag ingest (onnx-int8)")
    assert ours["measured"] and ours["chunks"] > 0 and ours["chunks_per_s"] > 0
    answers = [row for row in result["seed_index"] if row["what"] == "answer"]
    assert answers and answers[0]["n"] > 0 and answers[0]["p50_ms"] > 0
    cold = result["cold_start"]
    assert cold["rag_ask_failed"] is None and cold["rag_ask_s"] > 0 and cold["import_rag_s"] > 0
    assert result["memory"]["ingest_peak_rss_mb"] > 0 and result["memory"]["serve_peak_rss_mb"] > 0
    measured = [row for row in result["scale"] if row["measured"]]
    assert [row["chunks"] for row in measured] == [1000]
    assert measured[0]["answer"]["n"] > 0 and measured[0]["add_one_doc_bm25_sync_s"] >= 0
    assert [t["name"] for t in result["targets"]] == [name for name, _ in TARGETS]
