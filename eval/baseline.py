"""Peer systems scored beside the assistant on the same articles and questions.

The ``naive`` peer is the textbook LangChain pipeline: ``RecursiveCharacterTextSplitter``
(1000 characters, 200 overlap), the assistant's embedding model, ``Chroma.from_documents`` and
dense top-4 search; its answer is the top passage's text. It never abstains and never cites.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.embeddings import Embeddings

from rag.errors import BackendUnavailableError, ConfigError
from rag.types import Answer, Article, Passage

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from langchain_chroma import Chroma

    from rag.index import Index
    from rag.types import Embedder

__all__ = [
    "BASELINES",
    "Baseline",
    "NaiveBaseline",
    "available_baselines",
    "make_baseline",
    "register_baseline",
    "store_articles",
]


class Baseline(Protocol):
    """A peer system: answers a question as an `Answer`, and says how it was built."""

    name: str

    def ask(self, question: str) -> Answer:
        """The peer's answer to `question`."""
        ...

    def config(self) -> dict[str, Any]:
        """How the peer was built, for the eval report."""
        ...


BaselineFactory = Callable[["Sequence[Article]", "Embedder", "Path"], Baseline]

BASELINES: dict[str, BaselineFactory] = {}
"""Baseline factories by name: (articles, embedder, scratch folder) -> `Baseline`."""


def register_baseline(name: str) -> Callable[[BaselineFactory], BaselineFactory]:
    """Registers a baseline factory under `name` (the built-in `naive` uses this too)."""

    def wrap(factory: BaselineFactory) -> BaselineFactory:
        BASELINES[name] = factory
        return factory

    return wrap


def available_baselines() -> list[str]:
    """Registered baseline names."""
    return list(BASELINES)


def make_baseline(name: str, articles: Sequence[Article], embedder: Embedder, directory: Path) -> Baseline:
    """The baseline `name`, built over `articles` with its files in `directory`."""
    if name not in BASELINES:
        raise ConfigError(f"--baseline: unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return BASELINES[name](articles, embedder, directory)


def store_articles(index: Index) -> list[Article]:
    """The committed articles of `index` (cleaned text and metadata), by doc id."""
    records = index.records()
    return [
        Article(
            doc_id=doc_id,
            title=record.title,
            text=index.article_text(doc_id),
            source=record.source,
            author=record.author,
            date=record.date,
            path=record.path,
        )
        for doc_id, record in sorted(records.items())
    ]


class _AsEmbeddings(Embeddings):
    """Any `Embedder` as a LangChain `Embeddings`."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text)


def _as_embeddings(embedder: Embedder) -> Embeddings:
    return embedder if isinstance(embedder, Embeddings) else _AsEmbeddings(embedder)


class NaiveBaseline:
    """Dense top-k over fixed-size character chunks; the answer is the top passage."""

    name = "naive"
    chunk_size = 1000
    chunk_overlap = 200

    def __init__(self, vectorstore: Chroma, *, k: int = 4, chunks: int = 0) -> None:
        self.vectorstore = vectorstore
        self.k = k
        self.chunks = chunks

    @classmethod
    def build(
        cls, articles: Sequence[Article], embedder: Embedder, directory: Path, *, k: int = 4
    ) -> NaiveBaseline:
        """Splits, embeds and stores `articles` in a new Chroma store in `directory`."""
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
            from langchain_chroma import Chroma
            from langchain_core.documents import Document
            from langchain_text_splitters import RecursiveCharacterTextSplitter
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the naive baseline needs {exc.name}: pip install langchain-text-splitters langchain-chroma"
            ) from None

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=cls.chunk_size, chunk_overlap=cls.chunk_overlap, add_start_index=True
        )
        documents = splitter.split_documents(
            [
                Document(
                    page_content=article.text,
                    metadata={"doc_id": article.doc_id, "title": article.title, "source": article.source},
                )
                for article in articles
                if article.text.strip()
            ]
        )
        counters: dict[str, int] = {}
        ids = []
        for document in documents:
            doc_id = document.metadata["doc_id"]
            counters[doc_id] = counters.get(doc_id, -1) + 1
            ids.append(f"naive:{doc_id}:{counters[doc_id]:05d}")
        directory.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(directory), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        vectorstore = Chroma.from_documents(
            documents, embedding=_as_embeddings(embedder), ids=ids, client=client, collection_name=cls.name
        )
        return cls(vectorstore, k=k, chunks=len(documents))

    def ask(self, question: str) -> Answer:
        """The top passage as the answer, with the top-k passages; never abstains, never cites."""
        started = time.perf_counter()
        hits = self.vectorstore.similarity_search_with_score(question, k=self.k)
        passages = []
        for document, distance in hits:
            metadata = document.metadata
            start = int(metadata.get("start_index", 0))
            passages.append(
                Passage(
                    chunk_id=str(document.id or ""),
                    doc_id=str(metadata.get("doc_id", "")),
                    title=str(metadata.get("title", "")),
                    source=str(metadata.get("source", "")),
                    text=document.page_content,
                    start=start,
                    end=start + len(document.page_content),
                    # Chroma's default space is squared L2; for unit vectors 1 - d/2 is the cosine.
                    score=round(1.0 - float(distance) / 2.0, 6),
                )
            )
        text = passages[0].text if passages else ""
        total = round((time.perf_counter() - started) * 1000, 2)
        return Answer(
            question=question,
            rewritten_query=question,
            text=text,
            abstained=False,
            passages=tuple(passages),
            timings_ms={"retrieve": total, "answer": 0.0, "total": total},
            answerer=self.name,
        )

    def config(self) -> dict[str, Any]:
        """Splitter, retrieval depth and chunk count."""
        return {
            "splitter": "RecursiveCharacterTextSplitter",
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "k": self.k,
            "chunks": self.chunks,
            "answer": "top passage",
        }


@register_baseline("naive")
def _naive(articles: Sequence[Article], embedder: Embedder, directory: Path) -> Baseline:
    return NaiveBaseline.build(articles, embedder, directory)
