"""Today's BM25 engine (`rag.index.lexical`) side by side with SQLite FTS5 and tantivy, in one run.

Speed, on synthetic corpora of 10^3, 10^4 and 10^5 chunks (real sentences from the RealTimeQA
archives, shuffled into chunks as long as real ones): a full build, adding and replacing one
article, and search latency with every real gold question as a query. Quality: BM25-only recall@5
and MRR on the seed, Single-Topic and RealTimeQA archive gold sets, scored as `rag eval` scores
retrieval (an evidence quote, else the gold document, in a passage).

Every engine indexes the same chunks as the same terms: the output of `rag.text.lexical_terms`,
joined by spaces and split only there, so the figures compare the engines, not their tokenisers.
Each keeps its own BM25: today's k1=1.5, b=0.75 with Lucene's idf; FTS5's `bm25()` k1=1.2, b=0.75
with the classic idf (a term in more than half the chunks counts for almost nothing); tantivy's
k1=1.2, b=0.75 with Lucene's idf and one-byte length norms. Builds and updates include
tokenising, as they would in use; the run also times tokenising alone.

    python -m eval.lexical_compare [--quick] [--engines today fts5 tantivy] [--json OUT.json]

tantivy is optional (`pip install tantivy`): without it, its column says so.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from eval.gold import read_gold_jsonl
from eval.metrics import doc_hit, evidence_recall, percentile, reciprocal_rank
from rag.text import lexical_terms, sentence_spans, words
from rag.types import Chunk

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

    from eval.gold import GoldItem
    from rag.index.store import Store

__all__ = [
    "ENGINES",
    "CompareConfig",
    "Comparison",
    "Fts5Engine",
    "LexicalEngine",
    "QualitySet",
    "Row",
    "TantivyEngine",
    "TodayEngine",
    "chunk_text",
    "main",
    "quality_set",
    "real_config",
    "render",
    "run_comparison",
    "synthetic_corpus",
]

_REPO = Path(__file__).resolve().parents[1]
_DATASETS = _REPO.parent / "shared" / "datasets"
_SEED_GOLD = _REPO / "eval" / "gold" / "fentanyl_seed.jsonl"
_SEEDS = _REPO / "seeds"
_ARCHIVE = "2022-autumn"
CHUNK_WORDS = 145
"""Words per chunk: re-chunking the 2022-autumn archive so gives about as many chunks (15.9k) as
`rag ingest` makes of it with 192-word-piece chunks (16.0k)."""
_ARTICLE_CHUNKS = 20
"""Synthetic chunks per synthetic article."""
_RECALL_DEPTH = 5
_MRR_DEPTH = 20
"""As `rag eval`: recall@5, and MRR over a 20-deep ranking."""
_FETCH_K = 100
"""Chunks a search returns: the retriever's default `fetch_k`."""


# -- engines ------------------------------------------------------------------------------------


class LexicalEngine(ABC):
    """A BM25 index in its own folder: build it, keep it in step one article at a time, search it.

    Like today's index, each engine keeps the chunks it returns (ids, offsets, texts), so a search
    needs no second look-up in the vector store.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    requires: ClassVar[str | None] = None
    """Module the engine needs beyond this project's dependencies."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def missing(cls) -> str | None:
        """Why the engine cannot run here, or None."""
        if cls.requires is None or importlib.util.find_spec(cls.requires) is not None:
            return None
        return f"not installed (pip install {cls.requires})"

    @abstractmethod
    def build(self, articles: Mapping[str, Sequence[Chunk]]) -> None:
        """Indexes these articles' chunks into the empty index."""

    @abstractmethod
    def put(self, doc_id: str, chunks: Sequence[Chunk]) -> None:
        """Adds an article, or replaces its chunks; the change is committed and searchable on return."""

    @abstractmethod
    def search(self, query: str, k: int) -> list[Chunk]:
        """The `k` best chunks for the query's terms, best first."""

    @abstractmethod
    def close(self) -> None:
        """Releases files and threads."""

    def disk_bytes(self) -> int:
        """Size of the index's files."""
        return sum(path.stat().st_size for path in self.directory.rglob("*") if path.is_file())


