"""The `rag` command: ingest, stats, ask, chat, eval, bench."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.settings import Settings

__all__ = ["main"]


_OPTION_SETTINGS = {
    "data_dir": ("data_dir", "--data-dir"),
    "collection": ("collection", "--collection"),
    "k": ("top_k", "--k"),
    "answerer": ("answerer", "--answerer"),
    "host": ("ui_host", "--host"),
    "port": ("ui_port", "--port"),
}
"""Options that override a setting: (argument, setting, option). They are validated as the setting is."""


def _settings(args: argparse.Namespace) -> Settings:
    from rag.settings import load_settings

    overrides: dict[str, Any] = {}
    names: dict[str, str] = {}
    for argument, (setting, option) in _OPTION_SETTINGS.items():
        value = getattr(args, argument, None)
        if value is not None:
            overrides[setting] = value
            names[setting] = option
    return load_settings(option_names=names, **overrides)


_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    r"|\x1b[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC, DCS...: a window title, up to BEL or ST
    r"|\x1b[ -/]*[0-~]?"  # any other escape
)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (C0 but tab and newline, DEL, C1) and the marks that reorder text on screen."""
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _for_terminal(text: str) -> str:
    """Text from the outside world (titles, file names, reasons) as it may be printed to a terminal:
    escape sequences and control characters removed, a file name's undecodable bytes as `\\xNN`."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _UNPRINTABLE.sub("", _ESCAPE_SEQUENCE.sub("", text))


def _print(text: str, *, file: Any = None) -> None:
    print(_for_terminal(text), file=file or sys.stdout)


def _print_json(payload: Any) -> None:
    """Exact data, readable: JSON escapes C0 controls itself; DEL, C1 and the reordering marks too."""
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    sys.stdout.write(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def _cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest_paths

    settings = _settings(args)

    def show(result: Any) -> None:
        if result.status == "failed":
            _print(f"error: {result.path}: {result.reason}", file=sys.stderr)
        elif args.verbose and result.status == "skipped":
            _print(f"skipped: {result.path}: {result.reason}", file=sys.stderr)
        elif args.verbose:
            _print(f"{result.status}: {result.path} ({result.chunks} chunks)", file=sys.stderr)

    report = ingest_paths(
        args.paths,
        settings,
        prune=args.prune,
        rebuild=args.rebuild,
        progress=False if args.json or args.quiet else None,
        on_file=show,
        follow_symlinks=args.follow_symlinks,
    )
    if args.json:
        _print_json(report.to_json())
    elif not args.quiet or not report.ok:
        print(report.summary())
    return 0 if report.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from rag.embeddings import embedder_from_settings
    from rag.store import Store

    settings = _settings(args)
    store = Store(settings, embedder_from_settings(settings))
    stats = store.stats()
    if args.json:
        stats["articles"] = (
            [
                {
                    "doc_id": r.doc_id,
                    "title": r.title,
                    "source": r.source,
                    "date": r.date,
                    "chunks": r.n_chunks,
                }
                for r in sorted(store.records().values(), key=lambda r: r.doc_id)
            ]
            if store.exists()
            else []
        )
        _print_json(stats)
        return 0
    for key in ("documents", "chunks", "embedder", "chunking", "store", "location", "collection"):
        _print(f"{key:>11}: {stats[key]}")
    if stats["interrupted_write"]:
        print("    warning: the last ingest was interrupted; rerun `rag ingest` to finish it")
    return 0


def _render(answer: Any) -> str:
    lines = [answer.text]
    if answer.short_answer is not None:
        lines.insert(0, f"Answer: {answer.short_answer.text}")
    if answer.rewritten_query != answer.question:
        lines.insert(0, f"(searched for: {answer.rewritten_query})")
    if answer.citations:
        lines.append("")
        for c in answer.citations:
            where = f"{c.title} — {c.source}" if c.source else c.title
            lines.append(f"[{c.n}] {where} (chars {c.start}–{c.end})")
    elif answer.abstained and answer.passages:
        lines.append("")
        lines.append("Related passages:")
        for p in answer.passages[:3]:
            snippet = " ".join(p.text.split())[:160]
            lines.append(f"- {p.title}: {snippet}…")
    if answer.confidence is not None and not answer.abstained:
        lines.append(f"confidence: {answer.confidence:.2f}")
    lines.extend(f"note: {note}" for note in answer.notes)
    return "\n".join(lines)


def _article_filter(args: argparse.Namespace) -> Any:
    if not (args.article or args.date_from or args.date_to):
        return None
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise ConfigError(f"--date-from {args.date_from} is after --date-to {args.date_to}")
    from rag.retriever import ArticleFilter

    return ArticleFilter(articles=tuple(args.article or ()), date_from=args.date_from, date_to=args.date_to)


def _cmd_ask(args: argparse.Namespace) -> int:
    from rag.assistant import Assistant

    assistant = Assistant(_settings(args))
    answer = assistant.ask(
        args.question, k=args.k, article_filter=_article_filter(args), answerer=args.answerer
    )
    if args.json:
        _print_json(answer.to_json())
    else:
        _print(_render(answer))
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from ui.app import serve

    return serve(_settings(args), host=args.host, port=args.port, open_browser=args.open)


def _iso_date(value: str) -> str:
    """A calendar date written YYYY-MM-DD, as the filters compare it."""
    try:
        valid = len(value) == 10 and date.fromisoformat(value).isoformat() == value
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, help="passages to retrieve (RAG_TOP_K)")
    parser.add_argument(
        "--article", type=_text, action="append", help="only this article (id, title or source); repeatable"
    )
    parser.add_argument("--date-from", type=_iso_date, help="only articles dated on or after YYYY-MM-DD")
    parser.add_argument("--date-to", type=_iso_date, help="only articles dated on or before YYYY-MM-DD")
    parser.add_argument("--answerer", type=_text, help="answerer to use (RAG_ANSWERER)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions about a folder of articles, with cited answers."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder (RAG_DATA_DIR)")
    common.add_argument("--collection", help="collection name (RAG_COLLECTION)")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser(
        "ingest", parents=[common], help="index articles (.txt .md .html .pdf); reruns are incremental"
    )
    ingest.add_argument("paths", nargs="+", type=Path, help="files or folders")
    ingest.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    ingest.add_argument("--rebuild", action="store_true", help="delete the index and start over")
    ingest.add_argument("--json", action="store_true", help="print a JSON report")
    ingest.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    ingest.add_argument(
        "-v", "--verbose", action="store_true", help="print every file, and why any was skipped"
    )
    ingest.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="follow symbolic links that lead out of the folder (by default they are skipped)",
    )
    ingest.set_defaults(run=_cmd_ingest)

    stats = sub.add_parser("stats", parents=[common], help="what is in the index")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(run=_cmd_stats)

    ask = sub.add_parser("ask", parents=[common], help="answer one question from the index, with citations")
    ask.add_argument("question")
    _add_filters(ask)
    ask.add_argument("--json", action="store_true", help="print the answer object as JSON")
    ask.set_defaults(run=_cmd_ask)

    chat = sub.add_parser("chat", parents=[common], help="open the chat in the browser (Gradio)")
    chat.add_argument("--host", type=_text, help="address to bind (RAG_UI_HOST)")
    chat.add_argument("--port", type=int, help="port (RAG_UI_PORT)")
    chat.add_argument("--open", action="store_true", help="open a browser tab")
    chat.set_defaults(run=_cmd_chat)

    from eval.bench import add_bench_parser
    from eval.cli import add_eval_parser

    add_eval_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rag` command."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except RagError as exc:
        _print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rag ask ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
