"""Sentence spans and word tokens shared by ingestion, retrieval and answering."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["LEXICAL_VERSION", "WORD", "content_terms", "lexical_terms", "sentence_spans", "words"]

LEXICAL_VERSION = 3
"""Bump whenever `lexical_terms` changes its output: saved BM25 indexes are then rebuilt."""

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "gov",
        "sen",
        "rep",
        "pres",
        "rev",
        "hon",
        "inc",
        "ltd",
        "co",
        "corp",
        "plc",
        "llc",
        "bros",
        "dept",
        "univ",
        "assn",
        "est",
        "approx",
        "vs",
        "etc",
        "al",
        "fig",
        "no",
        "nos",
        "vol",
        "pp",
        "ed",
        "eds",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "sat",
        "sun",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
    ]
)
# A sentence ends at . ! ? or an ellipsis, plus closing quotes/brackets, before white space.
_END = re.compile(r"""(?:\.{3}|…|[.!?])+["'”’)\]]*(?=\s)""")
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*[-*•]\s)")
_LINE = re.compile(r"[^\n]+")
WORD = re.compile(r"\w+(?:[’'.-]\w+)*", re.UNICODE)
"""A word token: letters and digits, with inner apostrophes, dots and hyphens joined."""

_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "cannot",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "said",
        "says",
        "say",
        "tell",
        "told",
        "according",
        "does",
        "did",
        "do",
        "many",
        "much",
        "whose",
        "article",
        "articles",
        "text",
        "passage",
        "mention",
        "mentioned",
        "mentions",
        "quote",
        "quoted",
        "quotes",
        "quoting",
    ]
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, trimmed of surrounding white space.

    Paragraph breaks always end a sentence; a single line break ends one when the line
    looks like a heading or list item (no terminal punctuation and the next line starts
    a new thought), which keeps headlines and bullet points apart from body text.
    """
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text):
        spans.extend(_split_block(text, block_start, block_end))
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    blocks: list[tuple[int, int]] = []
    start = 0
    for match in _PARAGRAPH.finditer(text):
        blocks.append((start, match.start()))
        start = match.end()
    blocks.append((start, len(text)))
    lines: list[tuple[int, int]] = []
    for block_start, block_end in blocks:
        block_lines = [
            (block_start + m.start(), block_start + m.end())
            for m in _LINE.finditer(text[block_start:block_end])
        ]
        if len(block_lines) > 1 and all(_looks_like_line_item(text[a:b]) for a, b in block_lines):
            lines.extend(block_lines)
        else:
            lines.append((block_start, block_end))
    return lines


def _looks_like_line_item(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) < 120 or stripped[-1:] not in '.!?"”’)'


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    sentence_start = start
    for match in _END.finditer(text, start, end):
        cut = match.end()
        if _is_abbreviation(text, sentence_start, match.start()) or not _starts_sentence(text, cut, end):
            continue
        spans.append((sentence_start, cut))
        sentence_start = cut
    spans.append((sentence_start, end))
    trimmed = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            trimmed.append((a, b))
    return trimmed


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while (
        word_start > sentence_start
        and not text[word_start - 1].isspace()
        and text[word_start - 1] not in '("“‘'
    ):
        word_start -= 1
    word = text[word_start:dot].lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    # Initials ("J. K.", "U.S.") and single letters.
    return (len(word) == 1 and word.isalpha()) or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _starts_sentence(text: str, cut: int, end: int) -> bool:
    position = cut
    while position < end and text[position].isspace():
        position += 1
    if position >= end:
        return True
    first = text[position]
    if first in "\"“‘'([":
        return True
    return first.isupper() or first.isdigit() or not first.isalpha()


def words(text: str) -> list[str]:
    """Lower-cased word tokens, accents kept, internal apostrophes, dots and hyphens joined."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


@lru_cache(maxsize=4096)
def _fold(word: str) -> str:
    if word.isascii():  # nothing to decompose; most words, and the cache misses of a big corpus
        return word
    folded = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def content_terms(text: str) -> list[str]:
    """Words that carry meaning (no stop words), folded for matching, in order.

    A word's "'s" (possessive, or "is" as in "he's") is dropped first: the stemmer, which sees
    the word without its apostrophe, would keep "fbis" apart from "fbi" and "trusss" from "truss".
    """
    terms = []
    for word in words(text):
        if word.endswith("'s") and len(word) > 2:
            word = word[:-2]
        if word not in _STOPWORDS:
            terms.append(_fold(word))
    return terms


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(term: str) -> str:
    return str(_stemmer().stemWord(term.replace("'", "")))


def lexical_terms(text: str) -> list[str]:
    """Terms for keyword matching: content words, folded and Snowball-stemmed."""
    return [_stem(t) for t in content_terms(text)]
