"""Sync the index with files: add new articles, replace changed ones, skip unchanged, prune gone.

Files are read, parsed (in a separate process, within the settings' time and memory budget),
chunked and embedded without the index's write lock. The lock is held only while a batch of
articles is written, so a slow file never holds up another writer (a second `rag ingest`, the
chat's uploads and deletes).

Both cores stay busy: a batch is embedded in a background thread (the model releases the GIL)
while the next files are read, parsed and chunked and the previous batch is written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ingest.chunking import chunk_article, embed_chunks
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError
from ingest.worker import parse_worker
from rag.errors import RagError
from rag.types import PreparedArticle, ShapedEmbedder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from concurrent.futures import Future

    from ingest.worker import ParseWorker
    from rag.index import Index, IndexWriter
    from rag.settings import Settings
    from rag.types import Article, BatchShapes, Chunk, DocRecord
    from rag.vectors import SentenceVectors

__all__ = ["FileResult", "IngestReport", "discover", "ingest_paths", "shown_path"]

Status = Literal["added", "updated", "unchanged", "failed", "skipped", "removed"]
_FLUSH_CHUNKS = 256
_HANDOVER_S = 0.001
"""The interpreter's thread switch interval while articles are embedded (Python's default: 5 ms).
The embedding thread needs the GIL between torch's operations, about 100 times a batch; while this
thread chunks and writes, it waited up to 5 ms each time, with both cores idle. At 1 ms a
300-article ingest took 51.7 s instead of 54.8 (two runs each); 0.2 ms gained nothing more."""


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
    repeated: int = 0
    """Chunks whose text this run had embedded already: their vectors were copied, not computed."""
    gone: int = 0
    """Indexed articles whose files are gone, left in the index because `prune` was off."""

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
        chunks = "chunk" if self.repeated == 1 else "chunks"
        repeated = f" ({self.repeated} repeated {chunks} not embedded again)" if self.repeated else ""
        gone = (
            f"; {self.gone} indexed article{'s' * (self.gone != 1)} whose file is gone still "
            f"answer{'s' * (self.gone == 1)} (`--prune` removes {'them' if self.gone != 1 else 'it'})"
            if self.gone
            else ""
        )
        return (
            f"{', '.join(parts) or 'nothing to do'} in {self.seconds:.1f}s{repeated}; "
            f"index: {self.documents} article{'s' * (self.documents != 1)}, {self.chunks} chunk{'s' * (self.chunks != 1)}"
            f"{gone}"
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
            "repeated_chunks": self.repeated,
            "gone": self.gone,
            "files": [asdict(f) for f in self.files],
        }


def shown_path(path: str | os.PathLike[str]) -> str:
    """A file name as text that is always valid Unicode: bytes that are not UTF-8 appear as `\\xNN`."""
    text = os.fspath(path)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file name decoding made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def _file_exists(recorded: str) -> bool:
    """Whether the file a record names is still there (its name may hold `shown_path` escapes)."""
    if not recorded:
        return False
    if Path(recorded).exists():
        return True
    raw = _ESCAPED_BYTE.sub(lambda m: bytes([int(m[1], 16)]), recorded.encode())
    return raw != recorded.encode() and Path(os.fsdecode(raw)).exists()


# -- finding the files ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    doc_id: str
    """The id the file asks for: its path relative to the folder given, or its name."""
    real: str
    """Which file this is: its resolved path, as `shown_path` text (what its record stores)."""


def discover(
    paths: Sequence[Path], *, follow_symlinks: bool = False
) -> tuple[list[_Source], list[FileResult]]:
    """Files to index below `paths`, each once, and what was skipped or cannot be used (with why).

    Symbolic links are followed only to files and folders inside the folder given, unless
    `follow_symlinks`; hidden files and folders (a name starting with ".") are skipped.
    """
    found = _Discovery(follow_symlinks)
    for path in paths:
        found.path(Path(path))
    return found.sources, found.problems


class _Discovery:
    def __init__(self, follow_symlinks: bool) -> None:
        self.follow_symlinks = follow_symlinks
        self.sources: list[_Source] = []
        self.problems: list[FileResult] = []
        self._files: dict[str, Path] = {}
        """Resolved path of each file found -> the path it was first found at."""

    def path(self, path: Path) -> None:
        if path.is_dir():
            self._folder(path)
        elif path.is_file():  # named on its own: followed even if it is a link
            self._file(path, shown_path(path.name))
        elif path.is_symlink():
            self._problem(path, "failed", _broken_link(path))
        else:
            self._problem(path, "failed", "no such file or folder")

    def _problem(self, path: Path, status: Status, reason: str) -> None:
        self.problems.append(FileResult(shown_path(path), "", status, reason=reason))

    def _file(self, path: Path, doc_id: str) -> None:
        real = os.path.realpath(path)
        first = self._files.get(real)
        if first is None:
            self._files[real] = path
            self.sources.append(_Source(path, doc_id, shown_path(real)))
        elif first != path:  # the same path named twice is simply indexed once
            self._problem(path, "skipped", f"the same file as {shown_path(first)}")

    def _folder(self, root: Path) -> None:
        root_real = os.path.realpath(root)
        files: list[tuple[Path, str]] = []
        folders = {root_real: root}
        # The folder's own files and folders first, then what its links lead to: a link never
        # takes the place (or the id) of the file or folder it points to.
        links: list[tuple[Path, str, tuple[str, ...]]] = []
        self._walk(root, "", (root_real,), folders, files, links)
        while links:
            link, relative, above = links.pop(0)
            real = os.path.realpath(link)
            reason = self._unfollowed(link, real, root_real)
            if reason:
                self._problem(link, "skipped", reason)
            else:
                self._entry(link, real, relative, above, folders, files, links)
        supported = [(p, rel) for p, rel in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
        for path, _rel in files:
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                self._problem(path, "skipped", f"unsupported type {shown_path(path.suffix) or '(none)'}")
        if not supported:
            self._problem(root, "failed", f"no supported files ({', '.join(sorted(SUPPORTED_SUFFIXES))})")
        for path, relative in supported:
            self._file(path, relative)

    def _walk(
        self,
        folder: Path,
        prefix: str,
        above: tuple[str, ...],
        folders: dict[str, Path],
        files: list[tuple[Path, str]],
        links: list[tuple[Path, str, tuple[str, ...]]],
    ) -> None:
        """Files below `folder` as (path, id relative to the root), in sorted order; links for later."""
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            self._problem(folder, "failed", f"cannot read the folder: {exc.strerror or exc}")
            return
        for entry in entries:
            path = Path(entry.path)
            relative = prefix + shown_path(entry.name)
            if entry.name.startswith("."):
                kind = "folder" if entry.is_dir() else "file"
                self._problem(path, "skipped", f"hidden {kind} (its name starts with a dot)")
            elif entry.is_symlink():
                links.append((path, relative, above))
            else:
                self._entry(path, os.path.realpath(path), relative, above, folders, files, links)

    def _entry(
        self,
        path: Path,
        real: str,
        relative: str,
        above: tuple[str, ...],
        folders: dict[str, Path],
        files: list[tuple[Path, str]],
        links: list[tuple[Path, str, tuple[str, ...]]],
    ) -> None:
        if not Path(real).is_dir():
            if Path(real).is_file():
                files.append((path, relative))
            else:
                self._problem(path, "skipped", "not a regular file")
        elif real in above:
            self._problem(path, "skipped", "symlink loop (it points to a folder that holds it)")
        elif real in folders:
            self._problem(path, "skipped", f"the same folder as {shown_path(folders[real])}")
        else:
            folders[real] = path
            self._walk(path, relative + "/", (*above, real), folders, files, links)

    def _unfollowed(self, link: Path, real: str, root_real: str) -> str:
        """Why a symbolic link inside a folder is not followed ("" when it is)."""
        try:
            link.stat()
        except OSError as exc:
            return "symlink loop" if exc.errno == errno.ELOOP else _broken_link(link)
        inside = real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)
        if inside or self.follow_symlinks:
            return ""
        return f"symlink to {shown_path(real)}, outside the folder (--follow-symlinks follows it)"


def _broken_link(link: Path) -> str:
    try:
        return f"broken symlink (its target {shown_path(link.readlink())} does not exist)"
    except OSError as exc:
        return f"cannot read the symlink: {exc.strerror or exc}"


# -- article ids ----------------------------------------------------------------------------------


class _Ids:
    """Gives each file its article id, so that two files never share one.

    A file keeps the id it was indexed under. Otherwise it gets the id it asks for (its path
    relative to the folder given), unless another file that still exists holds that id: then
    the id gets `~` and a hash of the file's own resolved path, the same on every run.
    """

    def __init__(self, records: dict[str, DocRecord]) -> None:
        self.given: dict[str, str] = {}
        """Ids given out in this run -> the file (resolved path) each was given to."""
        self.refresh(records)

    def refresh(self, records: dict[str, DocRecord]) -> None:
        """Takes the committed articles into account (ids given out in this run stay given)."""
        self.records = records
        self._owners = {doc_id: r.path for doc_id, r in records.items()}
        self._by_path = {r.path: doc_id for doc_id, r in sorted(records.items()) if r.path}

    def committed(self, doc_id: str, real: str) -> None:
        self._owners[doc_id] = real
        self._by_path[real] = doc_id

    def assign(self, source: _Source) -> str:
        real, wanted = source.real, source.doc_id
        if self._owners.get(wanted) == real:
            doc_id = wanted
        elif source.real in self._by_path and self._free(self._by_path[real], real):
            doc_id = self._by_path[real]
        else:
            digest = hashlib.sha256(real.encode()).hexdigest()
            candidates = [wanted] + [f"{wanted}~{digest[:n]}" for n in (8, 16, 64)]
            doc_id = next((c for c in candidates if self._free(c, real)), candidates[-1])
        self.given[doc_id] = real
        return doc_id

    def release(self, doc_id: str) -> None:
        self.given.pop(doc_id, None)

    def _free(self, doc_id: str, real: str) -> bool:
        if doc_id in self.given:
            return self.given[doc_id] == real
        owner = self._owners.get(doc_id)
        return owner is None or owner == real or not _file_exists(owner)


# -- syncing --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    """Vectors of some chunks of a batch: the results of `job` at `positions`, for the batch's
    chunks at `chunks`."""

    job: Future[tuple[list[list[float]], list[SentenceVectors | None] | None]]
    positions: range
    chunks: list[int]


@dataclass(slots=True)
class _Batch:
    """Files prepared together, where their vectors come from, and the ids they were decided against."""

    files: list[_Prepared]
    refreshes: int
    """`_Sync.refreshes` when the batch was prepared: a later refresh means its ids are stale."""
    plan: _Plan
    shapes: BatchShapes | None
    """The fixed-shape passes the chunks of `plan.embedded` run in (None: the encoder has none)."""
    todo: list[int]
    """Chunks of `plan.embedded` that no embedding job has taken yet."""
    parts: list[_Part] = field(default_factory=list)

    @property
    def chunks(self) -> list[Chunk]:
        """The files' chunks, in batch order (which `plan` and `parts` index)."""
        return [c for p in self.files for c in p.chunks]

    def padded_lengths(self) -> dict[int, int]:
        """Chunk of `plan.embedded` -> the padded length of its pass (empty without `shapes`)."""
        if self.shapes is None:
            return {}
        return dict(zip(self.plan.embedded, self.shapes.lengths, strict=True))


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where the vectors of a batch's chunks (in batch order) come from. A text is embedded once
    per run: a chunk whose text an earlier chunk of the batch has takes that one's vectors, and one
    whose text this run committed, or is about to in the batch written before this one, reads them
    from the store (a copy of a story)."""

    embedded: list[int]
    """Chunks the batch's embedding call encodes, in its order."""
    same: dict[int, int]
    """Chunk -> the earlier chunk of the batch with its text."""
    stored: dict[int, bytes]
    """Chunk -> the digest of its text, which a chunk committed before this batch has."""


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

    def for_store(self) -> PreparedArticle:
        """This article as the store writes it (with its id as decided last)."""
        return PreparedArticle(
            article=self.article,
            chunks=self.chunks,
            vectors=self.vectors,
            content_hash=self.content_hash,
            file_hash=self.file_hash,
            sentence_vectors=self.sentences,
        )


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


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
    index: Index | None = None,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    follow_symlinks: bool = False,
) -> IngestReport:
    """Bring the index in line with the files under `paths`; see the README for the rules."""
    from rag.embeddings import embedder_from_settings
    from rag.index import Index

    started = time.perf_counter()
    with parse_worker(settings) as parser:  # its process starts while the index opens
        embedded: Callable[[], None] = _nothing
        if index is None:
            embedder = embedder_from_settings(settings)
            index = Index(settings, embedder)
            # Nobody else embeds with it: its torch model is freed before the BM25 sync that
            # ends the run, which then has that memory (86 MB of 520 on a 400-article ingest).
            embedded = embedder.release
        sources, problems = discover([Path(p) for p in paths], follow_symlinks=follow_symlinks)
        show = sys.stderr.isatty() if progress is None else progress
        sync = _Sync(settings, index, parser, _Progress(len(sources), show), on_file, embedded)
        report = sync.run(sources, problems, prune=prune, rebuild=rebuild)
    records = index.records()
    report.documents = len(records)
    report.chunks = sum(r.n_chunks for r in records.values())
    report.seconds = time.perf_counter() - started
    return report


