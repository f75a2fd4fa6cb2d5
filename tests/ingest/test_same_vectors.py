"""Acceptance: an article's vectors do not depend on what it was ingested with, so an incremental
ingest ends with the vectors and rankings of a clean one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest_support import assert_same_rankings, assert_same_vectors, write_articles

from ingest.pipeline import ingest_paths
from rag.index import Index
from rag.settings import Settings
from tests.support import chunk_rows

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings

ARTICLES = 20
FIRST = 7


def test_an_incremental_ingest_gives_the_vectors_and_rankings_of_a_clean_one(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    # The case: 7 files, then all 20, left 495 of 853 vectors up to 0.016 apart from a clean
    # ingest of the 20, and changed the ranking of 11 of 18 questions.
    folder = tmp_path / "articles"
    paths = write_articles(folder, ARTICLES)
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    index = Index(settings, embedder)
    assert ingest_paths(paths[:FIRST], settings, index=index, progress=False).counts() == {"added": FIRST}

    report = ingest_paths([folder], settings, index=index, progress=False)

    assert report.counts() == {"unchanged": FIRST, "added": ARTICLES - FIRST}
    clean_settings = Settings(data_dir=tmp_path / "clean", _env_file=None)
    clean = Index(clean_settings, embedder)
    assert ingest_paths([folder], clean_settings, index=clean, progress=False).ok
    assert chunk_rows(index) == chunk_rows(clean)
    assert_same_vectors(index, clean)
    assert_same_rankings(index, clean, embedder)
