"""A BM25 segment's saved meta is the JSON `json.dumps` gives for it, written a chunk at a time."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from rag.index.segments import Segment
from rag.types import Chunk

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.fast

TEXTS = ["Fentanyl 😀 precursors", "naïve “quoted” text\nwith a newline", "", 'a "backslash" \\ here']


def _segment(texts: list[str]) -> Segment:
    chunks = [Chunk(f"c{n}", f"d{n % 2}", n, 0, len(text), text) for n, text in enumerate(texts)]
    return Segment.build(chunks, {"d0": "h0", "d1": "h1", "unchunked": "h2"})


@pytest.mark.parametrize("texts", [TEXTS, []], ids=["chunks", "no-chunks"])
def test_the_meta_is_json_dumps_text(texts: list[str], tmp_path: Path) -> None:
    segment = _segment(texts)
    whole = {
        "articles": segment.articles,
        "terms": segment.terms,
        "chunks": [[c.chunk_id, c.doc_id, c.index, c.start, c.end, c.text] for c in segment.chunks],
    }
    assert segment._meta().tobytes() == json.dumps(whole, ensure_ascii=False).encode()
    segment.save(tmp_path)
    loaded = Segment.load(tmp_path, segment.name)
    assert (loaded.chunks, loaded.terms, loaded.articles) == (segment.chunks, segment.terms, segment.articles)
