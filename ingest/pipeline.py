"""Sync a store with files: add new articles, replace changed ones, skip unchanged, prune gone.

Files are read, parsed (in a separate process, within the settings' time and memory budget),
chunked and embedded without the index's write lock. The lock is held only while a batch of
articles is written, so a slow file never holds up another writer (a second `rag ingest`, the
chat's uploads and deletes).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ingest.chunking import chunk_article, embed_chunks
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError
from ingest.worker import parse_worker
from rag.errors import RagError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ingest.worker import ParseWorker
    from rag.lexical import LexicalIndex
    from rag.settings import Settings
    from rag.store import DocRecord, Store
    from rag.types import Article, Chunk
    from rag.vectors import SentenceVectors

__all__ = ["FileResult", "IngestReport", "discover", "ingest_paths"]

Status = Literal["added", "updated", "unchanged", "failed", "skipped", "removed"]
_FLUSH_CHUNKS = 256


@dataclass(slots=True)
class FileResult:
    """What happened to one file (or one named path that could not be used)."""

    path: str
    doc_id: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass(slots=True)
class IngestReport:
    """The outcome of one ingest run."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    documents: int = 0
    chunks: int = 0
    recovered: int = 0

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be indexed."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def counts(self) -> dict[str, int]:
        """Files per status."""
        return dict(Counter(f.status for f in self.files))

    def summary(self) -> str:
        """One line for people."""
        counts = self.counts()
        parts = [
            f"{counts[s]} {s}"
            for s in ("added", "updated", "unchanged", "removed", "skipped", "failed")
            if counts.get(s)
        ]
        return (
            f"{', '.join(parts) or 'nothing to do'} in {self.seconds:.1f}s; "
            f"index: {self.documents} article{'s' * (self.documents != 1)}, {self.chunks} chunk{'s' * (self.chunks != 1)}"
        )

    def to_json(self) -> dict[str, Any]:
        """The object `rag ingest --json` prints."""
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "recovered_stale_chunks": self.recovered,
            "files": [asdict(f) for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    doc_id: str


def discover(paths: Sequence[Path]) -> tuple[list[_Source], list[FileResult]]:
    """Files to index below `paths` (doc ids relative to each folder), and paths that cannot be used."""
    sources: list[_Source] = []
    problems: list[FileResult] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            supported = [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
            problems.extend(
                FileResult(str(p), "", "skipped", reason=f"unsupported type {p.suffix or '(none)'}")
                for p in found
                if p.suffix.lower() not in SUPPORTED_SUFFIXES
            )
            if not supported:
                problems.append(
                    FileResult(
                        str(path),
                        "",
                        "failed",
                        reason=f"no supported files ({', '.join(sorted(SUPPORTED_SUFFIXES))})",
                    )
                )
            sources.extend(_Source(p, p.relative_to(path).as_posix()) for p in supported)
        elif path.is_file():
            sources.append(_Source(path, path.name))
        else:
            problems.append(FileResult(str(path), "", "failed", reason="no such file or folder"))
    return sources, problems


# -- syncing --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """A file read, parsed, chunked (and, before its batch is written, embedded)."""

    source: _Source
    article: Article
    content_hash: str
    file_hash: str
    chunks: list[Chunk]
    status: Status
    vectors: Sequence[Sequence[float]] = ()
    sentences: Sequence[SentenceVectors | None] | None = None


def content_hash(article: Article) -> str:
    """Hash of what an article's chunks and record are made of: the cleaned text and its metadata."""
    payload = json.dumps([article.text, article.title, article.source, article.date], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self.chunks = 0
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="doc", desc="ingest", file=sys.stderr, leave=False)

    def advance(self, chunks: int = 0) -> None:
        self.chunks += chunks
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(chunks=self.chunks)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def ingest_paths(
    paths: Sequence[Path | str],
    settings: Settings,
    *,
    store: Store | None = None,
    lexical: LexicalIndex | None = None,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestReport:
    """Bring the store in line with the files under `paths`; see the README for the rules."""
    from rag.embeddings import embedder_from_settings
    from rag.lexical import LexicalIndex
    from rag.store import Store

    started = time.perf_counter()
    with parse_worker(settings) as parser:  # its process starts while the store opens
        if store is None:
            store = Store(settings, embedder_from_settings(settings))
        lexical = lexical or LexicalIndex(settings.data_dir, settings.collection)
        sources, problems = discover([Path(p) for p in paths])
        show = sys.stderr.isatty() if progress is None else progress
        sync = _Sync(settings, store, lexical, parser, _Progress(len(sources), show), on_file)
        report = sync.run(sources, problems, prune=prune, rebuild=rebuild)
    records = store.records()
    report.documents = len(records)
    report.chunks = sum(r.n_chunks for r in records.values())
    report.seconds = time.perf_counter() - started
    return report


class _Sync:
    """One ingest run: files are prepared without the write lock, and written a batch at a time with it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        lexical: LexicalIndex,
        parser: ParseWorker,
        bar: _Progress,
        on_file: Callable[[FileResult], None] | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.lexical = lexical
        self.parser = parser
        self.bar = bar
        self.on_file = on_file
        self.report = IngestReport()
        self.generation = ""
        """The index generation this run last wrote (or read): another writer changes it."""
        self.committed: dict[str, DocRecord] = {}
        self.seen: set[str] = set()

    def record(self, result: FileResult, *, counted: bool = True) -> None:
        self.report.files.append(result)
        if counted:
            self.bar.advance(result.chunks if result.status in ("added", "updated") else 0)
        if self.on_file is not None:
            self.on_file(result)

    def run(
        self, sources: list[_Source], problems: list[FileResult], *, prune: bool, rebuild: bool
    ) -> IngestReport:
        for problem in problems:
            self.record(problem, counted=False)
        store = self.store
        with store.write_lock():  # short: start over, or finish what a killed writer left
            if rebuild:
                store.reset()
            if store.begin_write():
                self.report.recovered = store.reconcile()
            store.end_write()
            self.generation = store.generation()
            self.committed = store.records()
        pending: list[_Prepared] = []
        for source in sources:
            if source.doc_id in self.seen:
                self.record(
                    FileResult(
                        str(source.path), source.doc_id, "failed", reason="another file has the same id"
                    )
                )
                continue
            self.seen.add(source.doc_id)
            prepared = self._prepare(source)
            if isinstance(prepared, FileResult):
                self.record(prepared)
                continue
            pending.append(prepared)
            if sum(len(p.chunks) for p in pending) >= _FLUSH_CHUNKS:
                self._write(pending)
                pending = []
        if pending:
            self._write(pending)
        with store.write_lock():  # then prune, and bring BM25 up to date
            if store.begin_write():
                self.report.recovered += store.reconcile()
            removed = self._prune() if prune else []
            store.end_write()
            self.lexical.sync(store)
        for result in removed:
            self.record(result, counted=False)
        self.bar.close()
        return self.report

    def _prepare(self, source: _Source) -> _Prepared | FileResult:
        settings, path, doc_id = self.settings, source.path, source.doc_id
        shown = str(path)
        max_bytes = int(settings.max_file_mb * 1_000_000)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise LoadError(
                    f"file is {size / 1e6:.1f} MB, over the {settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)"
                )
            data = path.read_bytes()
        except OSError as exc:
            return FileResult(shown, doc_id, "failed", reason=f"cannot read: {exc.strerror or exc}")
        except LoadError as exc:
            return FileResult(shown, doc_id, "failed", reason=str(exc))
        file_hash = hashlib.sha256(data).hexdigest()
        existing = self.committed.get(doc_id)
        if existing is not None and existing.file_hash == file_hash:
            return FileResult(shown, doc_id, "unchanged", existing.n_chunks)
        try:
            article = self.parser.parse(data, name=path.name, doc_id=doc_id, path=str(path.resolve()))
            c_hash = content_hash(article)
            chunks = chunk_article(
                article,
                self.store.embedder,
                max_tokens=settings.chunk_tokens,
                overlap_sentences=settings.chunk_overlap_sentences,
                content_hash=c_hash,
                max_chunks=settings.max_chunks_per_article,
            )
        except LoadError as exc:
            return FileResult(shown, doc_id, "failed", reason=str(exc))
        except RagError:
            raise
        except Exception as exc:  # the chunker failing on hostile text must not stop the run
            return FileResult(shown, doc_id, "failed", reason=f"cannot chunk: {type(exc).__name__}: {exc}")
        status: Status = "added" if existing is None else "updated"
        return _Prepared(source, article, c_hash, file_hash, chunks, status)

    def _write(self, pending: list[_Prepared]) -> None:
        """Embeds a batch, then writes it under the lock, then reports its files."""
        vectors, sentences = embed_chunks(self.store.embedder, [c for p in pending for c in p.chunks])
        offset = 0
        for prepared in pending:
            stop = offset + len(prepared.chunks)
            prepared.vectors = vectors[offset:stop]
            prepared.sentences = None if sentences is None else sentences[offset:stop]
            offset = stop
        store = self.store
        with store.write_lock():
            if store.begin_write():
                self.report.recovered += store.reconcile()
            if store.generation() != self.generation:
                self._recheck(pending)
            written = [p for p in pending if p.status != "unchanged"]
            if written:
                # One chunk write and one commit for the whole batch: Chroma's cost per call
                # dominates small articles. A kill loses at most this batch, which a rerun redoes.
                store.write_chunks(
                    [(p.article, p.chunks, p.vectors, p.content_hash, p.sentences) for p in written]
                )
                store.commit_documents(
                    [(p.article, len(p.chunks), p.content_hash, p.file_hash) for p in written]
                )
            store.end_write()
            self.generation = store.generation()
        for p in pending:
            self.record(FileResult(str(p.source.path), p.article.doc_id, p.status, len(p.chunks)))

    def _recheck(self, pending: list[_Prepared]) -> None:
        """Another writer changed the index since this batch was prepared: whether each file is
        added, updated or unchanged is decided again against what is committed now."""
        self.committed = self.store.records()
        for p in pending:
            existing = self.committed.get(p.article.doc_id)
            if existing is not None and existing.file_hash == p.file_hash:
                p.status = "unchanged"
            else:
                p.status = "added" if existing is None else "updated"

    def _prune(self) -> list[FileResult]:
        removed = []
        for doc_id, existing in self.store.records().items():
            if existing.path and not Path(existing.path).exists() and doc_id not in self.seen:
                self.store.delete_document(doc_id)
                removed.append(FileResult(existing.path, doc_id, "removed"))
        return removed
