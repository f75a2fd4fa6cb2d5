"""Questions about an article itself: told apart from questions about its news, answered from its
byline, headline, lead and record, with verified citations."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ingest.pipeline import ingest_paths
from rag.about import about_article, answer, byline, lead
from rag.assistant import Assistant
from rag.index import Index
from rag.retriever import ArticleFilter
from rag.types import Chunk, DocRecord
from tests.support import HashingEmbedder, assert_verified, make_settings, raw_store

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

pytestmark = pytest.mark.fast

AS_OF = "2024-06-01"


@pytest.mark.parametrize(
    ("question", "asked", "subject"),
    [
        ("Who wrote this article?", "author", ""),
        ("Who is the author of this piece?", "author", ""),
        ("Who wrote it?", "author", ""),
        ("Who's the author?", "author", ""),
        ("Hi! Who wrote this article?", "author", ""),
        ("Could you tell me who wrote this article, please?", "author", ""),
        ("By whom was this article written?", "author", ""),
        ("Which journalist wrote this article?", "author", ""),
        ("Who wrote the story about the harbour dredging?", "author", "the harbour dredging"),
        ("What is the article's headline?", "headline", ""),
        ("What's the headline?", "headline", ""),
        ("What is its headline?", "headline", ""),
        ("What is the headline of the story about the dredging?", "headline", "the dredging"),
        ("What is this article about?", "summary", ""),
        ("What's the article about?", "summary", ""),
        ("What are the key topics of this article?", "summary", ""),
        ("Can you summarize the article?", "summary", ""),
        ("Summarise it.", "summary", ""),
        ("When was this article published?", "published", ""),
        ("What date was this article published?", "published", ""),
        ("When did this article come out?", "published", ""),
        ("What is the publication date of this article?", "published", ""),
        (
            "When was the article about Steve Bannon surrendering published?",
            "published",
            "Steve Bannon surrendering",
        ),
        ("Which newspaper published this article?", "outlet", ""),
        ("Which site published it?", "outlet", ""),
        ("Who published this article?", "outlet", ""),
        ("Where was this story published?", "outlet", ""),
    ],
)
def test_questions_about_the_article_are_told_apart(question: str, asked: str, subject: str) -> None:
    found = about_article(question)
    assert found is not None and (found.asked, found.subject) == (asked, subject)


@pytest.mark.parametrize(
    ("question", "named"),
    [("Who wrote this article?", True), ("Who wrote it?", False), ("What's the headline?", False)],
)
def test_whether_the_article_is_named_or_only_referred_to(question: str, named: bool) -> None:
    found = about_article(question)
    assert found is not None and found.named is named


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote 'Divine Rivals'?",
        "Who wrote the report?",
        "When was the report published?",
        "When was the White Paper published?",
        "Which author is quoted in the article?",
        "What is the title of the book mentioned in the article?",
        "What is the title?",
        "What are the main points of the White Paper?",
        "What does the article say about tariffs?",
        "What measures has China taken against fentanyl according to the article?",
        "Where is the singer from?",
        "Which newspaper published the leaked documents, according to the article?",
        "When was the iPhone 14 released, according to the story?",
        "Which writer won the Nobel Prize in Literature, according to the article?",
        "Who wrote the letter to Congress, according to the article?",
        "Where is the company from, according to the article?",
        "Who wrote the post on Truth Social?",
        "Who wrote the story that inspired the film?",
        "What did the study's authors find, according to the article?",
        "What was the New York Post's headline about Trump?",
        "What is the publication date of the book mentioned in the article?",
        "What is the source of the story's claims?",
        # "it" with a verb any subject can take is about the subject; essays and op-eds are news too.
        "What is it called?",
        "When was it released?",
        "When did it come out?",
        "Where is it from?",
        "What does it say?",
        "Who is it by?",
        "Who wrote the essay about the construction of the towers?",
        "What was the editorial about?",
    ],
)
def test_questions_about_the_news_are_not_about_the_article(question: str) -> None:
    assert about_article(question) is None


def _names(text: str) -> list[str]:
    return [text[b.name_start : b.name_end] for b in byline(text)]


_BODY = "The council met on Monday and agreed the plan in full.\n\n"


def test_a_byline_at_the_start_names_the_authors_and_the_outlet() -> None:
    text = "Harbour to be dredged\n\nBy Jane Doe and John Roe, CNN Business\n\nThe harbour will be dredged in May."
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == "Jane Doe and John Roe"
    assert found.outlet is not None and text[found.outlet[0] : found.outlet[1]] == "CNN Business"
    assert text[found.start : found.end] == "By Jane Doe and John Roe, CNN Business"


def test_a_list_of_authors_ends_before_the_outlet() -> None:
    assert _names("By Jane Doe, John Roe and Mary O'Brien, Example News\n\n" + _BODY) == [
        "Jane Doe, John Roe and Mary O'Brien"
    ]


def test_a_credit_line_of_several_compilers_is_a_byline() -> None:
    text = "Compiled and edited by Erin Edwards, David Rees and Lily Roby\n\n" + _BODY
    assert _names(text) == ["Erin Edwards, David Rees and Lily Roby"]
    assert [text[a:b] for a, b in lead(text, "").sentences] == [_BODY.strip()]


def test_only_the_first_byline_line_counts() -> None:
    assert _names("By Jane Doe\n\nBy John Roe\n\n" + _BODY) == ["Jane Doe"]


def test_an_authors_note_at_the_end_is_a_byline() -> None:
    text = _BODY * 8 + "Lim Min Zhang is China correspondent at The Straits Times. He covers politics."
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == "Lim Min Zhang"
    assert text[found.start : found.end] == "Lim Min Zhang is China correspondent at The Straits Times."
    assert found.outlet is not None and text[found.outlet[0] : found.outlet[1]] == "The Straits Times"


def test_a_byline_names_its_outlet_without_the_full_stop() -> None:
    text = _BODY + "Medora Lee is a markets reporter at USA TODAY. You can reach her at ml@example.com."
    [found] = byline(text)
    assert found.outlet is not None and text[found.outlet[0] : found.outlet[1]] == "USA TODAY"


@pytest.mark.parametrize(
    ("ending", "name"),
    [
        (
            "Rob Pegoraro is a tech writer based out of Washington. E-mail Rob at rob@example.com.",
            "Rob Pegoraro",
        ),
        ("Nate Ulrich can be reached at nulrich@example.com.", "Nate Ulrich"),
    ],
)
def test_an_authors_note_may_say_how_to_reach_the_author(ending: str, name: str) -> None:
    assert _names(_BODY * 3 + ending) == [name]


@pytest.mark.parametrize(
    ("text", "name", "outlet"),
    [
        ("Kelly Lawler\nUSA TODAY\n\n" + _BODY, "Kelly Lawler", "USA TODAY"),
        (_BODY + "Reach reporter Ian James at ijames@example.com.", "Ian James", None),
        (_BODY + "Contact Emre Kelly at ekelly@example.com.", "Emre Kelly", None),
        (
            _BODY + "Emily Lytle covers Sussex County for Delaware Online. Contact her.",
            "Emily Lytle",
            "Delaware Online",
        ),
        (
            _BODY + "Andre Lamar is the features/lifestyle reporter at The News Journal.",
            "Andre Lamar",
            "The News Journal",
        ),
        (
            _BODY + "Phil Boas is an editorial columnist for The Arizona Republic.",
            "Phil Boas",
            "The Arizona Republic",
        ),
    ],
)
def test_bylines_of_the_forms_news_sites_use(text: str, name: str, outlet: str | None) -> None:
    [found] = byline(text)
    assert text[found.name_start : found.name_end] == name
    assert (text[found.outlet[0] : found.outlet[1]] if found.outlet else None) == outlet


@pytest.mark.parametrize(
    "text",
    [
        "By Thursday help had arrived in uniform.\n\nThe Guard handed out water.",
        "By God’s favor our state is in a strong position.\n\nThe budget passed.",
        "By Election Day Republicans hoped to win.\n\nThey did not.",
        "By Labor Day, prices had fallen.\n\nShoppers returned.",
        "By Joe Biden's count, the bill passed.\n\nIt did.",
        _BODY + "Tom Hanks is the executive producer of the series.",
        _BODY + "Dottie Pepper is the on-course reporter, while Amanda Renner will conduct interviews.",
        _BODY + "Andrew Torgan is also joining the team as the daily 5 Things editor.",
        _BODY + "The mayor said that Jane Doe is a reporter at the Gazette.",  # not where a sentence starts
        "Jane Doe is a reporter at the Gazette.\n\n" + _BODY * 4,  # not among the last paragraphs
        "The Des Moines Register\nMAY\n\n" + _BODY,  # a publication over a month, no name
    ],
)
def test_sentences_that_only_look_like_bylines_are_not(text: str) -> None:
    assert byline(text) == []


def test_the_lead_skips_the_headline_datelines_bylines_and_notes() -> None:
    text = (
        "Harbour to be dredged\n\nNew York CNN Business —\n\nBy Jane Doe and John Roe, Example News Service\n\n"
        "Editor's note: This story has been updated with the council's vote on Monday.\n\n"
        "From USA TODAY Network and wire reports\n\n"
        "The harbour of Larkspur Hollow will be dredged in May, the council said on Monday. "
        "Work starts at dawn and lasts for three weeks. Boats must moor elsewhere."
    )
    found = lead(text, "Harbour to be dredged")
    assert (
        found.headline is not None and text[found.headline[0] : found.headline[1]] == "Harbour to be dredged"
    )
    assert [text[a:b] for a, b in found.sentences] == [
        "The harbour of Larkspur Hollow will be dredged in May, the council said on Monday.",
        "Work starts at dawn and lasts for three weeks.",
    ]
    assert lead(text, "Another title").headline is None


def test_a_title_repeated_in_the_body_is_no_headline() -> None:
    text = "The harbour will be dredged in May, the council said.\n\nHarbour to be dredged\n\nBoats moor elsewhere."
    assert lead(text, "Harbour to be dredged").headline is None


def test_a_sentence_longer_than_its_chunk_is_quoted_as_far_as_the_chunk_goes() -> None:
    text = "The harbour " + "of the town " * 40 + "will be dredged in May."
    record = DocRecord("d.txt", "Harbour", "Gazette", "", "", "", "h", "f", 2, 0.0)
    chunks = [
        Chunk("c0", "d.txt", 0, 0, 100, text[:100]),
        Chunk("c1", "d.txt", 1, 100, len(text), text[100:]),
    ]
    found = answer("summary", record, text, chunks)
    assert found is not None
    draft, cited = found
    [citation] = draft.citations
    assert citation.chunk_id == "c0" and citation.start == 0 and citation.end <= 100
    assert citation.quote == text[citation.start : citation.end] == text[:100].rstrip()
    assert [p.chunk_id for p in cited] == ["c0"]


@pytest.mark.parametrize(
    "title",
    [
        "Self-checkout is everywhere | CNN ...",
        "Self-checkout is everywhere - CNN Business",
        "Self-checkout is everywhere | USA TODAY",
        "Self-checkout is everywhere",
    ],
)
def test_a_record_title_is_given_without_its_sites_tag(title: str) -> None:
    text = "Shoppers scan their own groceries at most big supermarkets now, a survey found."
    record = DocRecord("d.txt", title, "cnn.com", "", "", "", "h", "f", 1, 0.0)
    found = answer("headline", record, text, [Chunk("c0", "d.txt", 0, 0, len(text), text)])
    assert found is not None
    assert found[0].text.startswith("The article's title (from its record) is “Self-checkout is everywhere”.")


# -- the assistant, on a small index ----------------------------------------------------------------

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
_FERRY = (
    "title: Ferry timetable changes\nsource: https://www.ferries.example.com/news/1\n\n"
    "The ferry to Corriebrae will leave an hour earlier from June, its operator said.\n"
)
_TIDES = (
    "title: Spring tides flood the quay\nauthor: Rhea Moss\n\n"
    "Spring tides flooded the quay at Corriebrae twice this week, the harbour master said.\n"
)
"""An author in the header only: the record names her, the text does not."""
_NOTICE = "title: Bridge road closure\n\nThe bridge road at Glenhaven will close for repairs from Monday to Friday.\n"
_ROUNDUP = (
    "title: News from around the region\n\nBy Sam Reeve, Example News\n\n"
    "Farmers in the valley expect a good harvest this year after a wet spring and a warm summer.\n\n"
    "A choir from Tollemarch won the county prize for the third year running, its director said.\n\n"
    "Drivers should expect delays while the Glenhaven bridge road closure lasts, the county said.\n"
)
"""A roundup that mentions the bridge closure far down: not the story about it."""
_FUND = (
    "title: Council sets up a flood fund\n\nBy Ines Park, Example News\n\n"
    "The council of Larkspur Hollow set up a fund on Tuesday for homes hit by the spring floods, its leader said.\n"
)
"""A phrasal verb in the headline ("sets up") for a question's noun ("setup")."""


