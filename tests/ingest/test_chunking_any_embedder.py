"""The chunker needs only the embedder protocol: exact offsets and budgets with a model-free embedder."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_article, embed_chunks
from ingest.loaders import LoadError, load_article
from rag.text import sentence_spans
from rag.types import Article, Chunk, Embedder, SentenceEmbedder, WhitespaceTokenizer
from tests.support import SEED_ARTICLE, HashingEmbedder

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.fast


class WordsOnly(Embedder):
    """The least an embedder can be: no sentence vectors, no promise about counts at white space."""

    def __init__(self) -> None:
        self._inner = HashingEmbedder()

    @property
    def model_id(self) -> str:
        return "words-only"

    @property
    def max_tokens(self) -> int:
        return 128

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._inner.count_tokens(texts)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self._inner.token_spans(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)


EMBEDDERS = [HashingEmbedder(), WordsOnly()]


@pytest.fixture(scope="module")
def seed() -> Article:
    return load_article(SEED_ARTICLE)


def _chunks(article: Article, embedder: Embedder, max_tokens: int, overlap: int = 1) -> list[Chunk]:
    return chunk_article(
        article, embedder, max_tokens=max_tokens, overlap_sentences=overlap, content_hash="0" * 64
    )


def _assert_exact(text: str, chunks: Sequence[Chunk], embedder: Embedder, budget: int) -> None:
    """Offsets index the text, chunks keep to the budget, and every word piece is in some chunk."""
    for position, chunk in enumerate(chunks):
        assert chunk.index == position
        assert text[chunk.start : chunk.end] == chunk.text == chunk.text.strip()
    if chunks:
        assert max(embedder.count_tokens([c.text for c in chunks])) <= budget
    for start, end in embedder.token_spans(text):
        assert any(c.start <= start and end <= c.end for c in chunks), text[start:end]


def test_the_fakes_keep_the_protocol_the_chunker_checks() -> None:
    hashing, words = EMBEDDERS
    assert isinstance(hashing, SentenceEmbedder) and isinstance(hashing, WhitespaceTokenizer)
    assert not isinstance(words, SentenceEmbedder) and not isinstance(words, WhitespaceTokenizer)


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: e.model_id)
@pytest.mark.parametrize("max_tokens", [40, 192])
def test_seed_chunks_are_exact_and_within_the_budget(
    seed: Article, embedder: Embedder, max_tokens: int
) -> None:
    chunks = _chunks(seed, embedder, max_tokens)

    assert len(chunks) > 2
    _assert_exact(seed.text, chunks, embedder, min(max_tokens, embedder.max_tokens))
    assert chunks[0].start == 0 and chunks[-1].end == len(seed.text)


@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_consecutive_chunks_share_the_asked_for_sentences(seed: Article, overlap: int) -> None:
    chunks = _chunks(seed, HashingEmbedder(), 192, overlap=overlap)
    starts = [start for start, _end in sentence_spans(seed.text)]

    shared = [
        sum(1 for s in starts if after.start <= s < before.end)
        for before, after in itertools.pairwise(chunks)
    ]
    # Fewer only where the overlap and the next sentence would not fit the budget together.
    assert max(shared) == overlap
    assert sum(n == overlap for n in shared) >= 0.8 * len(shared)


def test_an_article_over_the_chunk_limit_is_refused(seed: Article) -> None:
    with pytest.raises(LoadError, match="more than 3 chunks"):
        chunk_article(
            seed, HashingEmbedder(), max_tokens=32, overlap_sentences=0, content_hash="0" * 64, max_chunks=3
        )


def test_sentence_vectors_come_keyed_by_each_chunks_sentences(seed: Article) -> None:
    chunks = _chunks(seed, HashingEmbedder(), 64)

    vectors, sentences = embed_chunks(HashingEmbedder(), chunks)
    assert len(vectors) == len(chunks) and sentences is not None
    for chunk, found in zip(chunks, sentences, strict=True):
        assert found is not None
        assert found.spans == tuple(sentence_spans(chunk.text))
    plain, none = embed_chunks(WordsOnly(), chunks)
    assert plain == vectors and none is None


_words = st.sampled_from(["tariff", "Mr.", "U.S.", "fentanyl", "2019", "x" * 30, "—", "?", "a"])
_gaps = st.sampled_from([" ", "  ", "\n", "\n\n", ". ", "! ", "\t"])
_texts = st.lists(st.tuples(_words, _gaps), max_size=120).map(lambda pairs: "".join(w + g for w, g in pairs))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(text=_texts)
def test_any_text_chunks_exactly_with_either_embedder(text: str) -> None:
    for embedder in EMBEDDERS:
        chunks = _chunks(Article(doc_id="doc", title="title", text=text), embedder, 16)
        _assert_exact(text, chunks, embedder, 16)
