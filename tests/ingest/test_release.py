"""An ingest that made its own embedder frees the embedder's torch model once everything is embedded,
before the BM25 sync that ends the run; an ingest into a caller's index (the chat's uploads) keeps it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from ingest_support import write_articles

import rag.embeddings
from ingest.pipeline import ingest_paths
from rag.embeddings import SentenceTransformerEmbeddings
from rag.index import Index

if TYPE_CHECKING:
    from pathlib import Path

    from ingest.pipeline import FileResult
    from rag.settings import Settings

pytestmark = pytest.mark.slow

ARTICLES = 5


class _RecordingEmbeddings(SentenceTransformerEmbeddings):
    """The real embedder, noting when it is released and which files had been reported then."""

    def __init__(self, reported: list[FileResult], bm25: Path | None = None) -> None:
        super().__init__(backend="torch")
        self.reported = reported
        self.bm25 = bm25
        self.released_after: list[int] = []
        self.bm25_saved_before = False

    def release(self) -> None:
        self.released_after.append(len(self.reported))
        self.bm25_saved_before = self.bm25 is not None and self.bm25.exists()
        super().release()


def test_an_ingest_frees_its_own_embedders_model_after_the_last_batch(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_articles(tmp_path / "articles", ARTICLES)
    reported: list[FileResult] = []
    made: list[_RecordingEmbeddings] = []

    def recording(_settings: Settings) -> _RecordingEmbeddings:
        made.append(_RecordingEmbeddings(reported, settings.data_dir / "bm25"))
        return made[-1]

    monkeypatch.setattr(rag.embeddings, "embedder_from_settings", recording)

    report = ingest_paths(paths, settings, progress=False, on_file=reported.append)

    assert report.ok and report.counts().get("added") == ARTICLES
    [embedder] = made
    assert embedder.released_after == [ARTICLES]  # once, with every file written
    assert "_model" not in embedder.__dict__
    # The BM25 sync that ends the run came after the release: it saved the index only then.
    assert not embedder.bm25_saved_before
    assert (settings.data_dir / "bm25").is_dir()
    index = Index(settings, SentenceTransformerEmbeddings(backend="torch"))
    assert len(index.records()) == ARTICLES
    [(chunk, _score)] = index.lexical_search("outlook shifts after report 3", 1)
    assert index.records()[chunk.doc_id].path.endswith("a003.txt")


def test_an_ingest_into_the_callers_index_keeps_the_model(settings: Settings, tmp_path: Path) -> None:
    paths = write_articles(tmp_path / "articles", 2)
    embedder = _RecordingEmbeddings([])
    index = Index(settings, embedder)

    ingest_paths(paths, settings, index=index, progress=False)

    assert embedder.released_after == []
    assert "_model" in embedder.__dict__


@pytest.mark.parametrize(("backend", "encoder"), [("torch-bf16", "_bf16"), ("openvino", "_openvino")])
def test_a_released_embedder_loads_again_and_embeds_the_same(backend: str, encoder: str) -> None:
    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]
    texts = [
        f"Report {n}: the council approved the harbour budget after a long debate." * 6 for n in range(3)
    ]
    before = np.asarray(embedder.embed_documents(texts))
    assert encoder in embedder.__dict__

    embedder.release()

    assert encoder not in embedder.__dict__
    assert np.array_equal(np.asarray(embedder.embed_documents(texts)), before)
