"""Acceptance: chunks are whole sentences within the token budget, with exact offsets into the article."""

from __future__ import annotations

import itertools
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import MAX_CHARS_PER_TOKEN, chunk_article, unbroken_runs
from ingest.loaders import LoadError, load_article
from ingest.pipeline import content_hash
from rag.embeddings import SentenceTransformerEmbeddings
from rag.index import chunk_id
from rag.text import sentence_spans
from rag.types import Article, Chunk

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.fast

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "straits-times-us-china-fentanyl.txt"
CHUNK_TOKENS = 192


@pytest.fixture(scope="module")
def seed() -> Article:
    return load_article(SEED_ARTICLE)


def _chunks(
    article: Article, embedder: SentenceTransformerEmbeddings, max_tokens: int, overlap: int = 1
) -> list[Chunk]:
    return chunk_article(
        article,
        embedder,
        max_tokens=max_tokens,
        overlap_sentences=overlap,
        content_hash=content_hash(article),
    )


def test_seed_chunk_offsets_index_the_article_text(
    seed: Article, embedder: SentenceTransformerEmbeddings
) -> None:
    chunks = _chunks(seed, embedder, CHUNK_TOKENS)

    assert len(chunks) > 3
    for position, chunk in enumerate(chunks):
        assert seed.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.index == position
        assert chunk.doc_id == seed.doc_id
        assert chunk.chunk_id == chunk_id(seed.doc_id, content_hash(seed), position)
    assert chunks[0].start == 0
    assert chunks[-1].end == len(seed.text)


@pytest.mark.parametrize("max_tokens", [CHUNK_TOKENS, 64, 10_000])
def test_seed_chunks_fit_the_budget_and_the_model_window(
    seed: Article, embedder: SentenceTransformerEmbeddings, max_tokens: int
) -> None:
    chunks = _chunks(seed, embedder, max_tokens)

    counts = embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= min(max_tokens, embedder.max_tokens)
    # Chunks are filled, not cut needlessly small.
    if max_tokens == 10_000:
        assert max(counts) > CHUNK_TOKENS


def test_consecutive_seed_chunks_overlap_by_one_sentence(
    seed: Article, embedder: SentenceTransformerEmbeddings
) -> None:
    chunks = _chunks(seed, embedder, CHUNK_TOKENS)
    sentences = set(sentence_spans(seed.text))

    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start < before.end
        # The overlap is exactly the last sentence of the previous chunk.
        assert (after.start, before.end) in sentences


def test_without_overlap_chunks_follow_each_other(
    seed: Article, embedder: SentenceTransformerEmbeddings
) -> None:
    chunks = _chunks(seed, embedder, CHUNK_TOKENS, overlap=0)

    for before, after in itertools.pairwise(chunks):
        assert before.end <= after.start
        assert not seed.text[before.end : after.start].strip()


def test_every_seed_sentence_is_in_some_chunk(seed: Article, embedder: SentenceTransformerEmbeddings) -> None:
    chunks = _chunks(seed, embedder, CHUNK_TOKENS)
    spans = sentence_spans(seed.text)

    assert len(spans) > 30
    for start, end in spans:
        assert any(c.start <= start and end <= c.end for c in chunks), seed.text[start:end]


class GluedCountEmbeddings(SentenceTransformerEmbeddings):
    """The real tokenizer, but a text of several sentences counts 12 pieces more than its parts,
    as pieces glued without spaces can: runs the sums let through must be counted and shrunk."""

    @property
    def splits_at_whitespace(self) -> bool:
        return False

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        counts = super().count_tokens(texts)
        return [n + 12 * (len(sentence_spans(t)) > 1) for n, t in zip(counts, texts, strict=True)]


def test_runs_counting_more_than_their_sentences_are_shrunk_to_the_budget(seed: Article) -> None:
    glued = GluedCountEmbeddings()
    budget = 64

    chunks = _chunks(seed, glued, budget)

    assert max(glued.count_tokens([c.text for c in chunks])) <= budget
    assert all(seed.text[c.start : c.end] == c.text for c in chunks)
    for start, end in sentence_spans(seed.text):
        assert any(c.start <= start and end <= c.end for c in chunks), seed.text[start:end]
    # The same budget with honest counts packs more sentences per chunk.
    assert len(chunks) > len(_chunks(seed, SentenceTransformerEmbeddings(), budget))


