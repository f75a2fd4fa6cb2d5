"""Sentence-aware chunks sized by the embedder's own tokenizer, with exact offsets, and their vectors."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

from ingest.loaders import LoadError
from rag.index import chunk_id
from rag.text import sentence_spans
from rag.types import Chunk, SentenceEmbedder, WhitespaceTokenizer

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from rag.types import Article, Embedder
    from rag.vectors import SentenceVectors

__all__ = ["MAX_CHARS_PER_TOKEN", "chunk_article", "embed_chunks", "unbroken_runs"]

# A chunk holds at most this many characters per token of budget. English runs about 4-5; a run of
# characters with no word boundary can be one [UNK] piece however long it is, and would otherwise
# make one chunk of megabytes that every answer showing it must carry.
MAX_CHARS_PER_TOKEN = 12

_WINDOW_CHUNKS = 8
"""A sentence longer than this many chunks' worth of characters is tokenised a window at a time:
one 5 MB "sentence" tokenised whole held 1.4 GB of word pieces and their offsets."""
_COUNT_CHARS = 65_536
"""Characters of sentences counted per tokenizer call, so a long article is refused early."""
_BOUNDARY = "\\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
"""White space, and the CJK ideographs that the tokenizer makes words of (text without spaces)."""


@lru_cache(maxsize=8)
def _unbroken(min_chars: int) -> re.Pattern[str]:
    # Matching only at the start of a run skips retrying from inside every word (0.5 s, not 0.8 s, for 5 MB).
    return re.compile(f"(?<![^{_BOUNDARY}])[^{_BOUNDARY}]{{{min_chars},}}")


def unbroken_runs(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Spans of more than `max_chars` characters without a word boundary (a space or an ideograph).

    No chunk can hold such a run whole, and no reader wrote it: base64, hex dumps, minified
    code. The chunker leaves them out.
    """
    return [(m.start(), m.end()) for m in _unbroken(max_chars + 1).finditer(text)]


Unit = tuple[int, int, int]
"""A span of text the chunker packs whole: (start, end, word pieces)."""


