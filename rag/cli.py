"""The `rag` command. Its subcommands are found, not imported: each is an entry point in the
`rag.commands` group (see pyproject.toml), so the core never imports the packages built on it.

An entry point is named after its subcommand; its value is a function `add_parser(subparsers)` that adds
the subcommand (on `subparsers.add_parser`) and sets its handler as the default `run`: a function of the
parsed arguments that returns the exit code. `ask` and `stats` below register the same way as `ingest`
(ingest/cli.py), `chat` (ui/cli.py), `eval` and `bench` (eval/). Only the named subcommand's entry point
is loaded; `rag`, `rag --help` and an unknown name load them all, to list them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.metadata import EntryPoint, EntryPoints

    from rag.settings import Settings

__all__ = [
    "COMMANDS_GROUP",
    "add_ask_parser",
    "add_stats_parser",
    "common_options",
    "main",
    "nonempty_text",
    "print_json",
    "print_text",
    "settings_from_args",
]

COMMANDS_GROUP = "rag.commands"
"""The entry-point group that contributes the `rag` subcommands."""


_OPTION_SETTINGS = {
    "data_dir": ("data_dir", "--data-dir"),
    "collection": ("collection", "--collection"),
    "k": ("top_k", "--k"),
    "answerer": ("answerer", "--answerer"),
    "host": ("ui_host", "--host"),
    "port": ("ui_port", "--port"),
}
"""Options that override a setting: (argument, setting, option). They are validated as the setting is."""


def common_options() -> argparse.ArgumentParser:
    """A parent parser (`parents=[...]`) with the options that choose the index: --data-dir, --collection."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder (RAG_DATA_DIR)")
    common.add_argument("--collection", help="collection name (RAG_COLLECTION)")
    return common


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings, with the options given on the command line over the environment."""
    from rag.settings import load_settings

    overrides: dict[str, Any] = {}
    names: dict[str, str] = {}
    for argument, (setting, option) in _OPTION_SETTINGS.items():
        value = getattr(args, argument, None)
        if value is not None:
            overrides[setting] = value
            names[setting] = option
    settings = load_settings(option_names=names, **overrides)
    if "answerer" in names:
        from rag.answering import available_answerers

        # Known only once the answerers are registered, so checked here rather than by the setting.
        known = available_answerers()
        if settings.answerer not in known:
            raise ConfigError(
                f"{names['answerer']}: unknown answerer {settings.answerer!r}; choose one of {', '.join(known)}"
            )
    return settings


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


def print_text(text: str, *, file: Any = None) -> None:
    """Prints text from the outside world (titles, file names, reasons) safe for a terminal."""
    print(_for_terminal(text), file=file or sys.stdout)


def print_json(payload: Any) -> None:
    """Exact data, readable: JSON escapes C0 controls itself; DEL, C1 and the reordering marks too."""
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    sys.stdout.write(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def _cmd_stats(args: argparse.Namespace) -> int:
    from rag.embeddings import embedder_from_settings
    from rag.index import Index

    settings = settings_from_args(args)
    index = Index(settings, embedder_from_settings(settings))
    stats = index.stats()
    if args.json:
        stats["articles"] = (
            [
                {
                    "doc_id": r.doc_id,
                    "title": r.title,
                    "source": r.source,
                    "date": r.date,
                    "date_source": r.date_source,
                    "chunks": r.n_chunks,
                }
                for r in sorted(index.records().values(), key=lambda r: r.doc_id)
            ]
            if index.exists()
            else []
        )
        print_json(stats)
        return 0
    if not stats["exists"]:
        # Not "documents: 0" beside an embedder and chunking: there is no index to have them.
        print_text(
            f"no index yet in {stats['location']} (collection {stats['collection']!r}); "
            "`rag ingest PATH` makes one"
        )
        return 0
    dated = f"{stats['dated']} of {stats['documents']} articles"
    if stats["date_sources"]:
        dated += " (" + ", ".join(f"{name} {n}" for name, n in stats["date_sources"].items()) + ")"
    stats["dated"] = dated
    copies, groups = stats["copies"], stats["copy_groups"]
    stats["copies"] = (
        f"{copies} near-cop{'y' if copies == 1 else 'ies'} of {groups} article{'s' * (groups != 1)}"
        " (each story used once)"
    )
    keys = (
        "documents",
        "chunks",
        "dated",
        "copies",
        "embedder",
        "chunking",
        "store",
        "location",
        "collection",
    )
    for key in keys:
        print_text(f"{key:>11}: {stats[key]}")
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

    assistant = Assistant(settings_from_args(args))
    answer = assistant.ask(
        args.question,
        k=args.k,
        article_filter=_article_filter(args),
        answerer=args.answerer,
        as_of=args.as_of,
    )
    if args.json:
        print_json(answer.to_json())
    else:
        print_text(_render(answer))
    return 0


def _iso_date(value: str) -> str:
    """A calendar date written YYYY-MM-DD, as the filters compare it."""
    from rag.asof import is_day

    if not is_day(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD")
    return value


def nonempty_text(value: str) -> str:
    """An argument `type`: any text but blank."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, help="passages to retrieve (RAG_TOP_K)")
    parser.add_argument(
        "--article",
        type=nonempty_text,
        action="append",
        help="only this article (id, title or source); repeatable",
    )
    parser.add_argument("--date-from", type=_iso_date, help="only articles dated on or after YYYY-MM-DD")
    parser.add_argument("--date-to", type=_iso_date, help="only articles dated on or before YYYY-MM-DD")
    parser.add_argument("--answerer", type=nonempty_text, help="answerer to use (RAG_ANSWERER)")


