"""Helpers for the chat tests: made-up articles, launching the app, driving a page."""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rag.answering import Answerer, Draft
from rag.assistant import Assistant
from tests.support import REPO, Fact, free_port
from ui.app import build_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Locator, Page

    from rag.answering import AnswerRequest
    from rag.settings import Settings
    from rag.types import DocRecord

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"

XSS_SCRIPT = "<script>window.__pwned=1</script>"
XSS_IMG = '<img src=x onerror="window.__pwned=1">'
XSS_LINK = "[click](javascript:window.__pwned=1)"
XSS_FILE = "<img src=x onerror=window.__pwned=1>.txt"
XSS_TITLE = f"Lantern {XSS_SCRIPT} festival {XSS_IMG}"
XSS_ARTICLE = f"""Title: {XSS_TITLE}
Source: javascript:window.__pwned=1
Date: 2024-06-01

The Glimmerton lantern festival is held every year on the first Sunday of June {XSS_SCRIPT} and draws crowds {XSS_IMG} to the old harbour {XSS_LINK}.

Organisers of the Glimmerton festival said about four thousand paper lanterns were released over the water last year, and that volunteers collected them from the harbour the next morning.
"""


FACTS = [
    Fact("Port Velloran", "harbour master", "Ingrid Castellane", 12),
    Fact("Kestrel Falls", "fire chief", "Tobias Wernicke", 9),
    Fact("Amberley Cross", "head librarian", "Priya Ramanathan", 15),
    Fact("Dunmore Quay", "ferry inspector", "Oskar Lindqvist", 7),
    Fact("Saltmarsh Green", "chief gardener", "Mireille Fontaine", 21),
    Fact("Hollowbrook", "water commissioner", "Kwame Asante", 11),
    Fact("Ravensmoor", "museum curator", "Leonora Baptiste", 18),
    Fact("Tarnwick", "railway stationmaster", "Hamish Dalgleish", 6),
    Fact("Elderglen", "school principal", "Yuki Tanabe", 14),
    Fact("Copperfield Bay", "lighthouse keeper", "Esteban Marquez", 25),
]


# Three stories on one topic for the as-of setting: from 2020, from the week of 15 January 2025,
# and from after that day.
DATED = {
    "glenhaven-2020.txt": """Title: Wildfires burn homes near Glenhaven
Source: https://news.example.org/2020/09/08/glenhaven-fires
Date: 2020-09-08

Wildfires burned 40 homes near Glenhaven, the county fire service said on Tuesday.

Crews from three counties were sent to the hills above the town.
""",
    "glenhaven-2025.txt": """Title: Glenhaven wildfires force evacuations
Source: https://news.example.org/2025/01/13/glenhaven-evacuations
Date: 2025-01-13

Wildfires burned 310 homes near Glenhaven, the county fire service said on Monday.

Thousands of residents were told to leave before the wind picked up.
""",
    "glenhaven-final.txt": """Title: Glenhaven wildfires: the final count
Source: https://news.example.org/2025/02/03/glenhaven-final-count
Date: 2025-02-03

Wildfires burned 920 homes near Glenhaven in the final count, the county fire service said.

Rebuilding will take years, the mayor said.
""",
}


# An archive for the Articles tab: 120 short stories, one a day from 1 January 2024, on six topics
# in turn; three of them are copies of story 100 (see `MarkedCopies`).
ARCHIVE_SIZE = 120
ARCHIVE_TOPICS = ["harbour dredging", "library hours", "railway timetable", "school budget", "market fees", "bridge repairs"]  # fmt: skip
ARCHIVE_SOURCES = ["Coast Gazette", "https://valley-herald.example/news", "Wire Service"]
ARCHIVE_COPIES = {"archive-097.txt": "archive-100.txt", "archive-040.txt": "archive-100.txt", "archive-013.txt": "archive-100.txt"}  # fmt: skip


def archive_title(number: int) -> str:
    return f"Archive {number:03d}: {ARCHIVE_TOPICS[number % len(ARCHIVE_TOPICS)]} in {FACTS[number % len(FACTS)].town}"


def archive_articles() -> dict[str, str]:
    """File name -> text of each story of the archive."""
    articles = {}
    for number in range(ARCHIVE_SIZE):
        day = datetime.date(2024, 1, 1) + datetime.timedelta(days=number)
        topic, town = ARCHIVE_TOPICS[number % len(ARCHIVE_TOPICS)], FACTS[number % len(FACTS)].town
        articles[f"archive-{number:03d}.txt"] = (
            f"Title: {archive_title(number)}\n"
            f"Source: {ARCHIVE_SOURCES[number % len(ARCHIVE_SOURCES)]}\n"
            f"Date: {day.isoformat()}\n\n"
            f"The {town} council discussed {topic} at meeting number {number}, and agreed to spend "
            f"{number * 13 + 7} thousand on it over {number % 5 + 2} years.\n"
        )
    return articles


class MarkedCopies(Assistant):
    """An assistant whose article list marks `copies` (copy id -> canonical id) as near-copies, and no
    other article, whatever ingest detected: the tab's groups stay the same while detection changes."""

    def __init__(self, settings: Settings, copies: dict[str, str], **collaborators: Any) -> None:
        super().__init__(settings, **collaborators)
        self.copies = copies

    def articles(self) -> list[DocRecord]:
        return [
            dataclasses.replace(r, duplicate_of=self.copies.get(r.doc_id, "")) for r in super().articles()
        ]


@dataclass
class Server:
    """The app served in this process: its address and the assistant behind it."""

    url: str
    assistant: Assistant
    demo: Any


def launch(assistant: Assistant) -> Server:
    demo = build_app(assistant)
    demo.queue()
    port = free_port()
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        server_port=port,
        quiet=True,
        max_file_size=int(assistant.settings.max_file_mb * 1_000_000),
        run_history=False,
        ssr_mode=False,
    )
    return Server(f"http://127.0.0.1:{port}/", assistant, demo)


def open_page(browser: Browser, url: str) -> Page:
    """A fresh session (own cookies and storage) on the app, loaded and connected."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    hosts: set[str] = set()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(url)
    page.locator("#rag-question textarea").wait_for()
    page.locator("#rag-sources").wait_for()
    page.errors = errors  # type: ignore[attr-defined]
    page.hosts = hosts  # type: ignore[attr-defined]
    return page


def screenshot(page: Page, name: str) -> Path:
    """Saves the page to test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def bot_messages(page: Page) -> Locator:
    """The assistant's messages in the chat, oldest first."""
    return page.locator("#rag-chat [data-testid=bot]")


def ask(page: Page, question: str) -> Locator:
    """Types a question, presses Enter and waits for the final answer (or error) of that turn."""
    before = bot_messages(page).count()
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")
    reply = bot_messages(page).nth(before)
    reply.locator(".rag-answer:not(.rag-streaming), .rag-error").wait_for()
    return reply


class ScriptedAnswerer(Answerer):
    """Streams `pieces` (`pause` seconds apart), then raises `failure` or returns them as the draft."""

    name = "scripted"

    def __init__(self, pieces: list[str], failure: Exception | None = None, pause: float = 0.0) -> None:
        self.pieces = pieces
        self.failure = failure
        self.pause = pause

    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        for piece in self.pieces:
            yield piece
            time.sleep(self.pause)
        if self.failure is not None:
            raise self.failure
        yield Draft(text="".join(self.pieces))
