"""Sync a store with files: add new articles, replace changed ones, skip unchanged, prune gone."""

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
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, parse_article
from rag.errors import RagError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rag.lexical import LexicalIndex
    from rag.settings import Settings
    from rag.store import Embedder, Store
    from rag.types import Article, Chunk

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
    if store is None:
        store = Store(settings, embedder_from_settings(settings))
    lexical = lexical or LexicalIndex(settings.data_dir, settings.collection)
    sources, problems = discover([Path(p) for p in paths])
    report = IngestReport()
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(len(sources), show)

    def record(result: FileResult, chunks: int = 0, *, counted: bool = True) -> None:
        report.files.append(result)
        if counted:
            bar.advance(chunks)
        if on_file is not None:
            on_file(result)

    for problem in problems:
        record(problem, counted=False)

    with store.write_lock():
        if rebuild:
            store.reset()
        if store.begin_write():
            report.recovered = store.reconcile()
        committed = store.records()
        pending: list[tuple[_Source, Article, str, str, list[Chunk], Status]] = []

        def flush() -> None:
            all_chunks = [c for *_, chunks, _s in pending for c in chunks]
            vectors, sentences = embed_chunks(store.embedder, all_chunks)
            batch = []
            offset = 0
            for _source, article, c_hash, _f_hash, chunks, _status in pending:
                stop = offset + len(chunks)
                batch.append(
                    (
                        article,
                        chunks,
                        vectors[offset:stop],
                        c_hash,
                        None if sentences is None else sentences[offset:stop],
                    )
                )
                offset += len(chunks)
            # One chunk write and one commit for the whole batch: Chroma's cost per call dominates
            # small articles. A kill loses at most this batch, which the rerun redoes.
            store.write_chunks(batch)
            store.commit_documents(
                [
                    (article, len(chunks), c_hash, f_hash)
                    for _s, article, c_hash, f_hash, chunks, _st in pending
                ]
            )
            for source, article, _c_hash, _f_hash, chunks, status in pending:
                record(FileResult(str(source.path), article.doc_id, status, len(chunks)), len(chunks))
            pending.clear()

        seen: set[str] = set()
        for source in sources:
            if source.doc_id in seen:
                record(
                    FileResult(
                        str(source.path), source.doc_id, "failed", reason="another file has the same id"
                    )
                )
                continue
            seen.add(source.doc_id)
            result = _prepare(source, settings, store.embedder, committed)
            if isinstance(result, FileResult):
                record(result)
                continue
            pending.append(result)
            if sum(len(p[4]) for p in pending) >= _FLUSH_CHUNKS:
                flush()
        flush()
        if prune:
            for doc_id, existing in committed.items():
                if existing.path and not Path(existing.path).exists() and doc_id not in seen:
                    store.delete_document(doc_id)
                    record(FileResult(existing.path, doc_id, "removed"), counted=False)
        store.end_write()
        lexical.sync(store)
        bar.close()
    records = store.records()
    report.documents = len(records)
    report.chunks = sum(r.n_chunks for r in records.values())
    report.seconds = time.perf_counter() - started
    return report


def _prepare(
    source: _Source, settings: Settings, embedder: Embedder, committed: dict[str, Any]
) -> FileResult | tuple[_Source, Article, str, str, list[Chunk], Status]:
    path = source.path
    max_bytes = int(settings.max_file_mb * 1_000_000)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                f"file is {size / 1e6:.1f} MB, over the {settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)"
            )
        data = path.read_bytes()
    except OSError as exc:
        return FileResult(str(path), source.doc_id, "failed", reason=f"cannot read: {exc.strerror or exc}")
    except LoadError as exc:
        return FileResult(str(path), source.doc_id, "failed", reason=str(exc))
    file_hash = hashlib.sha256(data).hexdigest()
    existing = committed.get(source.doc_id)
    if existing is not None and existing.file_hash == file_hash:
        return FileResult(str(path), source.doc_id, "unchanged", existing.n_chunks)
    try:
        article = parse_article(data, name=path.name, doc_id=source.doc_id, path=str(path.resolve()))
        c_hash = content_hash(article)
        chunks = chunk_article(
            article,
            embedder,
            max_tokens=settings.chunk_tokens,
            overlap_sentences=settings.chunk_overlap_sentences,
            content_hash=c_hash,
            max_chunks=settings.max_chunks_per_article,
        )
    except LoadError as exc:
        return FileResult(str(path), source.doc_id, "failed", reason=str(exc))
    except RagError:
        raise
    except Exception as exc:  # a loader library failing on hostile input must not stop the run
        return FileResult(
            str(path), source.doc_id, "failed", reason=f"cannot parse: {type(exc).__name__}: {exc}"
        )
    return source, article, c_hash, file_hash, chunks, "added" if existing is None else "updated"
