"""Cited question answering over a folder of articles.

`import rag` stays light: the names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answering import ABSTENTION, Answerer, available_answerers, register
    from rag.assistant import Assistant
    from rag.errors import RagError
    from rag.retriever import ArticleFilter, HybridRetriever
    from rag.settings import Settings, load_settings
    from rag.types import Answer, Article, Citation, Passage

__all__ = [
    "ABSTENTION",
    "Answer",
    "Answerer",
    "Article",
    "ArticleFilter",
    "Assistant",
    "Citation",
    "HybridRetriever",
    "Passage",
    "RagError",
    "Settings",
    "available_answerers",
    "load_settings",
    "register",
]

_HOMES = {
    "ABSTENTION": "rag.answering",
    "Answerer": "rag.answering",
    "available_answerers": "rag.answering",
    "register": "rag.answering",
    "Assistant": "rag.assistant",
    "RagError": "rag.errors",
    "ArticleFilter": "rag.retriever",
    "HybridRetriever": "rag.retriever",
    "Settings": "rag.settings",
    "load_settings": "rag.settings",
    "Answer": "rag.types",
    "Article": "rag.types",
    "Citation": "rag.types",
    "Passage": "rag.types",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
