"""Helpers for the index tests: articles made up in code, prepared for a writer as ingest prepares them."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ingest.chunking import chunk_article, embed_chunks
from rag.types import Article, PreparedArticle

if TYPE_CHECKING:
    from rag.index import Index
    from rag.index.store import Store
    from tests.support import Fact

__all__ = ["fact_article", "news_article", "prepare"]


def news_article(doc_id: str, text: str, title: str = "A title") -> Article:
    return Article(
        doc_id=doc_id, title=title, text=text, source="https://news.example.org", date="2024-05-01"
    )


def fact_article(fact: Fact, number: int) -> Article:
    body = fact.article(number).split("\n\n", 1)[1]
    return news_article(fact.file_name, body, title=f"{fact.town} names a new {fact.role}")


def prepare(index: Index | Store, article: Article) -> PreparedArticle:
    """The article chunked and embedded with the index's settings and embedder, as ingest does."""
    content_hash = hashlib.sha256(article.text.encode()).hexdigest()
    chunks = chunk_article(
        article,
        index.embedder,
        max_tokens=index.settings.chunk_tokens,
        overlap_sentences=index.settings.chunk_overlap_sentences,
        content_hash=content_hash,
    )
    vectors, sentences = embed_chunks(index.embedder, chunks)
    return PreparedArticle(article, chunks, vectors, content_hash, f"file-{content_hash[:8]}", sentences)
