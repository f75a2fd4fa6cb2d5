"""Helpers shared by the test suites: paths, made-up articles, ports, store views, a hashing embedder.

Importing this module stays light (no model, no Chroma, no browser), so the fast tier can use it.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings
from rag.types import SentenceEmbedder, WhitespaceTokenizer

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from rag.index import Index
    from rag.index.lexical import LexicalIndex
    from rag.index.store import Store
    from rag.types import Answer
    from rag.vectors import SentenceVectors

__all__ = [
    "REPO",
    "SEEDS",
    "SEED_ARTICLE",
    "Fact",
    "HashingEmbedder",
    "assert_verified",
    "chunk_rows",
    "forget_open_stores",
    "free_port",
    "make_settings",
    "port_is_free",
    "raw_lexical",
    "raw_store",
    "vector_rows",
]

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SEED_ARTICLE = SEEDS / "straits-times-us-china-fentanyl.txt"


def make_settings(data_dir: Path, **values: object) -> Settings:
    """Settings for a data folder, ignoring any .env file (the `settings` and `clean_env` fixtures clear
    the caller's RAG_* variables)."""
    return Settings(data_dir=data_dir, _env_file=None, **values)  # type: ignore[arg-type]


# -- made-up articles with one known answer each --------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A made-up article with one distinctive answer, so an answer to another question cannot pass."""

    town: str
    role: str
    person: str
    years: int

    @property
    def file_name(self) -> str:
        return self.town.lower().replace(" ", "-") + ".txt"

    @property
    def question(self) -> str:
        return f"Who is the {self.role} of {self.town}?"

    @property
    def answer_sentence(self) -> str:
        return f"{self.person} will serve as the new {self.role} of {self.town}"

    @property
    def years_sentence(self) -> str:
        return f"{self.person.split()[0]} previously spent {self.years} years"

    def article(self, number: int) -> str:
        return (
            f"Title: {self.town} names a new {self.role}\n"
            f"Source: https://news.example.org/{self.file_name[:-4]}\n"
            f"Date: 2024-0{1 + number % 9}-1{number % 10}\n\n"
            f"{self.answer_sentence} from next month, the town council said on Monday.\n\n"
            f"{self.years_sentence} working in the region, and residents of {self.town} "
            "welcomed the decision at a public meeting, the local paper reported.\n"
        )


# -- ports ----------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


# -- store views ----------------------------------------------------------------------------------


def forget_open_stores() -> None:
    """Drops this process's embedded Chroma clients, so the next `Index` opens its folder afresh.

    An embedded Chroma client keeps its vector index in memory; to read what another process
    wrote (or to let it write safely), the test process must open the store again.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def raw_store(index: Index | Store) -> Store:
    """The Chroma store inside an index, for tests that look at what Chroma holds (raw rows,
    vectors, the write protocol's steps): the one place the tests reach past `Index`."""
    from rag.index import Index

    return index._store if isinstance(index, Index) else index


def raw_lexical(index: Index) -> LexicalIndex:
    """The BM25 engine inside an index, for tests of the engine itself (its files, its state)."""
    return index._lexical


def chunk_rows(index: Index | Store) -> dict[str, tuple[str, int, int, int, str]]:
    """Committed chunks by id, as comparable tuples."""
    return {c.chunk_id: (c.doc_id, c.index, c.start, c.end, c.text) for c in index.committed_chunks()}


def vector_rows(index: Index | Store) -> dict[str, np.ndarray]:
    """The stored vector of each committed chunk, by id."""
    import numpy as np

    ids = sorted(chunk_rows(index))
    got = raw_store(index).chunks().get(ids=ids, include=["embeddings"])
    return {
        str(i): np.asarray(v, dtype=np.float64) for i, v in zip(got["ids"], got["embeddings"], strict=True)
    }


def assert_verified(answer: Answer, index: Index | Store) -> None:
    """The answer cites something, and every quote is its article's text at the citation's offsets."""
    assert answer.citations
    for citation in answer.citations:
        assert index.article_text(citation.doc_id)[citation.start : citation.end] == citation.quote


# -- a deterministic embedder ---------------------------------------------------------------------

_PIECE = re.compile(r"\w{1,6}|[^\w\s]")
"""A word piece: up to six word characters, or one other visible character."""
_WORD = re.compile(r"\w+")


class HashingEmbedder(SentenceEmbedder, WhitespaceTokenizer):
    """The embedder protocol without a model: hashed bag-of-words vectors and a regex tokenizer.

    Texts sharing words get close vectors, the same text always the same one, in any process.
    Word pieces are runs of at most six word characters or single punctuation marks, so, as
    with BERT's tokenizer, no piece spans white space and long words take several pieces.
    Sentence vectors are each sentence's own vector (a model pools them from the chunk's pass).
    """

    def __init__(self, dimensions: int = 256, max_tokens: int = 254, name: str = "hashing-bow") -> None:
        self.dimensions = dimensions
        self._max_tokens = max_tokens
        self._name = name

    @property
    def model_id(self) -> str:
        return f"{self._name}:{self.dimensions}"

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def splits_at_whitespace(self) -> bool:
        return True

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _PIECE.finditer(text)]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [sum(1 for _ in _PIECE.finditer(text)) for text in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]:
        from rag.vectors import SentenceVectors

        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} lists of spans")
        sentences = [
            SentenceVectors.from_vectors(text_spans, [self._vector(text[a:b]) for a, b in text_spans])
            for text, text_spans in zip(texts, spans, strict=True)
        ]
        return self.embed_documents(texts), sentences

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        # A text without words still gets a unit vector: a zero one has no cosine.
        for word in _WORD.findall(text.lower()) or [text]:
            digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vector[digest % self.dimensions] += 1.0 if digest >> 63 else -1.0
        norm = sum(x * x for x in vector) ** 0.5
        if not norm:  # words that cancel out
            return [1.0] + [0.0] * (self.dimensions - 1)
        return [x / norm for x in vector]
