"""The conversation as a file to keep: Markdown for people, JSON for programs.

Both are made from the turns' final `Answer` objects, never by asking again. Titles, quotes and
answers are untrusted text: the Markdown escapes them, so a Markdown viewer shows markup in an
article as text, and its only links are the articles' http(s) sources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answering import CAVEAT
from ui.render import source_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.types import Answer, Passage

__all__ = ["Turn", "conversation_json", "conversation_markdown"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a conversation: the question and its answer, or why there is none."""

    question: str
    answer: Answer | None = None
    error: str = ""


_SPECIAL = re.compile(r"[\\`*_\[\]<>&|~]")
_MARKER = re.compile(r"\\\[(\d+)\\\](?![(\[:])")
"""An escaped `[n]` that no link can be made of: shown as written."""


def _md(text: str) -> str:
    """`text` on one line, as Markdown that displays exactly that text."""
    escaped = _SPECIAL.sub(r"\\\g<0>", " ".join(text.split()))
    escaped = re.sub(r"^([#=+-])", r"\\\1", escaped)  # not a heading or a list
    escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)
    return _MARKER.sub(r"[\1]", escaped)


def _answer_text(answer: Answer) -> list[str]:
    """The answer's paragraphs; as in the chat, a caveat in italics and the short answer in bold."""
    text, lead = answer.text, []
    if not answer.abstained and text.startswith(CAVEAT):
        lead.append(f"*{_md(CAVEAT)}*")
        text = text[len(CAVEAT) :].lstrip(" ")
    short = None if answer.abstained else answer.short_answer
    if short is not None and text.startswith(f"{short.text} —"):
        lead.append(f"**{_md(short.text)}** —")
        text = text[len(short.text) + 2 :].lstrip(" ")
    paragraphs = [_md(line) for line in text.split("\n") if line.strip()] or [""]
    paragraphs[0] = " ".join([*lead, paragraphs[0]]).rstrip()
    return paragraphs


def _link(label: str, url: str) -> str:
    """A Markdown link to an http(s) `url`; characters that could end the link are percent-encoded."""
    target = url.translate({ord(c): f"%{ord(c):02X}" for c in '()<>\\"'})
    return f"[{_md(label)}]({target})"


def _meta(source: str, date: str) -> str:
    """What follows a title: " — source · date", the source linked when it is a web address."""
    url = source_url(source)
    parts = [_link(source, url) if url else _md(source)] if source else []
    if date:
        parts.append(_md(date))
    return " — " + " · ".join(parts) if parts else ""


def _answer_markdown(answer: Answer) -> list[str]:
    blocks = []
    if answer.rewritten_query != answer.question:
        blocks.append(f"*Searched for: {_md(answer.rewritten_query)}*")
    blocks += _answer_text(answer)
    if answer.confidence is not None and not answer.abstained:
        blocks.append(f"Confidence {answer.confidence:.2f}")
    if answer.as_of:
        blocks.append(f"As of {answer.as_of}")
    blocks += [f"Note: {_md(note)}" for note in answer.notes]
    dates = {p.chunk_id: p.date for p in answer.passages}
    if answer.citations:
        items = [
            f"- [{c.n}] **{_md(c.title)}**{_meta(c.source, dates.get(c.chunk_id, ''))}\n  > {_md(c.quote)}"
            for c in answer.citations
        ]
        blocks += ["Sources:", "\n".join(items)]
    elif answer.related:
        articles: dict[str, Passage] = {}
        for p in answer.related:
            articles.setdefault(p.doc_id, p)
        items = [f"- **{_md(p.title)}**{_meta(p.source, p.date)}" for p in articles.values()]
        blocks += ["Related passages (not an answer):", "\n".join(items)]
    return blocks


def conversation_markdown(turns: Sequence[Turn]) -> str:
    """Per turn: the question as a heading; the *Searched for* line when it was rewritten; the answer
    (or the problem); the cited passages with title, source (linked) and date, and their quotes."""
    blocks = ["# Conversation with the articles"]
    for number, turn in enumerate(turns, 1):
        blocks.append(f"## {number}. {_md(turn.question)}")
        if turn.answer is None:
            blocks.append(f"*No answer: {_md(turn.error)}*")
        else:
            blocks += _answer_markdown(turn.answer)
    return "\n\n".join(blocks) + "\n"


def conversation_json(turns: Sequence[Turn]) -> str:
    """A list with, per turn, the question, the answer as `rag ask --json` prints it (null when there
    is none) and the problem ("" when answered)."""
    items = [
        {
            "question": turn.question,
            "answer": None if turn.answer is None else turn.answer.to_json(),
            "error": turn.error,
        }
        for turn in turns
    ]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"