def _nothing() -> None:
    pass


class _Switching:
    """The interpreter's thread switch interval, at most `_HANDOVER_S` while any ingest of the
    process runs. It is the process's: a chat that ingests an upload switches its other threads
    as often meanwhile. The interval it had comes back when the last running ingest ends; one
    already that short is left alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._restore: float | None = None

    @contextlib.contextmanager
    def shortened(self) -> Iterator[None]:
        with self._lock:
            if not self._running and sys.getswitchinterval() > _HANDOVER_S:
                self._restore = sys.getswitchinterval()
                sys.setswitchinterval(_HANDOVER_S)
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running and self._restore is not None:
                    sys.setswitchinterval(self._restore)
                    self._restore = None


_SWITCHING = _Switching()


class _Sync:
    """One ingest run: files are prepared without the write lock, and written a batch at a time with it."""

    def __init__(
        self,
        settings: Settings,
        index: Index,
        parser: ParseWorker,
        bar: _Progress,
        on_file: Callable[[FileResult], None] | None,
        embedded: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.index = index
        self.parser = parser
        self.bar = bar
        self.on_file = on_file
        self.embedded = embedded
        """Called once every batch is embedded and written."""
        self.report = IngestReport()
        self.generation = ""
        """The index generation this run last wrote (or read): another writer changes it."""
        self.refreshes = 0
        """How often the ids were decided again because another writer changed the index."""
        self.ids = _Ids({})
        self.texts: dict[bytes, str] = {}
        """Digest of a chunk text this run committed -> that chunk's id (its vectors are stored)."""

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
        index = self.index
        # Short: start over, or finish what a killed writer left.
        with index.writer(rebuild=rebuild, sync_lexical=False) as writer:
            self.report.recovered = writer.recovered
        self.generation = index.generation()
        self.ids = _Ids(index.records())
        embedding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-embed")
        try:
            with _SWITCHING.shortened():
                self._embed_and_write(sources, embedding)
        finally:
            embedding.shutdown(wait=True, cancel_futures=True)
        self.embedded()
        with index.writer() as writer:  # then prune, and bring BM25 up to date
            self.report.recovered += writer.recovered
            removed = self._prune(writer) if prune else []
            if not prune:
                self.report.gone = len(self._gone(writer))
        for result in removed:
            self.record(result, counted=False)
        self.bar.close()
        return self.report

    def _embed_and_write(self, sources: list[_Source], embedding: ThreadPoolExecutor) -> None:
        """Prepares the files, each batch embedded in the background while the next is prepared
        and the previous one written."""
        pending: list[_Prepared] = []
        embedded: _Batch | None = None  # being embedded; written once the next batch starts
        for source in sources:
            prepared = self._prepare(source)
            if isinstance(prepared, FileResult):
                self.record(prepared)
                continue
            pending.append(prepared)
            if sum(len(p.chunks) for p in pending) >= _FLUSH_CHUNKS:
                embedded, pending = self._hand_over(embedding, embedded, pending), []
        if pending:
            embedded = self._hand_over(embedding, embedded, pending)
        if embedded is not None:
            self._embed_rest(embedding, embedded, fill_from=None)
            self._write(embedded)

    def _prepare(self, source: _Source) -> _Prepared | FileResult:
        settings, path = self.settings, source.path
        doc_id = self.ids.assign(source)
        shown = shown_path(path)
        max_bytes = int(settings.max_file_mb * 1_000_000)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise LoadError(
                    f"file is {size / 1e6:.1f} MB, over the {settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)"
                )
            data = path.read_bytes()
        except OSError as exc:
            self.ids.release(doc_id)
            return FileResult(shown, doc_id, "failed", reason=f"cannot read: {exc.strerror or exc}")
        except LoadError as exc:
            self.ids.release(doc_id)
            return FileResult(shown, doc_id, "failed", reason=str(exc))
        file_hash = hashlib.sha256(data).hexdigest()
        existing = self.ids.records.get(doc_id)
        if existing is not None and existing.file_hash == file_hash:
            return FileResult(shown, doc_id, "unchanged", existing.n_chunks)
        try:
            article = self.parser.parse(data, name=shown_path(path.name), doc_id=doc_id, path=source.real)
            c_hash = content_hash(article)
            chunks = chunk_article(
                article,
                self.index.embedder,
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

    def _hand_over(
        self, embedding: ThreadPoolExecutor, embedded: _Batch | None, pending: list[_Prepared]
    ) -> _Batch:
        """Starts embedding `pending` in the background, then writes the batch embedded before it.

        With an encoder of fixed-shape passes (`ShapedEmbedder`), a batch's part-filled passes
        wait for the next batch, whose chunks then fill them instead of the copies the encoder
        would add: the held-back chunks of `embedded` go first, with some of `pending`'s, then
        `pending`'s full passes. On a news archive's 1,113 articles the bfloat16 encoder ran
        3.26 M padded word pieces instead of 3.66 M (10% padding instead of 20%). A chunk's
        vector does not depend on its batch-mates, so the vectors are the same.
        """
        chunks = [c for p in pending for c in p.chunks]
        plan = self._plan(chunks, [] if embedded is None else embedded.chunks)
        embedder = self.index.embedder
        shapes = (
            embedder.batch_shapes([chunks[i].text for i in plan.embedded])
            if isinstance(embedder, ShapedEmbedder)
            else None
        )
        batch = _Batch(
            files=pending, refreshes=self.refreshes, plan=plan, shapes=shapes, todo=list(plan.embedded)
        )
        if embedded is not None:
            self._embed_rest(embedding, embedded, fill_from=batch)
        self._embed_whole_passes(embedding, batch)
        if embedded is not None:
            self._write(embedded)
        return batch

    def _embed_whole_passes(self, embedding: ThreadPoolExecutor, batch: _Batch) -> None:
        """Starts embedding `batch`'s chunks but those that would share a pass with copies."""
        if batch.shapes is None:
            self._submit(embedding, batch, batch.todo)
            batch.todo = []
            return
        rows, length = batch.shapes.rows, batch.padded_lengths()
        spare = Counter({n: count % rows for n, count in Counter(length[i] for i in batch.todo).items()})
        held: set[int] = set()
        for i in reversed(batch.todo):
            if spare[length[i]] > 0:
                spare[length[i]] -= 1
                held.add(i)
        self._submit(embedding, batch, [i for i in batch.todo if i not in held])
        batch.todo = [i for i in batch.todo if i in held]

    def _embed_rest(self, embedding: ThreadPoolExecutor, batch: _Batch, fill_from: _Batch | None) -> None:
        """Starts embedding what `batch` has left, with as many of `fill_from`'s chunks as fill its
        part-filled passes."""
        own, batch.todo = batch.todo, []
        taken: list[int] = []
        if fill_from is not None and batch.shapes is not None and fill_from.shapes is not None:
            rows, length, their_length = batch.shapes.rows, batch.padded_lengths(), fill_from.padded_lengths()
            room = Counter({n: -count % rows for n, count in Counter(length[i] for i in own).items()})
            for i in fill_from.todo:
                if room[their_length[i]] > 0:
                    room[their_length[i]] -= 1
                    taken.append(i)
            chosen = set(taken)
            fill_from.todo = [i for i in fill_from.todo if i not in chosen]
        self._submit(embedding, batch, own, fill_from, taken)

    def _submit(
        self,
        embedding: ThreadPoolExecutor,
        batch: _Batch,
        own: list[int],
        fill_from: _Batch | None = None,
        fill: Sequence[int] = (),
    ) -> None:
        """One embedding job: `batch`'s chunks `own`, then `fill_from`'s chunks `fill`."""
        chunks = batch.chunks
        texts = [chunks[i] for i in own]
        if fill_from is not None and fill:
            theirs = fill_from.chunks
            texts += [theirs[i] for i in fill]
        if not texts:
            return
        job = embedding.submit(embed_chunks, self.index.embedder, texts)
        if own:
            batch.parts.append(_Part(job, range(len(own)), own))
        if fill_from is not None and fill:
            fill_from.parts.append(_Part(job, range(len(own), len(texts)), list(fill)))

    def _write(self, batch: _Batch) -> None:
        """Waits for a batch's vectors, then writes it under the lock, then reports its files."""
        pending = batch.files
        vectors, sentences, reused = self._vectors(batch)
        offset = 0
        for prepared in pending:
            stop = offset + len(prepared.chunks)
            prepared.vectors = vectors[offset:stop]
            prepared.sentences = None if sentences is None else sentences[offset:stop]
            offset = stop
        index = self.index
        with index.writer(sync_lexical=False) as writer:  # BM25 catches up once, at the end
            self.report.recovered += writer.recovered
            # Another writer changed the index since this run last wrote, or before this batch's
            # ids were decided and after its predecessor's were (that one was rechecked then).
            moved = index.generation() != self.generation
            if moved or batch.refreshes != self.refreshes:
                self._recheck(pending, writer.records(), refresh=moved)
            written = [p for p in pending if p.status != "unchanged"]
            # One chunk write and one commit for the whole batch: Chroma's cost per call
            # dominates small articles. A kill loses at most this batch, which a rerun redoes.
            writer.put([p.for_store() for p in written])
        self.generation = index.generation()
        offset = 0
        for p in pending:  # chunks whose vectors were copied, of the files written
            stop = offset + len(p.chunks)
            self.report.repeated += sum(offset <= i < stop for i in reused) if p in written else 0
            offset = stop
        for p in written:
            self.ids.committed(p.article.doc_id, p.source.real)
            for chunk in p.chunks:
                self.texts.setdefault(_digest(chunk.text), chunk.chunk_id)
        for p in pending:
            self.record(FileResult(shown_path(p.source.path), p.article.doc_id, p.status, len(p.chunks)))

    def _plan(self, chunks: Sequence[Chunk], written_first: Sequence[Chunk]) -> _Plan:
        """Where the vectors of `chunks` come from, when `written_first` are committed before them."""
        first: dict[bytes, int] = {}
        earlier = {_digest(c.text) for c in written_first}
        plan = _Plan([], {}, {})
        for i, chunk in enumerate(chunks):
            digest = _digest(chunk.text)
            if digest in self.texts or digest in earlier:
                plan.stored[i] = digest
            elif digest in first:
                plan.same[i] = first[digest]
            else:
                first[digest] = i
                plan.embedded.append(i)
        return plan

    def _vectors(
        self, batch: _Batch
    ) -> tuple[list[list[float]], list[SentenceVectors | None] | None, set[int]]:
        """The batch's vectors in chunk order: its embedding's, and the stored ones its plan reads
        (embedded now when they are not there: the batch before was not written after all, or
        another writer removed them); and the chunks whose vectors were copied."""
        from rag.types import SentenceEmbedder
        from rag.vectors import SentenceVectors

        chunks = batch.chunks
        plan = batch.plan
        vectors: list[list[float]] = [[] for _ in chunks]
        sentences: list[SentenceVectors | None] = [None] * len(chunks)
        for part in batch.parts:
            fresh, fresh_sentences = part.job.result()
            for n, i in zip(part.positions, part.chunks, strict=True):
                vectors[i] = fresh[n]
                sentences[i] = fresh_sentences[n] if fresh_sentences else None
        sources = {i: self.texts.get(digest, "") for i, digest in plan.stored.items()}
        stored = self.index.chunk_vectors(sorted({chunk_id for chunk_id in sources.values() if chunk_id}))
        lost = [i for i, chunk_id in sources.items() if chunk_id not in stored]
        if lost:
            again, again_sentences = embed_chunks(self.index.embedder, [chunks[i] for i in lost])
            for n, i in enumerate(lost):
                vectors[i] = again[n]
                sentences[i] = again_sentences[n] if again_sentences else None
        for i, chunk_id in sources.items():
            if chunk_id in stored:
                vectors[i] = stored[chunk_id][0]
                sentences[i] = SentenceVectors.decode(stored[chunk_id][1])
        for i, j in plan.same.items():
            vectors[i], sentences[i] = vectors[j], sentences[j]
        reused = set(plan.same) | (set(plan.stored) - set(lost))
        return vectors, sentences if isinstance(self.index.embedder, SentenceEmbedder) else None, reused

    def _recheck(self, pending: list[_Prepared], records: dict[str, DocRecord], *, refresh: bool) -> None:
        """Another writer changed the index since this batch was prepared: its ids and statuses
        are decided again against what is committed now (`records`)."""
        from rag.index import chunk_id

        for p in pending:
            self.ids.release(p.article.doc_id)
        if refresh:  # batches prepared before now decided their ids against older records
            self.refreshes += 1
        self.ids.refresh(records)
        for p in pending:
            doc_id = self.ids.assign(p.source)
            if doc_id != p.article.doc_id:
                p.article = replace(p.article, doc_id=doc_id)
                p.chunks = [
                    replace(c, doc_id=doc_id, chunk_id=chunk_id(doc_id, p.content_hash, c.index))
                    for c in p.chunks
                ]
            existing = records.get(doc_id)
            if existing is not None and existing.file_hash == p.file_hash:
                p.status = "unchanged"
            else:
                p.status = "added" if existing is None else "updated"

    def _gone(self, writer: IndexWriter) -> list[FileResult]:
        """Indexed articles whose files are gone (and that this run was not given)."""
        return [
            FileResult(existing.path, doc_id, "removed")
            for doc_id, existing in writer.records().items()
            if existing.path and not _file_exists(existing.path) and doc_id not in self.ids.given
        ]

    def _prune(self, writer: IndexWriter) -> list[FileResult]:
        removed = self._gone(writer)
        for result in removed:
            writer.delete(result.doc_id)
        return removed
