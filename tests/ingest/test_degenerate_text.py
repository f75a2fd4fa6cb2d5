"""Acceptance: text without word boundaries, and articles too long to chunk, cost little and say why."""

from __future__ import annotations

import base64
import itertools
import random
from typing import TYPE_CHECKING

import pytest

from ingest.chunking import MAX_CHARS_PER_TOKEN, chunk_article
from ingest.loaders import LoadError
from ingest.pipeline import ingest_paths
from rag.embeddings import SentenceTransformerEmbeddings
from rag.index import Index
from rag.settings import Settings
from rag.types import Article

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from rag.types import Chunk

BUDGET = 192
MAX_CHARS = BUDGET * MAX_CHARS_PER_TOKEN
HARBOUR = "The harbour council met on Monday to discuss the ferry budget."
LIBRARY = "The town library will open on Sundays from next month, the council said."


def _blob(chars: int, seed: int = 5) -> str:
    """Base64 of random bytes: `chars` characters, no spaces, a word piece every two or so."""
    return base64.b64encode(random.Random(seed).randbytes(chars * 3 // 4 + 3)).decode()[:chars]


def _chunks(text: str, embedder: SentenceTransformerEmbeddings, max_chunks: int | None = None) -> list[Chunk]:
    return chunk_article(
        Article(doc_id="doc", title="title", text=text),
        embedder,
        max_tokens=BUDGET,
        overlap_sentences=1,
        content_hash="0" * 64,
        **({} if max_chunks is None else {"max_chunks": max_chunks}),
    )


class CountingEmbeddings(SentenceTransformerEmbeddings):
    """The real tokenizer, keeping count of the characters it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self.chars += sum(len(t) for t in texts)
        return super().count_tokens(texts)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        self.chars += len(text)
        return super().token_spans(text)


def test_a_line_without_spaces_is_refused_with_its_reason_before_tokenising() -> None:
    # The file: 5 MB on one line without a space made 11,804 chunks in 507 s, 2.4 GB at peak.
    counting = CountingEmbeddings()

    with pytest.raises(LoadError) as refused:
        _chunks(_blob(5_000_000), counting)

    assert str(refused.value) == "no word boundaries: 5,000,000 characters without a space"
    assert counting.chars == 0


def test_runs_without_word_boundaries_are_left_out_of_the_chunks(
    embedder: SentenceTransformerEmbeddings,
) -> None:
    blob = _blob(100_000)
    text = f"{HARBOUR}\n\n{blob}\n\n{LIBRARY} data:image/png;base64,{_blob(MAX_CHARS, seed=6)} {HARBOUR}"

    chunks = _chunks(text, embedder)

    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert [c.text for c in chunks] == [HARBOUR, LIBRARY, HARBOUR]  # no chunk spans a left-out run
    assert text.count(blob) == 1


def test_text_with_ideographs_and_no_spaces_is_chunked(embedder: SentenceTransformerEmbeddings) -> None:
    # Chinese has no spaces between words; each ideograph is a word to the tokenizer.
    text = "港口委员会周一开会讨论渡轮预算。" * 400

    chunks = _chunks(text, embedder)

    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert (chunks[0].start, chunks[-1].end) == (0, len(text))
    assert all(a.end >= b.start for a, b in itertools.pairwise(chunks))


def test_an_article_over_the_chunk_limit_is_refused_without_tokenising_the_rest() -> None:
    counting = CountingEmbeddings()
    one_line = " ".join(f"word{n % 97}" for n in range(800_000))  # 5.5 MB, one line with spaces

    with pytest.raises(LoadError) as refused:
        _chunks(one_line, counting, max_chunks=50)

    assert str(refused.value) == "more than 50 chunks, the limit per article (RAG_MAX_CHUNKS_PER_ARTICLE)"
    assert counting.chars < len(one_line) // 20


def test_the_chunk_limit_counts_the_chunks_made(embedder: SentenceTransformerEmbeddings) -> None:
    text = " ".join([HARBOUR, LIBRARY] * 40)
    made = len(_chunks(text, embedder))

    assert len(_chunks(text, embedder, max_chunks=made)) == made
    with pytest.raises(LoadError, match=f"more than {made - 1} chunks"):
        _chunks(text, embedder, max_chunks=made - 1)


def test_ingest_reports_both_refusals_and_indexes_the_rest(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "blob.txt").write_text(_blob(300_000), encoding="utf-8")
    (folder / "long.txt").write_text(" ".join([HARBOUR, LIBRARY] * 400), encoding="utf-8")
    (folder / "harbour.txt").write_text(f"{HARBOUR}\n\n{_blob(50_000)}\n\n{LIBRARY}\n", encoding="utf-8")
    limited = Settings(data_dir=settings.data_dir, max_chunks_per_article=20, _env_file=None)
    index = Index(limited, embedder)

    report = ingest_paths([folder], limited, index=index, progress=False)

    results = {f.doc_id: (f.status, f.chunks, f.reason) for f in report.files}
    assert results == {
        "blob.txt": ("failed", 0, "no word boundaries: 300,000 characters without a space"),
        "long.txt": ("failed", 0, "more than 20 chunks, the limit per article (RAG_MAX_CHUNKS_PER_ARTICLE)"),
        "harbour.txt": ("added", 2, ""),
    }
    assert set(index.records()) == {"harbour.txt"}
    hit = index.dense_search(embedder.embed_query("When will the library open on Sundays?"), k=1)[0][0]
    assert hit.text == LIBRARY
