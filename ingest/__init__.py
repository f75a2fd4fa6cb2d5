"""Turn files into articles, chunks and vectors, and keep the store in sync with a folder.

The names below are imported on first use: `rag` loads `ingest.cli` to list its subcommand, and that
should not cost the pipeline's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.pipeline import FileResult, IngestReport, ingest_paths

__all__ = ["FileResult", "IngestReport", "ingest_paths"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ingest.pipeline"), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
