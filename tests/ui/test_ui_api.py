"""The chat through the Gradio client API: concurrent sessions, streaming, errors that keep it serving."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from gradio_client import Client
from ui_support import ARCHIVE_SIZE, ARCHIVE_TOPICS, FACTS, Server, archive_title

from rag.assistant import Assistant
from rag.errors import BackendUnavailableError
from ui.app import FILTER_CHOICES, _Handlers

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.types import Answer, DocRecord
    from tests.support import Fact


def _client(server: Server) -> Client:
    return Client(server.url, verbose=False, analytics_enabled=False)


def _texts(chat: list[dict[str, Any]]) -> list[str]:
    """The HTML of each chat message, oldest first."""
    texts = []
    for message in chat:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        texts.append(str(content))
    return texts


def test_ten_sessions_at_once_get_their_own_answers(server: Server) -> None:
    start = threading.Barrier(len(FACTS))

    def session(fact: Fact) -> list[str]:
        client = _client(server)
        start.wait(timeout=30)
        client.predict(fact.question, api_name="/ask")
        # The follow-up only makes sense with this session's own history.
        _, chat, _ = client.predict("How many years did they spend working in the region?", api_name="/ask")
        return _texts(chat)

    with ThreadPoolExecutor(len(FACTS)) as pool:
        conversations = list(pool.map(session, FACTS))

    for fact, texts in zip(FACTS, conversations, strict=True):
        assert len(texts) == 4, texts
        assert fact.question in texts[0]
        assert f"{fact.person} will serve as the new {fact.role} of {fact.town}" in texts[1]
        assert f"Searched for: How many years did {fact.person} spend working in the region?" in texts[3]
        strangers = [other.person for other in FACTS if other != fact]
        assert not [name for name in strangers if any(name in text for text in texts)]


def test_answers_stream_before_the_final_answer(server: Server) -> None:
    job = _client(server).submit("Who is the US Commerce Secretary?", api_name="/ask")
    job.result(timeout=60)
    chats = [_texts(output[1]) for output in job.outputs() if isinstance(output[1], list)]
    streamed = [chat[-1] for chat in chats if "rag-streaming" in chat[-1]]
    assert any("Howard Lutnick" in text for text in streamed), chats
    assert all('class="rag-cite"' not in text for text in streamed)
    final = chats[-1][-1]
    assert "rag-streaming" not in final
    assert 'href="#rag-src-0-1"' in final


def test_article_and_date_filters(server: Server) -> None:
    client = _client(server)
    _, chat, _ = client.predict(
        "Who is the US Commerce Secretary?", articles=["straits-times-us-china-fentanyl.txt"], api_name="/ask"
    )
    assert "Howard Lutnick" in _texts(chat)[-1]
    _, chat, panel = client.predict(
        "Who is the harbour master of Port Velloran?", date_from="2030-01-01", api_name="/ask"
    )
    assert "The articles don&#x27;t say." in _texts(chat)[-1]
    assert "No passages matched." in panel


def test_as_of_day(server: Server) -> None:
    fact = FACTS[0]  # its article is dated 2024-01-10
    kept, chat, _ = _client(server).predict(fact.question, as_of="10 Jan", api_name="/ask")
    assert kept == fact.question  # to ask again once the setting is fixed
    assert "As of must be a day written YYYY-MM-DD, not &#x27;10 Jan&#x27;" in _texts(chat)[-1]
    _, chat, _ = _client(server).predict(fact.question, as_of="2024-01-09", api_name="/ask")
    assert fact.person not in _texts(chat)[-1]
    this_week = f"Who became the {fact.role} of {fact.town} this week?"
    _, chat, panel = _client(server).predict(this_week, as_of="2024-01-12", api_name="/ask")
    assert "[published 2024-01-04 to 2024-01-12 (this week)]" in _texts(chat)[-1]
    assert fact.person in _texts(chat)[-1]
    assert f"{fact.town} names a new {fact.role}" in panel


# -- errors, with `scripted`: the index behind a `ScriptedAnswerer` that streams, then fails -------


@pytest.mark.parametrize(
    "scripted",
    [
        {
            "pieces": ["A guess that will be withdrawn. "],
            "failure": BackendUnavailableError("the model went away"),
        }
    ],
    indirect=True,
)
def test_final_answer_replaces_the_streamed_text(scripted: Server) -> None:
    job = _client(scripted).submit("Who is the US Commerce Secretary?", api_name="/ask")
    job.result(timeout=60)
    chats = [_texts(output[1]) for output in job.outputs() if isinstance(output[1], list)]
    assert any("A guess that will be withdrawn." in chat[-1] for chat in chats[:-1])
    final = chats[-1][-1]
    assert "A guess that will be withdrawn." not in final
    assert "Howard Lutnick" in final
    assert "Note: the model went away — answered extractively instead" in final


@pytest.mark.parametrize(
    "scripted",
    [{"pieces": [], "failure": BackendUnavailableError("the model went away"), "fallback": False}],
    indirect=True,
)
def test_backend_unavailable_is_a_message_and_the_chat_goes_on(scripted: Server) -> None:
    client = _client(scripted)
    _, chat, _ = client.predict("Who is the US Commerce Secretary?", api_name="/ask")
    assert 'class="rag-error"' in _texts(chat)[-1]
    assert "the model went away" in _texts(chat)[-1]
    _, chat, _ = client.predict("Who is the US Commerce Secretary?", answerer="extractive", api_name="/ask")
    texts = _texts(chat)
    assert len(texts) == 4
    assert "Howard Lutnick" in texts[-1]


@pytest.mark.parametrize(
    "scripted",
    [{"pieces": ["Half an answer"], "failure": RuntimeError("secret internal detail")}],
    indirect=True,
)
def test_unexpected_errors_stay_in_the_server_log(scripted: Server, caplog: pytest.LogCaptureFixture) -> None:
    _, chat, _ = _client(scripted).predict("Who is the US Commerce Secretary?", api_name="/ask")
    final = _texts(chat)[-1]
    assert "Something went wrong (RuntimeError); the details are in the server log." in final
    assert "secret internal detail" not in final
    assert "Traceback" not in final
    assert any("secret internal detail" in str(r.exc_info) for r in caplog.records if r.exc_info)


# -- the Articles tab over `archive_server`: 120 stories, three of them copies of story 100 ------------


def test_articles_search_sort_and_pages(archive_server: Server) -> None:
    client = _client(archive_server)

    table, _, page = client.predict("", "newest", 2, False, api_name="/articles")
    assert page == 2
    assert "Showing 51–100 of 120 · page 2 of 3 · 120 articles, 120 chunks indexed" in table
    assert table.count("<tr") == 1 + 50

    table, _, page = client.predict("", "newest", 7, False, api_name="/articles")
    assert page == 3 and "Showing 101–120 of 120 · page 3 of 3" in table
    assert table.rindex(archive_title(0)) > table.index(archive_title(1))

    table, _, page = client.predict("RAILWAY timetable", "oldest", 1, False, api_name="/articles")
    railway = [archive_title(n) for n in range(2, ARCHIVE_SIZE, len(ARCHIVE_TOPICS))]
    assert page == 1 and f"Showing 1–{len(railway)} of {len(railway)} matching “RAILWAY timetable”" in table
    assert [table.index(title) for title in railway] == sorted(table.index(title) for title in railway)

    table, _, _ = client.predict("", "title", 1, True, api_name="/articles")
    assert "Showing 1–4 of 4 in groups of copies" in table
    assert f"copy of “{archive_title(100)}”" in table and "3 copies" in table

    table, _, _ = client.predict("no such story", "newest", 1, False, api_name="/articles")
    assert "No article matching “no such story”" in table


def test_delete_lists_only_the_page_shown(archive_server: Server) -> None:
    handlers = _Handlers(archive_server.assistant)
    _, choices, page = handlers.browse("archive 1", "title", 2, False)
    # "archive 1" matches Archive 100–119 and no other: 20 rows, one page.
    assert page == 1
    assert [doc_id for _, doc_id in choices["choices"]] == [f"archive-{n}.txt" for n in range(100, 120)]
    assert choices["choices"][0][0] == f"{archive_title(100)} (archive-100.txt)"
    status, *_ = handlers.delete(None, "archive 1", "title", 1, False, [])
    assert "Choose an article to delete." in status


# -- the "Only these articles" filter over `archive_server`: it lists the newest FILTER_CHOICES -----


def _ids(choices: list[tuple[str, str]]) -> list[str]:
    return [doc_id for _, doc_id in choices]


def _archive_ids(numbers: range) -> list[str]:
    return [f"archive-{n:03d}.txt" for n in numbers]


class _Undated(Assistant):
    """An assistant whose article list gives no date for the articles `undated` (doc ids)."""

    def __init__(self, settings: Settings, undated: set[str], **collaborators: Any) -> None:
        super().__init__(settings, **collaborators)
        self.undated = undated

    def articles(self) -> list[DocRecord]:
        return [
            dataclasses.replace(r, date="") if r.doc_id in self.undated else r for r in super().articles()
        ]


def test_article_filter_lists_the_newest_articles(server: Server, archive_server: Server) -> None:
    # A small index is listed whole, by title.
    small = _Handlers(server.assistant).choices()
    assert small == [(f"{r.title} ({r.doc_id})", r.doc_id) for r in server.assistant.articles()]

    handlers = _Handlers(archive_server.assistant)
    newest = _archive_ids(range(ARCHIVE_SIZE - FILTER_CHOICES, ARCHIVE_SIZE))  # one story a day
    choices = handlers.choices()
    assert _ids(choices) == newest  # still by title
    assert choices[0] == (f"{archive_title(20)} (archive-020.txt)", "archive-020.txt")
    *_, only = handlers.refresh("", "newest", 1, False, [])
    assert only["choices"] == choices and only["value"] == []

    # Undated articles come after every dated one, however new they may be.
    assistant = archive_server.assistant
    undated = _Undated(
        assistant.settings,
        set(_archive_ids(range(110, 120))),
        embedder=assistant.embedder,
        index=assistant.index,
    )
    assert _ids(_Handlers(undated).choices()) == _archive_ids(range(10, 110))


def test_articles_picked_in_the_filter_stay_listed(archive_server: Server) -> None:
    handlers = _Handlers(archive_server.assistant)
    picked = ["archive-005.txt", "harbour"]  # an article older than those listed, and typed text
    *_, only = handlers.refresh("", "newest", 1, False, picked)
    assert only["value"] == picked
    assert _ids(only["choices"]) == _archive_ids(range(5, 6)) + _archive_ids(range(20, ARCHIVE_SIZE))
    assert only["choices"][0] == (f"{archive_title(5)} (archive-005.txt)", "archive-005.txt")


def test_typed_text_filters_to_an_article_not_listed(archive_server: Server) -> None:
    handlers = _Handlers(archive_server.assistant)
    assert "archive-005.txt" not in _ids(handlers.choices())
    # Stories 5, 35, 65 and 95 are all on bridge repairs in this town.
    question = f"How much will {FACTS[5].town} spend on bridge repairs?"

    def answer(articles: list[str]) -> Answer:
        *_, (_, _, turns, _) = handlers.ask(question, [], 5, None, articles, "", "", "")
        assert turns[-1].answer is not None, turns[-1]
        return turns[-1].answer

    unfiltered = answer([])
    assert {c.doc_id for c in unfiltered.citations} - {"archive-005.txt"}
    filtered = answer(["ARCHIVE 005"])
    assert {c.doc_id for c in filtered.citations} == {"archive-005.txt"}
    assert "agreed to spend 72 thousand" in filtered.text


def _files(buttons: tuple[dict[str, Any], ...]) -> list[str | None]:
    """The file of each download button (the client gets the buttons' updates, files downloaded)."""
    return [button["value"] for button in buttons]


def test_export_of_the_conversation(server: Server) -> None:
    client = _client(server)
    assert _files(client.predict(api_name="/export")) == [None, None]

    fact = FACTS[3]
    client.predict(fact.question, api_name="/ask")
    client.predict("How many years did they spend working in the region?", api_name="/ask")
    markdown_file, json_file = _files(client.predict(api_name="/export"))
    assert markdown_file is not None and json_file is not None

    assert Path(markdown_file).name.startswith("conversation-") and markdown_file.endswith(".md")
    markdown = Path(markdown_file).read_text(encoding="utf-8")
    assert f"## 1. {fact.question}\n\n**{fact.person}** — {fact.answer_sentence}" in markdown
    assert f"*Searched for: How many years did {fact.person} spend working in the region?*" in markdown
    source = f"https://news.example.org/{fact.file_name[:-4]}"
    assert f"- [1] **{fact.town} names a new {fact.role}** — [{source}]({source}) · 2024-04-13\n" in markdown
    exported = json.loads(Path(json_file).read_text(encoding="utf-8"))
    assert [turn["question"] for turn in exported] == [
        fact.question,
        "How many years did they spend working in the region?",
    ]
    assert exported[0]["answer"]["citations"][0]["date"] == "2024-04-13"
    assert exported[1]["answer"]["rewritten_query"].startswith(f"How many years did {fact.person}")

    client.predict(api_name="/clear")
    assert _files(client.predict(api_name="/export")) == [None, None]
