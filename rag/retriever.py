"""Hybrid retrieval: dense search in Chroma and BM25, fused by reciprocal rank."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from rag.asof import article_day, is_day
from rag.errors import ConfigError
from rag.types import Passage
from rag.vectors import SentenceVectors, best_similarity

if TYPE_CHECKING:
    from collections.abc import Sequence

    from langchain_core.callbacks import CallbackManagerForRetrieverRun

    from rag.index import Index
    from rag.settings import Settings
    from rag.types import Chunk, DocRecord

__all__ = ["ArticleFilter", "HybridRetriever"]


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Limits retrieval to some articles: by id, title or source, and by publication date.

    An `articles` entry that is a doc id matches that article only; any other entry matches
    titles and sources case-insensitively as a substring. Dates are ISO `YYYY-MM-DD`. With
    `date_from`/`date_to` (a range the user picked), undated articles are left out; with
    `published_since`/`published_by` (an as-of day and the window its time words set), they
    are kept, since nothing says they fall outside.
    """

    articles: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    published_since: str | None = None
    published_by: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to", "published_since", "published_by"):
            value = getattr(self, name)
            if value is not None and not is_day(value):
                raise ConfigError(f"ArticleFilter {name}: {value!r} is not a date written YYYY-MM-DD")

    def allowed(self, records: dict[str, DocRecord]) -> set[str] | None:
        """Doc ids that pass, or None when the filter lets every article through."""
        if not (self.articles or self.date_from or self.date_to or self.published_since or self.published_by):
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
            if record.date and self.published_since and record.date[:10] < self.published_since:
                continue
            if record.date and self.published_by and record.date[:10] > self.published_by:
                continue
            allowed.add(doc_id)
        return None if len(allowed) == len(records) else allowed

    def describe(self) -> str:
        """The filter as a person set it: its articles and its date range."""
        parts = []
        if self.articles:
            parts.append("articles " + ", ".join(f"“{a}”" for a in self.articles))
        if self.date_from or self.date_to:
            parts.append(f"published {self.date_from or 'any day'} to {self.date_to or 'any day'}")
        if self.published_since or self.published_by:
            parts.append(f"published {self.published_since or 'any day'} to {self.published_by or 'any day'}")
        return "; ".join(parts) or "every article"


@dataclass(slots=True)
class _Candidate:
    """A chunk found by either first-stage retriever, with what the second stage ranks it by."""

    chunk: Chunk
    dense: float | None = None
    lexical: float | None = None
    sentence: float | None = None
    date: str = ""
    read: bool = False
    """Whether the store was already asked for this chunk's sentence vectors."""


