"""Fixtures for the chat: a seeded index, the app served on a free port, and a real headless Chromium."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from ui_support import (
    ARCHIVE_COPIES,
    ARCHIVE_SIZE,
    CHROMIUM,
    CHROMIUM_ARGS,
    DATED,
    FACTS,
    XSS_ARTICLE,
    XSS_FILE,
    MarkedCopies,
    ScriptedAnswerer,
    Server,
    archive_articles,
    launch,
    open_page,
)

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from tests.support import SEED_ARTICLE, make_settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, Page

    from rag.embeddings import SentenceTransformerEmbeddings


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed article, ten made-up articles with one fact each, and an article full of markup."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    for number, fact in enumerate(FACTS):
        (folder / fact.file_name).write_text(fact.article(number), encoding="utf-8")
    (folder / XSS_FILE).write_text(XSS_ARTICLE, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def server(
    clean_env: None,
    corpus: Path,
    embedder: SentenceTransformerEmbeddings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The app over an index of `corpus`, shared by the chat tests."""
    settings = make_settings(tmp_path_factory.mktemp("ui") / "data")
    assistant = Assistant(settings, embedder=embedder)
    report = ingest_paths([corpus], settings, index=assistant.index, progress=False)
    assert report.ok and report.documents == len(FACTS) + 2, report.to_json()
    served = launch(assistant)
    yield served
    served.demo.close()


@pytest.fixture(scope="session")
def dated_server(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The app over three dated stories on one topic (`DATED`), for the as-of setting."""
    folder = tmp_path_factory.mktemp("dated")
    for name, text in DATED.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = make_settings(tmp_path_factory.mktemp("ui-dated") / "data")
    assistant = Assistant(settings, embedder=embedder)
    report = ingest_paths([folder], settings, index=assistant.index, progress=False)
    assert report.ok and report.documents == len(DATED), report.to_json()
    served = launch(assistant)
    yield served
    served.demo.close()


@pytest.fixture(scope="session")
def archive_server(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The app over the 120 stories of `archive_articles`, three marked as copies (about 4 s to index)."""
    folder = tmp_path_factory.mktemp("archive")
    for name, text in archive_articles().items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = make_settings(tmp_path_factory.mktemp("ui-archive") / "data")
    assistant = MarkedCopies(settings, ARCHIVE_COPIES, embedder=embedder)
    report = ingest_paths([folder], settings, index=assistant.index, progress=False)
    assert report.ok and report.documents == ARCHIVE_SIZE, report.to_json()
    served = launch(assistant)
    yield served
    served.demo.close()


@pytest.fixture(scope="session")
def empty_server(
    clean_env: None, embedder: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The app over a data folder with no index yet."""
    assistant = Assistant(make_settings(tmp_path_factory.mktemp("ui-empty") / "data"), embedder=embedder)
    served = launch(assistant)
    yield served
    served.demo.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium; missing is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the browser tests need it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A new browser session on the seeded app."""
    opened = open_page(browser, server.url)
    yield opened
    opened.context.close()


@pytest.fixture
def scripted(server: Server, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The seeded index behind an app whose default answerer is `ScriptedAnswerer(**param)`."""
    options = dict(request.param)
    fallback = options.pop("fallback", True)
    settings = make_settings(server.assistant.settings.data_dir, answerer="scripted", llm_fallback=fallback)
    assistant = Assistant(
        settings,
        embedder=server.assistant.embedder,
        index=server.assistant.index,
        answerer=ScriptedAnswerer(**options),
    )
    served = launch(assistant)
    yield served
    served.demo.close()
