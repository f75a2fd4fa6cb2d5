"""The embedder protocol, kept by the hashing fake (fast tier) and by the packaged model alike."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from rag.text import sentence_spans
from rag.types import SentenceEmbedder, WhitespaceTokenizer
from tests.support import HashingEmbedder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.types import Embedder

TEXTS = [
    "Henrike Solano will serve as the new fire chief of Corriebrae from next month.",
    "Fentanyl has been identified as the leading cause of death for Americans aged 18 to 45.",
    "Unbelievably, the counter-intuitive result (about 4.5%) held — twice.",
    "",
]


@pytest.fixture(params=[pytest.param("hashing", marks=pytest.mark.fast), "model"])
def any_embedder(request: pytest.FixtureRequest) -> Embedder:
    """The hashing fake, then the packaged model (full tier only)."""
    if request.param == "hashing":
        return HashingEmbedder()
    model: Embedder = request.getfixturevalue("embedder")
    return model


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_identity_and_window(any_embedder: Embedder) -> None:
    assert any_embedder.model_id and isinstance(any_embedder.model_id, str)
    assert isinstance(any_embedder.max_tokens, int) and any_embedder.max_tokens >= 16


def test_word_pieces_are_ordered_spans_of_the_text_and_their_count(any_embedder: Embedder) -> None:
    counts = any_embedder.count_tokens(TEXTS)

    assert counts[-1] == 0 and all(counts[:-1])
    for text, count in zip(TEXTS, counts, strict=True):
        spans = any_embedder.token_spans(text)
        assert len(spans) == count
        assert all(0 <= start < end <= len(text) for start, end in spans)
        assert [start for start, _end in spans] == sorted(start for start, _end in spans)


def test_texts_joined_by_white_space_count_as_their_parts(any_embedder: Embedder) -> None:
    assert isinstance(any_embedder, WhitespaceTokenizer) and any_embedder.splits_at_whitespace
    parts = TEXTS[:3]
    for gap in (" ", "\n\n", "\t "):
        assert any_embedder.count_tokens([gap.join(parts)]) == [sum(any_embedder.count_tokens(parts))]
    for text in parts:
        assert not any(text[a:b].strip() != text[a:b] for a, b in any_embedder.token_spans(text))


def test_vectors_are_unit_length_and_deterministic(any_embedder: Embedder) -> None:
    vectors = any_embedder.embed_documents(TEXTS[:3])
    again = any_embedder.embed_documents(list(reversed(TEXTS[:3])))[::-1]

    assert len({len(v) for v in vectors}) == 1
    assert all(math.isclose(_cosine(v, v), 1.0, abs_tol=1e-4) for v in vectors)
    assert all(math.isclose(_cosine(a, b), 1.0, abs_tol=1e-4) for a, b in zip(vectors, again, strict=True))
    query = any_embedder.embed_query(TEXTS[0])
    assert math.isclose(_cosine(query, vectors[0]), 1.0, abs_tol=1e-4)


def test_texts_about_the_same_thing_are_closer(any_embedder: Embedder) -> None:
    question, same, other = any_embedder.embed_documents(
        ["Who is the fire chief of Corriebrae?", TEXTS[0], TEXTS[1]]
    )
    assert _cosine(question, same) > _cosine(question, other) + 0.1


def test_sentence_vectors_come_with_the_same_chunk_vectors(any_embedder: Embedder) -> None:
    assert isinstance(any_embedder, SentenceEmbedder)
    chunk = " ".join(TEXTS[:3])
    spans = sentence_spans(chunk)

    vectors, sentences = any_embedder.embed_documents_with_sentences([chunk], [spans])

    assert math.isclose(_cosine(vectors[0], any_embedder.embed_documents([chunk])[0]), 1.0, abs_tol=1e-3)
    (found,) = sentences
    assert found is not None and found.spans == tuple(spans) and len(spans) == 3
    first = found.get(*spans[0])
    assert first is not None
    assert _cosine(first.tolist(), any_embedder.embed_query(TEXTS[0])) > 0.5
    with pytest.raises(ValueError, match="lists of spans"):
        any_embedder.embed_documents_with_sentences([chunk], [])