class HybridRetriever(BaseRetriever):
    """Deep dense (Chroma) + BM25 candidates, reranked by reciprocal-rank fusion of several signals.

    Each first-stage retriever gives `fetch_k` candidates. The second stage ranks their union by
    the dense similarity, the BM25 score, the best-matching sentence of each chunk (the sentence
    vectors stored at ingest: late interaction at sentence level, no model call), and, among the
    most relevant candidates that share words with the question, the article's publication date
    (a lift that halves every `recency_half_life` days of age); it sums the weighted reciprocal
    ranks and the lift. Near-copies of a passage already chosen (a wire story republished by
    several outlets) are left out.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any = Field(description="The `rag.index.Index` to search.")
    k: int = Field(5, ge=1, description="Passages returned.")
    fetch_k: int = Field(100, ge=1, description="Candidates taken from each first-stage retriever.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(0.0, ge=0, description="Weight of the ranking by each passage's vector.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking.")
    sentence_weight: float = Field(0.5, ge=0, description="Weight of the best-sentence ranking.")
    recency_weight: float = Field(0.25, ge=0, description="Weight of the newer-article lift.")
    recency_half_life: float = Field(
        30.0, gt=0, description="Days older than the newest relevant candidate at which the lift halves."
    )
    recency_pool: int = Field(20, ge=1, description="Most relevant candidates that recency orders.")
    recency_match: float = Field(
        0.5, ge=0, le=1, description="Share of the best BM25 score a candidate needs for recency to order it."
    )
    duplicate_overlap: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Share of the smaller passage's word trigrams that, shared with a better passage of "
        "another article, makes it a near-copy.",
    )
    article_filter: ArticleFilter | None = Field(None, description="Default filter for every query.")

    @model_validator(mode="after")
    def _some_ranking(self) -> HybridRetriever:
        if self.dense_weight == 0 and self.lexical_weight == 0 and self.sentence_weight == 0:
            raise ValueError("dense_weight, lexical_weight and sentence_weight cannot all be 0")
        return self

    @classmethod
    def from_settings(cls, settings: Settings, index: Index) -> HybridRetriever:
        """A retriever of `index` configured by `settings`."""
        return cls(
            index=index,
            k=settings.top_k,
            fetch_k=settings.fetch_k,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            lexical_weight=settings.lexical_weight,
            sentence_weight=settings.sentence_weight,
            recency_weight=settings.recency_weight,
            recency_half_life=settings.recency_half_life,
            recency_pool=settings.recency_pool,
            recency_match=settings.recency_match,
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
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        k = k or self.k
        fetch = max(self.fetch_k, k)
        records = self.index.records()
        chosen_filter = article_filter or self.article_filter
        allowed = chosen_filter.allowed(records) if chosen_filter else None
        if allowed is not None and not allowed:
            return []
        found: dict[str, _Candidate] = {}
        unit: np.ndarray | None = None
        if self.dense_weight > 0 or self.sentence_weight > 0:
            vector = query_vector if query_vector is not None else self.index.embedder.embed_query(query)
            unit = _unit(vector)
            # Chroma filters a long `$in` list slowly (an as-of day that leaves out a few articles
            # doubled the latency): a filter letting most articles through is applied afterwards.
            narrow = allowed is not None and len(allowed) <= len(records) // 2
            where = {"doc_id": {"$in": sorted(allowed)}} if narrow and allowed is not None else None
            for chunk, similarity in self.index.dense_search(vector, fetch, where):
                if allowed is None or chunk.doc_id in allowed:
                    found[chunk.chunk_id] = _Candidate(chunk, dense=similarity)
        if self.lexical_weight > 0 or self.recency_weight > 0:
            # BM25 also tells the recency ranking which candidates share a word with the question.
            for chunk, score in self.index.lexical_search(query, fetch, allowed):
                found.setdefault(chunk.chunk_id, _Candidate(chunk)).lexical = score
        groups = _Groups.of({c.chunk.doc_id for c in found.values()}, records, allowed)
        candidates = [c for c in found.values() if groups.speaks_for(c.chunk.doc_id)]
        for candidate in candidates:
            candidate.date = records[candidate.chunk.doc_id].date
        if unit is not None and self.sentence_weight > 0:
            self._score_sentences(candidates, unit)
        fused = self._fuse(candidates)
        order = sorted(range(len(candidates)), key=lambda i: (-fused[i], candidates[i].chunk.chunk_id))
        best = self._without_copies([(candidates[i], fused[i]) for i in order], k)
        packed = {c.chunk.chunk_id: c.chunk.sentence_vectors for c, _ in best if c.chunk.sentence_vectors}
        unread = [c.chunk.chunk_id for c, _ in best if c.chunk.chunk_id not in packed and not c.read]
        packed |= self.index.sentence_vectors(unread) if unread else {}
        passages = []
        for candidate, score in best:
            chunk = candidate.chunk
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
                    score=round(score, 6),
                    date=record.date,
                    sentence_vectors=SentenceVectors.decode(packed.get(chunk.chunk_id, "")),
                    also_published_by=groups.others(chunk.doc_id),
                )
            )
        return passages

    def _score_sentences(self, candidates: Sequence[_Candidate], unit: np.ndarray) -> None:
        """Sets each candidate's best-sentence cosine.

        BM25 keeps no sentence vectors, so those are read in one call. A chunk without any (from
        an index of an older version) is ranked by its own vector if the dense search found it.
        """
        missing = [c for c in candidates if not c.chunk.sentence_vectors]
        read = self.index.sentence_vectors([c.chunk.chunk_id for c in missing]) if missing else {}
        for candidate in missing:
            candidate.read = True
            encoded = read.get(candidate.chunk.chunk_id)
            if encoded:
                candidate.chunk = dataclasses.replace(candidate.chunk, sentence_vectors=encoded)
        for candidate in candidates:
            best = best_similarity(candidate.chunk.sentence_vectors, unit)
            candidate.sentence = best if best is not None else candidate.dense

    def _without_copies(
        self, ranked: Sequence[tuple[_Candidate, float]], k: int
    ) -> list[tuple[_Candidate, float]]:
        """The first `k` candidates that are not near-copies of a better one from another article.

        Chunks of one article overlap by design (`chunk_overlap_sentences`), so only other
        articles are compared. Exact sets of word trigrams are cheap at a few hundred candidates;
        finding copies across a whole archive at ingest would want MinHash instead.
        """
        kept: list[tuple[str, frozenset[tuple[str, ...]]]] = []
        best: list[tuple[_Candidate, float]] = []
        for candidate, score in ranked:
            shingles = _shingles(candidate.chunk.text)
            doc_id = candidate.chunk.doc_id
            if any(
                other_doc != doc_id and _overlap(shingles, other) >= self.duplicate_overlap
                for other_doc, other in kept
            ):
                continue
            kept.append((doc_id, shingles))
            best.append((candidate, score))
            if len(best) == k:
                break
        return best

    def _fuse(self, candidates: Sequence[_Candidate]) -> list[float]:
        """Weighted reciprocal-rank fusion of each signal's ranking of the candidates.

        Recency lifts only the `recency_pool` most relevant candidates by the other signals, so
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
            self._add_recency(fused, candidates)
        return fused

    def _add_recency(self, fused: list[float], candidates: Sequence[_Candidate]) -> None:
        """Lifts the `recency_pool` most relevant candidates that match the question's words about
        as well as the best match does (`recency_match` of its BM25 score), by their age.

        Newer is nearer only among stories on the question's topic. The newest of them gets what
        a first rank gets, and the lift halves every `recency_half_life` days older: a story a day
        older keeps nearly all of it, one from years before keeps none (a rank would give both the
        same step). An undated article in the pool gets the median lift: its age is unknown, not old.
        """
        best = max((c.lexical for c in candidates if c.lexical is not None), default=0.0)
        matched = [
            i
            for i, c in enumerate(candidates)
            if c.lexical is not None and c.lexical >= self.recency_match * best
        ]
        relevant = sorted(matched, key=lambda i: (-fused[i], candidates[i].chunk.chunk_id))[
            : self.recency_pool
        ]
        days = {i: day for i in relevant if (day := article_day(candidates[i].date)) is not None}
        if len(set(days.values())) < 2:
            return
        newest = max(days.values())
        lifts = {i: 0.5 ** ((newest - day).days / self.recency_half_life) for i, day in days.items()}
        unknown = float(np.median(list(lifts.values())))
        for i in relevant:
            fused[i] += self.recency_weight * lifts.get(i, unknown) / (self.rrf_k + 1)

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


