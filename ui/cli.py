"""The `rag chat` subcommand, contributed to the `rag` command through the `rag.commands` entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.cli import common_options, nonempty_text, settings_from_args

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `chat` on the `rag` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "chat", parents=[common_options()], help="open the chat in the browser (Gradio)"
    )
    parser.add_argument("--host", type=nonempty_text, help="address to bind (RAG_UI_HOST)")
    parser.add_argument("--port", type=int, help="port (RAG_UI_PORT)")
    parser.add_argument("--open", action="store_true", help="open a browser tab")
    parser.set_defaults(run=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from ui.app import serve

    return serve(settings_from_args(args), host=args.host, port=args.port, open_browser=args.open)
