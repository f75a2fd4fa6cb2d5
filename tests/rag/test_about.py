"""Questions about an article itself: told apart from questions about its news, answered from its
byline, headline, lead and record, with verified citations."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ingest.pipeline import ingest_paths
from rag.about import AUTHOR, HEADLINE, OUTLET, PUBLISHED, SUMMARY, about_article, byline, lead
from rag.assistant import Assistant
from rag.index import Index
from rag.retriever import ArticleFilter
from tests.support import HashingEmbedder, assert_verified, make_settings, raw_store

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("Who wrote this article?", AUTHOR),
        ("Who is the author of this piece?", AUTHOR),
        ("Who wrote it?", AUTHOR),
        ("Who wrote the story about the harbour dredging?", AUTHOR),
        ("What is the article's headline?", HEADLINE),
        ("What's the headline?", HEADLINE),
        ("What is the headline of the story about the dredging?", HEADLINE),
        ("What is this article about?", SUMMARY),
        ("What are the key topics of this article?", SUMMARY),
        ("Summarise it.", SUMMARY),
        ("When was this article published?", PUBLISHED),
        ("Which newspaper published this article?", OUTLET),
        ("Where was this story published?", OUTLET),
        # Questions about what the articles report, not about an article:
        ("Who wrote 'Divine Rivals'?", None),
        ("Who wrote the report?", None),
        ("When was the report published?", None),
        ("When was the White Paper published?", None),
        ("Which author is quoted in the article?", None),
        ("What is the title of the book mentioned in the article?", None),
        ("What are the main points of the White Paper?", None),
        ("What does the article say about tariffs?", None),
        ("What measures has China taken against fentanyl according to the article?", None),
        ("Where is the singer from?", None),
    ],
)
def test_questions_about_the_article_are_told_apart(question: str, asked: str | None) -> None:
    assert about_article(question) == asked


def test_a_byline_at_the_start_names_the_authors_not_the_outlet() -> None:
    text = "Harbour to be dredged\n\nBy Jane Doe and John Roe, CNN Business\n\nThe harbour will be dredged in May."
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == "Jane Doe and John Roe"
    assert text[found.start : found.end] == "By Jane Doe and John Roe, CNN Business"


def test_a_list_of_authors_ends_before_the_outlet() -> None:
    text = "By Jane Doe, John Roe and Mary Major, Example News\n\nThe harbour will be dredged in May."
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == "Jane Doe, John Roe and Mary Major"


def test_a_byline_names_its_outlet_without_the_full_stop() -> None:
    text = "The harbour will be dredged.\n\nMedora Lee is a markets reporter at USA TODAY. You can reach her."
    [found] = byline(text)
    assert found.outlet is not None and text[found.outlet[0] : found.outlet[1]] == "USA TODAY"


def test_an_authors_note_at_the_end_is_a_byline() -> None:
    text = (
        "The harbour will be dredged in May, the council said.\n\n"
        "Lim Min Zhang is China correspondent at The Straits Times. He covers politics."
    )
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == "Lim Min Zhang"
    assert text[found.start : found.end] == "Lim Min Zhang is China correspondent at The Straits Times."


@pytest.mark.parametrize(
    "text",
    [
        "By Thursday help had arrived in uniform.\n\nThe Guard handed out water.",
        "By God’s favor our state is in a strong position.\n\nThe budget passed.",
        "The mayor said Jane Doe is a reporter at heart.",  # mid-sentence, and not at the end
    ],
)
def test_sentences_that_only_look_like_bylines_are_not(text: str) -> None:
    assert byline(text + "\n\n" + "The council met on Monday and agreed the plan in full.\n\n" * 12) == []


def test_the_lead_skips_the_headline_datelines_and_bylines() -> None:
    text = (
        "Harbour to be dredged\n\nNew York CNN Business —\n\nBy Jane Doe, CNN\n\n"
        "The harbour of Larkspur Hollow will be dredged in May, the council said on Monday. "
        "Work starts at dawn and lasts for three weeks. Boats must moor elsewhere."
    )
    headline, body = lead(text, "Harbour to be dredged")
    assert headline is not None and text[headline[0] : headline[1]] == "Harbour to be dredged"
    assert [text[a:b] for a, b in body] == [
        "The harbour of Larkspur Hollow will be dredged in May, the council said on Monday.",
        "Work starts at dawn and lasts for three weeks.",
    ]
    assert lead(text, "Another title")[0] is None


_DREDGING = (
    "title: Harbour to be dredged in May\nsource: https://www.example-news.org/2024/05/01/harbour\n"
    "date: 2024-05-01\n\nBy Jane Doe, Example News\n\n"
    "The harbour of Larkspur Hollow will be dredged in May, the council said on Monday, after silt closed the "
    "northern channel to fishing boats.\n\nWork starts at dawn on 6 May and lasts three weeks.\n"
)
_LIBRARY = (
    "title: Tollemarch library reopens\nsource: Tollemarch Gazette\n\n"
    "The Tollemarch library reopened on Saturday after a year of repairs to its roof and reading rooms.\n\n"
    "Ysolde Karanja, the head librarian, said loans had already passed last year's.\n\n"
    "Amara Quist is a reporter at the Tollemarch Gazette.\n"
)
_FERRY = "title: Ferry timetable changes\nsource: https://www.ferries.example.com/news/1\n\nThe ferry to Corriebrae will leave an hour earlier from June, its operator said.\n"


@pytest.fixture(scope="module")
def assistant(
    clean_env: None,
    tmp_path_factory: pytest.TempPathFactory,
    memory_client: Any,
    hashing_embedder: HashingEmbedder,
) -> Iterator[Assistant]:
    folder = tmp_path_factory.mktemp("about")
    (folder / "dredging.txt").write_text(_DREDGING, encoding="utf-8")
    (folder / "library.txt").write_text(_LIBRARY, encoding="utf-8")
    (folder / "ferry.txt").write_text(_FERRY, encoding="utf-8")
    # A wire copy of the dredging story, republished by another site: the same article.
    copy = _DREDGING.replace("www.example-news.org", "wire.example.com").replace(
        "date: 2024-05-01", "date: 2024-05-02"
    )
    (folder / "dredging-copy.txt").write_text(copy, encoding="utf-8")
    settings = make_settings(
        tmp_path_factory.mktemp("about-data") / "data", collection=f"t-{uuid.uuid4().hex[:16]}"
    )
    assistant = Assistant(
        settings, embedder=hashing_embedder, index=Index(settings, hashing_embedder, client=memory_client)
    )
    assert ingest_paths([folder], settings, index=assistant.index, progress=False).ok
    yield assistant
    raw_store(assistant.index).reset()


def _one(doc_id: str) -> ArticleFilter:
    return ArticleFilter(articles=(doc_id,))


def test_the_byline_answers_who_wrote_the_article(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote this article?", article_filter=_one("dredging.txt"), as_of="2024-06-01")
    assert answer.short_answer is not None and answer.short_answer.text == "Jane Doe"
    assert answer.text.startswith("Jane Doe — By Jane Doe, Example News [1]")
    assert [c.doc_id for c in answer.citations] == ["dredging.txt"]
    assert_verified(answer, assistant.index)
    assert {p.doc_id for p in answer.passages} == {"dredging.txt"}


def test_a_subject_picks_the_article(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Who wrote the story about the library reopening after roof repairs?", as_of="2024-06-01"
    )
    assert answer.short_answer is not None and answer.short_answer.text == "Amara Quist"
    assert_verified(answer, assistant.index)


def test_which_article_is_asked_when_several_could_be_meant(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote this article?", as_of="2024-06-01")
    assert answer.abstained and not answer.citations
    assert answer.text.startswith("Which article do you mean? 3 are in scope")
    assert answer.passages  # what retrieval found is still shown, as for any refusal


@pytest.mark.parametrize(
    "articles", [("dredging.txt",), ("dredging-copy.txt",), ("dredging.txt", "dredging-copy.txt")]
)
def test_a_copy_of_an_article_is_the_same_article(assistant: Assistant, articles: tuple[str, ...]) -> None:
    copies = [r for r in assistant.index.records().values() if r.duplicate_of]
    assert [r.doc_id for r in copies] in (["dredging.txt"], ["dredging-copy.txt"])
    answer = assistant.ask(
        "Who wrote this article?", article_filter=ArticleFilter(articles=articles), as_of="2024-06-01"
    )
    assert answer.short_answer is not None and answer.short_answer.text == "Jane Doe"
    assert_verified(answer, assistant.index)


def test_the_record_answers_when_and_where_it_was_published(assistant: Assistant) -> None:
    dredging = _one("dredging.txt")
    published = assistant.ask("When was this article published?", article_filter=dredging, as_of="2024-06-01")
    assert published.text.startswith("1 May 2024 — the article's date")
    assert_verified(published, assistant.index)
    outlet = assistant.ask(
        "Which website published this article?", article_filter=_one("ferry.txt"), as_of="2024-06-01"
    )
    assert outlet.text.startswith("ferries.example.com — the article's source (from its record)")
    assert_verified(outlet, assistant.index)
    undated = assistant.ask(
        "When was this article published?", article_filter=_one("library.txt"), as_of="2024-06-01"
    )
    assert undated.abstained and not undated.citations


@pytest.mark.parametrize(
    ("doc_id", "outlet", "quote"),
    [
        ("dredging.txt", "Example News", "By Jane Doe, Example News"),
        ("library.txt", "the Tollemarch Gazette", "Amara Quist is a reporter at the Tollemarch Gazette."),
    ],
)
def test_a_publication_the_byline_names_is_the_outlet(
    assistant: Assistant, doc_id: str, outlet: str, quote: str
) -> None:
    answer = assistant.ask(
        "Which newspaper published this article?", article_filter=_one(doc_id), as_of="2024-06-01"
    )
    assert answer.short_answer is not None and answer.short_answer.text == outlet
    assert [c.quote for c in answer.citations] == [quote]
    assert_verified(answer, assistant.index)


def test_a_summary_quotes_the_lead(assistant: Assistant) -> None:
    answer = assistant.ask(
        "What is this article about?", article_filter=_one("library.txt"), as_of="2024-06-01"
    )
    assert answer.short_answer is None
    assert answer.citations[0].quote.startswith("The Tollemarch library reopened on Saturday")
    assert len(answer.citations) == 2
    assert_verified(answer, assistant.index)


def test_an_article_without_a_byline_is_not_given_an_author(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Who is the author of this article?", article_filter=_one("ferry.txt"), as_of="2024-06-01"
    )
    assert answer.abstained and answer.short_answer is None and not answer.citations
    assert (
        answer.text == "The articles don't say. The article names no author in a byline or an author's note."
    )


def test_a_title_the_text_does_not_give_is_said_to_come_from_the_record(assistant: Assistant) -> None:
    answer = assistant.ask(
        "What is the headline of this article?", article_filter=_one("library.txt"), as_of="2024-06-01"
    )
    assert answer.text.startswith("The article's title (from its record) is “Tollemarch library reopens”.")
    assert answer.short_answer is None
    assert_verified(answer, assistant.index)
