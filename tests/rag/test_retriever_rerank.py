"""The second stage of retrieval: best-sentence ranking, newer articles first, near-copies collapsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from rag.retriever import HybridRetriever
from rag.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings

FILLER = (
    "The city council met on Tuesday to discuss the budget for parks and libraries. "
    "Several residents spoke about traffic on the main road and asked for more crossings. "
    "The mayor said the plans would be published next month after a public consultation. "
)

ARTICLES = {
    "harbour-2019.txt": (
        "2019-03-02",
        "Harbour festival returns",
        "The harbour festival returned with boat races and music on the quay. "
        "Organisers said ticket sales for the harbour festival were the best in a decade.",
    ),
    "harbour-2023.txt": (
        "2023-03-04",
        "Harbour festival draws crowds",
        "Large crowds came to watch rowing and hear bands at this year's harbour festival. "
        "Ticket sales rose again, said the festival's organisers, who plan a third stage.",
    ),
    "wire-a.txt": (
        "2023-01-10",
        "Storm closes mountain pass",
        "A winter storm closed the northern mountain pass on Monday, stranding dozens of lorries. "
        "Snow ploughs worked through the night and the pass is expected to reopen on Wednesday. "
        "Drivers were told to use the coastal route until the road is cleared.",
    ),
    "wire-b.txt": (
        "2023-01-10",
        "Storm shuts mountain pass",
        "A winter storm closed the northern mountain pass on Monday, stranding dozens of lorries. "
        "Snow ploughs worked through the night and the pass is expected to reopen on Wednesday. "
        "Police advised motorists to take the longer way round.",
    ),
    "heron.txt": (
        "",
        "Heron sanctuary",
        "The Fernwick heron sanctuary opened in 1987 and is run by volunteers.",
    ),
    "lighthouse.txt": (
        "2022-06-01",
        "Council notes",
        FILLER * 3 + "Separately, the old lighthouse keeper's cottage will become a museum of maritime "
        "history, with its lamp restored by volunteers. " + FILLER * 3,
    ),
}


def _write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (date, title, body) in ARTICLES.items():
        dated = f"Date: {date}\n" if date else ""
        (folder / name).write_text(f"Title: {title}\n{dated}\n{body}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings) -> Assistant:
    root = tmp_path_factory.mktemp("rerank")
    _write(root / "articles")
    settings = Settings(data_dir=root / "data", chunk_tokens=64, _env_file=None)
    built = Assistant(settings, embedder=embedder)
    report = ingest_paths([root / "articles"], settings, index=built.index, progress=False)
    assert report.ok
    return built


def _retriever(assistant: Assistant, **weights: float) -> HybridRetriever:
    return HybridRetriever.from_settings(assistant.settings, assistant.index).model_copy(update=weights)


def test_recency_orders_stories_on_the_topic_newest_first(assistant: Assistant) -> None:
    question = "How were ticket sales for the harbour festival?"

    undated = _retriever(assistant, recency_weight=0.0).search(question, k=3)
    newest = _retriever(assistant, recency_weight=5.0).search(question, k=3)

    # By wording alone the 2019 story ranks first; recency puts the 2023 one before it.
    assert [p.doc_id for p in undated[:2]] == ["harbour-2019.txt", "harbour-2023.txt"]
    assert [p.doc_id for p in newest[:2]] == ["harbour-2023.txt", "harbour-2019.txt"]
    assert newest[0].date == "2023-03-04"


def test_the_recency_lift_is_graded_by_age(assistant: Assistant) -> None:
    question = "How were ticket sales for the harbour festival?"

    four_years_apart = _retriever(assistant).search(question, k=2)
    as_if_the_same_age = _retriever(assistant, recency_half_life=1e6).search(question, k=2)

    # At the defaults a story four years older keeps none of the lift, so the 2023 one leads. With a
    # half-life of millennia the two are as good as the same age and the wording decides; a newest-
    # first rank would have ordered them the same way both times.
    assert [p.doc_id for p in four_years_apart] == ["harbour-2023.txt", "harbour-2019.txt"]
    assert [p.doc_id for p in as_if_the_same_age] == ["harbour-2019.txt", "harbour-2023.txt"]


def test_recency_never_lifts_a_newer_article_off_the_topic(assistant: Assistant) -> None:
    question = "How were ticket sales for the harbour festival?"

    ranked = [p.doc_id for p in _retriever(assistant, recency_weight=5.0).search(question, k=6)]

    # The 2023 storm copies and the 2022 council notes share no word with the question.
    harbour = max(ranked.index("harbour-2019.txt"), ranked.index("harbour-2023.txt"))
    assert all(ranked.index(other) > harbour for other in ranked if not other.startswith("harbour"))


def test_recency_does_not_bury_an_undated_article_under_weaker_dated_matches(assistant: Assistant) -> None:
    # "year" also occurs in the dated harbour story; the undated heron story matches every word.
    question = "In what year did the Fernwick heron sanctuary open?"

    passages = _retriever(assistant, recency_weight=5.0).search(question, k=2)

    assert passages[0].doc_id == "heron.txt"


def test_a_republished_copy_gives_one_passage(assistant: Assistant) -> None:
    # wire-b is wire-a as another outlet ran it: the same report with its own last sentence.
    question = "When will the mountain pass reopen after the storm?"

    collapsed = _retriever(assistant).search(question, k=3)
    everything = _retriever(assistant, duplicate_overlap=1.0).search(question, k=3)

    assert sum(p.doc_id in {"wire-a.txt", "wire-b.txt"} for p in collapsed) == 1
    assert {p.doc_id for p in everything[:2]} == {"wire-a.txt", "wire-b.txt"}


def test_best_sentence_finds_a_passage_whose_other_sentences_are_off_topic(assistant: Assistant) -> None:
    question = "What will happen to the lighthouse keeper's cottage?"

    passages = _retriever(assistant, lexical_weight=0.0, recency_weight=0.0).search(question, k=1)

    assert passages[0].doc_id == "lighthouse.txt"
    assert "museum of maritime history" in passages[0].text
    assert passages[0].sentence_vectors is not None


def test_deeper_search_keeps_the_shallow_order(assistant: Assistant) -> None:
    question = "storm lorries coastal route"
    retriever = _retriever(assistant)

    shallow = retriever.search(question, k=2)
    deep = retriever.search(question, k=5)

    assert [p.chunk_id for p in deep[:2]] == [p.chunk_id for p in shallow]
    assert [p.score for p in deep] == sorted((p.score for p in deep), reverse=True)


def test_all_weights_off_is_a_setting_error() -> None:
    from rag.errors import ConfigError
    from rag.settings import load_settings

    with pytest.raises(ConfigError, match="sentence_weight"):
        load_settings(dense_weight=0, lexical_weight=0, sentence_weight=0)


def test_chunks_of_one_article_are_never_copies_of_each_other(assistant: Assistant) -> None:
    # Its chunks share a sentence by design, and the council notes repeat whole paragraphs.
    chunks = assistant.index.records()["lighthouse.txt"].n_chunks
    question = "council budget parks libraries traffic crossings mayor consultation"

    passages = _retriever(assistant, recency_weight=0.0).search(question, k=chunks + 2)

    assert chunks > 2
    assert sum(p.doc_id == "lighthouse.txt" for p in passages) == chunks


def test_recency_without_bm25_still_needs_a_shared_word(assistant: Assistant) -> None:
    question = "How were ticket sales for the harbour festival?"

    ranked = [
        p.doc_id for p in _retriever(assistant, lexical_weight=0.0, recency_weight=5.0).search(question, k=6)
    ]

    assert set(ranked[:2]) == {"harbour-2019.txt", "harbour-2023.txt"}


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_is_an_error(assistant: Assistant, k: int) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        _retriever(assistant).search("harbour", k=k)


def test_a_retriever_needs_some_ranking(assistant: Assistant) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cannot all be 0"):
        HybridRetriever(
            index=assistant.index,
            dense_weight=0,
            lexical_weight=0,
            sentence_weight=0,
        )
