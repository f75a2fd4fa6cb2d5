"""The browser chat (Gradio): streamed answers with citations, a sources panel, articles and settings.

A thin adapter over `Assistant`: it renders the `Answer` it gets and never queries again.
`rag chat` calls `serve`; tests call `build_app` and launch it themselves.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import shutil
import sys
import tempfile
import time
import weakref
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, NoIndexError, RagError
from rag.types import Answer
from ui import render
from ui.export import Turn, conversation_json, conversation_markdown
from ui.uploads import discard_upload, ingest_uploads

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import gradio as gr

    from ingest.pipeline import FileResult
    from rag.assistant import Assistant
    from rag.retriever import ArticleFilter
    from rag.settings import Settings
    from rag.types import DocRecord

__all__ = ["build_app", "serve"]

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 8
"""Questions answered at once across all sessions; more wait in the queue."""

FILTER_CHOICES = 100
"""Articles the "Only these articles" filter lists: the newest ones. Typed text matches any article, so an
archive of thousands need not go to every browser on each load."""

_NO_INDEX = "No articles are indexed yet. Add some in the Articles tab, or run: rag ingest PATH"


def _explain(exc: BaseException) -> str:
    """A message for people; unexpected errors go to the server log, not to the page."""
    if isinstance(exc, NoIndexError):
        return _NO_INDEX
    if isinstance(exc, RagError):
        return str(exc)
    log.error("unexpected error in the chat", exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}); the details are in the server log."


def _day(value: str, problem: str) -> str | None:
    """`value` as a YYYY-MM-DD day (None when blank); QuestionError(`problem`) when it is not one."""
    from rag.asof import is_day
    from rag.assistant import QuestionError

    value = (value or "").strip()
    if not value:
        return None
    if not is_day(value):
        raise QuestionError(problem.format(value=value))
    return value


def _article_filter(articles: Sequence[str] | None, date_from: str, date_to: str) -> ArticleFilter | None:
    from rag.retriever import ArticleFilter

    bounds = [
        _day(value, f"{label} date must be YYYY-MM-DD, not {{value!r}} (Settings tab)")
        for label, value in (("From", date_from), ("To", date_to))
    ]
    if not articles and not any(bounds):
        return None
    return ArticleFilter(articles=tuple(articles or ()), date_from=bounds[0], date_to=bounds[1])


def _messages(turns: Sequence[Turn], pending: tuple[str, str] | None = None) -> list[dict[str, str]]:
    messages = []
    for number, turn in enumerate(turns):
        messages.append({"role": "user", "content": render.user_message(turn.question)})
        reply = (
            render.answer_message(turn.answer, number)
            if turn.answer is not None
            else render.error_message(turn.error)
        )
        messages.append({"role": "assistant", "content": reply})
    if pending is not None:
        messages.append({"role": "user", "content": render.user_message(pending[0])})
        messages.append({"role": "assistant", "content": render.pending_message(pending[1])})
    return messages


def _choices(records: Sequence[DocRecord]) -> list[tuple[str, str]]:
    return [(f"{r.title} ({r.doc_id})", r.doc_id) for r in records]


def _filter_choices(records: Sequence[DocRecord], selected: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The article filter's choices: the `FILTER_CHOICES` newest of `records` (undated last) and the
    `selected` ones, in the order of `records`."""
    # A stable sort, so the articles of one day (and the undated ones) keep the order of `records`.
    newest = sorted(records, key=lambda r: r.date, reverse=True)[:FILTER_CHOICES]
    listed = {r.doc_id for r in newest} | set(selected)
    return _choices([r for r in records if r.doc_id in listed])


def _page_number(page: float | None) -> int:
    """The page asked for as a whole number from 1 (the table shows the last page if it is past the end)."""
    return int(page) if page is not None and page >= 1 else 1


def _panel(turns: Sequence[Turn]) -> str:
    return render.sources_panel([(n, t.answer) for n, t in enumerate(turns) if t.answer is not None])


