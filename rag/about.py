"""Questions about an article itself: who wrote it, its headline, what it is about, when and where
it was published.

Their words match no passage ("Who wrote this article?"), so retrieval cannot find the answer:
it is read from the article's byline, headline and lead, and from its record (date, source).
`about_article` tells such a question apart: the whole question must ask it of the article ("the
article", "this story", "it"), so "Who wrote the letter, according to the article?" is a question
about the news. `answer` then quotes the article.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from rag.answering import ABSTENTION, Draft
from rag.asof import spoken_day
from rag.text import sentence_spans
from rag.types import Citation, Passage, ShortAnswer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.types import Chunk, DocRecord

__all__ = [
    "AboutQuestion",
    "Asked",
    "Byline",
    "Lead",
    "about_article",
    "answer",
    "byline",
    "declined",
    "lead",
]

Asked = Literal["author", "headline", "summary", "published", "outlet"]


@dataclass(frozen=True, slots=True)
class AboutQuestion:
    """What a question asks of an article, and the subject it picks the article by, if any
    ("Who wrote the story about *the dredging*?")."""

    asked: Asked
    subject: str = ""
    named: bool = True
    """Whether it names the article ("this article", "the story") rather than "it", "this" or
    nothing: in a conversation, "What is it about?" may be about the last answer's subject."""


# -- telling the questions apart ------------------------------------------------------------------

_KIND = r"(?:news\s+)?(?:article|story)"
_ARTICLE = rf"(?:(?:this|that)\s+(?:{_KIND}|piece|post|blog\s+post|write-?up|column|op-?ed|editorial|essay)|the\s+{_KIND})"
"""The article named as such. Not "the report", "the post" or "the essay": articles report on those."""
_SUBJECT = r"(?:\s+(?:about|on|regarding|covering|concerning)\s+(?P<subject>.+?))?"
_REF = rf"(?:{_ARTICLE}{_SUBJECT}|it|this)"
_POSSESSIVE = rf"(?:{_ARTICLE}'s|its)"
_PATTERNS: dict[Asked, tuple[str, ...]] = {
    "author": (
        rf"who\s+(?:actually\s+|really\s+)?(?:wrote|authored|penned|(?:is|was)\s+the\s+(?:author|writer)\s+of)\s+{_REF}",
        rf"who\s+(?:is|was)\s+{_POSSESSIVE}\s+(?:author|writer|reporter|journalist)",
        rf"who\s+is\s+{_ARTICLE}\s+by",
        rf"by\s+whom\s+was\s+{_REF}\s+written",
        rf"(?:which|what)\s+(?:journalist|reporter|writer|author|correspondent)\s+wrote\s+{_REF}",
        rf"(?:what\s+is\s+the\s+name\s+of|name)\s+the\s+(?:author|writer|reporter|journalist)\s+of\s+{_REF}",
        r"who\s+(?:is|was)\s+the\s+(?:author|writer)",
        rf"(?:what\s+is\s+)?{_POSSESSIVE}\s+byline",
    ),
    "headline": (
        rf"what\s+(?:is|was)\s+(?:the\s+(?:headline|title)\s+of\s+{_REF}|{_POSSESSIVE}\s+(?:headline|title))",
        r"what\s+(?:is|was)\s+the\s+headline",
        rf"what\s+is\s+{_ARTICLE}{_SUBJECT}\s+(?:called|titled|headlined)",
    ),
    "summary": (
        rf"what\s+(?:is|was)\s+(?:{_ARTICLE}|it|this)\s+about",
        rf"(?:please\s+)?(?:summari[sz]e|sum\s+up)(?:\s+{_REF})?",
        rf"(?:give\s+(?:me\s+)?)?(?:an?\s+)?(?:short\s+|quick\s+|brief\s+)?(?:summary|overview|tl;?\s?dr|gist)"
        rf"(?:\s+of\s+{_REF})?",
        r"what\s+(?:is|are)\s+the\s+(?:main|key|central)\s+(?:points?|ideas?|topics?|takeaways?|themes?|arguments?"
        rf"|messages?)(?:\s+(?:of|in)\s+{_REF})?",
        rf"what\s+is\s+the\s+gist(?:\s+of\s+{_REF})?",
        rf"what\s+does\s+{_ARTICLE}\s+say",
    ),
    "published": (
        rf"when\s+(?:was|is)\s+{_REF}\s+published",
        rf"when\s+(?:was|is)\s+{_ARTICLE}{_SUBJECT}\s+(?:written|posted|released|dated)",
        rf"(?:what|which)\s+(?:date|day)\s+was\s+{_REF}\s+published",
        rf"when\s+did\s+{_ARTICLE}{_SUBJECT}\s+come\s+out",
        rf"what\s+is\s+(?:the\s+(?:publication|publishing)\s+date(?:\s+of\s+{_REF})?|{_POSSESSIVE}\s+(?:publication\s+)?date)",
    ),
    "outlet": (
        r"(?:which|what)\s+(?:news(?:paper)?|paper|outlet|publication|site|website|magazine"
        rf"|news\s+(?:outlet|organi[sz]ation|site|agency))\s+(?:published|ran|carried|posted|printed)\s+{_REF}",
        rf"who\s+published\s+{_REF}",
        rf"(?:which|what)\s+(?:newspaper|paper|outlet|publication|site|website|magazine)\s+is\s+{_REF}\s+from",
        rf"where\s+(?:was|is)\s+{_REF}\s+published",
        rf"where\s+is\s+{_ARTICLE}\s+from",
        rf"what\s+is\s+the\s+source\s+of\s+{_REF}",
    ),
}
_ASKS = [
    (asked, re.compile(rf"{pattern}\s*$", re.IGNORECASE))
    for asked, patterns in _PATTERNS.items()
    for pattern in patterns
]
_CONTRACTION = re.compile(r"\b(what|who|where|when|it)'s\b", re.IGNORECASE)
_LEADING = re.compile(
    r"^(?:(?:hi|hello|hey|ok|okay|so|and|please|thanks)\b[\s,!.]*)*"
    r"(?:(?:can|could|would)\s+you\s+(?:please\s+)?(?:tell\s+me\s+)?|do\s+you\s+know\s+|tell\s+me\s+"
    r"|i(?:\s+would|'d)\s+like\s+to\s+know\s+|i\s+wonder\s+)?",
    re.IGNORECASE,
)


