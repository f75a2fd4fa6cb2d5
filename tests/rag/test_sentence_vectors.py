"""Sentence vectors stored with the chunks: round trip, retrieval carries them, the answerer reads them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ingest.pipeline import ingest_paths
from rag.answering import AnswerRequest, ExtractiveAnswerer
from rag.assistant import Assistant
from rag.embeddings import SentenceTransformerEmbeddings, _pool_spans
from rag.errors import IndexMismatchError
from rag.retriever import HybridRetriever
from rag.settings import Settings
from rag.text import sentence_spans
from rag.vectors import FORMAT, SentenceVectors
from tests.support import raw_store

if TYPE_CHECKING:
    from rag.types import Passage

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
QUESTION = "What did China agree to do about fentanyl precursors?"
ANSWERED = "Who said that the tariffs would come off if fentanyl ends?"


class CountingEmbedder(SentenceTransformerEmbeddings):
    """The real embedder, recording every text it embeds as a document."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture(scope="module")
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, counting: CountingEmbedder) -> Assistant:
    settings = Settings(data_dir=tmp_path_factory.mktemp("late") / "data", _env_file=None)
    assistant = Assistant(settings, embedder=counting)
    report = ingest_paths([SEEDS], settings, index=assistant.index, progress=False)
    assert report.ok
    return assistant


def test_encoding_round_trips_within_quantisation_error() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 384)).astype(np.float32)
    spans = [(0, 10), (11, 40), (41, 41), (42, 90), (91, 2000)]
    original = SentenceVectors.from_vectors(spans, [*vectors[:2], None, *vectors[3:]])
    assert original is not None
    decoded = SentenceVectors.decode(original.encode())
    assert decoded is not None
    assert decoded.spans == ((0, 10), (11, 40), (42, 90), (91, 2000))
    assert decoded.get(41, 41) is None
    assert np.allclose(np.linalg.norm(decoded.matrix, axis=1), 1.0, atol=1e-5)
    assert float((decoded.matrix * original.matrix).sum(axis=1).min()) >= 0.999
    assert len(original.encode()) <= 4 * 550
    assert SentenceVectors.decode("") is None
    assert SentenceVectors.decode("not base64!") is None
    assert SentenceVectors.decode(original.encode()[:-8]) is None


def test_decoded_vectors_encode_to_the_text_they_came_from() -> None:
    # A copy's chunk takes its original's stored sentence vectors: storing them again must not
    # quantise them a second time.
    rng = np.random.default_rng(1)
    spans = [(0, 10), (11, 40), (42, 90)]
    for _ in range(20):
        original = SentenceVectors.from_matrix(spans, rng.normal(size=(3, 384)).astype(np.float32))
        stored = original.encode()
        decoded = SentenceVectors.decode(stored)
        assert decoded is not None
        assert decoded.encode() == stored


def test_pooling_is_the_mean_of_the_word_pieces_starting_in_each_span() -> None:
    rng = np.random.default_rng(1)
    offsets = [(0, 0), (0, 3), (4, 9), (9, 12), (13, 20), (21, 25), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 1]
    hidden = rng.normal(size=(len(offsets) + 3, 8)).astype(np.float32)  # padding rows after the text
    spans = [(0, 12), (12, 13), (10, 26), (4, 5), (30, 40)]
    pooled = _pool_spans(hidden, offsets, special, spans)
    assert pooled is not None
    assert pooled.spans == ((0, 12), (10, 26), (4, 5))  # (12, 13) and (30, 40) start no word piece
    for span, rows in (((0, 12), [1, 2, 3]), ((10, 26), [4, 5]), ((4, 5), [2])):
        mean = hidden[rows].mean(axis=0)
        got = pooled.get(*span)
        assert got is not None
        assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-6)
    assert _pool_spans(hidden, offsets, special, [(30, 40)]) is None
    assert _pool_spans(hidden, offsets, special, []) is None


@pytest.mark.parametrize("ranking", ["dense", "bm25"])
def test_retrieved_passages_carry_the_vectors_ingest_pooled(seeded: Assistant, ranking: str) -> None:
    weights = {"dense_weight": 0.0} if ranking == "bm25" else {"lexical_weight": 0.0}
    retriever = HybridRetriever(index=seeded.index, **weights)
    passages = retriever.search(QUESTION)
    assert passages
    texts = [p.text for p in passages]
    spans = [sentence_spans(text) for text in texts]
    _vectors, pooled = SentenceTransformerEmbeddings().embed_documents_with_sentences(texts, spans)
    for passage, passage_spans, fresh in zip(passages, spans, pooled, strict=True):
        stored = passage.sentence_vectors
        assert stored is not None
        assert stored.spans == tuple(passage_spans)
        assert fresh is not None and fresh.spans == stored.spans
        for a, b in passage_spans:
            got, vector = stored.get(a, b), fresh.get(a, b)
            assert got is not None and vector is not None
            # int8 quantisation of the stored copy, and (onnx-int8) activations quantised per batch
            assert float(got @ vector) >= 0.99
        assert "sentence_vectors" not in passage.to_json()


def _request(assistant: Assistant, passages: list[Passage]) -> AnswerRequest:
    vector = assistant.embedder.embed_query(QUESTION)
    return AnswerRequest(QUESTION, passages, vector, assistant.embedder, assistant.index.idf)


def test_answerer_uses_stored_vectors_and_embeds_only_without_them(
    seeded: Assistant, counting: CountingEmbedder
) -> None:
    passages = seeded.retriever.search(QUESTION)
    answerer = ExtractiveAnswerer()
    counting.embedded.clear()
    stored = answerer.answer(_request(seeded, passages))
    # Only an aside within a question sentence (the seed's lead) has no stored vector of its own.
    asides = [s.text for s in answerer.candidates(passages) if s.aside]
    assert counting.embedded == asides
    assert all(aside in "".join(p.text for p in passages) for aside in asides)
    assert stored.evidence["dense"] > 0.3

    bare = [dataclasses.replace(p, sentence_vectors=None) for p in passages]
    fallback = answerer.answer(_request(seeded, bare))
    candidates = [s.text for s in answerer.candidates(bare)]
    assert sorted(counting.embedded) == sorted(candidates)
    assert fallback.evidence["dense"] > 0.3


def test_an_index_without_sentence_vectors_is_read_but_not_added_to(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    ingest_paths([SEEDS], settings, index=assistant.index, progress=False)
    assert assistant.index.stats()["sentence_vectors"] == FORMAT
    # Make it look like an index an older version built: no format key, no vectors, and each
    # chunk's text stored as its document.
    texts = {c.chunk_id: c.text for c in assistant.index.committed_chunks()}
    collection = raw_store(assistant.index).chunks()
    metadata = {k: v for k, v in (collection.metadata or {}).items() if k != "rag:sentence_vectors"}
    collection.modify(metadata=metadata)
    got = collection.get(include=["metadatas", "embeddings"])
    collection.delete(ids=got["ids"])  # an update would merge the old metadata back
    collection.add(
        ids=got["ids"],
        embeddings=got["embeddings"],
        documents=[texts[i] for i in got["ids"]],
        metadatas=[{k: v for k, v in m.items() if k != "sentence_vectors"} for m in got["metadatas"]],
    )
    old = Assistant(settings, embedder=embedder)
    assert all(p.sentence_vectors is None for p in old.retriever.search(QUESTION))
    assert old.ask(ANSWERED).citations
    assert old.index.stats()["sentence_vectors"] == "none"
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest_paths([SEEDS], settings, index=old.index, progress=False)
