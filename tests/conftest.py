"""Shared fixtures: the real embedder (loaded once), settings in a temporary folder, a seeded store;
and for the fast tier, the hashing embedder and stores on Chroma's in-memory client."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag.embeddings import SentenceTransformerEmbeddings
from rag.settings import Settings
from tests.support import SEEDS, HashingEmbedder, raw_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from rag.assistant import Assistant
    from rag.index import Index
    from rag.index.store import Store


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
    report = ingest_paths([SEEDS], settings, index=assistant.index, progress=False)
    assert report.ok
    return assistant


# -- the fast tier: fakes and Chroma in memory ------------------------------------------------------


@pytest.fixture(scope="session")
def hashing_embedder() -> HashingEmbedder:
    """The deterministic stand-in for the model (see `tests.support.HashingEmbedder`)."""
    return HashingEmbedder()


@pytest.fixture(scope="session")
def memory_client() -> Any:
    """Chroma's in-memory client; every client of this process shares its collections."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.EphemeralClient(ChromaSettings(anonymized_telemetry=False))


@pytest.fixture
def memory_store(
    settings: Settings, hashing_embedder: HashingEmbedder, memory_client: Any
) -> Iterator[Store]:
    """A store in memory with the hashing embedder, in collections of its own; dropped afterwards."""
    from rag.index.store import Store

    own = settings.model_copy(update={"collection": f"t-{uuid.uuid4().hex[:16]}"})
    store = Store(own, hashing_embedder, client=memory_client)
    yield store
    store.reset()


@pytest.fixture
def memory_index(
    settings: Settings, hashing_embedder: HashingEmbedder, memory_client: Any
) -> Iterator[Index]:
    """An index in memory with the hashing embedder, in collections of its own; dropped afterwards."""
    from rag.index import Index

    own = settings.model_copy(update={"collection": f"t-{uuid.uuid4().hex[:16]}"})
    index = Index(own, hashing_embedder, client=memory_client)
    yield index
    raw_store(index).reset()