def about_article(question: str) -> AboutQuestion | None:
    """What a question asks about the article itself, or None for a question about the news."""
    said = _CONTRACTION.sub(r"\1 is", question.replace("’", "'").strip())
    said = _LEADING.sub("", said)
    said = re.sub(r"(?:,?\s+please)?\s*[?.!]*\s*$", "", said)
    for asked, pattern in _ASKS:
        found = pattern.match(said)
        if found:
            subject = (found.groupdict().get("subject") or "").strip()
            return AboutQuestion(asked, subject, named=re.search(_ARTICLE, said, re.IGNORECASE) is not None)
    return None


# -- bylines and leads ------------------------------------------------------------------------------

_NAME_WORD = r"[A-Z](?:[a-z]|['’][A-Z])[\w'’\-]*"
_NAME = rf"{_NAME_WORD}(?:\s+(?:[A-Z]\.|{_NAME_WORD})){{1,3}}"
"""Two to four capitalised words ("Lim Min Zhang", "Michael J. Fox", "Mary O'Brien"); an all-caps
outlet ("CNN") is none."""
_OUTLET_WORD = r"[A-Z][\w&'’\-]*(?:\.(?=\w)[\w&'’\-]+)*"
"""A capitalised word; a dot only inside it ("U.S", "Yahoo.com"), never the full stop after it."""
_OUTLET = rf"(?:[Tt]he\s+)?{_OUTLET_WORD}(?:\s+{_OUTLET_WORD}){{0,4}}"
"""A publication's name: "CNN", "USA TODAY", "The Straits Times"."""
_BYLINE = re.compile(
    rf"^(?i:by|(?:written|story|words|reporting|reported|compiled(?:\s+and\s+edited)?|edited)\s+by)\s+"
    # A comma joins names only in a list that ends with "and": after "Jane Doe, " comes the outlet.
    rf"(?P<names>{_NAME}(?:(?:\s*,\s*{_NAME})*\s*,?\s+(?:and|&)\s+{_NAME})?)"
    rf"(?:\s*[,|]\s*(?P<outlet>{_OUTLET}))?\s*$"
)
"""A line that is a byline and nothing else ("By Jane Doe, CNN"), not "By Labor Day, prices fell."."""
_ROLE = r"(?:correspondent|reporter|editor|writer|journalist|columnist|contributor|critic|bureau\s+chief)\b"
_NOTE = re.compile(
    rf"(?P<names>{_NAME})\s+is\s+(?:(?:a|an|the)\s+)?(?:[\w,&'’/\-]+\s+){{0,6}}?{_ROLE}"
    rf"(?:\s+(?:at|for|with)\s+(?P<outlet>{_OUTLET}))?"
    rf"|(?P<covers>{_NAME})\s+(?:covers|writes\s+about)\s+[^.\n]{{3,120}}?\s+(?:at|for)\s+(?P<for>{_OUTLET})"
)
"""An author's note: "Lim Min Zhang is China correspondent at The Straits Times."."""
_CONTACT = re.compile(
    rf"(?P<names>{_NAME})\s+can\s+be\s+reached\b"
    rf"|^[Ff]ollow\s+(?P<follow>{_NAME})\s+on\s+(?:Twitter|X|Instagram|Facebook)\b"
    rf"|^(?:Reach|Contact)\s+(?:(?:reporter|columnist|writer|editor)\s+)?(?P<reach>{_NAME})\s+(?:at|on|via)\b"
)
"""An author's contact line: "Nate Ulrich can be reached at …", "Follow Jordan Mendoza on Twitter",
"Reach reporter Ian James at …"."""
_NAME_LINE = re.compile(rf"^(?!The\s){_NAME}$")  # "The Des Moines Register" is no name
_OUTLET_LINE = re.compile(rf"^(?:Special\s+to\s+)?{_OUTLET}(?:\s*[|/]\s*{_OUTLET})*$")
"""A byline on two lines: the name, then the publication ("Kelly Lawler" / "USA TODAY")."""
_REACHABLE = re.compile(r"\b(?:e-?mail|reach(?:ed)?|follow|twitter|@\w)", re.IGNORECASE)
_HEAD_LINES, _TAIL_LINES, _TWO_LINE_BYLINE = 12, 3, 4
"""A byline comes among an article's first lines (one on two lines among the first four), an
author's note among its last paragraphs."""


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
    """The article's byline among its first lines ("By Jane Doe, CNN", or a name over its
    publication: "Kelly Lawler" / "USA TODAY"), else its author's notes among its last paragraphs
    ("Jane Doe is a correspondent at …" with the publication or a way to reach the author, "Jane Doe
    covers … for …", "Jane Doe can be reached at …", "Reach reporter Jane Doe at …"); offsets index
    into `text`."""
    lines = list(re.finditer(r"[^\n]+", text))
    head = lines[:_HEAD_LINES]
    for line in head:
        found = _BYLINE.match(line.group())
        if found:
            return [_byline_at(text, line.start(), found, "names")]
    for line, below in itertools.pairwise(head[:_TWO_LINE_BYLINE]):
        if _NAME_LINE.match(line.group().strip()) and _OUTLET_LINE.match(below.group().strip()):
            start, end = line.start(), line.start() + len(line.group().rstrip())
            outlet = (below.start(), below.start() + len(below.group().rstrip()))
            return [Byline(start, end, start, end, outlet)]
    notes = []
    for line in lines[-_TAIL_LINES:]:
        for found in _NOTE.finditer(line.group()):
            names, publication = ("names", "outlet") if found.group("names") else ("covers", "for")
            reachable = found.group(publication) or _REACHABLE.search(line.group(), found.end())
            if reachable and _starts_sentence(line.group(), found.start()):
                notes.append(_byline_at(text, line.start(), found, names, publication))
        for found in _CONTACT.finditer(line.group()):
            if _starts_sentence(line.group(), found.start()):
                names = next(group for group in ("names", "follow", "reach") if found.group(group))
                notes.append(_byline_at(text, line.start(), found, names))
    return notes


