"""LangChain's own standard retriever tests, against the hybrid retriever on a real store."""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from langchain_tests.integration_tests import RetrieversIntegrationTests

from ingest.pipeline import ingest_paths
from rag.embeddings import SentenceTransformerEmbeddings
from rag.lexical import LexicalIndex
from rag.retriever import HybridRetriever
from rag.settings import Settings
from rag.store import Store

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


class _SeededStore:
    """One real store with the seed article, built on first use and shared by the test class."""

    @cached_property
    def parts(self) -> tuple[Store, LexicalIndex]:
        settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="rag-std-")), _env_file=None)  # type: ignore[call-arg]
        store = Store(settings, SentenceTransformerEmbeddings())
        lexical = LexicalIndex(settings.data_dir, settings.collection)
        assert ingest_paths([SEEDS], settings, store=store, lexical=lexical, progress=False).ok
        return store, lexical


_SEEDED = _SeededStore()


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        store, lexical = _SEEDED.parts
        return {"store": store, "lexical": lexical}

    @property
    def retriever_query_example(self) -> str:
        return "What did China do about fentanyl precursors?"
