"""Near-copies: a republished story joins the group of the article it copies (a later-dated version
takes the group's place), retrieval uses one article per group and names the others, and deleting
or rewriting the group's article hands the story to its newest copy."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from rag.assistant import Assistant
from rag.index import Index
from rag.retriever import ArticleFilter, HybridRetriever
from rag.types import Article
from tests.rag.rag_support import (
    BRIDGE,
    HARBOUR,
    WILDFIRE,
    WILDFIRE_EDITED,
    WILDFIRE_REPUBLISHED,
    WILDFIRE_REWRITTEN,
    prepare,
)
from tests.support import assert_verified, chunk_rows, raw_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rag.settings import Settings
    from rag.types import Answer, Passage
    from tests.support import HashingEmbedder

pytestmark = pytest.mark.fast

QUESTION = "How many homes did the Glenhaven wildfire destroy?"

WIRE = Article(
    doc_id="wire.txt",
    title="Wildfire destroys 310 homes in Glenhaven",
    text=WILDFIRE,
    source="https://wire.example.com/2025/01/13/glenhaven-fire",
    date="2025-01-13",
)
PAPER = Article(
    doc_id="paper.txt",
    title="Glenhaven fire: hundreds flee as homes burn",
    text=WILDFIRE_REPUBLISHED,
    source="https://valley-times.example.org/news/glenhaven-fire",
    date="2025-01-12",
)
"""The wire story as a paper ran it, dated a day earlier (a time zone, a late wire)."""
AGENCY = Article(
    doc_id="agency.txt",
    title="310 homes lost in Glenhaven blaze",
    text=WILDFIRE.replace("fire chief Henrike Solano", "chief fire officer Henrike Solano")
    + "\n\nAdditional reporting by agencies.",
    source="https://agency.example.net/glenhaven",
    date="2025-01-13",
)
MIRROR = Article(
    doc_id="mirror.txt",
    title="Glenhaven wildfire (syndicated)",
    text=WILDFIRE,
    source="https://mirror.example.com/glenhaven",
    date="2025-01-13",
)
"""The wire story's very text under another name."""
NEWER = dataclasses.replace(
    PAPER, doc_id="paper-update.txt", title="Glenhaven fire: update", date="2025-01-14"
)
"""The republished story, a day later."""
FOLLOW_UP = Article(
    doc_id="follow-up.txt", title="Glenhaven schools stay shut", text=WILDFIRE_REWRITTEN, date="2025-01-13"
)
COUNCIL = Article(doc_id="bridge.txt", title="Glenhaven votes for a second bridge", text=BRIDGE)
DREDGING = Article(doc_id="harbour.txt", title="Marrowby harbour to be dredged", text=HARBOUR)


@pytest.fixture
def make_index(
    settings: Settings, hashing_embedder: HashingEmbedder, memory_client: Any
) -> Iterator[Callable[..., Index]]:
    """Indexes in memory with some settings changed, each in collections of its own; dropped afterwards."""
    made: list[Index] = []

    def make(**values: Any) -> Index:
        own = settings.model_copy(update={"collection": f"t-{uuid.uuid4().hex[:16]}", **values})
        made.append(Index(own, hashing_embedder, client=memory_client))
        return made[-1]

    yield make
    for index in made:
        raw_store(index).reset()


def _put(index: Index, *articles: Article) -> None:
    """Each article in a block of its own, in order, prepared as ingest prepares it."""
    for article in articles:
        with index.writer() as writer:
            writer.put([prepare(index, article)])


def _delete(index: Index, *doc_ids: str) -> None:
    for doc_id in doc_ids:
        with index.writer() as writer:
            writer.delete(doc_id)


def _groups(index: Index) -> dict[str, str]:
    """Each committed article's group article ("" for the group's own article, or one alone)."""
    return {doc_id: r.duplicate_of for doc_id, r in index.records().items()}


def _search(index: Index, query: str = QUESTION, **kwargs: Any) -> list[Passage]:
    # The passage-level copy check at its strictest, so that only the groups keep copies out.
    retriever = HybridRetriever.from_settings(index.settings, index).model_copy(
        update={"duplicate_overlap": 1.0}
    )
    return retriever.search(query, k=10, **kwargs)


def _ask(index: Index, embedder: HashingEmbedder) -> Answer:
    return Assistant(index.settings, embedder=embedder, index=index).ask(QUESTION)


def _also(article: Article) -> str:
    """How a passage names a copy of its article."""
    return f"{article.title} — {article.source} ({article.date})"