@dataclass(frozen=True, slots=True)
class _Groups:
    """The groups of near-copies that some candidates belong to, as a filter sees them: each
    group's voice is its article, or, when the filter leaves that out, its newest member let through."""

    members: dict[str, list[DocRecord]]
    """Each group's members that the filter lets through, its voice first, by group."""
    group: dict[str, str]
    """Each candidate article's group."""

    @classmethod
    def of(cls, doc_ids: set[str], records: dict[str, DocRecord], allowed: set[str] | None) -> _Groups:
        def group_of(record: DocRecord) -> str:
            # A copy whose group's article is not (or no longer) committed stands for itself.
            return record.duplicate_of if record.duplicate_of in records else record.doc_id

        group = {d: group_of(records[d]) for d in doc_ids if d in records}
        wanted = set(group.values())
        members: dict[str, list[DocRecord]] = {}
        for record in records.values():
            key = group_of(record)
            if key in wanted and (allowed is None or record.doc_id in allowed):
                members.setdefault(key, []).append(record)
        for key, found in members.items():
            found.sort(key=lambda r: (r.ingested_at, r.doc_id))
            found.sort(key=lambda r: r.date[:10], reverse=True)  # newest first; stable within a day
            found.sort(key=lambda r: r.doc_id != key)  # the group's article first, when let through
        return cls(members, group)

    def speaks_for(self, doc_id: str) -> bool:
        """Whether this article is its group's voice (the one retrieval uses)."""
        found = self.members.get(self.group.get(doc_id, ""), [])
        return bool(found) and found[0].doc_id == doc_id

    def others(self, doc_id: str) -> tuple[str, ...]:
        """The group's other members let through, as "title — source (date)", oldest first."""
        others = [r for r in self.members.get(self.group.get(doc_id, ""), []) if r.doc_id != doc_id]
        return tuple(
            " — ".join(part for part in (r.title, r.source) if part) + (f" ({r.date[:10]})" if r.date else "")
            for r in sorted(others, key=lambda r: (r.date, r.doc_id))
        )


def _unit(vector: Sequence[float]) -> np.ndarray:
    """The query vector scaled to length 1 (as float32, the stored vectors' type)."""
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
