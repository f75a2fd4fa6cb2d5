"""Sentence vectors pooled out of each chunk's own pass ("late chunking"), on every backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ingest.chunking import chunk_article
from ingest.loaders import parse_article
from rag.embeddings import BACKENDS, SentenceTransformerEmbeddings
from rag.text import sentence_spans

if TYPE_CHECKING:
    from rag.types import Chunk

pytestmark = pytest.mark.slow

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "straits-times-us-china-fentanyl.txt"

MIN_OWN_COSINE = 0.4
"""Least cosine between a sentence's pooled vector and its standalone embedding (measured: 0.456)."""
MIN_MEDIAN_COSINE = 0.7
"""Least median of those cosines over the seed article (measured: 0.81)."""


def _chunks(embedder: SentenceTransformerEmbeddings) -> list[Chunk]:
    article = parse_article(SEED_ARTICLE.read_bytes(), name=SEED_ARTICLE.name, doc_id="seed", path="")
    return chunk_article(article, embedder, max_tokens=192, overlap_sentences=1, content_hash="0" * 64)


@pytest.fixture(params=BACKENDS)
def any_backend(
    request: pytest.FixtureRequest, embedder: SentenceTransformerEmbeddings, model_cache: Path
) -> SentenceTransformerEmbeddings:
    if request.param == "torch":
        return embedder
    return SentenceTransformerEmbeddings(backend=request.param, cache_dir=model_cache)


def test_sentence_vectors_come_with_unchanged_chunk_vectors(
    any_backend: SentenceTransformerEmbeddings,
) -> None:
    texts = [c.text for c in _chunks(any_backend)]
    spans = [sentence_spans(text) for text in texts]
    vectors, sentences = any_backend.embed_documents_with_sentences(texts, spans)
    assert np.array_equal(np.asarray(vectors), np.asarray(any_backend.embed_documents(texts)))
    own: list[float] = []
    for text, text_spans, pooled in zip(texts, spans, sentences, strict=True):
        assert pooled is not None
        assert pooled.spans == tuple(text_spans)
        late = pooled.matrix
        assert np.allclose(np.linalg.norm(late, axis=1), 1.0, atol=1e-5)
        standalone = np.asarray(any_backend.embed_documents([text[a:b] for a, b in text_spans]))
        similarity = standalone @ late.T
        # Searching the chunk's pooled vectors with a sentence's own embedding finds that sentence.
        assert list(similarity.argmax(axis=1)) == list(range(len(text_spans)))
        own.extend(np.diag(similarity))
    assert min(own) >= MIN_OWN_COSINE, min(own)
    assert float(np.median(own)) >= MIN_MEDIAN_COSINE, float(np.median(own))


def test_spans_without_word_pieces_in_the_window_are_left_out(
    any_backend: SentenceTransformerEmbeddings,
) -> None:
    long_text = " ".join(["Word"] * (any_backend.max_tokens + 50)) + " Tail sentence here."
    tail = long_text.index("Tail")
    _vectors, sentences = any_backend.embed_documents_with_sentences(
        ["Short one. Another one.", long_text], [[(0, 10), (5, 5)], [(0, 9), (tail, len(long_text))]]
    )
    short, long = sentences
    assert short is not None and long is not None
    assert short.get(0, 10) is not None
    assert short.get(5, 5) is None  # empty span
    assert long.get(0, 9) is not None
    assert long.get(tail, len(long_text)) is None  # truncated away
    assert short.spans == ((0, 10),) and long.spans == ((0, 9),)
    _vectors, nothing = any_backend.embed_documents_with_sentences(["Short one."], [[(3, 3)]])
    assert nothing == [None]
