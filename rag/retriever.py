"""Hybrid retrieval: dense search in Chroma and BM25, fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from rag.types import Passage
from rag.vectors import SentenceVectors

if TYPE_CHECKING:
    from collections.abc import Sequence

    from langchain_core.callbacks import CallbackManagerForRetrieverRun

    from rag.lexical import LexicalIndex
    from rag.settings import Settings
    from rag.store import DocRecord, Store, StoredChunk

__all__ = ["ArticleFilter", "HybridRetriever"]


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Limits retrieval to some articles: by id, title or source, and by publication date.

    An `articles` entry that is a doc id matches that article only; any other entry matches
    titles and sources case-insensitively as a substring. Dates are ISO `YYYY-MM-DD`; with a date bound, undated articles are left out.
    """

    articles: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    def allowed(self, records: dict[str, DocRecord]) -> set[str] | None:
        """Doc ids that pass, or None when the filter lets everything through."""
        if not self.articles and not self.date_from and not self.date_to:
            return None
        allowed = set()
        exact = {a for a in self.articles if a in records}
        wanted = [a.casefold() for a in self.articles if a not in exact]
        for doc_id, record in records.items():
            if (
                self.articles
                and doc_id not in exact
                and not any(
                    w in record.title.casefold() or (record.source and w in record.source.casefold())
                    for w in wanted
                )
            ):
                continue
            if (self.date_from or self.date_to) and not record.date:
                continue
            if self.date_from and record.date[:10] < self.date_from:
                continue
            if self.date_to and record.date[:10] > self.date_to:
                continue
            allowed.add(doc_id)
        return allowed


class HybridRetriever(BaseRetriever):
    """Dense (Chroma) + BM25 retrieval fused by reciprocal-rank fusion, as a LangChain retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="The `rag.store.Store` to search.")
    lexical: Any = Field(description="The `rag.lexical.LexicalIndex` kept in step with the store.")
    k: int = Field(5, ge=1, description="Passages returned.")
    fetch_k: int = Field(30, ge=1, description="Candidates taken from each ranking before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking.")
    article_filter: ArticleFilter | None = Field(None, description="Default filter for every query.")

    @classmethod
    def from_settings(
        cls, settings: Settings, store: Store, lexical: LexicalIndex | None = None
    ) -> HybridRetriever:
        """A retriever configured by `settings`."""
        from rag.lexical import LexicalIndex

        return cls(
            store=store,
            lexical=lexical or LexicalIndex(settings.data_dir, settings.collection),
            k=settings.top_k,
            fetch_k=settings.fetch_k,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            lexical_weight=settings.lexical_weight,
        )

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        article_filter: ArticleFilter | None = None,
        query_vector: Sequence[float] | None = None,
    ) -> list[Passage]:
        """The `k` best passages for `query`, best first; `score` is the fused score."""
        k = k or self.k
        fetch = max(self.fetch_k, k)
        records = self.store.records()
        chosen_filter = article_filter or self.article_filter
        allowed = chosen_filter.allowed(records) if chosen_filter else None
        if allowed is not None and not allowed:
            return []
        ranked: dict[str, float] = {}
        chunks: dict[str, StoredChunk] = {}
        dense_scores: dict[str, float] = {}
        if self.dense_weight > 0:
            vector = query_vector if query_vector is not None else self.store.embedder.embed_query(query)
            where = {"doc_id": {"$in": sorted(allowed)}} if allowed is not None else None
            for rank, (chunk, similarity) in enumerate(
                self.store.dense_search(vector, fetch, where), start=1
            ):
                ranked[chunk.chunk_id] = ranked.get(chunk.chunk_id, 0.0) + self.dense_weight / (
                    self.rrf_k + rank
                )
                chunks[chunk.chunk_id] = chunk
                dense_scores[chunk.chunk_id] = similarity
        if self.lexical_weight > 0:
            self.lexical.sync(self.store)
            for rank, (chunk, _score) in enumerate(self.lexical.search(query, fetch, allowed), start=1):
                ranked[chunk.chunk_id] = ranked.get(chunk.chunk_id, 0.0) + self.lexical_weight / (
                    self.rrf_k + rank
                )
                chunks.setdefault(chunk.chunk_id, chunk)
        best = sorted(ranked, key=lambda cid: (-ranked[cid], cid))[:k]
        # BM25 keeps no sentence vectors: read them for the passages only it found.
        packed = {cid: chunks[cid].sentence_vectors for cid in best if chunks[cid].sentence_vectors}
        packed |= self.store.sentence_vectors([cid for cid in best if cid not in packed])
        passages = []
        for cid in best:
            chunk = chunks[cid]
            record = records.get(chunk.doc_id)
            if record is None:
                continue
            passages.append(
                Passage(
                    chunk_id=cid,
                    doc_id=chunk.doc_id,
                    title=record.title,
                    source=record.source,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=round(ranked[cid], 6),
                    date=record.date,
                    sentence_vectors=SentenceVectors.decode(packed.get(cid, "")),
                )
            )
        return passages

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        passages = self.search(query, k=kwargs.get("k"), article_filter=kwargs.get("article_filter"))
        return [to_document(p) for p in passages]


def to_document(passage: Passage) -> Document:
    """A passage as a LangChain `Document` (metadata carries ids, offsets and score)."""
    metadata = passage.to_json()
    text = metadata.pop("text")
    return Document(page_content=text, id=passage.chunk_id, metadata=metadata | {"date": passage.date})
