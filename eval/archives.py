"""What the model-fitting commands (`eval.calibrate`, `eval.span_ranker`) share: the
`--archive GOLD=DATA_DIR` option, and a clear exit when a gold file or an index is missing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["add_archive_option", "archive_spec", "run_or_exit"]


def archive_spec(value: str) -> tuple[Path, Path]:
    """An `--archive GOLD=DATA_DIR` value: the gold file and the data folder of the archive's index."""
    gold, equals, data_dir = value.partition("=")
    if not (gold and equals and data_dir):
        raise argparse.ArgumentTypeError(f"{value!r}: expected GOLD=DATA_DIR")
    return Path(gold), Path(data_dir)


def add_archive_option(parser: argparse.ArgumentParser, help: str) -> None:
    """`--archive GOLD=DATA_DIR`, repeatable; `args.archive` is a list of (gold file, data folder)."""
    parser.add_argument(
        "--archive", action="append", default=[], type=archive_spec, metavar="GOLD=DATA_DIR", help=help
    )


def run_or_exit(
    run: Callable[[argparse.Namespace, argparse.ArgumentParser], int],
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
) -> int:
    """`run(args, parser)`; a missing gold file or an index not built yet stops with "error: …" (exit 2)."""
    from rag.errors import RagError

    try:
        return run(args, parser)
    except RagError as exc:
        parser.exit(2, f"error: {exc}\n")