def _pieces(text: str, runs: Sequence[tuple[int, int]], window: int) -> Iterator[tuple[int, int, bool]]:
    """The sentences of `text` with `runs` left out, in windows of at most `window` characters, each
    with whether a left-out run comes between it and the piece before."""
    run = 0
    gap = False
    for start, end in sentence_spans(text):
        position = start
        while position < end:
            while run < len(runs) and runs[run][1] <= position:
                run += 1
            if run < len(runs) and runs[run][0] <= position:
                position, gap = runs[run][1], True
                continue
            stop = min(end, runs[run][0]) if run < len(runs) else end
            a, b = _trimmed(text, position, stop)
            for piece in _windows(text, a, b, window):
                yield piece[0], piece[1], gap
                gap = False
            position = stop


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _windows(text: str, start: int, end: int, window: int) -> Iterator[tuple[int, int]]:
    """`text[start:end]` in pieces of at most `window` characters, cut at white space where the last
    half of a window has some."""
    while end - start > window:
        limit = start + window
        space = max(text.rfind(char, start + window // 2, limit) for char in " \n\t")
        cut, resume = (space, space + 1) if space > start else (limit, limit)
        yield _trimmed(text, start, cut)
        start, end = _trimmed(text, resume, end)
    if end > start:
        yield start, end


def _batched(pieces: Iterator[tuple[int, int, bool]], chars: int) -> Iterator[list[tuple[int, int, bool]]]:
    batch: list[tuple[int, int, bool]] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += piece[1] - piece[0]
        if size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _units(
    text: str, embedder: Embedder, budget: int, runs: Sequence[tuple[int, int]], max_chunks: int | None
) -> tuple[list[Unit], list[int]]:
    """Sentences as units, a sentence over the budget cut at word pieces; and the indices of the units
    that start a segment (the first, and each one after a left-out run): no chunk crosses into one.

    Every chunk holds at most `budget` pieces of its units' counts, so once the counts sum to more
    than `max_chunks * budget` the article is refused without tokenising the rest.
    """
    max_chars = budget * MAX_CHARS_PER_TOKEN
    units: list[Unit] = []
    segments = [0]
    total = 0
    for batch in _batched(_pieces(text, runs, max_chars * _WINDOW_CHUNKS), _COUNT_CHARS):
        counts = embedder.count_tokens([text[a:b] for a, b, _gap in batch])
        for (start, end, gap), count in zip(batch, counts, strict=True):
            if gap and len(units) > segments[-1]:
                segments.append(len(units))
            cut = [(start, end, count)] if count <= budget else _cut(text, start, end, embedder, budget)
            for unit in cut:
                for piece in _clip(text, unit, embedder, max_chars):
                    units.append(piece)
                    total += piece[2]
        if max_chunks is not None and total > max_chunks * budget:
            raise LoadError(_too_many(max_chunks))
    return units, segments


def _clip(text: str, unit: Unit, embedder: Embedder, max_chars: int) -> list[Unit]:
    """A unit longer than `max_chars` characters (long word pieces, such as [UNK]s) in slices."""
    start, end, _pieces = unit
    if end - start <= max_chars:
        return [unit]
    slices = [(a, min(a + max_chars, end)) for a in range(start, end, max_chars)]
    counts = embedder.count_tokens([text[a:b] for a, b in slices])
    return [(a, b, n) for (a, b), n in zip(slices, counts, strict=True)]


def _too_many(max_chunks: int) -> str:
    return f"more than {max_chunks:,} chunks, the limit per article (RAG_MAX_CHUNKS_PER_ARTICLE)"


def _no_boundaries(runs: Sequence[tuple[int, int]]) -> str:
    chars = sum(end - start for start, end in runs)
    where = "" if len(runs) == 1 else f" in {len(runs):,} runs"
    return f"no word boundaries: {chars:,} characters{where} without a space"


def _cut(text: str, start: int, end: int, embedder: Embedder, budget: int) -> list[Unit]:
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
    units: list[Unit],
    segment: tuple[int, int],
    budget: int,
    max_chars: int,
    overlap: int,
    limits: dict[int, int],
) -> list[tuple[int, int]]:
    """Runs of the units of `segment` (first, end) whose counts sum to at most `budget`, each run
    starting `overlap` units back.

    `limits` caps the last unit of a run by its first, where the real count of the run is known
    to exceed the sum.
    """
    groups: list[tuple[int, int]] = []
    first, stop = segment
    while first < stop:
        last, tokens = first, units[first][2]
        cap = limits.get(first, stop - 1)
        while (
            last < cap
            and tokens + units[last + 1][2] <= budget
            and units[last + 1][1] - units[first][0] <= max_chars
        ):
            last += 1
            tokens += units[last][2]
        groups.append((first, last))
        if last + 1 >= stop:
            break
        next_first = max(last + 1 - overlap, first + 1)
        while next_first <= last and sum(u[2] for u in units[next_first : last + 2]) > budget:
            next_first += 1
        first = next_first
    return groups


def chunk_article(
    article: Article,
    embedder: Embedder,
    *,
    max_tokens: int,
    overlap_sentences: int,
    content_hash: str,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Split an article into chunks of whole sentences; `article.text[c.start:c.end] == c.text`.

    Runs of more than `max_tokens * MAX_CHARS_PER_TOKEN` characters without a word boundary are
    left out (`unbroken_runs`). Raises `LoadError` when nothing else is left, or when the article
    makes more than `max_chunks` chunks.
    """
    text = article.text
    budget = max(8, min(max_tokens, embedder.max_tokens))
    max_chars = budget * MAX_CHARS_PER_TOKEN
    runs = unbroken_runs(text, max_chars)
    gaps = zip(
        [0, *(end for _start, end in runs)], [*(start for start, _end in runs), len(text)], strict=True
    )
    if runs and not any(text[a:b].strip() for a, b in gaps):
        raise LoadError(_no_boundaries(runs))
    units, starts = _units(text, embedder, budget, runs, max_chunks)
    segments = list(zip(starts, [*starts[1:], len(units)], strict=True))
    limits: dict[int, int] = {}
    fits: set[tuple[int, int]] = set()
    additive = isinstance(embedder, WhitespaceTokenizer) and embedder.splits_at_whitespace
    while True:
        groups = [
            run
            for segment in segments
            for run in _group(units, segment, budget, max_chars, overlap_sentences, limits)
        ]
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
    if max_chunks is not None and len(groups) > max_chunks:
        raise LoadError(_too_many(max_chunks))
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
