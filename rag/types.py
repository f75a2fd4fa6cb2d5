"""The data that flows through the assistant (articles, chunks, records, passages, answers), and
the protocols of the embedder that the index and the chunker share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.vectors import SentenceVectors

__all__ = [
    "Answer",
    "Article",
    "BatchShapes",
    "Chunk",
    "Citation",
    "DocRecord",
    "Embedder",
    "Passage",
    "PreparedArticle",
    "SentenceEmbedder",
    "ShapedEmbedder",
    "ShortAnswer",
    "WhitespaceTokenizer",
]


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned article; chunk and citation offsets index into `text`."""

    doc_id: str
    title: str
    text: str
    source: str = ""
    author: str = ""
    date: str = ""
    path: str = ""
    date_source: str = ""
    """Where the date was read: "header", "front matter", "html meta", "pdf", "url", "dateline", or ""."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of an article's text: `article.text[start:end] == text`."""

    chunk_id: str
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    sentence_vectors: str = ""
    """Encoded `rag.vectors.SentenceVectors`, on a chunk read back from the store that has them ("" otherwise)."""


@dataclass(frozen=True, slots=True)
class PreparedArticle:
    """An article ready to be written to the store: its chunks, their vectors, and the hashes its record keeps."""

    article: Article
    chunks: Sequence[Chunk]
    vectors: Sequence[Sequence[float]]
    """One vector per chunk."""
    content_hash: str
    """Hash of the cleaned text and metadata the chunks were made from; the chunk ids carry it."""
    file_hash: str
    """Hash of the file's bytes, by which an unchanged file is skipped next time."""
    sentence_vectors: Sequence[SentenceVectors | None] | None = None
    """Per chunk, the vectors of its sentences (None where there are none); None when not pooled."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its article's metadata and its fused retrieval score."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    start: int
    end: int
    score: float
    date: str = ""
    sentence_vectors: SentenceVectors | None = field(default=None, compare=False, repr=False)
    """Vectors of the chunk's sentences from ingest, if the store has them; never in the JSON."""
    also_published_by: tuple[str, ...] = ()
    """The near-copies of this passage's article ("title — source (date)"), which retrieval skips."""

    def to_json(self) -> dict[str, Any]:
        """The `passages` entry of `rag ask --json`."""
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "date": self.date,
            "also_published_by": list(self.also_published_by),
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A verified quote: `article.text[start:end] == quote`, inside passage `chunk_id`."""

    n: int
    doc_id: str
    title: str
    source: str
    chunk_id: str
    start: int
    end: int
    quote: str
    supported: bool = True


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """The direct answer: a verbatim span of an article, `article.text[start:end] == text`."""

    text: str
    doc_id: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        """The `short_answer` object of `rag ask --json`."""
        return {"text": self.text, "doc_id": self.doc_id, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the assistant says: text with `[n]` markers, the citations they point to, and why."""

    question: str
    rewritten_query: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerer: str = "extractive"
    notes: tuple[str, ...] = ()
    short_answer: ShortAnswer | None = None
    """The shortest span that answers a name/date/number/place question; None for why/how."""
    confidence: float | None = None
    """Probability (0–1) that the answer is right, from the evidence model; None if not estimated."""
    as_of: str = ""
    """The day (YYYY-MM-DD) the question was answered as of: no later article was used."""

    @property
    def related(self) -> tuple[Passage, ...]:
        """The closest passages, shown instead of citations when the assistant abstains."""
        return self.passages if self.abstained else ()

    def to_json(self) -> dict[str, Any]:
        """The object `rag ask --json` prints; a citation's `date` is its passage's article's."""
        dates = {p.chunk_id: p.date for p in self.passages}
        copies = {p.chunk_id: p.also_published_by for p in self.passages}
        return {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "answer": self.text,
            "short_answer": None if self.short_answer is None else self.short_answer.to_json(),
            "confidence": self.confidence,
            "abstained": self.abstained,
            "as_of": self.as_of,
            "citations": [
                {k: v for k, v in asdict(c).items() if k != "supported"}
                | {
                    "date": dates.get(c.chunk_id, ""),
                    "also_published_by": list(copies.get(c.chunk_id, ())),
                    "supported": c.supported,
                }
                for c in self.citations
            ],
            "passages": [p.to_json() for p in self.passages],
            "timings_ms": dict(self.timings_ms),
            "answerer": self.answerer,
            "notes": list(self.notes),
        }


class Embedder(Protocol):
    """What the store and the chunker need from an embedding model."""

    @property
    def model_id(self) -> str: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class WhitespaceTokenizer(Embedder, Protocol):
    """An embedder that can tell whether its tokenizer counts texts joined by whitespace as the
    sum of their parts (then the chunker need not count such runs again)."""

    @property
    def splits_at_whitespace(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class BatchShapes:
    """How a document encoder of fixed-shape passes would run some texts: each pass has `rows`
    texts (a short one is filled with copies of its first) of one padded length."""

    rows: int
    lengths: list[int]
    """Per text, the padded length it runs at."""


@runtime_checkable
class ShapedEmbedder(Embedder, Protocol):
    """An embedder that can say in which fixed batch shapes it would embed documents, so that a
    caller can hand it texts that fill whole batches."""

    def batch_shapes(self, texts: Sequence[str]) -> BatchShapes | None: ...


@runtime_checkable
class SentenceEmbedder(Embedder, Protocol):
    """An embedder that also pools sentence vectors out of each chunk's own pass (see `rag.vectors`)."""

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]: ...


@dataclass(frozen=True, slots=True)
class DocRecord:
    """The committed state of one article in the store."""

    doc_id: str
    title: str
    source: str
    author: str
    date: str
    path: str
    content_hash: str
    file_hash: str
    n_chunks: int
    ingested_at: float
    date_source: str = ""
    """Where `date` was read (see `Article.date_source`); "" in indexes written before it was kept."""
    duplicate_of: str = ""
    """The canonical article of this one's group of near-copies (a syndicated or republished
    story), "" when this one is canonical or has no copies. Retrieval uses canonical articles
    only; a copy of identical text has no chunks of its own (`n_chunks` 0)."""
