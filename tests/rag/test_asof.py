"""As-of time: the day a question is asked caps the articles used, and its time words set a window."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from rag.answering import ABSTENTION, Answerer, AnswerRequest, Draft, ExtractiveAnswerer
from rag.asof import AsOfError, parse_day, resolve, without_time_notes
from rag.assistant import Assistant
from rag.errors import BackendUnavailableError
from rag.types import Article
from tests.rag.rag_support import prepare

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.index import Index
    from rag.types import Answer
    from tests.support import HashingEmbedder

pytestmark = pytest.mark.fast

AS_OF = dt.date(2025, 1, 15)
"""A Wednesday."""

OLD = Article(
    doc_id="fires-2020.txt",
    title="Wildfires burn homes near Glenhaven",
    text="Wildfires burned 40 homes near Glenhaven, the county fire service said on Tuesday.\n\n"
    "Crews from three counties were sent to the hills above the town.",
    source="https://news.example.org/2020/09/08/glenhaven-fires",
    date="2020-09-08",
)
NEW = Article(
    doc_id="fires-2025.txt",
    title="Glenhaven wildfires force evacuations",
    text="Wildfires burned 310 homes near Glenhaven, the county fire service said on Monday.\n\n"
    "Thousands of residents were told to leave before the wind picked up.",
    source="https://news.example.org/2025/01/13/glenhaven-evacuations",
    date="2025-01-13",
)
LATER = Article(
    doc_id="fires-later.txt",
    title="Glenhaven wildfires: the final count",
    text="Wildfires burned 920 homes near Glenhaven in the final count, the county fire service said.\n\n"
    "Rebuilding will take years, the mayor said.",
    source="https://news.example.org/2025/02/03/glenhaven-final-count",
    date="2025-02-03",
)
UNDATED = Article(
    doc_id="harbour.txt",
    title="Marrowby names a new harbour master",
    text="Ottoline Varga will serve as the new harbour master of Marrowby from next month, "
    "the town council said.",
    source="https://news.example.org/marrowby-harbour",
)

HOMES = "How many homes did the Glenhaven wildfires burn?"
HOMES_THIS_WEEK = "How many homes did the Glenhaven wildfires burn this week?"
FINAL_COUNT = "How many homes did the Glenhaven wildfires burn in the final count?"
HARBOUR = "Who is the harbour master of Marrowby?"


@pytest.fixture
def assistant(memory_index: Index, hashing_embedder: HashingEmbedder) -> Assistant:
    """Three dated stories on one topic (2020, this week, after the as-of day) and an undated article."""
    with memory_index.writer() as writer:
        writer.put([prepare(memory_index, article) for article in (OLD, NEW, LATER, UNDATED)])
    return Assistant(memory_index.settings, embedder=hashing_embedder, index=memory_index)


def _cited(answer: Answer) -> set[str]:
    return {citation.doc_id for citation in answer.citations}


def _retrieved(answer: Answer) -> set[str]:
    return {passage.doc_id for passage in answer.passages}


# -- resolving a question's time words ----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "phrase", "since", "query"),
    [
        ("What burned today?", "today", "2025-01-14", "What burned?"),
        ("What did the mayor say this morning?", "this morning", "2025-01-14", "What did the mayor say?"),
        ("Who won the vote yesterday?", "yesterday", "2025-01-13", "Who won the vote?"),
        ("Yesterday, who won the vote?", "Yesterday", "2025-01-13", "who won the vote?"),
        ("What closed overnight in Glenhaven?", "overnight", "2025-01-13", "What closed in Glenhaven?"),
        ("What did the council decide this week?", "this week", "2025-01-07", "What did the council decide?"),
        ("What changed in the past week?", "in the past week", "2025-01-07", "What changed?"),
        ("What did the council decide last week?", "last week", "2024-12-31", "What did the council decide?"),
        ("Who resigned This Month?", "This Month", "2024-12-15", "Who resigned?"),
        ("Who resigned in recent weeks?", "in recent weeks", "2024-12-15", "Who resigned?"),
        ("Who resigned last month?", "last month", "2024-11-14", "Who resigned?"),
        ("How many fires so far this year?", "so far this year", "2025-01-01", "How many fires?"),
        ("How many fires this year?", "this year", "2025-01-01", "How many fires?"),
    ],
)
def test_time_words_set_a_window_ending_on_the_as_of_day(
    question: str, phrase: str, since: str, query: str
) -> None:
    scope = resolve(question, AS_OF)

    assert (scope.as_of, scope.since, scope.phrase, scope.query) == (
        AS_OF,
        dt.date.fromisoformat(since),
        phrase,
        query,
    )
    assert scope.describe() == f"published {since} to 2025-01-15 ({phrase})"


def test_the_windows_widen_from_today_to_this_year() -> None:
    families = ["today", "yesterday", "this week", "last week", "this month", "last month"]
    starts = [resolve(f"What happened {words}?", dt.date(2025, 6, 30)).since for words in families]

    assert starts == sorted(starts, reverse=True)
    assert len(set(starts)) == len(starts)
    assert resolve("What happened this year?", dt.date(2025, 6, 30)).since == dt.date(2025, 1, 1)


@pytest.mark.parametrize(
    "question",
    [
        "What did USA Today report about the fires?",
        "Who hosted the Today show in 2019?",
        "Which anchor left NBC's Today?",
        "What did USA TODAY report about the fires?",
        'What did the "Today" show say about the fires?',
    ],
)
def test_today_as_a_name_sets_no_window(question: str) -> None:
    assert resolve(question, AS_OF).since is None


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("Today, who won the vote?", "Today"),
        ("What did USA Today say today?", "today"),
        ("Who won the vote. Today?", "Today"),
        ("Which Stocks Fell Today?", "Today"),  # title case: every word is capitalised
    ],
)
def test_today_as_a_time_word_beside_the_name_still_sets_one(question: str, phrase: str) -> None:
    scope = resolve(question, AS_OF)

    assert (scope.since, scope.phrase) == (dt.date(2025, 1, 14), phrase)


@pytest.mark.parametrize(
    "question",
    [
        HARBOUR,
        "What has the council done recently?",  # vague: newest-first ranking, no window
        "What happened in March?",  # when an event happened, not when the story ran
        "Who led the weekly market in 2019?",
    ],
)
def test_without_time_words_there_is_only_the_as_of_cap(question: str) -> None:
    scope = resolve(question, AS_OF)

    assert (scope.as_of, scope.since, scope.phrase, scope.query) == (AS_OF, None, "", question)
    assert scope.describe() == "published by 2025-01-15"


def test_parse_day_reads_days_and_defaults_to_today() -> None:
    assert parse_day("2025-01-15") == AS_OF
    assert parse_day(" 2025-01-15 ") == AS_OF
    assert parse_day(AS_OF) == AS_OF
    assert parse_day(dt.datetime(2025, 1, 15, 23, 59)) == AS_OF
    assert parse_day(None) == parse_day("") == dt.date.today()


@pytest.mark.parametrize("value", ["last week", "2025-13-01", "15/01/2025", "soon"])
def test_parse_day_errors_name_the_bad_value(value: str) -> None:
    with pytest.raises(AsOfError, match=f"^asked_on: {value!r} is not a day; use YYYY-MM-DD"):
        parse_day(value, name="asked_on")
    with pytest.raises(ValueError, match=f"^as_of: {value!r}"):
        parse_day(value)


# -- the window and the cap in answers ----------------------------------------------------------


def test_this_week_leaves_out_older_stories_on_the_topic(assistant: Assistant) -> None:
    # Without time words the 2020 story is used too: it is on the topic.
    anytime = assistant.ask(HOMES, as_of=AS_OF)
    assert OLD.doc_id in _cited(anytime)

    answer = assistant.ask(HOMES_THIS_WEEK, as_of=AS_OF)

    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == "310"
    assert _cited(answer) == {NEW.doc_id}
    assert OLD.doc_id not in _retrieved(answer) and "40 homes" not in answer.text


def test_an_article_after_the_as_of_day_is_never_used_even_as_the_best_match(assistant: Assistant) -> None:
    # Asked today, the later story is the best match.
    today = assistant.ask(FINAL_COUNT)
    assert today.citations[0].doc_id == LATER.doc_id

    for as_of in (AS_OF, "2025-01-15", "2025-02-02"):
        for question in (FINAL_COUNT, HOMES_THIS_WEEK, HOMES):
            answer = assistant.ask(question, as_of=as_of)
            assert LATER.doc_id not in _retrieved(answer) | _cited(answer), (question, as_of)
            assert "920" not in answer.text
    # An article is published by the end of its day.
    on_the_day = assistant.ask(FINAL_COUNT, as_of="2025-02-03")
    assert on_the_day.citations[0].doc_id == LATER.doc_id


def test_the_streamed_answer_keeps_to_the_as_of_day(assistant: Assistant) -> None:
    *pieces, answer = assistant.stream(FINAL_COUNT, as_of=AS_OF)

    assert not isinstance(answer, str)
    assert "920" not in "".join(str(piece) for piece in pieces)
    assert LATER.doc_id not in _retrieved(answer)


@pytest.mark.parametrize("question", [HARBOUR, "Who is the harbour master of Marrowby this week?"])
def test_undated_articles_are_still_used(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question, as_of=AS_OF)

    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == "Ottoline Varga"
    assert _cited(answer) == {UNDATED.doc_id}


REBUILDING_YESTERDAY = "What did the mayor say about rebuilding yesterday?"
"""Only the story published after 20 Jan 2025 answers it."""


def test_a_window_without_an_answer_gives_the_earlier_answer_with_its_date(assistant: Assistant) -> None:
    # The undated harbour article is in the window, but does not answer: the stories before
    # the window do, and the answer says it is not from the window and which day it is from.
    answer = assistant.ask("How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20")

    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text == "310"
    assert answer.citations[0].doc_id == NEW.doc_id
    assert answer.text.endswith(
        "(Nothing published 18 Jan 2025 to 20 Jan 2025 (yesterday) answers it; this is from 13 Jan 2025.)"
    )
    assert answer.rewritten_query.endswith("[published 2025-01-18 to 2025-01-20 (yesterday)]")
    assert any(note.endswith("answered from earlier articles") for note in answer.notes)
    assert LATER.doc_id not in _retrieved(answer) and "920" not in answer.text  # still capped


def test_the_earlier_answer_names_the_newest_story_it_cites(assistant: Assistant) -> None:
    answer = assistant.ask("How many homes did wildfires burn near Glenhaven this week?", as_of="2025-02-02")

    cited = _cited(answer)
    assert not answer.abstained and NEW.doc_id in cited
    assert answer.text.endswith("answers it; this is from 13 Jan 2025.)")


def test_an_empty_window_with_no_earlier_answer_is_refused_naming_the_closest_match(
    assistant: Assistant,
) -> None:
    assistant.delete_article(UNDATED.doc_id)  # an undated article is in every window

    answer = assistant.ask(REBUILDING_YESTERDAY, as_of="2025-01-20")

    assert answer.abstained and answer.citations == () and answer.short_answer is None
    assert answer.text.startswith(
        ABSTENTION + " No article published from 18 Jan 2025 to 20 Jan 2025 answers it"
    )
    assert answer.text.endswith(
        (f"“{OLD.title}”, is from 8 Sep 2020.", f"“{NEW.title}”, is from 13 Jan 2025.")
    )
    assert LATER.title not in answer.text  # published after the as-of day
    assert answer.rewritten_query.endswith("[published 2025-01-18 to 2025-01-20 (yesterday)]")


def test_the_streamed_window_answers_are_the_final_text(assistant: Assistant) -> None:
    for question in (REBUILDING_YESTERDAY, "How many homes did the Glenhaven wildfires burn yesterday?"):
        *pieces, answer = assistant.stream(question, as_of="2025-01-20")

        assert not isinstance(answer, str)
        assert "".join(str(piece) for piece in pieces) == answer.text, question


def test_a_window_before_any_related_article_is_refused_naming_it(assistant: Assistant) -> None:
    assistant.delete_article(UNDATED.doc_id)

    answer = assistant.ask(HOMES_THIS_WEEK, as_of="2020-01-15")

    assert answer.abstained and answer.citations == ()
    assert answer.text == ABSTENTION + " No article published from 7 Jan 2020 to 15 Jan 2020 answers it."


def test_the_rewritten_query_shows_the_window(assistant: Assistant) -> None:
    windowed = assistant.ask(HOMES_THIS_WEEK, as_of=AS_OF)
    capped = assistant.ask(HOMES, as_of=AS_OF)

    assert windowed.rewritten_query == f"{HOMES_THIS_WEEK} [published 2025-01-07 to 2025-01-15 (this week)]"
    assert windowed.to_json()["rewritten_query"] == windowed.rewritten_query
    assert capped.rewritten_query == HOMES


def test_time_words_can_be_turned_off(assistant: Assistant) -> None:
    settings = assistant.settings.model_copy(update={"time_words": False})
    plain = Assistant(settings, embedder=assistant.embedder, index=assistant.index)

    answer = plain.ask(HOMES_THIS_WEEK, as_of=AS_OF)

    assert answer.rewritten_query == HOMES_THIS_WEEK
    assert OLD.doc_id in _retrieved(answer)  # no window: the 2020 story is searched again
    assert LATER.doc_id not in _retrieved(answer)  # the as-of day still caps


def test_the_answer_says_which_day_it_is_as_of(assistant: Assistant) -> None:
    assert assistant.ask(HOMES, as_of=AS_OF).as_of == "2025-01-15"
    answer = assistant.ask(HOMES)
    assert answer.as_of == dt.date.today().isoformat() == answer.to_json()["as_of"]
    # Also when the window's refusal became an earlier story's answer.
    earlier = assistant.ask("How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20")
    assert not earlier.abstained and earlier.as_of == "2025-01-20"


def test_the_chain_takes_an_as_of_day(assistant: Assistant) -> None:
    answer = assistant.chain.invoke({"question": HOMES_THIS_WEEK, "as_of": "2025-01-15"})

    assert _cited(answer) == {NEW.doc_id}
    assert answer.rewritten_query.endswith("[published 2025-01-07 to 2025-01-15 (this week)]")
    assert LATER.doc_id not in _retrieved(assistant.chain.invoke({"question": FINAL_COUNT, "as_of": AS_OF}))


def test_a_bad_as_of_day_is_an_error_naming_it(assistant: Assistant) -> None:
    with pytest.raises(AsOfError, match="'next Tuesday' is not a day"):
        assistant.ask(HOMES, as_of="next Tuesday")
    with pytest.raises(AsOfError, match="'2025-02-30'"):
        assistant.chain.invoke({"question": HOMES, "as_of": "2025-02-30"})


# -- asked without a day, of an archive that ended before the window ---------------------------


def test_without_a_day_an_archive_that_ended_before_the_window_is_searched_whole(
    assistant: Assistant,
) -> None:
    # Today is long after the newest story (3 Feb 2025): "this week" holds no article, so the
    # window is dropped and the answer says so, instead of refusing every dated question.
    today = dt.date.today()
    since = today - dt.timedelta(days=8)

    answer = assistant.ask(HOMES_THIS_WEEK)

    assert not answer.abstained
    assert answer.short_answer is not None and answer.short_answer.text in {"310", "40", "920"}
    assert answer.text.endswith(
        f" No article is from {since.day} {since:%b %Y} to {today.day} {today:%b %Y} (this week);"
        " the newest is from 3 Feb 2025, so older articles were searched."
    )
    assert answer.rewritten_query == (
        f"{HOMES_THIS_WEEK} [no article published {since} to {today} (this week); the newest is from 2025-02-03]"
    )
    assert any(note.startswith("the index ends before the window") for note in answer.notes)


def test_the_streamed_answer_carries_the_archive_note(assistant: Assistant) -> None:
    *pieces, answer = assistant.stream(HOMES_THIS_WEEK)

    assert not isinstance(answer, str)
    assert "".join(str(piece) for piece in pieces) == answer.text
    assert "the newest is from 3 Feb 2025" in answer.text


def test_a_day_given_keeps_its_window_even_after_the_archive(assistant: Assistant) -> None:
    today = dt.date.today()

    answer = assistant.ask(HOMES_THIS_WEEK, as_of=today.isoformat())

    assert answer.rewritten_query.endswith(
        f"[published {today - dt.timedelta(days=8)} to {today} (this week)]"
    )
    assert (
        f"(Nothing published {_day_of(today - dt.timedelta(days=8))} to {_day_of(today)} (this week)"
        in answer.text
    )
    assert "the newest is from" not in answer.text


def test_without_a_day_a_window_the_index_reaches_is_kept(assistant: Assistant) -> None:
    # One story from today: the index is live, so "this week" means this week.
    with assistant.index.writer() as writer:
        writer.put(
            [
                prepare(
                    assistant.index,
                    Article(
                        doc_id="council-today.txt",
                        title="Glenhaven council meets",
                        text="The Glenhaven council met on the budget, the clerk said.",
                        source="https://news.example.org/council",
                        date=dt.date.today().isoformat(),
                    ),
                )
            ]
        )

    answer = assistant.ask(HOMES_THIS_WEEK)

    since = dt.date.today() - dt.timedelta(days=8)
    assert answer.rewritten_query.endswith(f"[published {since} to {dt.date.today()} (this week)]")
    assert "the newest is from" not in answer.text
    # The story of today does not answer, so the earlier ones do, saying so.
    assert answer.text.endswith("answers it; this is from 3 Feb 2025.)")


def test_without_time_words_nothing_is_added(assistant: Assistant) -> None:
    answer = assistant.ask(HOMES)

    assert answer.rewritten_query == HOMES
    assert "No article is from" not in answer.text


def _day_of(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


# -- the second pass, before the window -----------------------------------------------------------


class _Scripted(Answerer):
    """Refuses its first call; then answers extractively, or fails when `failing`. Keeps the
    articles each call was given."""

    name = "scripted"

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.calls: list[set[str]] = []

    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        self.calls.append({p.doc_id for p in request.passages})
        if len(self.calls) == 1:
            yield ABSTENTION
            yield Draft(ABSTENTION, abstained=True)
            return
        if self.failing:
            raise BackendUnavailableError("the model went away")
        yield from ExtractiveAnswerer().stream(request)


def _with(assistant: Assistant, answerer: Answerer, **settings: object) -> Assistant:
    return Assistant(
        assistant.settings.model_copy(update={"answerer": "scripted", **settings}),
        embedder=assistant.embedder,
        index=assistant.index,
        answerer=answerer,
    )


def test_the_second_pass_reads_only_dated_articles_from_before_the_window(assistant: Assistant) -> None:
    scripted = _Scripted()
    window_story = Article(
        doc_id="fires-window.txt",
        title="Glenhaven after the fires",
        text="Wildfires burned homes near Glenhaven; the smoke has died down, the fire service said.",
        source="https://news.example.org/2025/01/19/glenhaven-after",
        date="2025-01-19",
    )
    with assistant.index.writer() as writer:
        writer.put([prepare(assistant.index, window_story)])

    answer = _with(assistant, scripted).ask(
        "How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20"
    )

    first, second = scripted.calls
    assert window_story.doc_id in first and UNDATED.doc_id in first
    assert second and second <= {OLD.doc_id, NEW.doc_id}
    assert not answer.abstained and answer.citations[0].doc_id == NEW.doc_id
    assert answer.text.endswith("answers it; this is from 13 Jan 2025.)")


def test_a_backend_failing_in_the_second_pass_falls_back_with_its_note(assistant: Assistant) -> None:
    answer = _with(assistant, _Scripted(failing=True)).ask(
        "How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20"
    )

    assert not answer.abstained and answer.answerer == "extractive"
    assert answer.short_answer is not None and answer.short_answer.text == "310"
    assert "the model went away — answered extractively instead" in answer.notes


def test_a_backend_failing_in_the_second_pass_without_fallback_is_an_error(assistant: Assistant) -> None:
    failing = _with(assistant, _Scripted(failing=True), llm_fallback=False)

    with pytest.raises(BackendUnavailableError, match="the model went away"):
        failing.ask("How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20")


def test_the_notes_on_dates_come_off_for_scoring(assistant: Assistant) -> None:
    # Eval scores what the articles say: "2020" must not be found in "Earlier (8 Sep 2020): ".
    earlier = assistant.ask("How many homes did the Glenhaven wildfires burn yesterday?", as_of="2025-01-20")
    archive = assistant.ask(HOMES_THIS_WEEK)
    quotes = " ".join(f"{c.quote} [{c.n}]" for c in earlier.citations)
    assert "Earlier (8 Sep 2020): " in earlier.text and "(Nothing published" in earlier.text
    assert "No article is from" in archive.text

    assert without_time_notes(earlier.text) == f"310 — {quotes}"
    assert "No article is from" not in without_time_notes(archive.text)
    assert without_time_notes(archive.text) == archive.text.split(" No article is from")[0]