def add_stats_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `stats` on the `rag` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "stats", parents=[common_options()], help="what is in the index"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=_cmd_stats)
    return parser


def add_ask_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `ask` on the `rag` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ask", parents=[common_options()], help="answer one question from the index, with citations"
    )
    parser.add_argument("question")
    _add_filters(parser)
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        help="answer as of this day, YYYY-MM-DD (default today): later articles are not used, and "
        '"this week", "yesterday", "last month" are counted back from it',
    )
    parser.add_argument("--json", action="store_true", help="print the answer object as JSON")
    parser.set_defaults(run=_cmd_ask)
    return parser


def _registered() -> EntryPoints:
    # importlib.metadata takes ~20 ms to import (email, zipfile, csv): the command pays it, `import rag.cli` not.
    from importlib.metadata import entry_points

    return entry_points(group=COMMANDS_GROUP)


def _parser(
    commands: Sequence[EntryPoint] | None = None, *, failures: list[str] | None = None
) -> argparse.ArgumentParser:
    """The `rag` parser with these subcommands (default: every registered one). A subcommand that cannot
    be added is left out, and why goes into `failures`."""
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions about a folder of articles, with cited answers."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    # Listed by name, as `llm` (click) lists its commands, whichever package each one comes from.
    for command in sorted(_registered() if commands is None else commands, key=lambda c: c.name):
        try:
            command.load()(subparsers)
        except Exception as exc:  # a plugin's bug or a broken install: the other subcommands still work
            origin = f"{command.value} from {command.dist.name}" if command.dist else command.value
            reason = f"{type(exc).__name__}: {exc}"
            if failures is not None:
                failures.append(f"the `rag {command.name}` command could not be loaded ({origin}): {reason}")
    return parser


def _subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name` (`parser` itself if there is none)."""
    for action in parser._actions:  # argparse offers no public way back to its subparsers
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]  # type: ignore[no-any-return]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rag` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    registered = _registered()
    if not registered:
        print(
            f"error: no `rag` commands are registered (entry points {COMMANDS_GROUP!r}): reinstall the "
            "package, e.g. `pip install -e .` or `make setup`",
            file=sys.stderr,
        )
        return 2
    # Load only the subcommand asked for; to list them all (help, a typo, nothing), load them all.
    named = registered.select(name=argv[0]) if argv else None
    failures: list[str] = []
    parser = _parser(named or registered, failures=failures)
    for failure in failures:
        print_text(f"{'error' if named else 'warning'}: {failure}", file=sys.stderr)
    if named and failures:
        return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would blame the top parser and show `rag`'s usage, not the subcommand's
        _subcommand_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    run = getattr(args, "run", None)
    if not callable(run):
        print(f"error: the `rag {args.command}` command sets no handler (`run`)", file=sys.stderr)
        return 2
    try:
        return int(run(args))
    except RagError as exc:
        print_text(f"error: {exc}", file=sys.stderr)
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
