"""The `rag eval` subcommand: score the assistant and its peers on a gold set, then print and write."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.gold import DatasetError

if TYPE_CHECKING:
    import argparse

    from rag.types import Embedder

__all__ = ["add_eval_parser", "run_eval_command"]


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `eval` on the `rag` command's subparsers; its handler is `run_eval_command`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="score answers against a gold set",
        description=(
            "Ask every gold question, score retrieval, answers, refusals, citations and latency, "
            "overall and per question type. With --docs (and always with --single-topic) the documents "
            "are indexed into a temporary store that is deleted afterwards; otherwise the configured "
            "index is used, read-only."
        ),
    )
    parser.add_argument("gold", nargs="?", type=Path, help="gold questions (JSON Lines)")
    parser.add_argument(
        "--single-topic",
        type=Path,
        metavar="DIR",
        help="a Single-Topic dataset folder instead of GOLD (brings its documents)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        action="append",
        metavar="PATH",
        help="index these files or folders for the run (repeatable)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT.json", help="write summaries, per-question results and config"
    )
    parser.add_argument("--report", type=Path, metavar="DIR", help="write report.md and PNG plots into DIR")
    parser.add_argument("--k", type=int, metavar="N", help="passages to retrieve (RAG_TOP_K)")
    parser.add_argument("--answerer", metavar="NAME", help="answerer to use (RAG_ANSWERER)")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME",
        help="also score this peer on the same articles: naive (repeatable)",
    )
    parser.add_argument(
        "--judge", action="store_true", help="add LLM-judged metrics (needs RAG_LLM_MODEL / RAG_LLM_BASE_URL)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder of the index to use without --docs (RAG_DATA_DIR)"
    )
    parser.add_argument("--collection", help="collection name (RAG_COLLECTION)")
    parser.add_argument(
        "--ignore-dates",
        action="store_true",
        help="answer every question as of today, ignoring the gold file's asked_on days",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(run=run_eval_command)
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class _Inputs:
    """Gold items, the documents to index, and a folder to write dataset documents into."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        from eval.gold import read_gold_jsonl

        self.config: dict[str, Any]
        if args.single_topic is not None:
            from eval.single_topic import load_single_topic, write_documents

            dataset = load_single_topic(args.single_topic)
            self.gold = dataset.gold
            write_documents(dataset.documents, scratch / "documents")
            self.docs: list[Path] | None = [scratch / "documents"]
            self.config = {
                "gold": str(args.single_topic),
                "dataset": "single-topic",
                "documents_source": str(args.single_topic / "documents.csv"),
            }
        else:
            self.gold = read_gold_jsonl(args.gold)
            self.docs = list(args.docs) if args.docs else None
            self.config = {"gold": str(args.gold), "dataset": "jsonl"}


def run_eval_command(args: argparse.Namespace, *, embedder: Embedder | None = None) -> int:
    """Runs `rag eval`; prints the summary table and the files written; returns the exit code.

    `embedder` defaults to the settings' model (tests pass one already loaded).
    """
    if (args.gold is None) == (args.single_topic is None):
        return _error("give either GOLD.jsonl or --single-topic DIR")
    if args.single_topic is not None and args.docs:
        return _error("--single-topic brings its own documents; drop --docs")
    if args.k is not None and args.k < 1:
        return _error("--k must be at least 1")
    from eval.baseline import available_baselines

    unknown = [name for name in args.baseline if name not in available_baselines()]
    if unknown:
        return _error(
            f"--baseline: unknown {', '.join(unknown)}; choose from {', '.join(available_baselines())}"
        )

    from eval.harness import run_eval
    from eval.judge import Judge
    from eval.report import summary_text, write_report
    from rag.embeddings import embedder_from_settings
    from rag.settings import load_settings

    overrides = {
        name: getattr(args, name) for name in ("data_dir", "collection") if getattr(args, name) is not None
    }
    settings = load_settings(**overrides)
    judge = Judge.from_settings(settings) if args.judge else None
    if embedder is None:
        embedder = embedder_from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="rag-eval-docs-") as folder:
        try:
            inputs = _Inputs(args, Path(folder))
            run = run_eval(
                inputs.gold,
                settings,
                embedder=embedder,
                docs=inputs.docs,
                k=args.k,
                answerer=args.answerer,
                baselines=list(dict.fromkeys(args.baseline)),
                judge=judge,
                progress=not args.no_progress,
                config=inputs.config,
                use_dates=not args.ignore_dates,
            )
        except DatasetError as exc:
            return _error(str(exc))
    from rag.cli import print_text

    for warning in run.config["gold_warnings"]:
        print_text(f"warning: {warning}", file=sys.stderr)
    print(summary_text(run))
    print(f"\n{run.config['gold_items']} questions in {run.config['seconds']:.1f}s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.report is not None:
        print(f"wrote {write_report(run, args.report)}")
    return 0