@pytest.fixture(scope="module")
def assistant(
    clean_env: None,
    tmp_path_factory: pytest.TempPathFactory,
    memory_client: Any,
    hashing_embedder: HashingEmbedder,
) -> Iterator[Assistant]:
    folder = tmp_path_factory.mktemp("about")
    for name, text in [
        ("dredging.txt", _DREDGING),
        ("library.txt", _LIBRARY),
        ("ferry.txt", _FERRY),
        ("notice.txt", _NOTICE),
        ("roundup.txt", _ROUNDUP),
        ("tides.txt", _TIDES),
        ("fund.txt", _FUND),
        # A wire copy of the dredging story, republished by another site: the same article.
        ("dredging-copy.txt", _DREDGING.replace("www.example-news.org", "wire.example.com")),
    ]:
        (folder / name).write_text(text, encoding="utf-8")
    settings = make_settings(
        tmp_path_factory.mktemp("about-data") / "data", collection=f"t-{uuid.uuid4().hex[:16]}"
    )
    assistant = Assistant(
        settings, embedder=hashing_embedder, index=Index(settings, hashing_embedder, client=memory_client)
    )
    assert ingest_paths([folder], settings, index=assistant.index, progress=False).ok
    yield assistant
    raw_store(assistant.index).reset()


def _one(*doc_ids: str) -> ArticleFilter:
    return ArticleFilter(articles=doc_ids)


