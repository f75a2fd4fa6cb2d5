"""HTML for the chat: answers, sources, articles. Every piece of text is escaped here.

Article text, titles, file names and model output are untrusted: they are shown as text,
never interpreted as HTML or markdown. The chat component gets finished HTML from these
functions (its markdown rendering is off), so escaping once here is the whole defence.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rag.answering import CAVEAT
from rag.asof import spoken_day
from rag.citations import MARKER

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ingest.pipeline import FileResult
    from rag.types import Answer, Citation, DocRecord, Passage

__all__ = [
    "ORDERS",
    "PAGE_SIZE",
    "PANEL_SCRIPT",
    "PANEL_TURNS",
    "SOURCES_ID",
    "ArticlePage",
    "answer_message",
    "article_page",
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


def _count(number: int, noun: str, plural: str = "") -> str:
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


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
    if answer.as_of and answer.as_of != dt.date.today().isoformat():
        parts.append(
            f'<div class="rag-as-of">As of {spoken_day(answer.as_of)}: later articles were not used.</div>'
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
            f'<div class="rag-quote">{_text(_short(citation.quote))}</div>{_also(passage)}</li>'
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


def _also(passage: Passage | None) -> str:
    """The near-copies of a passage's article, which retrieval skipped ("" for none)."""
    if passage is None or not passage.also_published_by:
        return ""
    return f'<div class="rag-also">Also published as: {_text("; ".join(passage.also_published_by))}</div>'


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

PAGE_SIZE = 50
"""Rows on one page of the articles table."""

ORDERS = {"newest": "Newest first", "oldest": "Oldest first", "title": "Title A–Z"}
"""The orders of the articles table (key: label). Undated articles come last in both date orders."""


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """One page of the articles that match a search, and what it shows of their groups of copies."""

    rows: tuple[DocRecord, ...]
    number: int
    """This page's number, from 1; a page past the end is the last one."""
    pages: int
    first: int
    """Position of `rows[0]` among the matches, from 1 (0 when nothing matched)."""
    matched: int
    total: int
    """Articles indexed."""
    chunks: int
    """Chunks indexed."""
    query: str = ""
    copies_only: bool = False
    copies: Mapping[str, int] = field(default_factory=dict)
    """For each canonical article on the page that has copies: how many."""
    originals: Mapping[str, str] = field(default_factory=dict)
    """For each copy on the page: its canonical article's title (its id, if that is not indexed)."""


def _ordered(records: Iterable[DocRecord], order: str) -> list[DocRecord]:
    by_title = sorted(records, key=lambda r: (r.title.casefold(), r.doc_id))
    if order == "title":
        return by_title
    dated = [r for r in by_title if r.date]
    dated.sort(key=lambda r: r.date, reverse=order == "newest")  # stable: A–Z within a day
    return dated + [r for r in by_title if not r.date]


def article_page(
    records: Sequence[DocRecord],
    query: str = "",
    order: str = "newest",
    page: int = 1,
    *,
    copies_only: bool = False,
    size: int = PAGE_SIZE,
) -> ArticlePage:
    """Page `page` of the articles whose title, source or id contains `query` (in any case), sorted by
    `order` (a key of `ORDERS`), each canonical article followed by its copies that match too.

    `copies_only` keeps only the articles in a group of copies. The whole list is filtered and
    sorted (milliseconds for thousands of records); only the page is rendered.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    by_id = {r.doc_id: r for r in records}
    copies: dict[str, int] = {}
    for r in records:
        if r.duplicate_of:
            copies[r.duplicate_of] = copies.get(r.duplicate_of, 0) + 1
    needle = query.strip().casefold()
    matched = [
        r
        for r in records
        if (not needle or needle in f"{r.title}\n{r.source}\n{r.doc_id}".casefold())
        and (not copies_only or r.duplicate_of or r.doc_id in copies)
    ]
    shown = {r.doc_id for r in matched}
    followers: dict[str, list[DocRecord]] = {}
    leaders = []
    for r in matched:
        canonical = by_id.get(r.duplicate_of)
        if canonical is not None and canonical.doc_id in shown and not canonical.duplicate_of:
            followers.setdefault(canonical.doc_id, []).append(r)
        else:
            leaders.append(r)
    listed = []
    for leader in _ordered(leaders, order):
        listed.append(leader)
        listed.extend(_ordered(followers.get(leader.doc_id, ()), order))
    pages = max(1, -(-len(listed) // size))
    number = min(max(1, page), pages)
    rows = tuple(listed[(number - 1) * size : number * size])
    return ArticlePage(
        rows=rows,
        number=number,
        pages=pages,
        first=(number - 1) * size + 1 if rows else 0,
        matched=len(listed),
        total=len(records),
        chunks=sum(r.n_chunks for r in records),
        query=query.strip(),
        copies_only=copies_only,
        copies={r.doc_id: copies[r.doc_id] for r in rows if r.doc_id in copies},
        originals={
            r.doc_id: by_id[r.duplicate_of].title if r.duplicate_of in by_id else r.duplicate_of
            for r in rows
            if r.duplicate_of
        },
    )


def _date_cell(record: DocRecord) -> str:
    """The date, and under it where it was read ("from the URL")."""
    if not record.date_source:
        return _text(record.date)
    where = {"html meta": "HTML meta", "pdf": "PDF", "url": "URL"}.get(record.date_source, record.date_source)
    return f'{_text(record.date)}<br><span class="rag-date-source">from the {_text(where)}</span>'


def _article_row(record: DocRecord, page: ArticlePage) -> str:
    """Title, file id and place in a group of copies; source; date; chunks."""
    title = (
        f'<span class="rag-title">{_text(record.title)}</span>'
        f'<br><span class="rag-doc-id">{_text(record.doc_id)}</span>'
    )
    kind = ""
    if record.doc_id in page.originals:
        kind = ' class="rag-copy"'
        title += f'<br><span class="rag-group">copy of “{_text(page.originals[record.doc_id])}”</span>'
    elif record.doc_id in page.copies:
        title += f'<br><span class="rag-group">{_count(page.copies[record.doc_id], "copy", "copies")}</span>'
    return (
        f"<tr{kind}><td>{title}</td><td>{_source(record.source)}</td>"
        f"<td>{_date_cell(record)}</td><td>{record.n_chunks}</td></tr>"
    )


def articles_table(page: ArticlePage) -> str:
    """One page of the indexed articles, under a line saying which rows of how many it shows."""
    if not page.total:
        return (
            '<p class="rag-empty">No articles indexed yet. Upload .txt, .md, .html or .pdf files below, '
            "or run <code>rag ingest PATH</code>.</p>"
        )
    which = []
    if page.query:
        which.append(f"matching “{_text(page.query)}”")
    if page.copies_only:
        which.append("in groups of copies")
    of = " ".join([f"{page.matched:,}", *which])
    indexed = f"{_count(page.total, 'article')}, {_count(page.chunks, 'chunk')} indexed"
    if not page.rows:
        return f'<p class="rag-count">No article {" and ".join(which)} · {indexed}</p>'
    last = page.first + len(page.rows) - 1
    rows = "".join(_article_row(r, page) for r in page.rows)
    return (
        f'<p class="rag-count">Showing {page.first:,}–{last:,} of {of} · page {page.number:,} of '
        f"{page.pages:,} · {indexed}</p>"
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
.rag-articles tr.rag-copy td:first-child { padding-left: 1.8em; }
.rag-group { font-size: 0.85em; font-style: italic; }
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
