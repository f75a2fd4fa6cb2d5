"""A figure that changed: when quotes from articles of different dates give different answers, the
newest comes first (with the short answer), and the older ones are named with their dates."""

from __future__ import annotations

import pytest

from rag.answering import AnswerRequest, Draft, ExtractiveAnswerer
from rag.citations import verify
from rag.types import Passage
from tests.support import HashingEmbedder

pytestmark = pytest.mark.fast

EMBEDDER = HashingEmbedder()
QUESTION = "How many homes did the Glenhaven wildfires burn?"
OLD = (
    "old.txt",
    "The Glenhaven wildfires burned 40 homes, the county fire service said on Tuesday.",
    "2020-09-08",
)
NEW = (
    "new.txt",
    "The Glenhaven wildfires have burned 310 homes, the county fire service said on Monday.",
    "2025-01-13",
)
SAME = (
    "same.txt",
    "The Glenhaven wildfires have burned 40 homes, the county fire service said on Monday.",
    "2025-01-13",
)
COUNTS_ELSE = (
    "families.txt",
    "A year after the Glenhaven wildfires burned homes, 12 families still live in trailers, "
    "the county fire service said on Monday.",
    "2021-09-08",
)
OTHER = (
    "other.txt",
    "Rebuilding in Glenhaven will take years, the mayor said of the wildfires.",
    "2025-01-14",
)
TEXTS = {doc_id: text for doc_id, text, _date in (OLD, NEW, SAME, COUNTS_ELSE, OTHER)}


def _answer(*articles: tuple[str, str, str], dated: bool = True) -> Draft:
    """Each article one passage, in the given order of retrieval."""
    passages = [
        Passage(f"{doc_id}-0", doc_id, doc_id, "", text, 0, len(text), 1.0 / rank, date=date if dated else "")
        for rank, (doc_id, text, date) in enumerate(articles, start=1)
    ]
    draft = ExtractiveAnswerer().answer(
        AnswerRequest(QUESTION, passages, query_vector=EMBEDDER.embed_query(QUESTION), embedder=EMBEDDER)
    )
    kept, failed = verify(draft.citations, TEXTS.__getitem__)
    assert not failed and kept == list(draft.citations)
    short = draft.short_answer
    assert short is not None and TEXTS[short.doc_id][short.start : short.end] == short.text
    assert any(
        c.doc_id == short.doc_id and c.start <= short.start < short.end <= c.end for c in draft.citations
    )
    return draft


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_the_newest_figure_comes_first_and_the_older_is_dated(order: str) -> None:
    draft = _answer(*((OLD, NEW, OTHER) if order == "old-first" else (NEW, OLD, OTHER)))

    assert draft.short_answer is not None and draft.short_answer.text == "310"
    assert [c.doc_id for c in draft.citations] == ["new.txt", "old.txt"]
    assert draft.text == f"310 — {TEXTS['new.txt']} [1] Earlier (8 Sep 2020): {TEXTS['old.txt']} [2]"


def test_undated_articles_keep_the_order_of_relevance() -> None:
    draft = _answer(OLD, NEW, OTHER, dated=False)

    assert draft.short_answer is not None and draft.short_answer.text == "40"
    assert [c.doc_id for c in draft.citations] == ["old.txt", "new.txt"]
    assert "Earlier" not in draft.text


@pytest.mark.parametrize("order", ["old-first", "same-first"])
def test_a_newer_article_giving_the_same_figure_is_quoted_for_it(order: str) -> None:
    draft = _answer(*((OLD, SAME, OTHER) if order == "old-first" else (SAME, OLD, OTHER)))

    # The figure is the same; of the articles that give it, the span model prefers the newest.
    assert draft.short_answer is not None and draft.short_answer.text == "40"
    assert draft.short_answer.doc_id == draft.citations[0].doc_id == "same.txt"
    assert draft.text == f"40 — {TEXTS['same.txt']} [1] Earlier (8 Sep 2020): {TEXTS['old.txt']} [2]"


def test_a_newer_number_that_counts_something_else_changes_nothing() -> None:
    draft = _answer(OLD, COUNTS_ELSE, OTHER)

    assert draft.short_answer is not None and draft.short_answer.text == "40"
    assert draft.citations[0].doc_id == "old.txt"