def _copy_counts(index: Index) -> tuple[int, int]:
    stats = index.stats()
    return stats["copies"], stats["copy_groups"]


def _assert_answered_from(index: Index, embedder: HashingEmbedder, doc_id: str) -> None:
    answer = _ask(index, embedder)
    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == "310"
    assert {c.doc_id for c in answer.citations} == {doc_id}
    assert_verified(answer, index)


# -- grouping -----------------------------------------------------------------------------------


@pytest.mark.parametrize("one_block", [False, True], ids=["later", "same-block"])
def test_a_republished_story_joins_the_group_of_the_one_it_copies(
    memory_index: Index, one_block: bool
) -> None:
    if one_block:
        with memory_index.writer() as writer:
            written = writer.put([prepare(memory_index, WIRE), prepare(memory_index, PAPER)])
    else:
        _put(memory_index, WIRE, PAPER)
        written = list(memory_index.records().values())

    assert _groups(memory_index) == {"wire.txt": "", "paper.txt": "wire.txt"}
    assert {r.doc_id: r.duplicate_of for r in written} == _groups(memory_index)
    # Every member keeps chunks of its own text.
    assert all(r.n_chunks > 0 for r in memory_index.records().values())
    assert {row[0] for row in chunk_rows(memory_index).values()} == {"wire.txt", "paper.txt"}


def test_unrelated_stories_and_one_sharing_a_paragraph_stay_apart(memory_index: Index) -> None:
    _put(memory_index, WIRE, COUNCIL, DREDGING, FOLLOW_UP)

    assert _groups(memory_index) == dict.fromkeys(
        ("wire.txt", "bridge.txt", "harbour.txt", "follow-up.txt"), ""
    )
    assert _copy_counts(memory_index) == (0, 0)


def test_the_copy_similarity_setting_decides(make_index: Callable[..., Index]) -> None:
    loose, strict = make_index(copy_similarity=0.3), make_index(copy_similarity=0.95)
    for index in (loose, strict):
        _put(index, WIRE, PAPER, FOLLOW_UP, DREDGING)

    # The follow-up shares three of five paragraphs: a copy only for a loose threshold.
    assert _groups(loose) == {
        "wire.txt": "",
        "paper.txt": "wire.txt",
        "follow-up.txt": "wire.txt",
        "harbour.txt": "",
    }
    # The republished story changed a few words: not a copy for a strict one.
    assert _groups(strict) == dict.fromkeys(("wire.txt", "paper.txt", "follow-up.txt", "harbour.txt"), "")


def test_an_edit_just_under_the_threshold_stays_apart(
    memory_index: Index, make_index: Callable[..., Index]
) -> None:
    edited = Article(doc_id="edited.txt", title="Glenhaven fire", text=WILDFIRE_EDITED, date=WIRE.date)
    looser = make_index(copy_similarity=0.6)
    for index in (memory_index, looser):
        _put(index, WIRE, edited)

    assert _groups(memory_index) == {"wire.txt": "", "edited.txt": ""}
    assert _groups(looser) == {"wire.txt": "", "edited.txt": "wire.txt"}


def test_copies_of_one_story_form_one_group(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY, MIRROR)

    assert _groups(memory_index) == {
        "wire.txt": "",
        "paper.txt": "wire.txt",
        "agency.txt": "wire.txt",
        "mirror.txt": "wire.txt",
    }
    assert _copy_counts(memory_index) == (3, 1)


def test_a_newer_version_takes_the_groups_place_with_its_copies(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, MIRROR, DREDGING)

    _put(memory_index, NEWER)

    assert _groups(memory_index) == {
        "wire.txt": NEWER.doc_id,
        "paper.txt": NEWER.doc_id,
        "mirror.txt": NEWER.doc_id,
        "paper-update.txt": "",
        "harbour.txt": "",
    }
    assert _copy_counts(memory_index) == (3, 1)
    passages = _search(memory_index)
    assert passages[0].doc_id == NEWER.doc_id
    assert passages[0].also_published_by == (_also(PAPER), _also(MIRROR), _also(WIRE))
    assert {p.doc_id for p in passages} <= {NEWER.doc_id, DREDGING.doc_id}


def test_an_older_or_same_day_version_put_later_is_a_copy(memory_index: Index) -> None:
    _put(memory_index, NEWER, WIRE, dataclasses.replace(AGENCY, date=NEWER.date))

    assert _groups(memory_index) == {NEWER.doc_id: "", "wire.txt": NEWER.doc_id, "agency.txt": NEWER.doc_id}


