"""HTML for the chat: answers, sources, articles. Every piece of text is escaped here.

Article text, titles, file names and model output are untrusted: they are shown as text,
never interpreted as HTML or markdown. The chat component gets finished HTML from these
functions (its markdown rendering is off), so escaping once here is the whole defence.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rag.answering import CAVEAT
from rag.citations import MARKER

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ingest.pipeline import FileResult
    from rag.types import Answer, Citation, DocRecord, Passage

__all__ = [
    "PANEL_SCRIPT",
    "PANEL_TURNS",
    "SOURCES_ID",
    "answer_message",
    "articles_table",
    "error_message",
    "ingest_report",
    "notice",
    "pending_message",
    "source_url",
    "sources_panel",
    "user_message",
]

SOURCES_ID = "rag-sources"
"""DOM id of the sources panel; citation links in the chat point into it."""

PANEL_TURNS = 20
"""Answers whose sources stay in the panel; older `[n]` links no longer open anything."""

_DOMAIN = re.compile(r"^(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/\S*)?$", re.IGNORECASE)


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _lines(value: str) -> str:
    return "<br>".join(_text(line) for line in value.split("\n"))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _anchor(turn: int, n: int) -> str:
    return f"rag-src-{turn}-{n}"


def source_url(source: str) -> str | None:
    """An http(s) link for an article's source (a URL or a bare domain), or None."""
    value = source.strip()
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        return None
    if _DOMAIN.match(value):
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return value


def _source(source: str) -> str:
    url = source_url(source)
    if url is None:
        return _text(source)
    return f'<a href="{_text(url)}" target="_blank" rel="noopener noreferrer nofollow">{_text(source)}</a>'


def _meta(source: str, date: str) -> str:
    parts = [_source(source)] if source else []
    if date:
        parts.append(_text(date))
    return " · ".join(parts)


# -- chat messages ----------------------------------------------------------------------------


def user_message(question: str) -> str:
    """A question as the user typed it."""
    return f'<div class="rag-question">{_lines(question)}</div>'


def pending_message(text: str) -> str:
    """An answer while it streams; markers are not links yet."""
    body = _lines(text) if text else "…"
    return f'<div class="rag-answer rag-streaming">{body}</div>'


