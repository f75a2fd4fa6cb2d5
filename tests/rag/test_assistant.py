"""The assistant end to end on fakes: ingest, ask, follow up, cite verbatim, delete."""

from __future__ import annotations

import shutil
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from rag.errors import ConfigError, NoIndexError
from rag.index import Index
from rag.retriever import ArticleFilter
from tests.support import SEED_ARTICLE, Fact, HashingEmbedder, assert_verified, make_settings, raw_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.fast

FACTS = [
    Fact("Larkspur Hollow", "harbour master", "Idris Wexford", 12),
    Fact("Corriebrae", "fire chief", "Henrike Solano", 9),
    Fact("Tollemarch", "head librarian", "Ysolde Karanja", 15),
]


def _assistant(data_dir: Path, client: Any, embedder: HashingEmbedder) -> Assistant:
    settings = make_settings(data_dir, collection=f"t-{uuid.uuid4().hex[:16]}")
    return Assistant(settings, embedder=embedder, index=Index(settings, embedder, client=client))


def _ingest(assistant: Assistant, folder: Path) -> None:
    report = ingest_paths([folder], assistant.settings, index=assistant.index, progress=False)
    assert report.ok, report.to_json()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    for number, fact in enumerate(FACTS):
        (folder / fact.file_name).write_text(fact.article(number), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def assistant(
    clean_env: None,
    corpus: Path,
    tmp_path_factory: pytest.TempPathFactory,
    memory_client: Any,
    hashing_embedder: HashingEmbedder,
) -> Iterator[Assistant]:
    """The corpus indexed in memory with the hashing embedder; read-only for the tests."""
    assistant = _assistant(tmp_path_factory.mktemp("assistant") / "data", memory_client, hashing_embedder)
    _ingest(assistant, corpus)
    yield assistant
    raw_store(assistant.index).reset()


def test_the_corpus_is_indexed(assistant: Assistant) -> None:
    assert {r.doc_id for r in assistant.articles()} == {SEED_ARTICLE.name, *(f.file_name for f in FACTS)}


@pytest.mark.parametrize("fact", FACTS, ids=lambda fact: fact.town)
def test_each_question_is_answered_from_its_own_article(assistant: Assistant, fact: Fact) -> None:
    answer = assistant.ask(fact.question)

    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == fact.person
    assert answer.citations[0].doc_id == fact.file_name
    assert fact.answer_sentence in answer.citations[0].quote
    assert not [other.person for other in FACTS if other != fact and other.person in answer.text]
    assert_verified(answer, assistant.index)


def test_a_follow_up_is_answered_from_the_conversation(assistant: Assistant) -> None:
    fact = FACTS[1]
    first = assistant.ask(fact.question)

    answer = assistant.ask(
        "How many years did they spend working in the region?", [(fact.question, first.text)]
    )

    assert fact.person.split()[0] in answer.rewritten_query or fact.town in answer.rewritten_query
    assert any(fact.years_sentence in c.quote for c in answer.citations)
    assert_verified(answer, assistant.index)


def test_a_question_the_articles_do_not_answer_is_refused(assistant: Assistant) -> None:
    answer = assistant.ask("What is the boiling point of liquid nitrogen on Titan?")

    assert answer.abstained and answer.citations == () and answer.short_answer is None
    assert answer.related  # the closest passages, shown instead


def test_the_streamed_text_is_the_answers_text(assistant: Assistant) -> None:
    *pieces, answer = assistant.stream("Who said that the tariffs would come off if fentanyl ends?")

    assert not isinstance(answer, str) and not answer.abstained
    assert "".join(str(piece) for piece in pieces) == answer.text
    assert answer.short_answer is not None and answer.short_answer.text == "Howard Lutnick"
    assert_verified(answer, assistant.index)


def test_a_deleted_article_is_no_longer_cited(
    tmp_path: Path, corpus: Path, memory_client: Any, hashing_embedder: HashingEmbedder
) -> None:
    assistant = _assistant(tmp_path / "data", memory_client, hashing_embedder)
    _ingest(assistant, corpus)
    fact = FACTS[0]

    assistant.delete_article(fact.file_name)

    assert fact.file_name not in {r.doc_id for r in assistant.articles()}
    answer = assistant.ask(fact.question)
    assert fact.file_name not in {c.doc_id for c in answer.citations}
    assert fact.person not in answer.text
    raw_store(assistant.index).reset()


def test_an_index_whose_articles_were_all_deleted_says_so(
    tmp_path: Path, corpus: Path, memory_client: Any, hashing_embedder: HashingEmbedder
) -> None:
    assistant = _assistant(tmp_path / "data", memory_client, hashing_embedder)
    _ingest(assistant, corpus)
    for record in assistant.articles():
        assistant.delete_article(record.doc_id)

    with pytest.raises(NoIndexError, match="no articles are indexed yet"):
        assistant.ask(FACTS[0].question)
    raw_store(assistant.index).reset()


def test_a_filter_date_that_is_no_day_is_an_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match=r"ArticleFilter date_from: 'March 2025' is not a date written YYYY-MM-DD"
    ):
        ArticleFilter(date_from="March 2025")
    assert ArticleFilter(date_from="2025-03-01", date_to="2025-03-31").date_to == "2025-03-31"


def test_a_follow_up_asking_for_more_quotes_nothing_already_quoted(assistant: Assistant) -> None:
    first = assistant.ask("What did Dr Felbab-Brown say about the 2019 move?")
    history = [("What did Dr Felbab-Brown say about the 2019 move?", first.text)]
    quoted = {c.quote for c in first.citations}
    assert quoted

    again = assistant.ask("What did she say about the 2019 move?", history=history)
    more = assistant.ask("What else did she say about the 2019 move?", history=history)

    assert {c.quote for c in again.citations} & quoted  # asked again, the same quote answers
    assert more.rewritten_query == "What else did Dr Felbab-Brown say about the 2019 move?"
    assert more.citations and not {c.quote for c in more.citations} & quoted
    assert_verified(more, assistant.index)


def test_a_list_question_reads_more_passages(assistant: Assistant) -> None:
    settings = assistant.settings
    assert settings.list_top_k > settings.top_k
    listing = assistant.ask("Which officials are quoted on fentanyl?")
    single = assistant.ask("Who is the fire chief of Corriebrae?")
    chosen = assistant.ask("Which officials are quoted on fentanyl?", k=3)

    assert len(listing.passages) == settings.list_top_k
    assert len(single.passages) == settings.top_k
    assert len(chosen.passages) == 3