def test_putting_the_articles_again_keeps_their_groups(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY)
    groups = _groups(memory_index)

    _put(memory_index, WIRE, PAPER, AGENCY)

    assert _groups(memory_index) == groups


def test_the_groups_are_read_back_by_another_index_on_the_same_store(
    memory_index: Index, hashing_embedder: HashingEmbedder, memory_client: Any
) -> None:
    _put(memory_index, WIRE)
    other = Index(memory_index.settings, hashing_embedder, client=memory_client)

    _put(other, PAPER)

    assert _groups(other) == {"wire.txt": "", "paper.txt": "wire.txt"}


def test_an_article_deleted_by_another_index_is_no_longer_a_candidate(
    memory_index: Index, hashing_embedder: HashingEmbedder, memory_client: Any
) -> None:
    _put(memory_index, WIRE)  # this index now holds the groups in memory
    other = Index(memory_index.settings, hashing_embedder, client=memory_client)
    _delete(other, WIRE.doc_id)

    _put(memory_index, PAPER)

    assert _groups(memory_index) == {"paper.txt": ""}


# -- retrieval ----------------------------------------------------------------------------------


def test_retrieval_uses_one_article_per_group_and_names_the_others(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY, DREDGING)

    passages = _search(memory_index)

    assert passages and passages[0].doc_id == WIRE.doc_id
    assert {p.doc_id for p in passages} <= {WIRE.doc_id, DREDGING.doc_id}
    for passage in passages:
        if passage.doc_id == WIRE.doc_id:
            assert passage.also_published_by == (_also(PAPER), _also(AGENCY))  # the oldest first
            assert passage.to_json()["also_published_by"] == [_also(PAPER), _also(AGENCY)]
        else:
            assert passage.also_published_by == ()


def test_a_filter_leaving_the_groups_article_out_finds_a_copy(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER)

    passages = _search(memory_index, article_filter=ArticleFilter(articles=(PAPER.doc_id,)))

    assert passages and {p.doc_id for p in passages} == {PAPER.doc_id}
    assert all(p.also_published_by == () for p in passages)


def test_the_assistant_answers_from_one_member_and_lists_the_others(
    memory_index: Index, hashing_embedder: HashingEmbedder
) -> None:
    _put(memory_index, WIRE, PAPER, MIRROR, DREDGING)

    answer = _ask(memory_index, hashing_embedder)

    _assert_answered_from(memory_index, hashing_embedder, WIRE.doc_id)
    assert {p.doc_id for p in answer.passages} <= {WIRE.doc_id, DREDGING.doc_id}
    assert answer.passages[0].also_published_by == (_also(PAPER), _also(MIRROR))


# -- the group's article deleted or rewritten ----------------------------------------------------


def test_deleting_the_groups_article_promotes_the_newest_copy(
    memory_index: Index, hashing_embedder: HashingEmbedder
) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY, DREDGING)
    agency_chunks = {k: v for k, v in chunk_rows(memory_index).items() if v[0] == AGENCY.doc_id}

    _delete(memory_index, WIRE.doc_id)

    assert _groups(memory_index) == {"paper.txt": "agency.txt", "agency.txt": "", "harbour.txt": ""}
    assert {k: v for k, v in chunk_rows(memory_index).items() if v[0] == AGENCY.doc_id} == agency_chunks
    assert _copy_counts(memory_index) == (1, 1)
    passages = _search(memory_index)
    assert passages[0].doc_id == AGENCY.doc_id
    assert passages[0].also_published_by == (_also(PAPER),)
    assert {p.doc_id for p in passages} <= {AGENCY.doc_id, DREDGING.doc_id}
    assert {c.doc_id for c, _ in memory_index.lexical_search("reservoir", 10)} >= {AGENCY.doc_id}
    _assert_answered_from(memory_index, hashing_embedder, AGENCY.doc_id)
    # The promoted article is a candidate now: an older version put later joins it.
    _put(memory_index, dataclasses.replace(WIRE, date="2025-01-10"))
    assert _groups(memory_index)["wire.txt"] == "agency.txt"


def test_deleting_the_groups_article_promotes_the_newest_copy_not_the_first_ingested(
    memory_index: Index,
) -> None:
    _put(memory_index, PAPER, WIRE, NEWER)  # published 12, 13 and 14 January
    assert _groups(memory_index) == {"paper.txt": NEWER.doc_id, "wire.txt": NEWER.doc_id, NEWER.doc_id: ""}

    _delete(memory_index, NEWER.doc_id)

    assert _groups(memory_index) == {"paper.txt": "wire.txt", "wire.txt": ""}


