"""The `rag ingest` subcommand, contributed to the `rag` command through the `rag.commands` entry point."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.cli import common_options, print_json, print_text, settings_from_args

if TYPE_CHECKING:
    import argparse

    from ingest.pipeline import FileResult

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `ingest` on the `rag` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ingest",
        parents=[common_options()],
        help="index articles (.txt .md .html .pdf); reruns are incremental",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    parser.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    parser.add_argument("--rebuild", action="store_true", help="delete the index and start over")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print every file, and why any was skipped"
    )
    parser.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="follow symbolic links that lead out of the folder (by default they are skipped)",
    )
    parser.set_defaults(run=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest_paths

    settings = settings_from_args(args)

    def show(result: FileResult) -> None:
        if result.status == "failed":
            print_text(f"error: {result.path}: {result.reason}", file=sys.stderr)
        elif args.verbose and result.status == "skipped":
            print_text(f"skipped: {result.path}: {result.reason}", file=sys.stderr)
        elif args.verbose:
            print_text(f"{result.status}: {result.path} ({result.chunks} chunks)", file=sys.stderr)

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
        print_json(report.to_json())
    elif not args.quiet or not report.ok:
        print(report.summary())
    return 0 if report.ok else 1