_long_runs = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzé.,-/0123456789"), min_size=40, max_size=400
)

_WHITESPACE = "".join(
    c for c in map(chr, range(0x3100)) if c in "\t\n\r" or (c.isspace() and unicodedata.category(c)[0] == "Z")
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    parts=st.lists(
        st.one_of(st.text(min_size=1, max_size=40), _long_runs.map(lambda run: run[:40])),
        min_size=2,
        max_size=6,
    ),
    gap=st.text(alphabet=st.sampled_from(_WHITESPACE), min_size=1, max_size=3),
)
def test_texts_parted_by_whitespace_count_as_the_sum_of_their_parts(
    embedder: SentenceTransformerEmbeddings, parts: list[str], gap: str
) -> None:
    # What lets the chunker skip counting runs of sentences that whitespace parts.
    assert embedder.splits_at_whitespace

    assert embedder.count_tokens([gap.join(parts)]) == [sum(embedder.count_tokens(parts))]


def test_a_tokenizer_whose_pieces_carry_spaces_is_not_taken_as_splitting_at_whitespace() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel()
    embedder = SentenceTransformerEmbeddings()
    embedder.__dict__["_tokenizer"] = byte_level  # as a GPT-2 style model's tokenizer.json loads

    assert embedder.splits_at_whitespace is False


_SMALL_BUDGET = 32
_separators = st.sampled_from(
    ["\n", "\n\n", " ", ". ", "? ", "\t", "\x00", "\x07", "\u200b", "Mr. ", "U.S. "]
)
_texts = st.lists(st.one_of(st.text(max_size=60), _long_runs, _separators), max_size=30).map("".join)


def _ignored_by_embedder(char: str) -> bool:
    """Control, format and combining characters, which the tokenizer drops before making word pieces."""
    return unicodedata.category(char) in {"Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me"} or char == "\ufffd"


def _check_chunks(
    text: str, chunks: list[Chunk], embedder: SentenceTransformerEmbeddings, budget: int
) -> None:
    """Chunks within the budget, with exact offsets, holding all the text but its unbroken runs."""
    covered = [False] * len(text)
    for position, chunk in enumerate(chunks):
        assert chunk.index == position
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for start, end in unbroken_runs(text, budget * MAX_CHARS_PER_TOKEN):
        assert not any(covered[start:end]), f"a chunk holds the unbroken run at {start}:{end}"
        covered[start:end] = [True] * (end - start)
    if chunks:
        counts = embedder.count_tokens([c.text for c in chunks])
        assert max(counts) <= budget, [(n, c.text) for n, c in zip(counts, chunks, strict=True) if n > budget]
    for start, end in embedder.token_spans(text):
        assert all(covered[start:end]), f"word piece {text[start:end]!r} is in no chunk"
    lost = [
        ch
        for ch, seen in zip(text, covered, strict=True)
        if not (seen or ch.isspace() or _ignored_by_embedder(ch))
    ]
    assert not lost, f"characters in no chunk: {lost!r}"


def test_word_longer_than_the_budget_is_cut_into_chunks_within_it(
    embedder: SentenceTransformerEmbeddings,
) -> None:
    text = "bgf.aaaaaaaaaaaaaaaaaaaaaaaaaa.a.a..aaaaaa.a..a..a"
    assert embedder.count_tokens([text]) > [_SMALL_BUDGET]

    chunks = _chunks(Article(doc_id="doc", title="title", text=text), embedder, _SMALL_BUDGET)

    _check_chunks(text, chunks, embedder, _SMALL_BUDGET)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(text=_texts)
def test_any_text_chunks_within_budget_with_exact_offsets(
    embedder: SentenceTransformerEmbeddings, text: str
) -> None:
    runs = unbroken_runs(text, _SMALL_BUDGET * MAX_CHARS_PER_TOKEN)
    outside = "".join(
        text[a:b] for a, b in zip([0, *(e for _, e in runs)], [*(s for s, _ in runs), len(text)], strict=True)
    )
    try:
        chunks = _chunks(Article(doc_id="doc", title="title", text=text), embedder, _SMALL_BUDGET)
    except LoadError as refused:
        assert runs and not outside.strip(), text
        assert str(refused).startswith("no word boundaries: "), refused
        return

    assert not runs or outside.strip()
    _check_chunks(text, chunks, embedder, _SMALL_BUDGET)
