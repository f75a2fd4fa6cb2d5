"""Term postings of some articles' chunks, the immutable building block of the BM25 index.

A segment holds, for each chunk (a row), how often each lexical term occurs in it and how
many terms it has, stored column-wise (per term) so that a query reads only its terms'
postings. Segments are never changed: removing an article masks its rows, and merging
writes a new segment.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from array import array
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.text import lexical_terms
from rag.types import Chunk

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from numpy.typing import NDArray

__all__ = ["Segment"]

_NAME = re.compile(r"seg-[0-9a-f]{16}")
_MAX_COUNT = np.iinfo(np.uint16).max
"""Term counts are stored as uint16; BM25's term weight has long saturated at that count."""


class Segment:
    """Postings of some articles' chunks; each article's rows are contiguous and in chunk order."""

    __slots__ = (
        "articles",
        "chunks",
        "columns",
        "counts",
        "indptr",
        "lengths",
        "name",
        "rows",
        "spans",
        "terms",
    )

    def __init__(
        self,
        name: str,
        chunks: list[Chunk],
        articles: dict[str, str],
        terms: list[str],
        indptr: NDArray[np.int64],
        rows: NDArray[np.int32],
        counts: NDArray[np.uint16],
        lengths: NDArray[np.int32],
    ) -> None:
        self.name = name
        self.chunks = chunks
        self.articles = articles
        """doc_id → content hash of every article indexed here, including ones without chunks."""
        self.terms = terms
        self.columns = {term: column for column, term in enumerate(terms)}
        self.indptr = indptr
        """The postings of column c are `rows[indptr[c]:indptr[c + 1]]` (and the same slice of `counts`)."""
        self.rows = rows
        self.counts = counts
        self.lengths = lengths
        """Terms per chunk, at least 1 (bm25s counts an empty chunk as one empty term)."""
        spans: dict[str, tuple[int, int]] = {}
        for row, chunk in enumerate(chunks):
            start, _end = spans.get(chunk.doc_id, (row, row))
            spans[chunk.doc_id] = (start, row + 1)
        self.spans = spans
        """Rows of each article (they are contiguous)."""

    @property
    def size(self) -> int:
        """Rows (chunks), live or not."""
        return len(self.chunks)

    def postings(self, term: str) -> tuple[NDArray[np.int32], NDArray[np.uint16]] | None:
        """Rows containing `term` and how often it occurs in each, or None if it occurs in none."""
        column = self.columns.get(term)
        if column is None:
            return None
        start, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.rows[start:end], self.counts[start:end]

    def alive(self, dead: Iterable[str]) -> NDArray[np.bool_]:
        """Row mask with the rows of the `dead` articles off."""
        mask = np.ones(self.size, dtype=np.bool_)
        for doc_id in dead:
            start, end = self.spans.get(doc_id, (0, 0))
            mask[start:end] = False
        return mask

    # -- making ------------------------------------------------------------------------------

    @classmethod
    def build(cls, chunks: Iterable[Chunk], articles: Mapping[str, str]) -> Segment:
        """Tokenises the chunks of `articles` (doc_id → content hash) into a new segment."""
        ordered = sorted(chunks, key=lambda c: (c.doc_id, c.index))
        vocabulary: dict[str, int] = {}
        columns = array("q")  # 8 bytes a term, where a list of ints would hold an object each
        per_row = np.zeros(len(ordered), dtype=np.int64)
        for row, chunk in enumerate(ordered):
            terms = lexical_terms(chunk.text)
            per_row[row] = len(terms)
            columns.extend([vocabulary.setdefault(term, len(vocabulary)) for term in terms])
        n_rows = len(ordered)
        keys = np.frombuffer(columns, dtype=np.int64) * max(n_rows, 1) + np.repeat(
            np.arange(n_rows, dtype=np.int64), per_row
        )
        del columns
        # np.unique sorts by (column, row): exactly the column-wise order, with the term counts.
        keys, counts = np.unique(keys, return_counts=True)
        return cls._assemble(
            ordered,
            dict(articles),
            list(vocabulary),
            keys // max(n_rows, 1),
            keys % max(n_rows, 1),
            counts,
            np.maximum(per_row, 1),
            ordered=True,
        )

    @classmethod
    def merged(cls, parts: Sequence[tuple[Segment, frozenset[str]]]) -> Segment:
        """One segment with the live rows of `parts` (each a segment and its dead articles)."""
        vocabulary: dict[str, int] = {}
        chunks: list[Chunk] = []
        articles: dict[str, str] = {}
        columns, rows, counts, lengths = [], [], [], []
        for segment, dead in parts:
            keep = segment.alive(dead)
            new_row = np.cumsum(keep, dtype=np.int64) - 1 + len(chunks)
            to_merged = np.fromiter(
                (vocabulary.setdefault(term, len(vocabulary)) for term in segment.terms),
                dtype=np.int64,
                count=len(segment.terms),
            )
            column_of = np.repeat(np.arange(len(segment.terms), dtype=np.int64), np.diff(segment.indptr))
            live = keep[segment.rows]
            columns.append(to_merged[column_of[live]])
            rows.append(new_row[segment.rows[live]])
            counts.append(segment.counts[live])
            lengths.append(segment.lengths[keep])
            chunks.extend(chunk for chunk, kept in zip(segment.chunks, keep.tolist(), strict=True) if kept)
            articles.update((d, h) for d, h in segment.articles.items() if d not in dead)
        all_columns = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        # Terms that only dead rows had are dropped from the vocabulary.
        used = np.bincount(all_columns, minlength=len(vocabulary)) > 0
        renumber = np.cumsum(used, dtype=np.int64) - 1
        terms = [term for term, kept in zip(vocabulary, used.tolist(), strict=True) if kept]
        return cls._assemble(
            chunks,
            articles,
            terms,
            renumber[all_columns],
            np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
            np.concatenate(counts) if counts else np.zeros(0, dtype=np.uint16),
            np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32),
            ordered=False,
        )

    @classmethod
    def _assemble(
        cls,
        chunks: list[Chunk],
        articles: dict[str, str],
        terms: list[str],
        columns: NDArray[Any],
        rows: NDArray[Any],
        counts: NDArray[Any],
        lengths: NDArray[Any],
        *,
        ordered: bool,
    ) -> Segment:
        if not ordered:
            # Within each merged part a term's rows already ascend, and the parts' rows follow
            # one another, so a stable sort by term alone gives the (term, row) order.
            order = np.argsort(columns, kind="stable")
            columns, rows, counts = columns[order], rows[order], counts[order]
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(columns, minlength=len(terms)), out=indptr[1:])
        return cls(
            f"seg-{uuid.uuid4().hex[:16]}",
            chunks,
            articles,
            terms,
            indptr,
            rows.astype(np.int32),
            np.minimum(counts, _MAX_COUNT).astype(np.uint16),
            lengths.astype(np.int32),
        )

    # -- files -------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Writes `<name>.npz` into `directory` (via a temporary file, so it is whole or absent)."""
        target = directory / f"{self.name}.npz"
        partial = directory / f".{self.name}.{os.getpid()}.tmp"
        try:
            with partial.open("wb") as handle:
                np.savez(
                    handle,
                    meta=self._meta(),
                    indptr=self.indptr,
                    rows=self.rows,
                    counts=self.counts,
                    lengths=self.lengths,
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    def _meta(self) -> NDArray[np.uint8]:
        """Articles, terms and chunks as UTF-8 JSON, the text `json.dumps` gives, written a chunk at
        a time: one `json.dumps` of the whole held 128 MB for the 17,186 chunks of a news archive
        (its pieces, then one str of 4 bytes a character once any text has an emoji), the peak of
        a whole `rag ingest`; this holds the UTF-8 bytes and one chunk's."""
        out = io.BytesIO()
        out.write(b'{"articles": ' + _json(self.articles) + b', "terms": ' + _json(self.terms))
        out.write(b', "chunks": [')
        for n, c in enumerate(self.chunks):
            out.write(b", " * (n > 0) + _json([c.chunk_id, c.doc_id, c.index, c.start, c.end, c.text]))
        out.write(b"]}")
        return np.frombuffer(out.getbuffer(), dtype=np.uint8)

    @classmethod
    def load(cls, directory: Path, name: str) -> Segment:
        """Reads a saved segment; raises ValueError (or OSError) if it is missing or damaged."""
        import zipfile

        if not _NAME.fullmatch(name):
            raise ValueError(f"not a segment name: {name!r}")
        try:
            with np.load(directory / f"{name}.npz", allow_pickle=False) as saved:
                meta = json.loads(saved["meta"].tobytes().decode())
                indptr, rows = saved["indptr"], saved["rows"]
                counts, lengths = saved["counts"], saved["lengths"]
        except (zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(f"damaged segment {name}: {exc}") from None
        chunks = [
            Chunk(str(a), str(b), int(c), int(d), int(e), str(f)) for a, b, c, d, e, f in meta["chunks"]
        ]
        articles = {str(d): str(h) for d, h in dict(meta["articles"]).items()}
        terms = [str(t) for t in meta["terms"]]
        n_rows = len(chunks)
        if not (
            indptr.dtype == np.int64
            and rows.dtype == np.int32
            and counts.dtype == np.uint16
            and lengths.dtype == np.int32
            and indptr.shape == (len(terms) + 1,)
            and indptr[0] == 0
            and bool(np.all(np.diff(indptr) >= 0))
            and rows.shape == counts.shape == (int(indptr[-1]),)
            and lengths.shape == (n_rows,)
            and (rows.size == 0 or (int(rows.min()) >= 0 and int(rows.max()) < n_rows))
            and {c.doc_id for c in chunks} <= set(articles)
        ):
            raise ValueError(f"damaged segment {name}: inconsistent arrays")
        return cls(name, chunks, articles, terms, indptr, rows, counts, lengths)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