def answer_message(answer: Answer, turn: int) -> str:
    """A final answer: the short answer in bold, a caveat set apart, `[n]` markers linking to
    their passage in the sources panel, and the confidence."""
    cited = {c.n for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in cited:
            return match.group(0)
        space = match.group(0)[: -len(match.group(0).lstrip())]
        return f'{space}<a class="rag-cite" href="#{_anchor(turn, n)}" title="Show source {n}">[{n}]</a>'

    parts = []
    if answer.rewritten_query != answer.question:
        parts.append(f'<div class="rag-rewritten">Searched for: {_text(answer.rewritten_query)}</div>')
    text, lead = answer.text, []
    caveated = not answer.abstained and text.startswith(CAVEAT)
    if caveated:
        lead.append(f'<span class="rag-caveat">{_text(CAVEAT)}</span>')
        text = text[len(CAVEAT) :].lstrip(" ")
    short = None if answer.abstained else answer.short_answer
    if short is not None:
        lead.append(f'<strong class="rag-short">{_text(short.text)}</strong> —')
        text = text.removeprefix(f"{short.text} —").lstrip(" ")
    body = "<br>".join(MARKER.sub(link, _text(line)) for line in text.split("\n"))
    kind = "rag-answer rag-abstained" if answer.abstained else "rag-answer"
    if caveated:
        kind += " rag-caveated"
    parts.append(f'<div class="{kind}">{" ".join([*lead, body])}</div>')
    if answer.abstained and answer.related:
        parts.append('<div class="rag-hint">Related passages (not an answer) are shown under Sources.</div>')
    if answer.confidence is not None and not answer.abstained:
        parts.append(
            '<div class="rag-answer-meta" title="Estimated probability that this answer is right">'
            f"confidence {answer.confidence:.2f}</div>"
        )
    parts.extend(f'<div class="rag-note">Note: {_text(note)}</div>' for note in answer.notes)
    return "".join(parts)


def error_message(message: str) -> str:
    """A problem, said plainly, in place of an answer."""
    return f'<div class="rag-error" role="alert">⚠ {_lines(message)}</div>'


# -- sources panel ----------------------------------------------------------------------------


def _highlighted(passage: Passage, citation: Citation) -> str:
    """The passage with the quote marked, located by offsets (article offsets minus passage start)."""
    start, end = citation.start - passage.start, citation.end - passage.start
    if 0 <= start < end <= len(passage.text) and passage.text[start:end] == citation.quote:
        before, quote, after = passage.text[:start], passage.text[start:end], passage.text[end:]
        return f"{_text(before)}<mark>{_text(quote)}</mark>{_text(after)}"
    return f"<mark>{_text(citation.quote)}</mark>"


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _cited_section(answer: Answer, turn: int) -> list[str]:
    by_chunk = {p.chunk_id: p for p in answer.passages}
    items, views = [], []
    for i, citation in enumerate(answer.citations):
        anchor = _anchor(turn, citation.n)
        current = "true" if i == 0 else "false"
        passage = by_chunk.get(citation.chunk_id)
        date = passage.date if passage else ""
        items.append(
            f'<li><a class="rag-source" href="#{anchor}" aria-current="{current}">'
            f"[{citation.n}] {_text(citation.title)}</a>"
            f' <span class="rag-meta">{_meta(citation.source, date)}</span>'
            f'<div class="rag-quote">{_text(_short(citation.quote))}</div></li>'
        )
        body = _highlighted(passage, citation) if passage else f"<mark>{_text(citation.quote)}</mark>"
        hidden = "" if i == 0 else " hidden"
        views.append(
            f'<article class="rag-passage" id="{anchor}"{hidden}>'
            f"<header><strong>[{citation.n}] {_text(citation.title)}</strong>"
            f' <span class="rag-meta">{_meta(citation.source, date)}</span>'
            f'<span class="rag-offsets">characters {citation.start}–{citation.end} of the article</span></header>'
            f'<p class="rag-passage-text">{body}</p></article>'
        )
    return [
        '<h3 class="rag-heading">Sources</h3>',
        f'<ol class="rag-source-list">{"".join(items)}</ol>',
        *views,
    ]


def _related_section(answer: Answer) -> list[str]:
    cards = [
        f'<article class="rag-related-passage"><header><strong>{_text(p.title)}</strong>'
        f' <span class="rag-meta">{_meta(p.source, p.date)}</span></header>'
        f'<p class="rag-passage-text">{_text(p.text)}</p></article>'
        for p in answer.related
    ]
    return [
        '<h3 class="rag-heading rag-related-heading">Related passages (not an answer)</h3>',
        '<p class="rag-hint">The articles do not answer this question; these are the closest passages.</p>',
        *cards,
    ]


def sources_panel(answers: Sequence[tuple[int, Answer]]) -> str:
    """Sources of each answered turn; the last turn is shown, `[n]` links switch turn and passage."""
    shown = list(answers)[-PANEL_TURNS:]
    if not shown:
        return f'<div id="{SOURCES_ID}"><p class="rag-empty">Sources of the answers appear here.</p></div>'
    sections = []
    for position, (turn, answer) in enumerate(shown):
        hidden = "" if position == len(shown) - 1 else " hidden"
        if answer.citations:
            body = _cited_section(answer, turn)
        elif answer.related:
            body = _related_section(answer)
        else:
            body = ['<p class="rag-empty">No passages matched.</p>']
        sections.append(
            f'<section class="rag-turn" id="rag-turn-{turn}"{hidden}>'
            f'<p class="rag-asked">Answer to: {_text(answer.question)}</p>{"".join(body)}</section>'
        )
    return f'<div id="{SOURCES_ID}">{"".join(sections)}</div>'


# -- articles ---------------------------------------------------------------------------------


def _date_cell(record: DocRecord) -> str:
    """The date, and under it where it was read ("from the URL")."""
    if not record.date_source:
        return _text(record.date)
    where = {"html meta": "HTML meta", "pdf": "PDF", "url": "URL"}.get(record.date_source, record.date_source)
    return f'{_text(record.date)}<br><span class="rag-date-source">from the {_text(where)}</span>'


def articles_table(records: Sequence[DocRecord]) -> str:
    """The indexed articles: title (and file id), source, date (and where it was read), chunks."""
    if not records:
        return (
            '<p class="rag-empty">No articles indexed yet. Upload .txt, .md, .html or .pdf files below, '
            "or run <code>rag ingest PATH</code>.</p>"
        )
    rows = "".join(
        f'<tr><td><span class="rag-title">{_text(r.title)}</span><br><span class="rag-doc-id">{_text(r.doc_id)}</span></td>'
        f"<td>{_source(r.source)}</td><td>{_date_cell(r)}</td><td>{r.n_chunks}</td></tr>"
        for r in records
    )
    chunks = sum(r.n_chunks for r in records)
    return (
        f'<p class="rag-count">{_count(len(records), "article")}, {_count(chunks, "chunk")}</p>'
        '<table class="rag-articles"><thead><tr><th>Title</th><th>Source</th><th>Date</th><th>Chunks</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def notice(message: str, *, error: bool = False) -> str:
    """One status line under the article controls."""
    kind = "rag-error" if error else "rag-ok"
    return f'<p class="{kind}">{_lines(message)}</p>'


def ingest_report(results: Sequence[FileResult], summary: str, problems: Sequence[str] = ()) -> str:
    """What happened to each uploaded file, then the index totals."""
    lines = [f'<li class="rag-error">{_text(p)}</li>' for p in problems]
    for r in results:
        name = r.path.replace("\\", "/").rsplit("/", 1)[-1]
        if r.status == "failed":
            lines.append(f'<li class="rag-error">{_text(name)}: not indexed — {_text(r.reason)}</li>')
        else:
            lines.append(f"<li>{_text(name)}: {_text(r.status)} ({_count(r.chunks, 'chunk')})</li>")
    return f'<ul class="rag-report">{"".join(lines)}</ul><p class="rag-count">{_text(summary)}</p>'


# -- behaviour and style, installed once by the sources panel -----------------------------

_CSS = """
.rag-cite { font-weight: 600; text-decoration: none; padding: 0 0.15em; border-radius: 0.3em;
  background: var(--color-accent-soft, #fde7d4); cursor: pointer; }
.rag-rewritten, .rag-note, .rag-hint, .rag-meta, .rag-offsets, .rag-asked, .rag-doc-id, .rag-count,
.rag-answer-meta, .rag-date-source { font-size: 0.85em; opacity: 0.8; }
.rag-caveat { font-style: italic; opacity: 0.7; }
.rag-offsets { display: block; }
.rag-error { color: var(--error-text-color, #b91c1c); }
.rag-abstained { font-style: italic; }
#rag-sources .rag-heading { margin: 0.4em 0; font-size: 1.05em; }
#rag-sources .rag-source-list { padding-left: 0; list-style: none; margin: 0 0 0.6em 0; }
#rag-sources .rag-source-list li { margin: 0.3em 0; }
#rag-sources .rag-source[aria-current="true"] { font-weight: 700; }
#rag-sources .rag-quote { font-size: 0.85em; opacity: 0.8; font-style: italic; }
#rag-sources .rag-passage, #rag-sources .rag-related-passage {
  border: 1px solid var(--border-color-primary, #ddd); border-radius: 0.5em; padding: 0.6em 0.8em; margin: 0.5em 0; }
#rag-sources .rag-passage-text { white-space: pre-wrap; margin: 0.4em 0 0 0; }
#rag-sources mark { background: #fde68a; color: #1f2937; padding: 0 0.1em; }
#rag-sources [hidden] { display: none !important; }
.rag-articles td, .rag-articles th { padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
"""

PANEL_SCRIPT = (
    """
if (!window.__ragChat) {
  window.__ragChat = true;
  const style = document.createElement('style');
  style.textContent = """
    + json.dumps(_CSS)
    + """;
  document.head.appendChild(style);
  const reveal = (scope) => {
    const mark = scope.querySelector('.rag-turn:not([hidden]) .rag-passage:not([hidden]) mark');
    if (mark) mark.scrollIntoView({block: 'nearest'});
  };
  window.__ragReveal = reveal;
  const select = (turn, n) => {
    const section = document.getElementById(`rag-turn-${turn}`);
    if (!section) return;
    for (const other of section.parentElement.querySelectorAll(':scope > .rag-turn')) {
      other.hidden = other !== section;
    }
    const id = `rag-src-${turn}-${n}`;
    for (const view of section.querySelectorAll('.rag-passage')) view.hidden = view.id !== id;
    for (const link of section.querySelectorAll('.rag-source')) {
      link.setAttribute('aria-current', link.getAttribute('href') === `#${id}` ? 'true' : 'false');
    }
    reveal(section);
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.rag-cite, a.rag-source');
    if (!link) return;
    const found = /^#rag-src-(\\d+)-(\\d+)$/.exec(link.getAttribute('href') || '');
    if (!found) return;
    event.preventDefault();
    select(found[1], found[2]);
  });
}
if (typeof watch === 'function') watch('value', () => window.__ragReveal(element));
"""
)
"""`js_on_load` of the sources panel: adds the style and the `[n]` click handling once, and shows the
highlighted quote of each new answer."""