def _starts_sentence(line: str, at: int) -> bool:
    return not line[:at].strip() or line[:at].rstrip()[-1:] in ".!?"


def _byline_at(
    text: str, offset: int, found: re.Match[str], names: str, outlet_group: str = "outlet"
) -> Byline:
    name_start, name_end = offset + found.start(names), offset + found.end(names)
    named = outlet_group in found.re.groupindex and found.group(outlet_group)
    outlet = (offset + found.start(outlet_group), offset + found.end(outlet_group)) if named else None
    for start, end in sentence_spans(text):
        if start <= name_start and name_end <= end:
            return Byline(start, end, name_start, name_end, outlet)
    return Byline(name_start, name_end, name_start, name_end, outlet)


@dataclass(frozen=True, slots=True)
class Lead:
    """Where the article's text gives its headline (None when it does not), and its first sentences
    of body text: the lead, which in news says what the story is about."""

    headline: tuple[int, int] | None
    sentences: list[tuple[int, int]]


_NOT_LEAD = re.compile(
    r"^(?:editor['’]?s\s+note|corrections?(?:\s*(?:&|and)\s*clarifications?)?\s*:|use\s+\w+['’]s\s+lite\s+site"
    r"|(?:from|by)\s+.{0,60}\b(?:network|wire|wires|reports)\s*$)",
    re.IGNORECASE,
)
"""A note before the story ("Editor's note: …", "From USA TODAY Network and wire reports")."""


