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

__all__ = [
    "BRIDGE",
    "HARBOUR",
    "WILDFIRE",
    "WILDFIRE_EDITED",
    "WILDFIRE_REPUBLISHED",
    "WILDFIRE_REWRITTEN",
    "fact_article",
    "news_article",
    "prepare",
]


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


# -- a wire story and its relatives, for the near-copy groups ---------------------------------------

WILDFIRE = (
    "Firefighters in Glenhaven battled a fast-moving wildfire on Monday that destroyed 310 homes "
    "and forced thousands of residents to leave before the wind picked up, the county fire service said.\n\n"
    "The fire started in dry brush above the reservoir late on Sunday evening and spread downhill "
    "towards the eastern suburbs within a few hours, helped by gusts of up to 90 kilometres an hour.\n\n"
    "Crews from three neighbouring counties joined the effort overnight, and two water-bombing "
    "helicopters were flown in from the coast at first light, fire chief Henrike Solano told reporters.\n\n"
    "Evacuation centres opened at the Glenhaven high school and the old railway depot, where volunteers "
    "handed out blankets, bottled water and hot meals to families who had fled with almost nothing.\n\n"
    "Officials said it was too early to say what had caused the fire, but investigators were looking at "
    "a power line that had come down near the reservoir road shortly before the first calls came in."
)
"""A wire story of five paragraphs."""

WILDFIRE_REPUBLISHED = (
    WILDFIRE.replace("on Monday", "on Tuesday")
    .replace("thousands of residents", "hundreds of families")
    .replace("three neighbouring counties", "four nearby counties")
    + "\n\nReporting by the Valley Wire news service."
)
"""The story as another site ran it: a few words changed and a credit line (MinHash Jaccard 0.83)."""

WILDFIRE_EDITED = (
    WILDFIRE.replace("Monday", "Tuesday")
    .replace("thousands", "hundreds")
    .replace("reservoir", "dam")
    .replace("helicopters", "planes")
    .replace("blankets", "towels")
    .replace("suburbs", "districts")
    .replace("coast", "city")
)
"""The story with eight words changed across it: word 5-gram Jaccard 0.59 (MinHash estimate 0.64), so a
candidate of the LSH index at 0.7, but under the threshold."""

WILDFIRE_REWRITTEN = "\n\n".join(WILDFIRE.split("\n\n")[:3]) + (
    "\n\nSchools across the district will stay shut until Thursday, and the county has asked owners of "
    "holiday cabins in the hills not to return until the roads are declared safe by engineers.\n\n"
    "The state premier is expected to visit the burnt streets on Wednesday and to announce a relief fund "
    "for households that lost their homes, insurance brokers and the mayor's office said."
)
"""A follow-up keeping the first three paragraphs and replacing the last two (MinHash Jaccard 0.42)."""

BRIDGE = (
    "Glenhaven's council voted on Thursday to build a second bridge across the river, ending a debate "
    "that has divided the town for more than a decade and cost two mayors their seats.\n\n"
    + WILDFIRE.split("\n\n")[3]
    + "\n\nThe new bridge will cost about 48 million dollars and should open in 2028, the council said, "
    "with the state paying two thirds of the bill and tolls covering the rest for twenty years."
)
"""Another story that shares one paragraph with the wire story (MinHash Jaccard 0.05)."""

HARBOUR = (
    "Marrowby's harbour will be dredged this summer for the first time in forty years, the port authority "
    "said on Friday, after two cargo ships ran aground on the sandbar at low tide in the spring.\n\n"
    "Ottoline Varga, the new harbour master, said the work would take eleven weeks and that fishing boats "
    "would be moved to a temporary mooring on the north quay while the dredgers were at work.\n\n"
    "Local traders welcomed the decision, although some worried that the noise would keep tourists away "
    "during the busiest weeks of the year."
)
"""An unrelated story."""
