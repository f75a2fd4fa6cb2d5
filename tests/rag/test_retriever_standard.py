"""LangChain's own standard retriever tests, against the hybrid retriever on a real index."""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from langchain_tests.integration_tests import RetrieversIntegrationTests

from ingest.pipeline import ingest_paths
from rag.embeddings import SentenceTransformerEmbeddings
from rag.index import Index
from rag.retriever import HybridRetriever
from rag.settings import Settings

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


class _SeededIndex:
    """One real index with the seed article, built on first use and shared by the test class."""

    @cached_property
    def index(self) -> Index:
        settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="rag-std-")), _env_file=None)
        index = Index(settings, SentenceTransformerEmbeddings())
        assert ingest_paths([SEEDS], settings, index=index, progress=False).ok
        return index


_SEEDED = _SeededIndex()


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": _SEEDED.index}

    @property
    def retriever_query_example(self) -> str:
        return "What did China do about fentanyl precursors?"
