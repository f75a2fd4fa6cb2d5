"""Questions about an article itself: who wrote it, its headline, what it is about, when and where
it was published.

Their words match no passage ("Who wrote this article?"), so retrieval cannot find the answer:
it is read from the article's byline, headline and lead, and from its record (date, source).
`about_article` tells such a question apart; `byline` and `lead` find the passages that answer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import lexical_terms, sentence_spans

__all__ = [
    "AUTHOR",
    "HEADLINE",
    "OUTLET",
    "PUBLISHED",
    "SUMMARY",
    "Byline",
    "about_article",
    "byline",
    "lead",
    "topic",
]

AUTHOR, HEADLINE, SUMMARY, PUBLISHED, OUTLET = "author", "headline", "summary", "published", "outlet"

_ARTICLE = (
    r"(?:news\s+)?(?:article|story|piece|post|blog(?:\s+post)?|column|op-?ed|editorial|essay|write-?up)"
)
_THIS = rf"(?:\b(?:this|the|that|your)\s+{_ARTICLE}\b|\b{_ARTICLE}(?:'s|’s)(?=\s))"
"""A reference to the article ("this article", "the story's"). Not "the report": articles quote reports."""
_ASKS = {
    AUTHOR: re.compile(
        r"\bwho\s+(?:wrote|authored|penned|has\s+written|is\s+(?:the\s+)?(?:author|writer))\b"
        r"|\b(?:author|writer|byline)s?\b(?!.*\b(?:quot|mention|cite|interview))",
        re.IGNORECASE,
    ),
    HEADLINE: re.compile(
        rf"\b(?:headline|title)\s+(?:of|for)\s+{_THIS}|\b{_ARTICLE}(?:'s|’s)\s+(?:headline|title)\b"
        rf"|\bwhat\s+is\s+(?:this|the)\s+{_ARTICLE}\s+(?:called|titled|headlined)\b",
        re.IGNORECASE,
    ),
    SUMMARY: re.compile(
        r"\b(?:summar(?:y|ise|ize|ising|izing)|sum\s+(?:it\s+)?up|gist|tl;?\s?dr|overview"
        r"|(?:main|key|central)\s+(?:points?|ideas?|topics?|arguments?|messages?|takeaways?|themes?|findings?)"
        r"|takeaways?)\b"
        rf"|\bwhat(?:'s|’s|\s+is|\s+was)\s+(?:this|the|that|it)\s+(?:{_ARTICLE}\s+)?(?:about|on)\s*\??\s*$"
        rf"|\bwhat\s+(?:does|did)\s+{_THIS}\s+(?:say|discuss|cover|argue|report)\s*\??\s*$",
        re.IGNORECASE,
    ),
    PUBLISHED: re.compile(
        r"\bwhen\s+(?:was|is)\s+(?:this|the|that|it)\b.*\b(?:published|written|posted|dated|released)\b"
        rf"|\b(?:publication|publishing)\s+date\b|\bdate\s+of\s+{_THIS}|\b{_ARTICLE}(?:'s|’s)\s+date\b",
        re.IGNORECASE,
    ),
    OUTLET: re.compile(
        r"\b(?:which|what)\s+(?:news(?:paper)?|outlet|publication|paper|site|website|magazine|media"
        r"|news\s+organi[sz]ation)\b.*\b(?:publish|ran|run|print|carr|post)"
        r"|\bwhere\s+(?:was|is)\s+(?:this|the|that|it)\b.*\b(?:published|posted|from)\b"
        rf"|\bsource\s+of\s+{_THIS}",
        re.IGNORECASE,
    ),
}
_BARE = re.compile(
    r"^\s*(?:who\s+(?:wrote|authored|penned)\s+(?:this|it)|who\s+is\s+the\s+(?:author|writer)"
    r"|when\s+was\s+(?:this|it)\s+published|what(?:'s|’s|\s+is)\s+the\s+headline)\W*$",
    re.IGNORECASE,
)
"""Asks about "this"/"it" without naming it: in a chat, the article at hand."""
_FRAMING = set(
    lexical_terms(
        "article's story's piece's post's who wrote write written writes authored author authors writer writers penned byline reporter journalist "
        "story piece post blog column op-ed oped editorial essay write-up news headline title titled called "
        "headlined summary summarise summarize summarising summarizing sum gist tl;dr tldr overview main key "
        "central point points idea ideas topic topics argument arguments message messages takeaway takeaways "
        "theme themes finding findings say says discuss discusses cover covers argue published "
        "publish publication publishing posted dated date released out newspaper outlet site website "
        "magazine media organisation organization source run ran print printed carry carried brief short quick "
        "give tell please me us"
    )
)


def about_article(question: str) -> str | None:
    """What a question asks about the article itself (`AUTHOR`, `HEADLINE`, `SUMMARY`, `PUBLISHED`,
    `OUTLET`), or None for a question about what the articles report."""
    bare = _BARE.match(question)
    if bare:
        asked = bare.group().lower()
        return PUBLISHED if "published" in asked else HEADLINE if "headline" in asked else AUTHOR
    refers = re.search(_THIS, question, re.IGNORECASE) is not None
    for kind, asks in _ASKS.items():
        if not asks.search(question):
            continue
        if kind == SUMMARY:
            # A summary of a subject ("the main points of the White Paper") is a question about it.
            return None if topic(question) else SUMMARY
        # The article must be named as such ("the report", "'Divine Rivals'" are something
        # else); a subject then picks which article ("Who wrote the story about …?").
        return kind if refers else None
    return None


def topic(question: str) -> list[str]:
    """The question's content terms beyond asking about an article: its subject, if it names one
    ("Who wrote the article about the Queen's death?")."""
    return [t for t in lexical_terms(question) if t not in _FRAMING]


_NAME = r"[A-Z][a-z][\w'’\-]*(?:\s+(?:[A-Z]\.|[A-Z][a-z][\w'’\-]*)){1,3}"
"""Two to four capitalised words ("Lim Min Zhang", "Michael J. Fox"); an all-caps outlet ("CNN") is none."""
_OUTLET_WORD = r"[A-Z][\w&'’\-]*(?:\.(?=\w)[\w&'’\-]+)*"
"""A capitalised word; a dot only inside it ("U.S", "Yahoo.com"), never the full stop after it."""
_OUTLET = rf"(?:[Tt]he\s+)?{_OUTLET_WORD}(?:\s+{_OUTLET_WORD}){{0,4}}"
"""A publication's name: "CNN", "USA TODAY", "The Straits Times"."""
_BYLINE = re.compile(
    rf"^(?i:by|written\s+by|story\s+by|words\s+by|reporting\s+by|reported\s+by)\s+"
    # A comma joins names only in a list that ends with "and": after "Jane Doe, " comes the outlet.
    rf"(?P<names>{_NAME}(?:(?:\s*,\s*{_NAME})*\s*,?\s+(?:and|&)\s+{_NAME})?)"
    rf"(?:\s*,\s*(?P<outlet>{_OUTLET})\s*$)?",
    re.MULTILINE,
)
_BIO = re.compile(
    rf"(?P<names>{_NAME})\s+is\s+(?:(?:a|an|the)\s+)?[^.\n]{{0,80}}?\b(?:correspondent|reporter|editor|writer"
    rf"|journalist|columnist|contributor|critic|producer|author|bureau\s+chief)\b"
    rf"(?:\s+(?:at|for|with)\s+(?P<outlet>{_OUTLET}))?"
)
_HEAD_LINES, _TAIL_LINES = 12, 10
"""A byline comes among an article's first lines, an author's note among its last."""


