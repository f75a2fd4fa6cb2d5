"""Citation markers and verification: a quote reaches the user only if the article says it there."""

from __future__ import annotations

import pytest

from rag.citations import renumber, strip_markers, verify
from rag.types import Answer, Citation, Passage

pytestmark = pytest.mark.fast

TEXT = "The council met on Monday. It approved the budget of $4 million [sic]. Residents objected."
ARTICLES = {"doc": TEXT}


def _cite(n: int, quote: str, doc_id: str = "doc", shift: int = 0) -> Citation:
    start = TEXT.index(quote) + shift if quote in TEXT else 0
    return Citation(n, doc_id, "Title", "", f"{doc_id}-chunk", start, start + len(quote), quote)


def test_verify_keeps_only_quotes_found_at_their_offsets() -> None:
    good = _cite(1, "The council met on Monday.")
    moved = _cite(2, "It approved the budget", shift=1)
    invented = _cite(3, "The mayor resigned.")
    elsewhere = _cite(4, "Residents objected.", doc_id="gone")
    empty = Citation(5, "doc", "Title", "", "doc-chunk", 0, 0, "")
    past_the_end = Citation(6, "doc", "Title", "", "doc-chunk", len(TEXT) - 3, len(TEXT) + 5, "ed.")

    kept, failed = verify([good, moved, invented, elsewhere, empty, past_the_end], ARTICLES.__getitem__)

    assert kept == [good]
    assert failed == [2, 3, 4, 5, 6]


def test_renumber_follows_first_appearance_and_drops_unknown_markers() -> None:
    first, second = _cite(1, "The council met on Monday."), _cite(2, "Residents objected.")
    text = "They objected [2]. The council met [1] [9]. Again [2]."

    renumbered, citations = renumber(text, [first, second])

    assert renumbered == "They objected [1]. The council met [2]. Again [1]."
    assert [(c.n, c.quote) for c in citations] == [(1, second.quote), (2, first.quote)]


def test_renumber_leaves_citations_no_marker_points_to_out() -> None:
    text, citations = renumber("No markers here.", [_cite(1, "Residents objected.")])
    assert (text, citations) == ("No markers here.", [])


def test_strip_markers_removes_all_or_the_chosen_numbers() -> None:
    text = "Met on Monday [1]. Approved [2][3]. A bracket [sic] stays."

    assert strip_markers(text) == "Met on Monday. Approved. A bracket [sic] stays."
    assert strip_markers(text, {2}) == "Met on Monday [1]. Approved[3]. A bracket [sic] stays."


def test_citation_json_carries_its_articles_date() -> None:
    dated = Passage("doc-chunk", "doc", "Title", "", TEXT, 0, len(TEXT), 0.5, date="2025-01-15")
    undated = Passage("old-chunk", "old", "Old", "", TEXT, 0, len(TEXT), 0.4)
    answer = Answer(
        "q?",
        "q?",
        "The council met [1]. Residents objected [2].",
        False,
        citations=(_cite(1, "The council met on Monday."), _cite(2, "Residents objected.", doc_id="old")),
        passages=(dated, undated),
    )

    cited = answer.to_json()["citations"]

    assert [(c["doc_id"], c["date"]) for c in cited] == [("doc", "2025-01-15"), ("old", "")]
