"""Fixtures for the reliability suite: a clean environment and one seeded index shared by load and soak."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from reliability_support import FACTS, write_corpus

from ingest.pipeline import ingest_paths
from rag.index import Index
from tests.support import make_settings

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed article and one made-up article per fact."""
    return write_corpus(tmp_path_factory.mktemp("reliability-corpus"))


@pytest.fixture(scope="session")
def seeded(
    clean_env: None,
    corpus: Path,
    embedder: SentenceTransformerEmbeddings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """Settings of a data folder holding the corpus, indexed with the real embedder; read-only after."""
    settings = make_settings(tmp_path_factory.mktemp("reliability-seeded") / "data")
    report = ingest_paths([corpus], settings, index=Index(settings, embedder), progress=False)
    assert report.ok and report.documents == len(FACTS) + 1, report.to_json()
    return settings
