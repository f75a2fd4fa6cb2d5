"""The conversation as files: Markdown a viewer shows as written, JSON with each turn's `Answer.to_json()`."""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from markdown_it import MarkdownIt

from rag.answering import ABSTENTION, CAVEAT
from rag.assistant import Assistant
from rag.types import Answer, Citation, Passage, ShortAnswer
from ui.app import _Handlers
from ui.export import Turn, conversation_json, conversation_markdown

if TYPE_CHECKING:
    from rag.settings import Settings

pytestmark = pytest.mark.fast

PAYLOAD = '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=1) **bold** `code`'


def _passage(text: str, *, title: str, source: str, date: str, chunk: str = "c1") -> Passage:
    return Passage(chunk, f"{chunk}.txt", title, source, text, 100, 100 + len(text), 0.5, date)


def _cited(passage: Passage, quote: str, n: int = 1) -> Citation:
    start = passage.start + passage.text.index(quote)
    return Citation(
        n, passage.doc_id, passage.title, passage.source, passage.chunk_id, start, start + len(quote), quote
    )


def _conversation() -> list[Turn]:
    beijing = _passage(
        "US Commerce Secretary Howard Lutnick said the tariffs would stay.",
        title="What’s in it for Beijing",
        source="straitstimes.com",
        date="2025-03-10",
    )
    quote = "US Commerce Secretary Howard Lutnick said the tariffs would stay."
    first = Answer(
        question="Who is the US Commerce Secretary?",
        rewritten_query="Who is the US Commerce Secretary?",
        text=f"Howard Lutnick — {quote} [1]",
        abstained=False,
        citations=(_cited(beijing, quote),),
        passages=(beijing,),
        short_answer=ShortAnswer("Howard Lutnick", "c1.txt", 122, 136),
        confidence=0.82,
        as_of="2025-03-12",
    )
    follow_up = Answer(
        question="What did he say about tariffs?",
        rewritten_query="What did US Commerce Secretary Howard Lutnick say about tariffs?",
        text=f"{quote} [1]",
        abstained=False,
        citations=(_cited(beijing, quote),),
        passages=(beijing,),
        notes=("the model went away — answered extractively instead",),
    )
    near = _passage("Paris hosted the games.", title="Games", source="Reuters", date="", chunk="c2")
    refused = Answer(
        "What is the capital of France?", "What is the capital of France?", ABSTENTION, True, passages=(near,)
    )
    return [
        Turn(first.question, first),
        Turn(follow_up.question, follow_up),
        Turn("As of when?", error="As of must be a day written YYYY-MM-DD"),
        Turn(refused.question, refused),
    ]


def test_markdown_keeps_questions_answers_citations_and_the_search() -> None:
    markdown = conversation_markdown(_conversation())
    assert markdown == (
        "# Conversation with the articles\n\n"
        "## 1. Who is the US Commerce Secretary?\n\n"
        "**Howard Lutnick** — US Commerce Secretary Howard Lutnick said the tariffs would stay. [1]\n\n"
        "Confidence 0.82\n\n"
        "As of 2025-03-12\n\n"
        "Sources:\n\n"
        "- [1] **What’s in it for Beijing** — [straitstimes.com](https://straitstimes.com) · 2025-03-10\n"
        "  > US Commerce Secretary Howard Lutnick said the tariffs would stay.\n\n"
        "## 2. What did he say about tariffs?\n\n"
        "*Searched for: What did US Commerce Secretary Howard Lutnick say about tariffs?*\n\n"
        "US Commerce Secretary Howard Lutnick said the tariffs would stay. [1]\n\n"
        "Note: the model went away — answered extractively instead\n\n"
        "Sources:\n\n"
        "- [1] **What’s in it for Beijing** — [straitstimes.com](https://straitstimes.com) · 2025-03-10\n"
        "  > US Commerce Secretary Howard Lutnick said the tariffs would stay.\n\n"
        "## 3. As of when?\n\n"
        "*No answer: As of must be a day written YYYY-MM-DD*\n\n"
        "## 4. What is the capital of France?\n\n"
        "The articles don't say.\n\n"
        "Related passages (not an answer):\n\n"
        "- **Games** — Reuters\n"
    )


