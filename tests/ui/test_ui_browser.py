"""The chat in a real headless Chromium: answers, citations, follow-ups, abstentions, articles, markup."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from ui_support import (
    ARCHIVE_SIZE,
    ARCHIVE_TOPICS,
    FACTS,
    XSS_FILE,
    XSS_IMG,
    XSS_LINK,
    XSS_SCRIPT,
    XSS_TITLE,
    archive_title,
    ask,
    bot_messages,
    launch,
    open_page,
    screenshot,
)

from ingest.pipeline import ingest_paths
from rag.answering import ABSTENTION
from rag.assistant import Assistant
from rag.settings import Settings
from tests.support import SEED_ARTICLE
from ui.app import FILTER_CHOICES
from ui.uploads import upload_dir

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from playwright.sync_api import Browser, Locator, Page
    from ui_support import Server

    from rag.embeddings import SentenceTransformerEmbeddings

pytestmark = pytest.mark.browser


def _tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page: Page, *files: Path) -> None:
    _tab(page, "Articles")
    page.locator("#rag-upload input[type=file]").set_input_files([str(f) for f in files])


def _pick(page: Page, dropdown: str, text: str) -> None:
    page.locator(f"#{dropdown} input").click()
    page.locator(f"#{dropdown} input").fill(text)
    page.get_by_role("option", name=text).first.click()


def test_answer_follow_up_sources_and_abstention(page: Page, server: Server) -> None:
    panel = page.locator("#rag-sources")

    first = ask(page, "Who is the US Commerce Secretary?")
    expect(first.locator(".rag-answer")).to_contain_text("Howard Lutnick")
    expect(first.locator(".rag-answer strong.rag-short")).to_have_text("Howard Lutnick")
    expect(first.locator(".rag-answer-meta")).to_have_text(re.compile(r"^confidence [01]\.\d\d$"))
    expect(first.locator("a.rag-cite", has_text="[1]")).to_be_visible()
    expect(first.locator(".rag-rewritten")).to_have_count(0)
    passage = panel.locator("#rag-src-0-1")
    expect(passage).to_be_visible()
    expect(passage.locator("mark")).to_contain_text("US Commerce Secretary Howard Lutnick said")
    expect(passage).to_contain_text("What’s in it for Beijing")
    expect(panel.locator('#rag-turn-0 .rag-source[href="#rag-src-0-1"]')).to_contain_text("[1]")
    expect(panel.locator('#rag-turn-0 a[href="https://straitstimes.com"]').first).to_be_visible()
    screenshot(page, "01-answer-with-highlighted-source")

    follow_up = ask(page, "What did he say about the tariffs?")
    expect(follow_up.locator(".rag-rewritten")).to_contain_text(
        "Searched for: What did US Commerce Secretary"
    )
    expect(follow_up.locator("a.rag-cite").first).to_be_visible()
    expect(panel.locator("#rag-turn-1")).to_be_visible()
    expect(panel.locator("#rag-turn-0")).to_be_hidden()
    screenshot(page, "02-follow-up")

    # Selecting a [n] of an earlier answer brings back that answer's passage.
    first.locator("a.rag-cite", has_text="[1]").click()
    expect(panel.locator("#rag-turn-0")).to_be_visible()
    expect(panel.locator("#rag-turn-1")).to_be_hidden()
    expect(panel.locator("#rag-src-0-1 mark")).to_be_visible()
    follow_up.locator("a.rag-cite").first.click()
    expect(panel.locator("#rag-turn-1")).to_be_visible()
    expect(panel.locator("#rag-src-1-1 mark")).to_be_visible()

    unanswerable = ask(page, "What is the capital of France?")
    expect(unanswerable.locator(".rag-answer")).to_have_text(ABSTENTION)
    expect(unanswerable.locator("a.rag-cite")).to_have_count(0)
    expect(unanswerable.locator(".rag-short, .rag-answer-meta")).to_have_count(0)
    related = panel.locator("#rag-turn-2")
    expect(related.locator(".rag-related-heading")).to_have_text("Related passages (not an answer)")
    expect(related.locator(".rag-related-passage").first).to_be_visible()
    expect(related.locator("mark")).to_have_count(0)
    expect(related.locator(".rag-heading", has_text="Sources")).to_have_count(0)
    screenshot(page, "03-abstention-with-related-passages")

    page.locator("#rag-clear").click()
    expect(bot_messages(page)).to_have_count(0)
    expect(panel).to_contain_text("Sources of the answers appear here.")
    # The history went too: the same follow-up now stands alone.
    alone = ask(page, "What did he say about the tariffs?")
    expect(alone.locator(".rag-rewritten")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]
    assert page.hosts == {urlsplit(server.url).netloc}, "the page called out"  # type: ignore[attr-defined]


def test_selecting_a_source_shows_its_passage(page: Page) -> None:
    reply = ask(page, "What is fentanyl used for?")  # answered from two sentences
    panel = page.locator("#rag-turn-0")
    links = panel.locator(".rag-source")
    count = links.count()
    assert count >= 2
    for n in range(1, count + 1):
        panel.locator(f'.rag-source[href="#rag-src-0-{n}"]').click()
        expect(panel.locator(f"#rag-src-0-{n}")).to_be_visible()
        expect(panel.locator(f"#rag-src-0-{n} mark")).to_be_visible()
        expect(panel.locator(".rag-passage:visible")).to_have_count(1)
        expect(panel.locator(f'.rag-source[href="#rag-src-0-{n}"]')).to_have_attribute("aria-current", "true")
    expect(reply.locator("a.rag-cite")).to_have_count(count)

    # The chat's own clear icon forgets the conversation too, not just what is on screen.
    page.locator('#rag-chat button[aria-label="Clear"]').click()
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#rag-sources")).to_contain_text("Sources of the answers appear here.")
    alone = ask(page, "What did it do?")
    expect(alone.locator(".rag-rewritten")).to_have_count(0)


def test_upload_ask_delete(page: Page, server: Server, tmp_path: Path) -> None:
    article = tmp_path / "zephyr ridge.txt"
    article.write_text(
        "Title: Zephyr Ridge observatory opens to the public\n\n"
        "The Zephyr Ridge observatory opened its doors to the public on Saturday. Astrid Holmqvist, "
        "the director of the observatory, said its main telescope has a mirror four metres wide.\n\n"
        "Visitors can book night tours from the first week of August, the observatory said.\n",
        encoding="utf-8",
    )
    _upload(page, article)
    status = page.locator("#rag-upload-status")
    expect(status).to_contain_text("zephyr ridge.txt: added", timeout=60_000)
    table = page.locator("#rag-articles")
    expect(table).to_contain_text("Zephyr Ridge observatory opens to the public")
    stored = upload_dir(server.assistant.settings) / "zephyr ridge.txt"
    assert stored.read_bytes() == article.read_bytes()
    screenshot(page, "04-articles-after-upload")

    _tab(page, "Chat")
    reply = ask(page, "Who is the director of the Zephyr Ridge observatory?")
    expect(reply.locator(".rag-answer")).to_contain_text("Astrid Holmqvist")
    expect(page.locator("#rag-src-0-1")).to_contain_text("Zephyr Ridge observatory opens to the public")

    _tab(page, "Articles")
    _pick(page, "rag-delete-choice", "Zephyr Ridge observatory opens to the public (zephyr ridge.txt)")
    page.locator("#rag-delete").click()
    expect(page.locator("#rag-delete-status")).to_contain_text("Deleted “Zephyr Ridge observatory")
    expect(table).not_to_contain_text("Zephyr Ridge")
    assert not stored.exists()
    assert "zephyr ridge.txt" not in {r.doc_id for r in server.assistant.articles()}
    screenshot(page, "05-articles-after-delete")

    _tab(page, "Chat")
    again = ask(page, "Who is the director of the Zephyr Ridge observatory?")
    expect(again).not_to_contain_text("Astrid Holmqvist")


def test_markup_in_articles_is_shown_as_text(page: Page, server: Server, tmp_path: Path) -> None:
    reply = ask(page, "When is the Glimmerton lantern festival held?")
    answer = reply.locator(".rag-answer")
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_LINK):
        expect(answer).to_contain_text(payload)
    passage = page.locator("#rag-src-0-1")
    expect(passage.locator("header")).to_contain_text(XSS_TITLE)
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_LINK):
        expect(passage.locator("mark")).to_contain_text(payload)
    expect(passage.locator(".rag-meta")).to_contain_text("javascript:window.__pwned=1")
    screenshot(page, "06-markup-shown-as-text")

    markdown = tmp_path / "<svg onload=window.__pwned=1>.md"
    markdown.write_text(
        "# Heron <b onmouseover=window.__pwned=1>sanctuary</b>\n\n"
        "The Fernwick heron sanctuary opened in 1987 <script>window.__pwned=1</script> "
        "and is run by volunteers [donate](javascript:window.__pwned=1).\n",
        encoding="utf-8",
    )
    try:
        _upload(page, markdown)
        status = page.locator("#rag-upload-status")
        expect(status).to_contain_text("svg onload_window._pwned_1.md: added", timeout=60_000)
        table = page.locator("#rag-articles")
        expect(table).to_contain_text(XSS_TITLE)
        expect(table).to_contain_text(XSS_FILE)
        expect(table).to_contain_text("Heron <b onmouseover=window.__pwned=1>sanctuary</b>")
        screenshot(page, "07-markup-in-article-list")

        _tab(page, "Settings")
        page.locator("#rag-only input").click()
        expect(page.get_by_role("option", name=f"{XSS_TITLE} ({XSS_FILE})")).to_be_visible()
        page.keyboard.press("Escape")

        _tab(page, "Chat")
        heron = ask(page, "In what year did the Fernwick heron sanctuary open?")
        expect(heron.locator(".rag-answer")).to_contain_text("<script>window.__pwned=1</script>")
        expect(heron.locator(".rag-answer")).to_contain_text("[donate](javascript:window.__pwned=1)")
    finally:
        server.assistant.delete_article("svg onload_window._pwned_1.md")

    page.wait_for_timeout(500)  # an injected <img onerror> would have fired by now
    live = "#rag-chat script, #rag-chat img, #rag-chat svg b, #rag-sources script, #rag-sources img, #rag-articles script, #rag-articles img, #rag-articles b"
    assert page.locator(live).count() == 0
    assert page.locator('a[href^="javascript" i]').count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []  # type: ignore[attr-defined]


def test_empty_index_errors_and_first_upload(browser: Browser, empty_server: Server, tmp_path: Path) -> None:
    page = open_page(browser, empty_server.url)
    try:
        reply = ask(page, "Who is the US Commerce Secretary?")
        expect(reply.locator(".rag-error")).to_contain_text("No articles are indexed yet")
        _tab(page, "Articles")
        expect(page.locator("#rag-articles")).to_contain_text("No articles indexed yet")
        screenshot(page, "00-empty-index")

        blank = tmp_path / "blank.txt"
        blank.write_text("   \n", encoding="utf-8")
        _upload(page, SEED_ARTICLE, blank)
        status = page.locator("#rag-upload-status")
        expect(status).to_contain_text(f"{SEED_ARTICLE.name}: added", timeout=60_000)
        expect(status).to_contain_text("blank.txt: not indexed — empty file")
        expect(page.locator("#rag-articles")).to_contain_text("What’s in it for Beijing")
        assert not (upload_dir(empty_server.assistant.settings) / "blank.txt").exists()
        screenshot(page, "08-upload-report-with-bad-file")

        _tab(page, "Chat")
        answered = ask(page, "Who is the US Commerce Secretary?")
        expect(answered.locator(".rag-answer")).to_contain_text("Howard Lutnick")

        _tab(page, "Settings")
        _pick(page, "rag-answerer", "gguf")
        page.locator("#rag-from").locator("input, textarea").fill("last week")
        _tab(page, "Chat")
        bad_date = ask(page, "Who is the US Commerce Secretary?")
        expect(bad_date.locator(".rag-error")).to_contain_text("From date must be YYYY-MM-DD")
        _tab(page, "Settings")
        page.locator("#rag-from").locator("input, textarea").fill("")
        _tab(page, "Chat")
        no_model = ask(page, "Who is the US Commerce Secretary?")
        expect(no_model.locator(".rag-error")).to_contain_text("RAG_GGUF_PATH is not set")
        screenshot(page, "09-readable-errors")
        assert "Traceback" not in page.content()
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


class SlowEmbedder:
    """The real embedder, but embedding any text with `SLOW_WORD` takes seconds: a long ingest."""

    SLOW_WORD = "Brackenholt"

    def __init__(self, embedder: SentenceTransformerEmbeddings, seconds: float) -> None:
        self.embedder = embedder
        self.seconds = seconds
        self.started = threading.Event()

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.embedder.count_tokens(texts)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.embedder.token_spans(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if any(self.SLOW_WORD in t for t in texts):
            self.started.set()
            time.sleep(self.seconds)
        return self.embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text)


@pytest.fixture
def slow_server(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> Iterator[tuple[Server, SlowEmbedder]]:
    slow = SlowEmbedder(embedder, seconds=6)
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    assistant = Assistant(settings, embedder=slow)
    ingest_paths([SEED_ARTICLE], settings, index=assistant.index, progress=False)
    served = launch(assistant)
    yield served, slow
    served.demo.close()


def test_a_long_ingest_does_not_freeze_the_chat(
    browser: Browser, slow_server: tuple[Server, SlowEmbedder], tmp_path: Path
) -> None:
    server, slow = slow_server
    article = tmp_path / "brackenholt.txt"
    article.write_text(
        f"Title: {SlowEmbedder.SLOW_WORD} mill reopens\n\n"
        f"The {SlowEmbedder.SLOW_WORD} flour mill reopened on Tuesday after a two-year restoration.\n",
        encoding="utf-8",
    )
    uploader = open_page(browser, server.url)
    chatter = open_page(browser, server.url)
    try:
        _upload(uploader, article)
        assert slow.started.wait(timeout=30), "the ingest never reached the embedder"
        asked = time.monotonic()
        reply = ask(chatter, "Who is the US Commerce Secretary?")
        expect(reply.locator(".rag-answer")).to_contain_text("Howard Lutnick")
        assert time.monotonic() - asked < slow.seconds
        status = uploader.locator("#rag-upload-status")
        expect(status).not_to_contain_text("added")
        screenshot(uploader, "10-indexing-in-progress")
        expect(status).to_contain_text("brackenholt.txt: added", timeout=60_000)
    finally:
        uploader.context.close()
        chatter.context.close()


@pytest.mark.parametrize("scripted", [{"pieces": ["Slowly. ", "Very slowly."], "pause": 2.0}], indirect=True)
def test_clearing_stops_an_answer_in_progress(browser: Browser, scripted: Server) -> None:
    page = open_page(browser, scripted.url)
    try:
        box = page.locator("#rag-question textarea")
        box.fill("Who is the US Commerce Secretary?")
        box.press("Enter")
        expect(bot_messages(page).first.locator(".rag-streaming")).to_contain_text("Slowly.")
        page.locator("#rag-clear").click()
        expect(bot_messages(page)).to_have_count(0)
        page.wait_for_timeout(4_500)  # past the moment the stopped answer would have finished
        expect(bot_messages(page)).to_have_count(0)
        reply = ask(page, "Who is he?")
        expect(bot_messages(page)).to_have_count(1)
        expect(reply.locator(".rag-rewritten")).to_have_count(0)
    finally:
        page.context.close()


def _start_again_as_of(page: Page, as_of: Locator, day: str) -> None:
    """Sets the As of day in the Settings tab, then clears the conversation."""
    _tab(page, "Settings")
    as_of.fill(day)
    _tab(page, "Chat")
    page.locator("#rag-clear").click()
    expect(bot_messages(page)).to_have_count(0)


def test_as_of_setting_answers_from_that_week(browser: Browser, dated_server: Server) -> None:
    page = open_page(browser, dated_server.url)
    panel = page.locator("#rag-sources")
    as_of = page.locator("#rag-as-of").locator("input, textarea")
    this_week = "How many homes did the Glenhaven wildfires burn this week?"
    try:
        _tab(page, "Settings")
        expect(as_of).to_have_attribute("placeholder", "YYYY-MM-DD (empty: today)")
        as_of.fill("last Tuesday")
        _tab(page, "Chat")
        bad_day = ask(page, this_week)
        expect(bad_day.locator(".rag-error")).to_contain_text(
            "As of must be a day written YYYY-MM-DD, not 'last Tuesday' (Settings tab)"
        )
        # Nothing is lost: the question waits in its box, the setting in its field.
        expect(page.locator("#rag-question textarea")).to_have_value(this_week)
        _tab(page, "Settings")
        expect(as_of).to_have_value("last Tuesday")

        as_of.fill("2025-01-15")
        screenshot(page, "11-as-of-setting")
        _tab(page, "Chat")
        answer = ask(page, this_week)
        expect(answer.locator(".rag-rewritten")).to_have_text(
            f"Searched for: {this_week} [published 2025-01-07 to 2025-01-15 (this week)]"
        )
        expect(answer.locator(".rag-answer strong.rag-short")).to_have_text("310")
        expect(answer.locator(".rag-answer")).not_to_contain_text("40 homes")
        expect(answer.locator(".rag-answer")).not_to_contain_text("920")
        expect(panel.locator("#rag-turn-1")).to_contain_text("Glenhaven wildfires force evacuations")
        expect(panel.locator("#rag-turn-1")).not_to_contain_text("Wildfires burn homes near Glenhaven")
        expect(panel.locator("#rag-turn-1")).not_to_contain_text("the final count")
        page.screenshot(path="/tmp/asof-chat.png", full_page=True)
        screenshot(page, "12-as-of-this-week")

        _start_again_as_of(page, as_of, "2025-01-20")
        # Nothing from "yesterday" answers: the stories before it do, and the answer says so.
        earlier = ask(page, "How many homes did the Glenhaven wildfires burn yesterday?")
        expect(earlier.locator(".rag-rewritten")).to_contain_text(
            "[published 2025-01-18 to 2025-01-20 (yesterday)]"
        )
        expect(earlier.locator(".rag-answer strong.rag-short")).to_have_text("310")
        expect(earlier.locator(".rag-answer")).to_contain_text(
            "(Nothing published 18 Jan 2025 to 20 Jan 2025 (yesterday) answers it; this is from 13 Jan 2025.)"
        )
        expect(earlier.locator(".rag-answer")).not_to_contain_text("920")
        screenshot(page, "13-as-of-earlier-answer")

        _start_again_as_of(page, as_of, "2020-01-15")
        refused = ask(page, "How many homes did the Glenhaven wildfires burn this week?")
        refusal = refused.locator(".rag-answer.rag-abstained")
        expect(refusal).to_have_text(
            f"{ABSTENTION} No article published from 7 Jan 2020 to 15 Jan 2020 answers it."
        )
        screenshot(page, "13b-as-of-nothing-before")
        assert "Traceback" not in page.content()
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def _rows(page: Page) -> Locator:
    return page.locator("#rag-articles tbody tr")


def test_articles_tab_searches_sorts_and_pages_an_archive(browser: Browser, archive_server: Server) -> None:
    page = open_page(browser, archive_server.url)
    table = page.locator("#rag-articles")
    count = table.locator(".rag-count")
    page_number = page.locator("#rag-page input")
    search = page.locator("#rag-search").locator("input, textarea")
    try:
        _tab(page, "Articles")
        expect(count).to_have_text("Showing 1–50 of 120 · page 1 of 3 · 120 articles, 120 chunks indexed")
        expect(_rows(page)).to_have_count(50)
        expect(_rows(page).first).to_contain_text(archive_title(119))
        # Story 100 heads its group; its three copies follow it, newest first, indented.
        canonical = _rows(page).nth(19)
        expect(canonical).to_contain_text(archive_title(100))
        expect(canonical.locator(".rag-group")).to_have_text("3 copies")
        for offset, number in enumerate((97, 40, 13), 20):
            copy = _rows(page).nth(offset)
            expect(copy).to_contain_text(archive_title(number))
            expect(copy.locator(".rag-group")).to_have_text(f"copy of “{archive_title(100)}”")
            expect(copy).to_have_class("rag-copy")
        screenshot(page, "14-archive-first-page-with-copies")

        page.locator("#rag-next").click()
        expect(count).to_contain_text("Showing 51–100 of 120 · page 2 of 3")
        expect(page_number).to_have_value("2")
        expect(_rows(page).first).to_contain_text(archive_title(71))
        page.locator("#rag-next").click()
        expect(count).to_contain_text("Showing 101–120 of 120 · page 3 of 3")
        expect(_rows(page)).to_have_count(20)
        expect(_rows(page).last).to_contain_text(archive_title(0))
        page.locator("#rag-next").click()  # already the last page
        expect(page_number).to_have_value("3")
        page.locator("#rag-previous").click()
        expect(count).to_contain_text("Showing 51–100")
        page_number.fill("1")
        page_number.press("Enter")
        expect(count).to_contain_text("Showing 1–50")

        # The delete control offers the page's articles, not the whole archive.
        page.locator("#rag-delete-choice input").click()
        expect(page.get_by_role("option")).to_have_count(50)
        page.keyboard.press("Escape")

        search.fill("RAILWAY")
        railway = len(range(2, ARCHIVE_SIZE, len(ARCHIVE_TOPICS)))
        expect(count).to_have_text(
            f"Showing 1–{railway} of {railway} matching “RAILWAY” · page 1 of 1 · 120 articles, 120 chunks indexed"
        )
        expect(_rows(page).first).to_contain_text(archive_title(116))
        page.locator("#rag-order").get_by_text("Oldest first").click()
        expect(_rows(page).first).to_contain_text(archive_title(2))
        expect(_rows(page).last).to_contain_text(archive_title(116))
        page.locator("#rag-delete-choice input").click()
        expect(page.get_by_role("option")).to_have_count(railway)
        page.keyboard.press("Escape")
        screenshot(page, "15-archive-search-oldest-first")

        search.fill(XSS_IMG)
        expect(count).to_have_text(f"No article matching “{XSS_IMG}” · 120 articles, 120 chunks indexed")
        expect(page.locator("#rag-delete-choice input")).to_have_value("")
        search.fill("")
        page.locator("#rag-order").get_by_text("Title A–Z").click()
        page.locator("#rag-copies-only input").check()
        expect(count).to_contain_text("Showing 1–4 of 4 in groups of copies")
        expect(_rows(page)).to_have_count(4)
        for row, number in enumerate((100, 13, 40, 97)):  # the group together, copies A–Z
            expect(_rows(page).nth(row)).to_contain_text(archive_title(number))
        screenshot(page, "16-archive-groups-of-copies")
        assert page.locator("#rag-articles img").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_article_filter_of_an_archive(browser: Browser, archive_server: Server) -> None:
    page = open_page(browser, archive_server.url)
    only = page.locator("#rag-only")
    try:
        _tab(page, "Settings")
        expect(only).to_contain_text(f"The newest {FILTER_CHOICES} are listed")
        only.locator("input").click()
        # The list renders a window of its options; each says how many there are.
        expect(page.get_by_role("option").first).to_have_attribute("aria-setsize", str(FILTER_CHOICES))
        expect(page.get_by_role("option").first).to_contain_text(f"{archive_title(20)} (archive-020.txt)")
        # Story 5 is not listed, and typing part of its title picks it all the same.
        only.locator("input").fill("ARCHIVE 005")
        expect(page.get_by_role("option")).to_have_count(0)
        only.locator("input").press("Enter")
        page.keyboard.press("Escape")
        expect(page.get_by_role("option")).to_have_count(0)
        expect(only.locator(".token")).to_have_text(["ARCHIVE 005"])
        screenshot(page, "17-archive-article-filter")

        _tab(page, "Chat")
        reply = ask(page, f"How much will {FACTS[5].town} spend on bridge repairs?")
        expect(reply.locator(".rag-answer")).to_contain_text("agreed to spend 72 thousand")
        expect(page.locator("#rag-src-0-1")).to_contain_text(archive_title(5))
        _tab(page, "Settings")  # which refreshes the choices, keeping what was typed
        expect(only.locator(".token")).to_have_text(["ARCHIVE 005"])
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_conversation_downloads_as_markdown_and_json(page: Page) -> None:
    markdown_button = page.locator("#rag-export-md")
    json_button = page.locator("#rag-export-json")
    expect(markdown_button).to_be_disabled()
    question = "Who is the US Commerce Secretary?"
    ask(page, question)
    expect(markdown_button).to_be_enabled()
    screenshot(page, "17-export-buttons")

    with page.expect_download() as started:
        markdown_button.click()
    download = started.value
    assert re.fullmatch(r"conversation-\d{4}-\d\d-\d\d\.md", download.suggested_filename)
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith(f"# Conversation with the articles\n\n## 1. {question}\n\n")
    assert "**Howard Lutnick** — " in markdown
    assert "\n\nSources:\n\n- [1] **What’s in it for Beijing" in markdown
    assert "[straitstimes.com](https://straitstimes.com)" in markdown
    quote = next(line for line in markdown.splitlines() if line.startswith("  > "))
    assert "US Commerce Secretary Howard Lutnick said in an interview on March 9" in quote

    with page.expect_download() as started:
        json_button.click()
    exported = json.loads(Path(started.value.path()).read_text(encoding="utf-8"))
    assert [turn["question"] for turn in exported] == [question]
    assert exported[0]["answer"]["citations"][0]["title"].startswith("What’s in it for Beijing")

    page.locator("#rag-clear").click()
    expect(markdown_button).to_be_disabled()
    assert page.errors == []  # type: ignore[attr-defined]