def lead(text: str, title: str, count: int = 2) -> Lead:
    """The article's headline, if its text starts with it, and its first `count` sentences of body
    text, past datelines, bylines, editors' notes and one-line labels."""
    headline = None
    body: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        if headline is None and not body and title and sentence.strip() == title.strip():
            headline = (start, end)
        elif len(sentence.split()) >= 6 and not _BYLINE.match(sentence) and not _NOT_LEAD.match(sentence):
            body.append((start, end))
            if len(body) == count:
                break
    return Lead(headline, body)


# -- answers ---------------------------------------------------------------------------------------


def declined(text: str) -> Draft:
    """A question about the article that it does not answer, or that does not say which article;
    no model rated it, so it has no confidence."""
    return Draft(text, abstained=True)


def answer(
    asked: Asked, record: DocRecord, text: str, chunks: Sequence[Chunk]
) -> tuple[Draft, list[Passage]] | None:
    """The answer to `asked` about the article of `record` (whose text is `text`, cut into
    `chunks`), quoting it, with the chunks it cites; None when nothing citable answers it."""
    found = lead(text, record.title)
    title = _untagged(record.title)
    short: tuple[int, int] | None = None
    notes = byline(text) if asked in ("author", "outlet") else []
    if asked == "author" and notes:
        short, quotes = (notes[0].name_start, notes[0].name_end), [(n.start, n.end) for n in notes]
    elif asked == "author" and not record.author:
        return declined(
            f"{ABSTENTION} No byline or author's note was found in “{title}”, and its record names no author."
        ), []
    elif asked == "headline" and found.headline is not None:
        short, quotes = found.headline, [found.headline]
    elif asked == "summary":
        quotes = [*([found.headline] if found.headline else []), *found.sentences]
    elif asked == "published" and not record.date:
        return declined(f"{ABSTENTION} The record of “{title}” has no publication date."), []
    elif asked == "outlet" and (named := [n for n in notes if n.outlet]):
        short, quotes = named[0].outlet, [(named[0].start, named[0].end)]
    elif asked == "outlet" and not record.source:
        return declined(f"{ABSTENTION} The record of “{title}” names no source."), []
    else:
        quotes = found.sentences[:1]
    cited = [_in_chunk(chunks, record, start, end) for start, end in quotes]
    if not quotes or any(c is None for c in cited):
        return None  # text no chunk holds: nothing to cite it by
    held = [c for c in cited if c is not None]
    citations = tuple(
        Citation(n, record.doc_id, record.title, record.source, p.chunk_id, start, end, text[start:end])
        for n, (p, (start, end)) in enumerate(held, start=1)
    )
    quoted = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    if short is not None:
        said = text[short[0] : short[1]]
        body = f"{said} — the article's headline [1]" if asked == "headline" else f"{said} — {quoted}"
    elif asked == "summary":
        body = quoted
    elif asked == "published":
        body = f"{spoken_day(record.date)} — the article's date (from its record). It begins: {quoted}"
    elif asked == "outlet":
        body = f"{_site(record.source)} — the article's source (from its record). It begins: {quoted}"
    elif asked == "author":
        body = f"{record.author} — the article's author (from its record). It begins: {quoted}"
    else:
        body = f"The article's title (from its record) is “{title}”. It begins: {quoted}"
    draft = Draft(
        body,
        citations,
        notes=(f"answered from the article itself ({asked}): “{title}”",),
        short_answer=None if short is None else ShortAnswer(text[short[0] : short[1]], record.doc_id, *short),
        confidence=1.0,
    )
    return draft, list(dict.fromkeys(p for p, _span in held))


def _in_chunk(
    chunks: Sequence[Chunk], record: DocRecord, start: int, end: int
) -> tuple[Passage, tuple[int, int]] | None:
    """The chunk holding `start:end` of the article, as a passage, and the span cut to that chunk
    (a sentence longer than a chunk is quoted as far as its chunk goes); None if no chunk does."""
    chunk = next((c for c in chunks if c.start <= start < c.end), None)
    if chunk is None:
        return None
    end = min(end, chunk.end)
    while end > start and chunk.text[end - 1 - chunk.start].isspace():
        end -= 1
    passage = Passage(
        chunk.chunk_id,
        record.doc_id,
        record.title,
        record.source,
        chunk.text,
        chunk.start,
        chunk.end,
        1.0,
        record.date,
    )
    return passage, (start, end)


def _site(source: str) -> str:
    """A source's site ("usatoday.com" for a story's URL); a source that is no URL as it is."""
    host = urlsplit(source).hostname if "://" in source else None
    return host.removeprefix("www.") if host else source


def _untagged(title: str) -> str:
    """A scraped title without its site's tag ("… | CNN ...", "… - CNN Business")."""
    title = re.sub(r"\s*(?:\.\.\.|…)\s*$", "", title.strip())
    return re.sub(rf"\s+[|\-–—]\s+{_OUTLET}$", "", title)