@dataclass(frozen=True, slots=True)
class _Record:
    content_hash: str


class _ChunkSource:
    """Articles in memory, offering what `LexicalIndex.sync` reads from a `Store`."""

    def __init__(self) -> None:
        self.articles: dict[str, tuple[str, Sequence[Chunk]]] = {}
        self._generation = 0

    def put(self, doc_id: str, chunks: Sequence[Chunk]) -> None:
        content = hashlib.sha1("\0".join(c.chunk_id for c in chunks).encode()).hexdigest()
        self.articles[doc_id] = (content, chunks)
        self._generation += 1

    def generation(self) -> str:
        return f"g{self._generation}"

    def collection_id(self) -> str:
        return "lexical-compare"

    def records(self) -> dict[str, _Record]:
        return {doc_id: _Record(content) for doc_id, (content, _chunks) in self.articles.items()}

    def committed_chunks(self) -> Iterator[Chunk]:
        for _content, chunks in self.articles.values():
            yield from chunks

    def article_chunks(self, doc_ids: Collection[str]) -> list[Chunk]:
        return [chunk for doc_id in doc_ids for chunk in self.articles[doc_id][1]]


class TodayEngine(LexicalEngine):
    """`rag.index.lexical.LexicalIndex`: numpy segments and a JSON manifest, everything also held in memory."""

    name = "today"
    label = "today's (rag.index.lexical)"

    def __init__(self, directory: Path) -> None:
        from rag.index.lexical import LexicalIndex

        super().__init__(directory)
        self._source = _ChunkSource()
        self._index = LexicalIndex(directory, self._source.collection_id())

    def build(self, articles: Mapping[str, Sequence[Chunk]]) -> None:
        for doc_id, chunks in articles.items():
            self._source.put(doc_id, chunks)
        self._sync()

    def put(self, doc_id: str, chunks: Sequence[Chunk]) -> None:
        self._source.put(doc_id, chunks)
        self._sync()

    def search(self, query: str, k: int) -> list[Chunk]:
        return [chunk for chunk, _score in self._index.search(query, k)]

    def close(self) -> None:
        """Nothing to release: the files are written and closed by each sync."""

    def _sync(self) -> None:
        # Duck-typed: the sync reads only records, chunks, the generation and the collection id.
        self._index.sync(cast("Store", self._source))