@dataclass(frozen=True, slots=True)
class Byline:
    """Where an article names its author: the sentence (`start`, `end`), the names in it, and the
    publication it names, if any ("By Jane Doe, CNN"; "… correspondent at The Straits Times.")."""

    start: int
    end: int
    name_start: int
    name_end: int
    outlet: tuple[int, int] | None = None


def byline(text: str) -> list[Byline]:
    """The article's bylines ("By Jane Doe, CNN") near its start, else its author notes ("Jane Doe
    is a correspondent at …") near its end; offsets index into `text`."""
    lines = [m for m in re.finditer(r"[^\n]+", text)]
    found = [
        _byline_at(text, line.start(), m)
        for line in lines[:_HEAD_LINES]
        if (m := _BYLINE.match(line.group()))
    ]
    if found:
        return found[:1]
    return [
        _byline_at(text, line.start(), m)
        for line in lines[-_TAIL_LINES:]
        for m in _BIO.finditer(line.group())
        if _starts_sentence(line.group(), m.start())
    ]


def _starts_sentence(line: str, at: int) -> bool:
    return not line[:at].strip() or line[:at].rstrip()[-1:] in ".!?"


def _byline_at(text: str, offset: int, found: re.Match[str]) -> Byline:
    name_start, name_end = offset + found.start("names"), offset + found.end("names")
    outlet = (offset + found.start("outlet"), offset + found.end("outlet")) if found.group("outlet") else None
    for start, end in sentence_spans(text):
        if start <= name_start and name_end <= end:
            return Byline(start, end, name_start, name_end, outlet)
    return Byline(name_start, name_end, name_start, name_end, outlet)


def lead(text: str, title: str, count: int = 2) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """Where the article's text gives its headline (None when it does not), and its first `count`
    sentences of body text after it: the lead, which in news says what the story is about."""
    spans = sentence_spans(text)
    headline = None
    body: list[tuple[int, int]] = []
    for start, end in spans:
        sentence = text[start:end]
        if headline is None and not body and title and sentence.strip() == title.strip():
            headline = (start, end)
            continue
        if len(sentence.split()) < 6 or _BYLINE.match(sentence):
            continue  # a dateline, a byline, a one-line label
        body.append((start, end))
        if len(body) == count:
            break
    return headline, body
