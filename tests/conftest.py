"""Shared fixtures: the real embedder (loaded once), settings in a temporary folder, a seeded store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag.embeddings import SentenceTransformerEmbeddings
from rag.settings import Settings
from tests.support import SEEDS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from rag.assistant import Assistant


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbeddings:
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEmbeddings()


@pytest.fixture(scope="session")
def clean_env() -> Iterator[None]:
    """No RAG_* variable of the caller's shell leaks into the code under test (session-wide)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("RAG_"):
                patch.delenv(name)
        yield


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data directory is a fresh temporary folder, unaffected by the caller's RAG_* env."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def seed_assistant(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings
) -> Assistant:
    """An assistant over the seed article, indexed into a temporary folder once per test module."""
    from ingest.pipeline import ingest_paths
    from rag.assistant import Assistant

    settings = Settings(data_dir=tmp_path_factory.mktemp("seed") / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    report = ingest_paths([SEEDS], settings, store=assistant.store, lexical=assistant.lexical, progress=False)
    assert report.ok
    return assistant