def _from_the_article(answer: Any) -> bool:
    return any(note.startswith("answered from the article itself") for note in answer.notes)


def test_the_byline_answers_who_wrote_the_article(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote this article?", article_filter=_one("library.txt"), as_of=AS_OF)
    assert answer.short_answer is not None and answer.short_answer.text == "Amara Quist"
    assert answer.text == "Amara Quist — Amara Quist is a reporter at the Tollemarch Gazette. [1]"
    assert answer.confidence == 1.0 and answer.as_of == AS_OF
    assert_verified(answer, assistant.index)
    # The cited chunk is shown first, then what retrieval found.
    assert answer.passages[0].chunk_id == answer.citations[0].chunk_id
    assert {p.doc_id for p in answer.passages} == {"library.txt"}
    assert "answered from the article itself (author): “Tollemarch library reopens”" in answer.notes


def test_a_subject_picks_the_article(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote the story about the library reopening after roof repairs?", as_of=AS_OF)
    assert answer.short_answer is not None and answer.short_answer.text == "Amara Quist"
    assert_verified(answer, assistant.index)
    assert len(answer.passages) > 1  # the retrieved passages follow the cited one


def test_a_subject_named_by_a_headlines_phrasal_verb_picks_the_article(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote the story about the flood fund setup?", as_of=AS_OF)
    assert answer.short_answer is not None and answer.short_answer.text == "Ines Park"
    assert_verified(answer, assistant.index)


def test_a_subject_no_article_is_about_is_refused(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote the story about the unicorn sighting in Ohio?", as_of=AS_OF)
    assert answer.abstained and not answer.citations and answer.confidence is None
    assert (
        answer.text == "The articles don't say. No article in scope is about “the unicorn sighting in Ohio”."
    )
    assert answer.passages  # what retrieval found is still shown, as for any refusal


def test_a_subject_the_only_article_in_scope_is_not_about_is_refused(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Who wrote the story about the unicorn sighting in Ohio?",
        article_filter=_one("library.txt"),
        as_of=AS_OF,
    )
    assert answer.abstained and answer.text.endswith(
        "No article in scope is about “the unicorn sighting in Ohio”."
    )


def test_the_story_about_a_subject_is_the_one_whose_headline_and_lead_say_it(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote the story about the Glenhaven bridge road closure?", as_of=AS_OF)
    # The roundup has a byline and mentions it too, but further down: the notice is the story.
    assert (
        answer.text
        == "The articles don't say. No byline or author's note was found in “Bridge road closure”, and its "
        "record names no author."
    )


def test_a_subject_of_stop_words_names_no_article(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote the story about this?", as_of=AS_OF)
    assert answer.text.startswith("Which article do you mean?")


def test_which_article_is_asked_when_several_could_be_meant(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote this article?", as_of=AS_OF)
    assert answer.abstained and not answer.citations
    assert answer.text.startswith("Which article do you mean? 7 are in scope")
    assert answer.passages


@pytest.mark.parametrize(
    "articles", [("dredging.txt",), ("dredging-copy.txt",), ("dredging.txt", "dredging-copy.txt")]
)
def test_a_copy_of_an_article_is_the_same_article(assistant: Assistant, articles: tuple[str, ...]) -> None:
    copies = [r for r in assistant.index.records().values() if r.duplicate_of]
    assert [r.doc_id for r in copies] in (["dredging.txt"], ["dredging-copy.txt"])
    answer = assistant.ask("Who wrote this article?", article_filter=_one(*articles), as_of=AS_OF)
    assert answer.short_answer is not None and answer.short_answer.text == "Jane Doe"
    assert_verified(answer, assistant.index)


def test_the_record_answers_when_and_where_it_was_published(assistant: Assistant) -> None:
    published = assistant.ask(
        "When was this article published?", article_filter=_one("dredging.txt"), as_of=AS_OF
    )
    assert published.text.startswith(
        "1 May 2024 — the article's date (from its record). It begins: The harbour"
    )
    assert_verified(published, assistant.index)
    outlet = assistant.ask(
        "Which website published this article?", article_filter=_one("ferry.txt"), as_of=AS_OF
    )
    assert outlet.text.startswith("ferries.example.com — the article's source (from its record)")
    assert_verified(outlet, assistant.index)


def test_an_author_only_the_record_names_answers_from_the_record(assistant: Assistant) -> None:
    answer = assistant.ask("Who wrote this article?", article_filter=_one("tides.txt"), as_of=AS_OF)
    assert not answer.abstained
    assert answer.text.startswith(
        "Rhea Moss — the article's author (from its record). It begins: Spring tides"
    )
    # Not in the text, so no span of it to verify: the record is named as the source instead.
    assert answer.short_answer is None
    assert_verified(answer, assistant.index)


def test_a_byline_in_the_text_comes_before_the_records_author() -> None:
    text = "By Jane Doe, Example News\n\nThe harbour will be dredged in May, the council said on Monday."
    record = DocRecord("d.txt", "Harbour", "", "J. Doe (web desk)", "", "", "h", "f", 1, 0.0)
    found = answer("author", record, text, [Chunk("c0", "d.txt", 0, 0, len(text), text)])
    assert found is not None
    draft, _cited = found
    assert draft.short_answer is not None and draft.short_answer.text == "Jane Doe"


@pytest.mark.parametrize(
    ("question", "doc_id", "said"),
    [
        (
            "When was this article published?",
            "library.txt",
            "The record of “Tollemarch library reopens” has no publication date.",
        ),
        (
            "Which site published this article?",
            "notice.txt",
            "The record of “Bridge road closure” names no source.",
        ),
        (
            "Who is the author of this article?",
            "ferry.txt",
            "No byline or author's note was found in “Ferry timetable changes”, and its record names no author.",
        ),
    ],
)
def test_what_the_article_does_not_say_is_refused(
    assistant: Assistant, question: str, doc_id: str, said: str
) -> None:
    answer = assistant.ask(question, article_filter=_one(doc_id), as_of=AS_OF)
    assert answer.abstained and not answer.citations and answer.short_answer is None
    assert answer.text == f"The articles don't say. {said}"
    assert answer.confidence is None and answer.as_of == AS_OF


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
        "Which newspaper published this article?", article_filter=_one(doc_id), as_of=AS_OF
    )
    assert answer.short_answer is not None and answer.short_answer.text == outlet
    assert [c.quote for c in answer.citations] == [quote]
    assert_verified(answer, assistant.index)


def test_a_summary_quotes_the_lead(assistant: Assistant) -> None:
    answer = assistant.ask("What is this article about?", article_filter=_one("library.txt"), as_of=AS_OF)
    assert answer.short_answer is None
    assert [c.quote for c in answer.citations] == [
        "The Tollemarch library reopened on Saturday after a year of repairs to its roof and reading rooms.",
        "Ysolde Karanja, the head librarian, said loans had already passed last year's.",
    ]
    assert_verified(answer, assistant.index)


def test_a_title_the_text_does_not_give_is_said_to_come_from_the_record(assistant: Assistant) -> None:
    answer = assistant.ask(
        "What is the headline of this article?", article_filter=_one("library.txt"), as_of=AS_OF
    )
    assert answer.text.startswith("The article's title (from its record) is “Tollemarch library reopens”.")
    assert answer.short_answer is None
    assert_verified(answer, assistant.index)


def test_a_follow_up_is_read_as_asked_not_as_rewritten(assistant: Assistant) -> None:
    history = [("Who wrote this article?", "Jane Doe — By Jane Doe, Example News [1]")]
    dredging = _one("dredging.txt")
    published = assistant.ask("When was it published?", history, article_filter=dredging, as_of=AS_OF)
    assert published.text.startswith("1 May 2024 — the article's date")
    headline = assistant.ask("What is its headline?", history, article_filter=dredging, as_of=AS_OF)
    assert headline.text.startswith(
        "The article's title (from its record) is “Harbour to be dredged in May”."
    )


def test_a_follow_up_keeps_the_article_an_earlier_question_named(assistant: Assistant) -> None:
    history = [("Who wrote the story about the library reopening?", "Amara Quist — … [1]")]
    answer = assistant.ask("When was it published?", history, as_of=AS_OF)
    assert (
        answer.text
        == "The articles don't say. The record of “Tollemarch library reopens” has no publication date."
    )


def test_a_follow_up_that_never_named_the_article_asks_which(assistant: Assistant) -> None:
    history = [("Who wrote this article?", "Which article do you mean? 5 are in scope …")]
    answer = assistant.ask("When was it published?", history, as_of=AS_OF)
    assert answer.abstained and answer.text.startswith("Which article do you mean?")


def test_it_in_a_follow_up_to_a_news_question_is_the_news(assistant: Assistant) -> None:
    history = [("Which ferry will leave an hour earlier?", "The ferry to Corriebrae … [1]")]
    answer = assistant.ask("What is it about?", history, as_of=AS_OF)
    assert not _from_the_article(answer)
    assert not answer.text.startswith("Which article do you mean?")


def test_an_article_no_chunk_quotes_is_answered_as_any_question(
    assistant: Assistant, hashing_embedder: HashingEmbedder, memory_client: Any
) -> None:
    class Unchunked(Index):
        def article_chunks(self, doc_ids: Collection[str]) -> Iterator[Chunk]:
            return iter(())

    index = Unchunked(assistant.settings, hashing_embedder, client=memory_client)
    unchunked = Assistant(assistant.settings, embedder=hashing_embedder, index=index)
    answer = unchunked.ask("Who wrote this article?", article_filter=_one("library.txt"), as_of=AS_OF)
    assert not _from_the_article(answer)
    assert _from_the_article(
        assistant.ask("Who wrote this article?", article_filter=_one("library.txt"), as_of=AS_OF)
    )