def test_deleting_an_identical_copys_original_keeps_the_story_answerable(
    memory_index: Index, hashing_embedder: HashingEmbedder
) -> None:
    _put(memory_index, WIRE, MIRROR)

    _delete(memory_index, WIRE.doc_id)

    assert _groups(memory_index) == {"mirror.txt": ""}
    assert {c.doc_id for c, _ in memory_index.lexical_search("reservoir", 10)} == {MIRROR.doc_id}
    _assert_answered_from(memory_index, hashing_embedder, MIRROR.doc_id)


def test_deleting_a_copy_leaves_the_group_as_it_was(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY)

    _delete(memory_index, PAPER.doc_id)

    assert _groups(memory_index) == {"wire.txt": "", "agency.txt": "wire.txt"}
    assert _search(memory_index)[0].also_published_by == (_also(AGENCY),)


def test_deleting_every_member_in_one_block_leaves_nothing(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, MIRROR)

    with memory_index.writer() as writer:
        for doc_id in (WIRE.doc_id, PAPER.doc_id, MIRROR.doc_id):
            writer.delete(doc_id)

    assert memory_index.records() == {}
    assert int(raw_store(memory_index).chunks().count()) == 0
    assert _copy_counts(memory_index) == (0, 0)


def test_a_groups_article_rewritten_to_another_story_hands_the_story_to_its_newest_copy(
    memory_index: Index, hashing_embedder: HashingEmbedder
) -> None:
    _put(memory_index, WIRE, PAPER, AGENCY)

    _put(memory_index, Article(doc_id=WIRE.doc_id, title="Marrowby dredging", text=HARBOUR))

    assert _groups(memory_index) == {"wire.txt": "", "agency.txt": "", "paper.txt": "agency.txt"}
    assert _search(memory_index)[0].doc_id == AGENCY.doc_id
    _assert_answered_from(memory_index, hashing_embedder, AGENCY.doc_id)


def test_a_groups_article_rewritten_as_a_copy_of_another_story_leaves_its_own_story_behind(
    memory_index: Index,
) -> None:
    _put(memory_index, DREDGING, WIRE, PAPER)

    _put(memory_index, Article(doc_id=WIRE.doc_id, title=WIRE.title, text=HARBOUR + " Updated."))

    assert _groups(memory_index) == {"harbour.txt": "", "wire.txt": "harbour.txt", "paper.txt": ""}


def test_a_corrected_groups_article_keeps_one_group(memory_index: Index) -> None:
    older_agency = dataclasses.replace(AGENCY, date=PAPER.date)
    _put(memory_index, WIRE, PAPER, older_agency)  # both copies older than the wire story

    corrected = dataclasses.replace(WIRE, text=WILDFIRE.replace("310 homes", "312 homes"))
    _put(memory_index, corrected)

    assert _groups(memory_index) == {"wire.txt": "", "paper.txt": "wire.txt", "agency.txt": "wire.txt"}
    assert _copy_counts(memory_index) == (2, 1)
    assert set(_search(memory_index)[0].also_published_by) == {_also(PAPER), _also(older_agency)}


def test_an_as_of_day_before_the_groups_article_still_gives_the_story_once(memory_index: Index) -> None:
    _put(memory_index, WIRE, PAPER, NEWER)  # published 13, 12 and 14 January; the newest is the group's

    passages = _search(memory_index, article_filter=ArticleFilter(published_by="2025-01-13"))

    assert {p.doc_id for p in passages} == {WIRE.doc_id}  # the newest version as of that day
    assert passages[0].also_published_by == (_also(PAPER),)


def test_an_answer_as_of_a_day_before_the_groups_article_lists_the_other_copies(
    memory_index: Index, hashing_embedder: HashingEmbedder
) -> None:
    _put(memory_index, WIRE, PAPER, NEWER)

    answer = Assistant(memory_index.settings, embedder=hashing_embedder, index=memory_index).ask(
        QUESTION, as_of="2025-01-13"
    )

    assert {c.doc_id for c in answer.citations} == {WIRE.doc_id}
    assert answer.passages[0].also_published_by == (_also(PAPER),)


def test_as_of_a_day_before_the_groups_article_the_newest_copy_published_by_then_speaks(
    memory_index: Index,
) -> None:
    _put(memory_index, PAPER, WIRE, NEWER)  # published 12, 13 and 14 January, ingested in this order

    passages = _search(memory_index, article_filter=ArticleFilter(published_by="2025-01-13"))

    assert {p.doc_id for p in passages} == {WIRE.doc_id}
    assert passages[0].also_published_by == (_also(PAPER),)
