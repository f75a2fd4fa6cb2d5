"""Hybrid retrieval: dense search in Chroma and BM25, fused by reciprocal rank."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
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


@dataclass(slots=True)
class _Candidate:
    """A chunk found by either first-stage retriever, with what the second stage ranks it by."""

    chunk: StoredChunk
    dense: float | None = None
    lexical: float | None = None
    sentence: float | None = None
    date: str = ""


class HybridRetriever(BaseRetriever):
    """Deep dense (Chroma) + BM25 candidates, reranked by reciprocal-rank fusion of several signals.

    Each first-stage retriever gives `fetch_k` candidates. The second stage ranks their union by
    the dense similarity, the BM25 score, the best-matching sentence of each chunk (the sentence
    vectors stored at ingest: late interaction at sentence level, no model call), and, among the
    most relevant candidates that share words with the question, the article's publication date
    (newer first); it sums the weighted reciprocal ranks. Near-copies of a passage already chosen
    (a wire story republished by several outlets) are left out.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="The `rag.store.Store` to search.")
    lexical: Any = Field(description="The `rag.lexical.LexicalIndex` kept in step with the store.")
    k: int = Field(5, ge=1, description="Passages returned.")
    fetch_k: int = Field(100, ge=1, description="Candidates taken from each first-stage retriever.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(0.0, ge=0, description="Weight of the ranking by each passage's vector.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking.")
    sentence_weight: float = Field(0.5, ge=0, description="Weight of the best-sentence ranking.")
    recency_weight: float = Field(0.5, ge=0, description="Weight of the newest-first ranking.")
    recency_pool: int = Field(20, ge=1, description="Most relevant candidates that recency orders.")
    duplicate_overlap: float = Field(
        0.6, gt=0, le=1, description="Share of shared word trigrams that makes a passage a near-copy."
    )
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
            sentence_weight=settings.sentence_weight,
            recency_weight=settings.recency_weight,
            recency_pool=settings.recency_pool,
            duplicate_overlap=settings.duplicate_overlap,
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
        found: dict[str, _Candidate] = {}
        unit: np.ndarray | None = None
        if self.dense_weight > 0 or self.sentence_weight > 0:
            vector = query_vector if query_vector is not None else self.store.embedder.embed_query(query)
            unit = _unit(vector)
            where = {"doc_id": {"$in": sorted(allowed)}} if allowed is not None else None
            for chunk, similarity in self.store.dense_search(vector, fetch, where):
                found[chunk.chunk_id] = _Candidate(chunk, dense=similarity)
        if self.lexical_weight > 0:
            self.lexical.sync(self.store)
            for chunk, score in self.lexical.search(query, fetch, allowed):
                found.setdefault(chunk.chunk_id, _Candidate(chunk)).lexical = score
        candidates = [c for c in found.values() if c.chunk.doc_id in records]
        for candidate in candidates:
            candidate.date = records[candidate.chunk.doc_id].date
        vectors: dict[str, SentenceVectors] = {}
        if unit is not None and self.sentence_weight > 0:
            vectors = self._sentence_vectors(candidates)
            for candidate in candidates:
                sentences = vectors.get(candidate.chunk.chunk_id)
                # A chunk from an index without sentence vectors is ranked by its own vector instead.
                candidate.sentence = (
                    float(np.max(sentences.matrix @ unit)) if sentences is not None else candidate.dense
                )
        fused = self._fuse(candidates)
        order = sorted(range(len(candidates)), key=lambda i: (-fused[i], candidates[i].chunk.chunk_id))
        best: list[int] = []
        kept: list[frozenset[tuple[str, ...]]] = []
        for i in order:
            shingles = _shingles(candidates[i].chunk.text)
            if any(_overlap(shingles, other) >= self.duplicate_overlap for other in kept):
                continue
            kept.append(shingles)
            best.append(i)
            if len(best) == k:
                break
        if not vectors:
            vectors = self._sentence_vectors([candidates[i] for i in best])
        passages = []
        for i in best:
            chunk = candidates[i].chunk
            record = records[chunk.doc_id]
            passages.append(
                Passage(
                    chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id,
                    title=record.title,
                    source=record.source,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    score=round(fused[i], 6),
                    date=record.date,
                    sentence_vectors=vectors.get(chunk.chunk_id),
                )
            )
        return passages

    def _sentence_vectors(self, candidates: Sequence[_Candidate]) -> dict[str, SentenceVectors]:
        """Decoded sentence vectors of some candidates; BM25 keeps none, so those are read in one call."""
        packed = {c.chunk.chunk_id: c.chunk.sentence_vectors for c in candidates if c.chunk.sentence_vectors}
        packed |= self.store.sentence_vectors(
            [c.chunk.chunk_id for c in candidates if not c.chunk.sentence_vectors]
        )
        decoded = {chunk_id: SentenceVectors.decode(text) for chunk_id, text in packed.items()}
        return {chunk_id: vectors for chunk_id, vectors in decoded.items() if vectors is not None}

    def _fuse(self, candidates: Sequence[_Candidate]) -> list[float]:
        """Weighted reciprocal-rank fusion of each signal's ranking of the candidates.

        Recency ranks only the `recency_pool` most relevant candidates by the other signals, so
        that it orders stories on the question's topic rather than lifting any newer article.
        """
        fused = [0.0] * len(candidates)
        for weight, values in (
            (self.dense_weight, [c.dense for c in candidates]),
            (self.lexical_weight, [c.lexical for c in candidates]),
            (self.sentence_weight, [c.sentence for c in candidates]),
        ):
            self._add_ranks(fused, weight, values)
        if self.recency_weight > 0:
            # A story on the topic shares words with the question: without them, newer is not nearer.
            matched = [
                i for i, c in enumerate(candidates) if c.lexical is not None or self.lexical_weight == 0
            ]
            relevant = sorted(matched, key=lambda i: -fused[i])[: self.recency_pool]
            # Newest first; articles of the same day share a rank.
            days = sorted({candidates[i].date[:10] for i in relevant if candidates[i].date}, reverse=True)
            age = {day: -float(rank) for rank, day in enumerate(days)}
            pool = set(relevant)
            dates = [age.get(c.date[:10]) if i in pool else None for i, c in enumerate(candidates)]
            self._add_ranks(fused, self.recency_weight, dates)
        return fused

    def _add_ranks(self, fused: list[float], weight: float, values: Sequence[float | None]) -> None:
        """Adds weight / (rrf_k + rank) for each value, largest first; equal values share a rank."""
        if weight <= 0:
            return
        ranked = sorted(
            (i for i, value in enumerate(values) if value is not None), key=lambda i: -(values[i] or 0.0)
        )
        position = 0
        previous: float | None = None
        for n, i in enumerate(ranked, start=1):
            if values[i] != previous:
                position, previous = n, values[i]
            fused[i] += weight / (self.rrf_k + position)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        passages = self.search(query, k=kwargs.get("k"), article_filter=kwargs.get("article_filter"))
        return [to_document(p) for p in passages]


def _unit(vector: Sequence[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


_WORD = re.compile(r"\w+")


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    """Word trigrams of a passage, for spotting near-copies."""
    tokens = _WORD.findall(text.casefold())
    return frozenset(zip(tokens, tokens[1:], tokens[2:], strict=False))


def _overlap(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Shared trigrams over the smaller passage's: 1.0 when one passage is contained in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def to_document(passage: Passage) -> Document:
    """A passage as a LangChain `Document` (metadata carries ids, offsets and score)."""
    metadata = passage.to_json()
    text = metadata.pop("text")
    return Document(page_content=text, id=passage.chunk_id, metadata=metadata | {"date": passage.date})