class _Handlers:
    """The event handlers, over one shared `Assistant`; per-session data arrives as arguments."""

    EXPORTS_KEPT_S = 3600.0
    """Export files older than this are removed; Gradio serves its own copy, made when they are returned."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._exports = Path(tempfile.mkdtemp(prefix="rag-chat-exports-"))
        self._swept = time.monotonic()
        weakref.finalize(self, shutil.rmtree, self._exports, ignore_errors=True)

    def ask(
        self,
        question: str,
        turns: Sequence[Turn] | None,
        k: float,
        answerer: str | None,
        articles: Sequence[str] | None,
        date_from: str,
        date_to: str,
        as_of: str,
    ) -> Iterator[tuple[Any, ...]]:
        """Streams the answer into the chat, then shows the final answer and its sources.

        The question is answered as of the day `as_of` (blank: today). A bad setting is a
        message in the chat, and the question stays in its box to ask again once it is fixed.
        """
        import gradio as gr

        turns = list(turns or [])
        if not (question or "").strip():
            yield "", _messages(turns), turns, gr.skip()
            return
        try:
            article_filter = _article_filter(articles, date_from, date_to)
            day = _day(
                as_of,
                "As of must be a day written YYYY-MM-DD, not {value!r} (Settings tab); leave it empty for today",
            )
        except RagError as exc:
            turns.append(Turn(question, error=str(exc)))
            yield question, _messages(turns), turns, gr.skip()
            return
        yield "", _messages(turns, (question, "")), gr.skip(), gr.skip()
        history = [(t.answer.question, t.answer.text) for t in turns if t.answer is not None]
        streamed = ""
        try:
            pieces = self.assistant.stream(
                question,
                history,
                # At the default, the assistant chooses (a list question reads `list_top_k`).
                k=None if int(k) == self.assistant.settings.top_k else int(k),
                article_filter=article_filter,
                answerer=answerer or None,
                as_of=day,
            )
            for piece in pieces:
                if isinstance(piece, Answer):
                    # The final text is authoritative: a fallback answerer may have replaced the stream.
                    turns.append(Turn(question, answer=piece))
                else:
                    streamed += piece
                    yield gr.skip(), _messages(turns, (question, streamed)), gr.skip(), gr.skip()
        except Exception as exc:
            turns.append(Turn(question, error=_explain(exc)))
        yield gr.skip(), _messages(turns), turns, _panel(turns)

    def clear(self) -> tuple[Any, ...]:
        """Forgets this session's conversation."""
        return "", [], [], _panel([])

    def choices(self) -> list[tuple[str, str]]:
        """(label, doc id) of the newest indexed articles, for the article filter; none if unavailable."""
        try:
            return _filter_choices(self.assistant.articles())
        except Exception:
            return []

    def _browse(
        self, records: Sequence[DocRecord], query: str, order: str, page: float | None, copies_only: bool
    ) -> tuple[Any, ...]:
        import gradio as gr

        shown = render.article_page(
            records, query or "", order or "newest", _page_number(page), copies_only=bool(copies_only)
        )
        return render.articles_table(shown), gr.update(choices=_choices(shown.rows), value=None), shown.number

    def browse(self, query: str, order: str, page: float | None, copies_only: bool) -> tuple[Any, ...]:
        """One page of the articles table, and that page's articles as the choices of the delete control."""
        import gradio as gr

        try:
            records = self.assistant.articles()
        except Exception as exc:
            return render.notice(_explain(exc), error=True), gr.skip(), gr.skip()
        return self._browse(records, query, order, page, copies_only)

    def refresh(
        self, query: str, order: str, page: float | None, copies_only: bool, only: Sequence[str] | None
    ) -> tuple[Any, ...]:
        """The page of the articles table on show, the delete choices, and the article filter's choices."""
        import gradio as gr

        try:
            records = self.assistant.articles()
        except Exception as exc:
            return render.notice(_explain(exc), error=True), gr.skip(), gr.skip(), gr.skip()
        return (
            *self._browse(records, query, order, page, copies_only),
            gr.update(choices=_filter_choices(records, only or ()), value=list(only or ())),
        )

    def upload(
        self,
        files: Sequence[str] | None,
        query: str,
        order: str,
        page: float | None,
        copies_only: bool,
        only: Sequence[str] | None,
        progress: Callable[..., Any],
    ) -> tuple[Any, ...]:
        """Copies the uploads into the data folder and indexes them, reporting each file; then
        `refresh`es the articles table on show (`query` … `copies_only`) and the article filter."""
        view = (query, order, page, copies_only, only)
        if not files:
            return (None, render.notice("No file was received.", error=True), "", *self.refresh(*view))
        total = len(files)
        done = 0
        progress((0, total), desc="Indexing", unit="files")

        def advance(result: FileResult) -> None:
            nonlocal done
            done += 1
            progress((done, total), desc="Indexing", unit="files")

        try:
            report, problems = ingest_uploads(
                files,
                self.assistant.settings,
                index=self.assistant.index,
                on_file=advance,
            )
        except Exception as exc:
            status = render.notice(_explain(exc), error=True)
        else:
            summary = report.summary() if report is not None else "Nothing was indexed."
            status = render.ingest_report(report.files if report else [], summary, problems)
        return (None, status, "", *self.refresh(*view))

    def delete(
        self,
        doc_id: str | None,
        query: str,
        order: str,
        page: float | None,
        copies_only: bool,
        only: Sequence[str] | None,
    ) -> tuple[Any, ...]:
        """Removes an article from the index (and its file, if it was uploaded here); then
        `refresh`es the articles table on show (`query` … `copies_only`) and the article filter."""
        view = (query, order, page, copies_only, only)
        if not doc_id:
            return (render.notice("Choose an article to delete.", error=True), "", *self.refresh(*view))
        try:
            record = self.assistant.index.records().get(doc_id)
            if record is None:
                status = render.notice(f"{doc_id} is not in the index (already deleted?).", error=True)
            else:
                self.assistant.delete_article(doc_id)
                discard_upload(record.path, self.assistant.settings)
                status = render.notice(f"Deleted “{record.title}” ({doc_id}).")
        except Exception as exc:
            status = render.notice(_explain(exc), error=True)
        return (status, "", *self.refresh(*view))

    def export(self, turns: Sequence[Turn] | None) -> tuple[Any, ...]:
        """The conversation as a Markdown and a JSON file for the download buttons (off while it is empty)."""
        import gradio as gr

        if not turns:
            return gr.update(value=None, interactive=False), gr.update(value=None, interactive=False)
        self._sweep()
        name = f"conversation-{date.today().isoformat()}"
        buttons = []
        for suffix, text in ((".md", conversation_markdown(turns)), (".json", conversation_json(turns))):
            # Named by content: sessions with the same conversation share it, each replacing it whole.
            folder = self._exports / hashlib.sha256(text.encode()).hexdigest()[:20]
            folder.mkdir(exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False) as part:
                part.write(text)
            path = folder / f"{name}{suffix}"
            Path(part.name).replace(path)
            buttons.append(gr.update(value=str(path), interactive=True))
        return tuple(buttons)

    def _sweep(self) -> None:
        """Removes old export files, at most every few minutes."""
        now = time.monotonic()
        if now - self._swept < self.EXPORTS_KEPT_S / 10:
            return
        self._swept = now
        cutoff = time.time() - self.EXPORTS_KEPT_S
        for folder in self._exports.iterdir():
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat as a Gradio `Blocks`; call `.queue()` and `.launch()` on it (or use `serve`)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from ingest.loaders import SUPPORTED_SUFFIXES
    from rag.answering import available_answerers

    settings = assistant.settings
    handlers = _Handlers(assistant)
    answerers = available_answerers()
    if settings.answerer not in answerers:
        answerers.append(settings.answerer)
    suffixes = sorted(SUPPORTED_SUFFIXES)
    articles = handlers.choices()

    # Gradio finds the progress tracker by this default value.
    def upload(
        files: list[str] | None,
        query: str,
        order: str,
        page: float | None,
        copies_only: bool,
        only: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        return handlers.upload(files, query, order, page, copies_only, only, progress)

    def first_page(query: str, order: str, copies_only: bool) -> tuple[Any, ...]:
        return handlers.browse(query, order, 1, copies_only)

    def previous_page(query: str, order: str, page: float | None, copies_only: bool) -> tuple[Any, ...]:
        return handlers.browse(query, order, (page or 1) - 1, copies_only)

    def next_page(query: str, order: str, page: float | None, copies_only: bool) -> tuple[Any, ...]:
        return handlers.browse(query, order, (page or 1) + 1, copies_only)

    # Gradio deletes its copies of uploads and exports a day old, and all of them when it restarts.
    demo = gr.Blocks(title="Ask the articles", analytics_enabled=False, delete_cache=(3600, 86400))
    with demo:
        turns = gr.State([])
        gr.Markdown(
            "## Ask the articles\nAnswers quote the indexed articles; select a `[n]` to see its passage."
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        elem_id="rag-chat",
                        height=540,
                        render_markdown=False,
                        sanitize_html=True,
                        latex_delimiters=[],
                        buttons=[],
                        feedback_options=None,
                        placeholder="Ask a question about the indexed articles.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            show_label=False,
                            placeholder="Ask a question…",
                            elem_id="rag-question",
                            max_lines=4,
                            scale=5,
                            autofocus=True,
                        )
                        ask = gr.Button("Ask", variant="primary", elem_id="rag-ask", scale=1, min_width=80)
                    with gr.Row():
                        clear = gr.Button("Clear conversation", size="sm", elem_id="rag-clear")
                        export_markdown = gr.DownloadButton(
                            "Download as Markdown", size="sm", interactive=False, elem_id="rag-export-md"
                        )
                        export_json = gr.DownloadButton(
                            "Download as JSON", size="sm", interactive=False, elem_id="rag-export-json"
                        )
                with gr.Column(scale=2):
                    sources = gr.HTML(
                        render.sources_panel([]),
                        label="Sources",
                        elem_id="rag-sources-box",
                        js_on_load=render.PANEL_SCRIPT,
                        max_height=640,
                    )
            with gr.Tab("Articles", id="articles") as articles_tab:
                gr.Markdown("### Indexed articles")
                with gr.Row(equal_height=True):
                    search = gr.Textbox(
                        label="Search",
                        placeholder="Part of a title, source or file name",
                        elem_id="rag-search",
                        scale=4,
                    )
                    order = gr.Radio(
                        [(label, key) for key, label in render.ORDERS.items()],
                        value="newest",
                        label="Sort",
                        elem_id="rag-order",
                        scale=3,
                    )
                    copies_only = gr.Checkbox(
                        label="Only groups of copies", elem_id="rag-copies-only", scale=1, min_width=120
                    )
                with gr.Row(equal_height=True):
                    previous = gr.Button(
                        "‹ Previous", size="sm", elem_id="rag-previous", scale=0, min_width=110
                    )
                    page = gr.Number(
                        1,
                        label="Page",
                        show_label=False,
                        container=False,
                        precision=0,
                        elem_id="rag-page",
                        scale=0,
                        min_width=80,
                    )
                    following = gr.Button("Next ›", size="sm", elem_id="rag-next", scale=0, min_width=110)
                table = gr.HTML(elem_id="rag-articles")
                gr.Markdown(
                    "### Add articles\nIndexed like `rag ingest`: a file named like an earlier upload replaces it."
                )
                files = gr.File(
                    label=f"Add articles ({' '.join(suffixes)}; up to {settings.max_file_mb:g} MB each)",
                    file_count="multiple",
                    file_types=suffixes,
                    elem_id="rag-upload",
                )
                upload_status = gr.HTML(elem_id="rag-upload-status")
                gr.Markdown("### Delete an article")
                with gr.Row():
                    chosen = gr.Dropdown(
                        label="Article (one of the page shown above; search to find it)",
                        choices=[],
                        value=None,
                        elem_id="rag-delete-choice",
                        scale=4,
                    )
                    delete = gr.Button("Delete article", variant="stop", elem_id="rag-delete", scale=1)
                delete_status = gr.HTML(elem_id="rag-delete-status")
            with gr.Tab("Settings", id="settings") as settings_tab:
                k = gr.Slider(
                    1,
                    max(20, settings.top_k),
                    value=settings.top_k,
                    step=1,
                    label="Passages to retrieve",
                    info="How many passages the answer may draw on. At the default, a question that asks "
                    f"for several items draws on {max(settings.top_k, settings.list_top_k)}.",
                    elem_id="rag-k",
                )
                answerer = gr.Dropdown(
                    answerers,
                    value=settings.answerer,
                    label="Answerer",
                    info="`extractive` quotes the articles; the others need a model (see the README).",
                    elem_id="rag-answerer",
                )
                only = gr.Dropdown(
                    label="Only these articles",
                    info=f"The newest {FILTER_CHOICES} are listed; type part of a title or source "
                    "to match any article; empty means all.",
                    choices=articles,
                    value=[],
                    multiselect=True,
                    allow_custom_value=True,
                    elem_id="rag-only",
                )
                with gr.Row():
                    date_from = gr.Textbox(
                        "", label="Published from", placeholder="YYYY-MM-DD", elem_id="rag-from"
                    )
                    date_to = gr.Textbox(
                        "", label="Published until", placeholder="YYYY-MM-DD", elem_id="rag-to"
                    )
                as_of = gr.Textbox(
                    "",
                    label="As of",
                    placeholder="YYYY-MM-DD (empty: today)",
                    info="Answer as of this day: later articles are not used, and “this week”, "
                    "“yesterday” or “last month” in a question count back from it.",
                    elem_id="rag-as-of",
                )

        ask_inputs = [question, turns, k, answerer, only, date_from, date_to, as_of]
        ask_outputs = [question, chatbot, turns, sources]
        chat_queue = {
            "concurrency_id": "chat",
            "concurrency_limit": CHAT_CONCURRENCY,
            "show_progress": "minimal",
            "show_progress_on": [chatbot],
        }
        submitted = question.submit(handlers.ask, ask_inputs, ask_outputs, api_name="ask", **chat_queue)  # type: ignore[arg-type]
        clicked = ask.click(handlers.ask, ask_inputs, ask_outputs, api_visibility="private", **chat_queue)  # type: ignore[arg-type]
        asking: list[dict[str, Any]] = [submitted, clicked]
        # Clearing stops an answer in progress, which would otherwise bring the old history back.
        clear_outputs = [question, chatbot, turns, sources]
        cleared = [
            clear.click(handlers.clear, None, clear_outputs, api_name="clear", queue=False, cancels=asking),
            chatbot.clear(
                handlers.clear, None, clear_outputs, api_visibility="private", queue=False, cancels=asking
            ),
        ]
        # The download buttons follow the conversation: each change writes the files anew.
        exports = [export_markdown, export_json]
        submitted.then(handlers.export, [turns], exports, api_name="export", queue=False)
        for changed in (clicked, *cleared):
            changed.then(handlers.export, [turns], exports, api_visibility="private", queue=False)

        view = [search, order, page, copies_only]
        browse_outputs = [table, chosen, page]
        browsing: dict[str, Any] = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
        # Only the user changes the search box, so `change` is typing and pasting alike.
        search.change(first_page, [search, order, copies_only], browse_outputs, **browsing)
        search.submit(first_page, [search, order, copies_only], browse_outputs, **browsing)
        for control in (order, copies_only):
            control.input(first_page, [search, order, copies_only], browse_outputs, **browsing)
        page.submit(
            handlers.browse, view, browse_outputs, api_name="articles", queue=False, show_progress="hidden"
        )
        previous.click(previous_page, view, browse_outputs, **browsing)
        following.click(next_page, view, browse_outputs, **browsing)

        refresh_outputs = [*browse_outputs, only]
        for event in (demo.load, articles_tab.select, settings_tab.select):
            event(
                handlers.refresh,
                [*view, only],
                refresh_outputs,
                api_visibility="private",
                show_progress="hidden",
            )
        # One writer at a time, outside the chat's queue slots: indexing never blocks questions.
        files.upload(
            upload,
            [files, *view, only],
            [files, upload_status, delete_status, *refresh_outputs],
            api_visibility="private",
            show_progress_on=[files],
            concurrency_id="index",
            concurrency_limit=1,
        )
        delete.click(
            handlers.delete,
            [chosen, *view, only],
            [delete_status, upload_status, *refresh_outputs],
            api_visibility="private",
            show_progress="minimal",
            show_progress_on=[delete_status],
            concurrency_id="index",
            concurrency_limit=1,
        )
    return demo


# -- serving ----------------------------------------------------------------------------------


def _login(settings: Settings) -> tuple[str, str] | None:
    if settings.ui_auth is None:
        return None
    user, colon, password = settings.ui_auth.get_secret_value().partition(":")
    if not colon or not user or not password:
        raise ConfigError("RAG_UI_AUTH must be `user:password` (both non-empty)")
    return user, password


class _LoginThrottle:
    """ASGI middleware that slows down guessing the chat's password: after a failed login, the next
    attempt from the same address waits 0.5 s, doubling with each further failure up to 30 s.

    Attempts from one address are taken one at a time, so parallel guesses wait in turn; a
    successful login, or 15 minutes without a failure, clears the address's count.
    """

    FIRST_DELAY_S = 0.5
    MAX_DELAY_S = 30.0
    FORGET_AFTER_S = 900.0
    MAX_ADDRESSES = 10_000

    def __init__(self, app: Any) -> None:
        self.app = app
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        """Address -> (failed logins in a row, when the last one was), oldest first."""
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, address: str) -> float:
        """Seconds the next login from `address` waits."""
        failures, last = self._failures.get(address, (0, 0.0))
        if not failures or time.monotonic() - last > self.FORGET_AFTER_S:
            return 0.0
        return float(min(self.FIRST_DELAY_S * 2 ** (failures - 1), self.MAX_DELAY_S))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")).rstrip("/")
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.endswith("/login"):
            await self.app(scope, receive, send)
            return
        address = str((scope.get("client") or ("unknown",))[0])
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            await asyncio.sleep(self.delay(address))
            status = 500

            async def watch(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            await self.app(scope, receive, watch)
            self._note(address, failed=status >= 400)
        if address not in self._failures and not lock.locked():
            self._locks.pop(address, None)

    def _note(self, address: str, *, failed: bool) -> None:
        if not failed:
            self._failures.pop(address, None)
            return
        failures = 0 if self.delay(address) == 0 else self._failures[address][0]
        self._failures.pop(address, None)
        self._failures[address] = (failures + 1, time.monotonic())
        while len(self._failures) > self.MAX_ADDRESSES:
            self._failures.popitem(last=False)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_exposure(host: str, settings: Settings) -> str | None:
    """Refuses a non-loopback address without a login; returns a warning when that is allowed anyway."""
    if _is_loopback(host) or settings.ui_auth is not None:
        return None
    if not settings.ui_allow_insecure:
        raise ConfigError(
            f"refusing to serve the chat on {host} without a login: anyone who can reach it could read "
            "and change the index. Set RAG_UI_AUTH=user:password, bind to 127.0.0.1, "
            "or set RAG_UI_ALLOW_INSECURE=true to serve it anyway."
        )
    return f"serving the chat on {host} without a login (RAG_UI_ALLOW_INSECURE is set)"


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    open_browser: bool = False,
    assistant: Assistant | None = None,
) -> int:
    """Serves the chat until interrupted; returns the exit code."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    host = host or settings.ui_host
    port = port or settings.ui_port
    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port} is not a port (1-65535); choose another with --port or RAG_UI_PORT")
    login = _login(settings)
    warning = _check_exposure(host, settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if assistant is None:
        from rag.assistant import Assistant

        assistant = Assistant(settings)
    demo = build_app(assistant)
    demo.queue()
    from starlette.middleware import Middleware

    try:
        demo.launch(
            server_name=host,
            server_port=port,
            inbrowser=open_browser,
            auth=login,
            max_file_size=int(settings.max_file_mb * 1_000_000),
            show_error=False,
            footer_links=["api", "gradio", "settings"],
            run_history=False,
            ssr_mode=False,
            app_kwargs={"middleware": [Middleware(_LoginThrottle)]},
        )
    except (OSError, OverflowError) as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc}); choose another with --port or RAG_UI_PORT"
        ) from None
    return 0