def test_markdown_sets_a_caveat_apart_and_lists_each_related_article_once() -> None:
    passage = _passage("Lutnick said so.", title="T", source="", date="2025-01-02")
    caveated = Answer(
        "Who?",
        "Who?",
        f"{CAVEAT} Howard Lutnick — Lutnick said so. [1]",
        False,
        citations=(_cited(passage, "Lutnick said so."),),
        passages=(passage,),
        short_answer=ShortAnswer("Howard Lutnick", "c1.txt", 0, 14),
    )
    other = _passage("Elsewhere.", title="U", source="", date="", chunk="c2")
    refused = Answer("Why?", "Why?", ABSTENTION, True, passages=(passage, other, passage))
    markdown = conversation_markdown([Turn("Who?", caveated), Turn("Why?", refused)])
    assert f"*{CAVEAT}* **Howard Lutnick** — Lutnick said so. [1]\n\n" in markdown
    assert "- [1] **T** — 2025-01-02\n  > Lutnick said so.\n" in markdown
    assert markdown.endswith("Related passages (not an answer):\n\n- **T** — 2025-01-02\n- **U**\n")


def test_markdown_shows_markup_as_text() -> None:
    passage = _passage(
        f"Before {PAYLOAD} after.",
        title=f"1. Title {PAYLOAD}",
        source="javascript:alert(1)",
        date="2025-01-01",
    )
    linked = _passage("x", title="# Heading?", source='https://example.org/a_(b)"<x>', date="", chunk="c2")
    answer = Answer(
        question=f"- {PAYLOAD}",
        rewritten_query=f"{PAYLOAD} (context)",
        text=f"{PAYLOAD} [1]\n> quoted\n[1]: https://evil.example",
        abstained=False,
        citations=(_cited(passage, PAYLOAD), _cited(linked, "x", 2)),
        passages=(passage, linked),
        notes=(PAYLOAD,),
    )
    markdown = conversation_markdown([Turn(answer.question, answer), Turn(PAYLOAD, error=PAYLOAD)])
    html = MarkdownIt("commonmark", {"linkify": False}).render(markdown)

    assert (
        "<script" not in html and "<img" not in html and "<strong>bold" not in html and "<code>" not in html
    )
    assert "<blockquote>\n<p>quoted" not in html and "<h1>Heading" not in html and "<ol" not in html
    links = re.findall(r'<a href="([^"]*)"', html)
    assert links == ["https://example.org/a_%28b%29%22%3Cx%3E"], "only the http(s) source is a link"
    text = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    text = text.replace("&amp;", "&")
    assert text.count(PAYLOAD) == 8  # question, searched for, answer, note, title, quote, error turn ×2
    assert "[1]: https://evil.example" in text
    assert "1. Title" in text and "# Heading?" in text and "- <script>" in text


def test_json_is_each_question_with_its_answer_as_rag_ask_json_prints_it() -> None:
    turns = _conversation()
    exported = json.loads(conversation_json(turns))

    assert [item["question"] for item in exported] == [t.question for t in turns]
    assert exported[0]["answer"] == turns[0].answer.to_json()  # type: ignore[union-attr]
    assert exported[0]["answer"]["citations"][0]["date"] == "2025-03-10"
    assert exported[1]["answer"]["rewritten_query"].startswith("What did US Commerce Secretary")
    assert exported[2] == {
        "question": "As of when?",
        "answer": None,
        "error": "As of must be a day written YYYY-MM-DD",
    }
    assert exported[3]["answer"]["abstained"] is True and exported[3]["error"] == ""
    assert json.loads(conversation_json([])) == []


def test_the_download_buttons_get_fresh_files_and_old_ones_go(settings: Settings) -> None:
    handlers = _Handlers(Assistant(settings))
    off = {"__type__": "update", "value": None, "interactive": False}
    assert handlers.export([]) == (off, off)

    turns = _conversation()
    markdown, exported = handlers.export(turns)
    path = Path(markdown["value"])
    assert path.name == f"conversation-{datetime.date.today().isoformat()}.md" and markdown["interactive"]
    assert path.read_text(encoding="utf-8") == conversation_markdown(turns)
    assert Path(exported["value"]).read_text(encoding="utf-8") == conversation_json(turns)
    assert handlers.export(turns)[0]["value"] == str(path)  # the same conversation, the same file

    # Gradio serves its own copy, so an hour on, the next export removes these.
    hours_ago = time.time() - 2 * handlers.EXPORTS_KEPT_S
    os.utime(path.parent, (hours_ago, hours_ago))
    handlers._swept -= handlers.EXPORTS_KEPT_S
    handlers.export(turns[:1])
    assert not path.exists() and Path(exported["value"]).exists()