class Fts5Engine(LexicalEngine):
    """A contentless SQLite FTS5 table of pre-stemmed terms ranked by its `bm25()`, and a table of
    the chunks; WAL, one transaction a change."""

    name = "fts5"
    label = "SQLite FTS5"
    TABLE = "lexical"
    # Token characters are letters, digits and the joiners `lexical_terms` keeps inside a term, so the
    # tokeniser splits at the spaces only; diacritics are already folded the project's way.
    _TOKENIZE = "unicode61 remove_diacritics 0 tokenchars '._-'"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._db = sqlite3.connect(directory / "lexical.sqlite3", isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS chunk (
                row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, doc_id TEXT NOT NULL,
                position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS chunk_doc ON chunk (doc_id);
            CREATE VIRTUAL TABLE IF NOT EXISTS {self.TABLE} USING fts5(terms, content = '', tokenize = "{self._TOKENIZE}");
            """
        )

    def build(self, articles: Mapping[str, Sequence[Chunk]]) -> None:
        with self._transaction():
            for chunks in articles.values():
                self._insert(chunks)
        # One b-tree per term instead of one per insert batch, as a bulk load should leave it.
        self._db.execute(f"INSERT INTO {self.TABLE} ({self.TABLE}) VALUES ('optimize')")

    def put(self, doc_id: str, chunks: Sequence[Chunk]) -> None:
        with self._transaction():
            old = self._db.execute("SELECT row, text FROM chunk WHERE doc_id = ?", (doc_id,)).fetchall()
            # A contentless table forgets a row given the very terms it was indexed with.
            self._db.executemany(
                f"INSERT INTO {self.TABLE} ({self.TABLE}, rowid, terms) VALUES ('delete', ?, ?)",
                ((row, " ".join(lexical_terms(text))) for row, text in old),
            )
            self._db.execute("DELETE FROM chunk WHERE doc_id = ?", (doc_id,))
            self._insert(chunks)

    def search(self, query: str, k: int) -> list[Chunk]:
        terms = lexical_terms(query)
        if not terms or k <= 0:
            return []
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        found = self._db.execute(
            f"""SELECT chunk_id, doc_id, position, start, end, text FROM (
                    SELECT rowid AS row, rank FROM {self.TABLE} WHERE {self.TABLE} MATCH ? ORDER BY rank LIMIT ?
                ) AS hit JOIN chunk USING (row) ORDER BY hit.rank, doc_id, position""",
            (match, k),
        )
        return [Chunk(*values) for values in found]

    def close(self) -> None:
        self._db.close()

    def _insert(self, chunks: Iterable[Chunk]) -> None:
        for c in chunks:
            row = self._db.execute(
                "INSERT INTO chunk (chunk_id, doc_id, position, start, end, text) VALUES (?, ?, ?, ?, ?, ?)",
                (c.chunk_id, c.doc_id, c.index, c.start, c.end, c.text),
            ).lastrowid
            self._db.execute(
                f"INSERT INTO {self.TABLE} (rowid, terms) VALUES (?, ?)",
                (row, " ".join(lexical_terms(c.text))),
            )

    def _transaction(self) -> _Sqlite:
        return _Sqlite(self._db)


class _Sqlite:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on an error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


class TantivyEngine(LexicalEngine):
    """A tantivy index of pre-stemmed terms split at spaces (term frequencies, no positions), with
    the chunks as stored fields; one writer kept open, a commit per change."""

    name = "tantivy"
    label = "tantivy"
    requires = "tantivy"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        tantivy: Any = importlib.import_module("tantivy")
        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
        builder.add_text_field("doc_id", stored=True, tokenizer_name="raw", index_option="basic")
        builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw", index_option="basic")
        for number in ("position", "start", "end"):
            builder.add_unsigned_field(number, stored=True)
        builder.add_bytes_field("text", stored=True)
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema, path=str(directory))
        self._writer = self._index.writer()
        self._searcher = self._index.searcher()

    def build(self, articles: Mapping[str, Sequence[Chunk]]) -> None:
        for chunks in articles.values():
            self._add(chunks)
        self._writer.commit()
        # The writer's threads each made segments, merged in the background: wait, as a bulk load would.
        self._writer.wait_merging_threads()
        self._writer = self._index.writer()
        self._refresh()

    def put(self, doc_id: str, chunks: Sequence[Chunk]) -> None:
        self._writer.delete_documents_by_term("doc_id", doc_id)
        self._add(chunks)
        self._writer.commit()
        self._refresh()

    def search(self, query: str, k: int) -> list[Chunk]:
        terms = lexical_terms(query)
        if not terms or k <= 0:
            return []
        tantivy = self._tantivy
        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "terms", term, index_option="freq"))
            for term in terms
        ]
        # count=False lets tantivy skip blocks that cannot reach the top k (block-max WAND).
        hits = self._searcher.search(tantivy.Query.boolean_query(clauses), k, count=False).hits
        found = []
        for score, address in hits:
            fields = self._searcher.doc(address).to_dict()
            chunk = Chunk(
                fields["chunk_id"][0],
                fields["doc_id"][0],
                fields["position"][0],
                fields["start"][0],
                fields["end"][0],
                bytes(fields["text"][0]).decode(),
            )
            found.append((score, chunk))
        # Ties go by article and position, as today's; tantivy's own order follows how its threads
        # happened to fill the segments, so it changes from build to build.
        found.sort(key=lambda hit: (-hit[0], hit[1].doc_id, hit[1].index))
        return [chunk for _score, chunk in found]

    def close(self) -> None:
        self._writer.wait_merging_threads()

    def _add(self, chunks: Iterable[Chunk]) -> None:
        document = self._tantivy.Document
        for c in chunks:
            self._writer.add_document(
                document(
                    terms=" ".join(lexical_terms(c.text)),
                    doc_id=c.doc_id,
                    chunk_id=c.chunk_id,
                    position=c.index,
                    start=c.start,
                    end=c.end,
                    text=c.text.encode(),
                )
            )

    def _refresh(self) -> None:
        self._index.reload()
        self._searcher = self._index.searcher()


ENGINES: dict[str, type[LexicalEngine]] = {
    engine.name: engine for engine in (TodayEngine, Fts5Engine, TantivyEngine)
}
"""The engines compared, today's first."""


# -- corpora ------------------------------------------------------------------------------------


def chunk_text(doc_id: str, text: str, words_per_chunk: int = CHUNK_WORDS, overlap: int = 1) -> list[Chunk]:
    """Whole sentences packed up to `words_per_chunk` words, `overlap` sentences repeated, as
    `rag ingest` chunks (by words instead of word pieces, so no model is loaded)."""
    sentences = [(a, b, len(words(text[a:b]))) for a, b in sentence_spans(text)]
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last, size = first, sentences[first][2]
        while last + 1 < len(sentences) and size + sentences[last + 1][2] <= words_per_chunk:
            last += 1
            size += sentences[last][2]
        start, end = sentences[first][0], sentences[last][1]
        chunks.append(Chunk(f"{doc_id}#{len(chunks)}", doc_id, len(chunks), start, end, text[start:end]))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - overlap)
    return chunks


@dataclass(frozen=True, slots=True)
class QualitySet:
    """The chunks of a gold set's articles and its answerable questions."""

    name: str
    articles: Mapping[str, Sequence[Chunk]]
    gold: Sequence[GoldItem]
    questions: Sequence[str]
    """Every question of the set, unanswerable ones too (latency queries)."""


def quality_set(name: str, texts: Mapping[str, str], gold: Sequence[GoldItem]) -> QualitySet:
    """A `QualitySet` of articles given as doc_id → text."""
    return QualitySet(
        name,
        {doc_id: chunk_text(doc_id, text) for doc_id, text in texts.items()},
        [item for item in gold if item["type"] != "unanswerable"],
        [item["question"] for item in gold],
    )


def synthetic_corpus(
    sentences: Sequence[str], lengths: Sequence[int], chunks: int, seed: int = 0
) -> dict[str, list[Chunk]]:
    """`chunks` chunks of randomly drawn sentences, each as long (in words) as a drawn real chunk,
    in articles of `_ARTICLE_CHUNKS`."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(s.split()) for s in sentences])
    targets = rng.choice(np.asarray(lengths), size=chunks)
    picks = iter(rng.integers(0, len(sentences), size=chunks * 16).tolist())
    articles: dict[str, list[Chunk]] = {}
    for row, target in enumerate(targets.tolist()):
        doc_id = f"synthetic-{row // _ARTICLE_CHUNKS:06d}"
        parts: list[str] = []
        size = 0
        while size < target:
            pick = next(picks, None)
            if pick is None:
                pick = int(rng.integers(0, len(sentences)))
            parts.append(sentences[pick])
            size += int(sizes[pick])
        text = " ".join(parts)
        index = row % _ARTICLE_CHUNKS
        articles.setdefault(doc_id, []).append(Chunk(f"{doc_id}#{index}", doc_id, index, 0, len(text), text))
    return articles


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompareConfig:
    """What to compare on."""

    sentences: Sequence[str]
    """Real sentences the synthetic chunks are drawn from."""
    chunk_lengths: Sequence[int]
    """Words of real chunks; synthetic chunks take their lengths from these."""
    queries: Sequence[str]
    """Search-latency queries."""
    article: Sequence[str]
    """Chunk texts of the one article added and replaced."""
    sets: Sequence[QualitySet]
    scales: Sequence[int] = (1_000, 10_000, 100_000)
    engines: Sequence[str] = tuple(ENGINES)
    build_repeats: int = 3
    """Full builds per engine and scale (the fastest counts); one from `single_build_from` chunks."""
    single_build_from: int = 100_000
    update_repeats: int = 5
    k: int = _FETCH_K


@dataclass(frozen=True, slots=True)
class Row:
    """One measure and each engine's figures; None where the engine did not run."""

    measure: str
    figures: dict[str, tuple[float, ...] | None]
    digits: int = 1


@dataclass(frozen=True, slots=True)
class Comparison:
    """The table, which engine could not run and why, and the machine it was measured on."""

    engines: list[str]
    missing: dict[str, str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The figures as plain JSON data."""
        return asdict(self)


def run_comparison(config: CompareConfig, *, log: Callable[[str], None] = lambda _line: None) -> Comparison:
    """Measures every engine of `config` on the same corpora, interleaved, in a scratch folder."""
    missing = {name: reason for name in config.engines if (reason := ENGINES[name].missing())}
    live = [ENGINES[name] for name in config.engines if name not in missing]
    rows: list[Row] = []
    notes = _notes(config)
    names = list(config.engines)

    def row(measure: str, figures: Mapping[str, tuple[float, ...]], digits: int = 1) -> Row:
        return Row(measure, {name: figures.get(name) for name in names}, digits)

    with tempfile.TemporaryDirectory(prefix="lexical-compare-") as scratch:
        for scale in config.scales:
            corpus = synthetic_corpus(config.sentences, config.chunk_lengths, scale, seed=scale)
            _tokenise(corpus)  # warms the stemmer's cache, so the first engine to build pays no more
            started = time.perf_counter()
            _tokenise(corpus)
            tokenising = time.perf_counter() - started
            notes.append(
                f"{scale:,} chunks: tokenising them alone takes {tokenising:.2f} s of each full build."
            )
            log(f"{scale:,} chunks: building ({', '.join(e.name for e in live)})")
            speed = _speed(live, corpus, config, Path(scratch) / f"scale-{scale}", scale, log)
            rows += [
                row(f"{scale:,} chunks: full build (s)", {n: (s.build,) for n, s in speed.items()}, 2),
                row(f"{scale:,} chunks: add one article (ms)", {n: (s.add,) for n, s in speed.items()}),
                row(
                    f"{scale:,} chunks: replace one article (ms)", {n: (s.replace,) for n, s in speed.items()}
                ),
                row(
                    f"{scale:,} chunks: search p50 / p95 (ms)",
                    {n: (s.search_p50, s.search_p95) for n, s in speed.items()},
                    2,
                ),
                row(f"{scale:,} chunks: index on disk (MB)", {n: (s.disk_mb,) for n, s in speed.items()}),
            ]
        for qset in config.sets:
            log(f"{qset.name}: ranking {len(qset.gold)} questions")
            scores = {
                engine.name: _quality(engine, qset, Path(scratch) / f"quality-{qset.name}-{engine.name}")
                for engine in live
            }
            rows.append(row(f"{qset.name}: recall@5 / MRR", scores, 3))
    return Comparison(names, missing, rows, notes, _machine())


def _notes(config: CompareConfig) -> list[str]:
    return [
        f"Build: tokenising, indexing and committing from scratch; the fastest of {config.build_repeats} runs "
        f"(1 from {config.single_build_from:,} chunks). Add / replace: one {len(config.article)}-chunk article, "
        f"committed and searchable; median of {config.update_repeats}. Search: the top {config.k} chunks (the "
        "retriever's fetch_k) with ids, offsets and texts, for each of "
        f"{len(config.queries)} gold questions; each query's faster of two runs after a warm-up.",
        "Synthetic chunks: random real sentences, each chunk as long as a real one, "
        f"{_ARTICLE_CHUNKS} chunks an article. Quality: the gold sets' articles chunked by whole sentences of "
        f"up to {CHUNK_WORDS} words (about as many chunks as `rag ingest` makes), BM25 alone.",
        "Durability: tantivy fsyncs every commit; FTS5 runs in WAL mode with synchronous=NORMAL (a commit "
        "survives the process crashing, not the machine); today's engine replaces files without fsync.",
        "BM25: today's k1=1.5, b=0.75, Lucene idf; FTS5 k1=1.2, b=0.75, classic idf (about 0 for a term in "
        "over half the chunks); tantivy k1=1.2, b=0.75, Lucene idf, one-byte length norms.",
    ]


def _tokenise(corpus: Mapping[str, Sequence[Chunk]]) -> None:
    for chunks in corpus.values():
        for chunk in chunks:
            lexical_terms(chunk.text)


@dataclass(frozen=True, slots=True)
class _Speed:
    build: float
    add: float
    replace: float
    search_p50: float
    search_p95: float
    disk_mb: float


def _speed(
    engines: Sequence[type[LexicalEngine]],
    corpus: Mapping[str, Sequence[Chunk]],
    config: CompareConfig,
    scratch: Path,
    scale: int,
    log: Callable[[str], None],
) -> dict[str, _Speed]:
    repeats = 1 if scale >= config.single_build_from else max(1, config.build_repeats)
    builds: dict[str, list[float]] = {engine.name: [] for engine in engines}
    built: dict[str, LexicalEngine] = {}
    # Engines take turns, so a slow spell of the machine does not fall on one engine's builds only.
    for repeat in range(repeats):
        for engine in engines:
            previous = built.pop(engine.name, None)
            if previous is not None:
                previous.close()
                shutil.rmtree(previous.directory)
            gc.collect()
            index = engine(scratch / f"{engine.name}-{repeat}")
            started = time.perf_counter()
            index.build(corpus)
            builds[engine.name].append(time.perf_counter() - started)
            built[engine.name] = index
    results: dict[str, _Speed] = {}
    for engine in engines:
        index = built[engine.name]
        disk_mb = index.disk_bytes() / 1e6
        log(f"  {engine.name}: searching {len(config.queries)} questions, updating")
        for query in config.queries:  # warm-up: caches, lazily loaded segments
            index.search(query, config.k)
        # Each query's faster of two runs: other work on the machine only ever slows a run down.
        latencies = [math.inf] * len(config.queries)
        for _run in range(2):
            for position, query in enumerate(config.queries):
                started = time.perf_counter()
                index.search(query, config.k)
                latencies[position] = min(latencies[position], (time.perf_counter() - started) * 1000)
        adds, replaces = [], []
        for repeat in range(config.update_repeats):
            doc_id = f"added-{repeat}"
            started = time.perf_counter()
            index.put(doc_id, _article(doc_id, config.article, "a"))
            adds.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            index.put(doc_id, _article(doc_id, config.article, "b"))
            replaces.append((time.perf_counter() - started) * 1000)
        index.close()
        results[engine.name] = _Speed(
            build=min(builds[engine.name]),
            add=statistics.median(adds),
            replace=statistics.median(replaces),
            search_p50=percentile(latencies, 50),
            search_p95=percentile(latencies, 95),
            disk_mb=disk_mb,
        )
    shutil.rmtree(scratch, ignore_errors=True)
    return results


def _article(doc_id: str, texts: Sequence[str], version: str) -> list[Chunk]:
    """The added article; another `version` is another content (new chunk ids, texts in another order)."""
    ordered = list(texts) if version == "a" else list(reversed(texts))
    return [Chunk(f"{doc_id}-{version}#{i}", doc_id, i, 0, len(text), text) for i, text in enumerate(ordered)]


def _quality(engine: type[LexicalEngine], qset: QualitySet, directory: Path) -> tuple[float, float]:
    """Mean recall@5 and MRR@20 of the BM25-only ranking over the set's answerable questions."""
    index = engine(directory)
    try:
        index.build(qset.articles)
        recalls, ranks = [], []
        for item in qset.gold:
            ranked = index.search(item["question"], _MRR_DEPTH)
            texts, docs = [c.text for c in ranked], [c.doc_id for c in ranked]
            recall = evidence_recall(item["evidence"], texts[:_RECALL_DEPTH])
            if recall is None:
                recall = doc_hit(item["doc"], docs[:_RECALL_DEPTH])
            rank = reciprocal_rank(item["evidence"], texts, item["doc"], docs)
            if recall is not None and rank is not None:
                recalls.append(recall)
                ranks.append(rank)
    finally:
        index.close()
    return (statistics.fmean(recalls), statistics.fmean(ranks)) if recalls else (float("nan"), float("nan"))


def _machine() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tantivy = version("tantivy")
    except PackageNotFoundError:
        tantivy = "not installed"
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "tantivy": tantivy,
        "numpy": np.__version__,
        # Other work on the machine slows the figures down; this says how busy it was.
        "load average at the end": " ".join(f"{load:.1f}" for load in os.getloadavg()),
    }


# -- rendering ----------------------------------------------------------------------------------


def render(comparison: Comparison) -> str:
    """The comparison as a markdown table, one column per engine, then the notes."""
    headers = ["measure", *(ENGINES[name].label for name in comparison.engines)]
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * len(comparison.engines)]
    for row in comparison.rows:
        cells = [row.measure]
        for name in comparison.engines:
            figures = row.figures.get(name)
            cells.append(
                "—" if figures is None else " / ".join(f"{value:.{row.digits}f}" for value in figures)
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {ENGINES[name].label}: {reason}" for name, reason in comparison.missing.items()]
    lines += [f"- {note}" for note in comparison.notes]
    lines.append("- Machine: " + ", ".join(f"{key} {value}" for key, value in comparison.machine.items()))
    return "\n".join(lines) + "\n"


# -- the real data sets -------------------------------------------------------------------------


def _read_articles(paths: Iterable[Path]) -> dict[str, str]:
    from ingest.loaders import load_article

    return {path.name: load_article(path).text for path in sorted(paths)}


def real_config(
    datasets: Path, *, quick: bool = False, engines: Sequence[str] = tuple(ENGINES)
) -> CompareConfig:
    """The seed, Single-Topic and RealTimeQA archive sets, and sentences of both archives."""
    from eval.single_topic import load_single_topic
    from ingest.loaders import parse_article

    seed_texts = _read_articles(_SEEDS.glob("*.txt"))
    seed = quality_set("seed", seed_texts, read_gold_jsonl(_SEED_GOLD))
    topic = load_single_topic(datasets / "single-topic")
    topic_texts = {
        # As `rag eval --single-topic` writes and reads them: the source URL, a blank line, the text.
        d.doc_id: parse_article(
            f"{d.source_url}\n\n{d.text}".encode(), name=f"{d.doc_id}.txt", doc_id=d.doc_id
        ).text
        for d in topic.documents
    }
    single_topic = quality_set("Single-Topic", topic_texts, topic.gold)
    archives = sorted(path for path in (datasets / "realtimeqa").iterdir() if (path / "gold.jsonl").is_file())
    archive_texts = {path.name: _read_articles((path / "articles").glob("*.txt")) for path in archives}
    archive = quality_set(
        f"RealTimeQA {_ARCHIVE}",
        archive_texts[_ARCHIVE],
        read_gold_jsonl(datasets / "realtimeqa" / _ARCHIVE / "gold.jsonl"),
    )
    queries = [*seed.questions, *single_topic.questions, *archive.questions]
    for path in archives:
        if path.name != _ARCHIVE:
            queries += [item["question"] for item in read_gold_jsonl(path / "gold.jsonl")]
    sentences = [
        " ".join(text[a:b].split())
        for texts in archive_texts.values()
        for text in texts.values()
        for a, b in sentence_spans(text)
    ]
    lengths = [len(c.text.split()) for chunks in archive.articles.values() for c in chunks]
    article = [chunk.text for chunk in next(iter(seed.articles.values()))]
    return CompareConfig(
        sentences=[s for s in sentences if len(s.split()) >= 3],
        chunk_lengths=lengths,
        queries=queries,
        article=article,
        sets=[seed, single_topic, archive],
        scales=(1_000, 10_000) if quick else (1_000, 10_000, 100_000),
        engines=tuple(engines),
        build_repeats=1 if quick else 3,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.lexical_compare", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--datasets", type=Path, default=_DATASETS, help="folder with single-topic/ and realtimeqa/"
    )
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--quick", action="store_true", help="10^3 and 10^4 chunks only, one build each")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    config = real_config(args.datasets, quick=args.quick, engines=args.engines)
    log(
        f"{len(config.queries)} queries, {len(config.sentences):,} sentences; sets: "
        + ", ".join(f"{s.name} ({sum(map(len, s.articles.values())):,} chunks)" for s in config.sets)
    )
    comparison = run_comparison(config, log=log)
    print(render(comparison), end="")
    if args.json:
        args.json.write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
