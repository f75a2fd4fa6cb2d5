"""Sentence-aware chunks sized by the embedder's own tokenizer, with exact offsets, and their vectors."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from rag.store import SentenceEmbedder, WhitespaceTokenizer, chunk_id
from rag.text import sentence_spans
from rag.types import Chunk

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.store import Embedder
    from rag.types import Article
    from rag.vectors import SentenceVectors

__all__ = ["MAX_CHARS_PER_TOKEN", "chunk_article", "embed_chunks"]

# A chunk holds at most this many characters per token of budget. English runs about 4-5; a run of
# characters with no word boundary can be one [UNK] piece however long it is, and would otherwise
# make one chunk of megabytes that every answer showing it must carry.
MAX_CHARS_PER_TOKEN = 12


def _units(text: str, embedder: Embedder, budget: int) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, tokens); a sentence over the budget is cut at word pieces."""
    spans = sentence_spans(text)
    counts = embedder.count_tokens([text[a:b] for a, b in spans])
    units: list[tuple[int, int, int]] = []
    for (start, end), count in zip(spans, counts, strict=True):
        if count <= budget:
            units.append((start, end, count))
            continue
        units.extend(_cut(text, start, end, embedder, budget))
    max_chars = budget * MAX_CHARS_PER_TOKEN
    if all(end - start <= max_chars for start, end, _ in units):
        return units
    clipped: list[tuple[int, int, int]] = []
    for start, end, count in units:
        if end - start <= max_chars:
            clipped.append((start, end, count))
            continue
        slices = [(a, min(a + max_chars, end)) for a in range(start, end, max_chars)]
        counts = embedder.count_tokens([text[a:b] for a, b in slices])
        clipped.extend((a, b, n) for (a, b), n in zip(slices, counts, strict=True))
    return clipped


def _cut(text: str, start: int, end: int, embedder: Embedder, budget: int) -> list[tuple[int, int, int]]:
    """Cuts an over-long sentence at word-piece boundaries into spans that fit the budget.

    A cut inside a word can make the tail tokenise into more pieces than counted, so each
    span is re-counted with the real tokenizer and shortened until it fits.
    """
    pieces = embedder.token_spans(text[start:end])
    units: list[tuple[int, int, int]] = []
    position = 0
    while position < len(pieces):
        stop = min(position + budget, len(pieces))
        while True:
            # Prefer cutting before a piece that starts a new word, so words stay whole.
            cut = stop
            while cut < len(pieces) and cut > position + 1 and pieces[cut][0] == pieces[cut - 1][1]:
                cut -= 1
            if cut == position + 1 and stop > cut:
                cut = stop  # one long run with no word boundary: cut inside it
            piece_start = start + pieces[position][0]
            piece_end = start + (pieces[cut][0] if cut < len(pieces) else end - start)
            while piece_end > piece_start and text[piece_end - 1].isspace():
                piece_end -= 1
            count = embedder.count_tokens([text[piece_start:piece_end]])[0]
            if count <= budget or cut - position <= 1:
                break
            stop = cut - max(1, count - budget)
        if piece_end > piece_start:
            units.append((piece_start, piece_end, count))
        position = max(cut, position + 1)
    return units


def _count(text: str, units: list[tuple[int, int, int]], first: int, last: int, embedder: Embedder) -> int:
    if first == last:
        return units[first][2]
    return embedder.count_tokens([text[units[first][0] : units[last][1]]])[0]


def _spaced(text: str, units: list[tuple[int, int, int]], first: int, last: int) -> bool:
    """Whether whitespace, and only whitespace, parts each unit of the run from the next."""
    for (_start, end, _n), (start, _end, _m) in zip(
        units[first:last], units[first + 1 : last + 1], strict=True
    ):
        gap = text[end:start]
        if not gap or not all(_is_space(c) for c in gap):
            return False
    return True


def _is_space(char: str) -> bool:
    # Unicode's white space, as tokenizers see it: Python's `isspace` also takes some control
    # characters, which BERT's normaliser deletes, gluing their neighbours together.
    return char in "\t\n\r" or (char.isspace() and unicodedata.category(char)[0] == "Z")


def _group(
    units: list[tuple[int, int, int]], budget: int, max_chars: int, overlap: int, limits: dict[int, int]
) -> list[tuple[int, int]]:
    """Runs of units whose counts sum to at most `budget`, each run starting `overlap` units back.

    `limits` caps the last unit of a run by its first, where the real count of the run is known
    to exceed the sum.
    """
    groups: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        last, tokens = first, units[first][2]
        cap = limits.get(first, len(units) - 1)
        while (
            last < cap
            and tokens + units[last + 1][2] <= budget
            and units[last + 1][1] - units[first][0] <= max_chars
        ):
            last += 1
            tokens += units[last][2]
        groups.append((first, last))
        if last + 1 >= len(units):
            break
        next_first = max(last + 1 - overlap, first + 1)
        while next_first <= last and sum(u[2] for u in units[next_first : last + 2]) > budget:
            next_first += 1
        first = next_first
    return groups


def chunk_article(
    article: Article, embedder: Embedder, *, max_tokens: int, overlap_sentences: int, content_hash: str
) -> list[Chunk]:
    """Split an article into chunks of whole sentences; `article.text[c.start:c.end] == c.text`."""
    text = article.text
    budget = max(8, min(max_tokens, embedder.max_tokens))
    units = _units(text, embedder, budget)
    max_chars = budget * MAX_CHARS_PER_TOKEN
    limits: dict[int, int] = {}
    fits: set[tuple[int, int]] = set()
    additive = isinstance(embedder, WhitespaceTokenizer) and embedder.splits_at_whitespace
    while True:
        groups = _group(units, budget, max_chars, overlap_sentences, limits)
        # A run counts as the sum of its sentences when the tokenizer splits at whitespace and
        # whitespace parts them; any other run (pieces glued without spaces, another kind of
        # tokenizer) can tokenise into more, so it is counted for real, all in one call.
        unchecked = [
            (a, b)
            for a, b in groups
            if b > a and (a, b) not in fits and not (additive and _spaced(text, units, a, b))
        ]
        counts = (
            embedder.count_tokens([text[units[a][0] : units[b][1]] for a, b in unchecked])
            if unchecked
            else []
        )
        over = [(a, b) for (a, b), n in zip(unchecked, counts, strict=True) if n > budget]
        fits.update(run for run, n in zip(unchecked, counts, strict=True) if n <= budget)
        if not over:
            break
        for first, last in over:
            while last > first and _count(text, units, first, last, embedder) > budget:
                last -= 1
            limits[first] = last
            fits.add((first, last))
    chunks = []
    for index, (a, b) in enumerate(groups):
        start, end = units[a][0], units[b][1]
        chunks.append(
            Chunk(
                chunk_id=chunk_id(article.doc_id, content_hash, index),
                doc_id=article.doc_id,
                index=index,
                start=start,
                end=end,
                text=text[start:end],
            )
        )
    return chunks


def embed_chunks(
    embedder: Embedder, chunks: Sequence[Chunk]
) -> tuple[list[list[float]], list[SentenceVectors | None] | None]:
    """Chunk vectors, and each chunk's sentence vectors from the same pass when the embedder can pool them.

    The sentences are the answerer's: `sentence_spans` of the chunk text, so its offsets key them.
    """
    texts = [c.text for c in chunks]
    if not texts:
        return [], []
    if not isinstance(embedder, SentenceEmbedder):
        return embedder.embed_documents(texts), None
    return embedder.embed_documents_with_sentences(texts, [sentence_spans(text) for text in texts])
