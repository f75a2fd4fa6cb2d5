"""Chroma specifics in one place: the client (embedded, server, or a read-only copy), errors
mapped to `rag.errors` by exception type, and paged reads.

chromadb shares one engine per embedded folder among a process's clients and keeps each
process's HNSW index in memory, so a writer in another process, a folder that turned
read-only, or a failed write each need the client replaced; `Connection` does that, and
tells its owner (`on_lost`) so cached reads are dropped too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexMismatchError, NoIndexError, StoreUnavailableError
from rag.memory import release_freed_memory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rag.settings import Settings

__all__ = ["GET_PAGE", "Connection"]

GET_PAGE = 1000
"""Rows per paged read. A chunk's metadata holds its sentence vectors (4 KB on average, up to 12),
and reading 10,000 such chunks 5,000 at a time took 150 MB more memory than 1,000 at a time; the
BM25 sync that ends an ingest reads every chunk so. More calls cost little next to that."""
_WRITE_REFUSED = ("readonly database", "read-only file system", "disk is full", "no space left")
"""How opening an embedded store fails when its folder cannot be written (in lower case)."""


class Connection:
    """The chromadb client of one data directory or server, created on first use."""

    def __init__(
        self, settings: Settings, *, client: Any | None = None, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self._client = client
        self._on_lost = on_lost
        self._snapshot: _Snapshot | None = None
        self.writing = False
        """Set by the write lock's holder: a write must not fall back to a read-only copy."""

    @property
    def snapshot_stale(self) -> bool:
        """Whether this reads a copy of a store whose files have changed since it was copied."""
        snapshot = self._snapshot
        return snapshot is not None and _signature(self.settings.chroma_dir) != snapshot.signature

    def for_writing(self) -> None:
        """Drops a read-only copy, so that the next call opens the store itself (to write to it)."""
        if self._snapshot is not None:
            self._client = None
            self.drop_snapshot()

    def exists_on_disk(self) -> bool:
        """False for an embedded store whose folder holds no database yet (checked without creating one)."""
        return (
            self._client is not None
            or bool(self.settings.chroma_host)
            or (self.settings.chroma_dir / "chroma.sqlite3").exists()
        )

    @property
    def client(self) -> Any:
        """The chromadb client, created on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        s = self.settings
        if s.chroma_host:
            headers = (
                {"Authorization": f"Bearer {s.chroma_token.get_secret_value()}"} if s.chroma_token else None
            )
            try:
                return chromadb.HttpClient(
                    host=s.chroma_host,
                    port=s.chroma_port,
                    ssl=s.chroma_ssl,
                    headers=headers,
                    settings=chroma_settings,
                )
            except Exception as exc:
                raise StoreUnavailableError(
                    f"cannot reach the Chroma server at {s.store_location} ({type(exc).__name__}); "
                    "is `chroma run` up? (RAG_CHROMA_HOST / RAG_CHROMA_PORT)"
                ) from None
        directory = s.chroma_dir
        self.refuse_foreign()
        reason = self.read_only_reason()
        if reason and (directory / "chroma.sqlite3").exists():
            return self._open_snapshot(reason)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(directory), settings=chroma_settings)
        except Exception as exc:
            _forget_embedded(directory)  # chromadb caches the half-started engine; the next try starts afresh
            message = str(exc).lower()
            write_refused = any(words in message for words in _WRITE_REFUSED)
            if write_refused and not self.writing and (directory / "chroma.sqlite3").exists():
                # Chroma writes as it opens (a full disk, a folder turned read-only since the check).
                return self._open_snapshot(str(exc))
            if write_refused:
                raise StoreUnavailableError(
                    f"cannot open the Chroma store in {directory} to write: {exc}. Nothing was changed. "
                    "Check that RAG_DATA_DIR is writable and has free space, then try again."
                ) from None
            raise StoreUnavailableError(
                f"cannot open the Chroma store in {directory}: {exc}. Nothing was changed. Check that "
                "RAG_DATA_DIR is readable and writable; if the store is damaged, move the folder away "
                "and index your articles again with `rag ingest PATH`."
            ) from None

    def read_only_reason(self) -> str:
        """Why this store only reads ("" when it can write): `RAG_READ_ONLY`, or an embedded
        store's folder that cannot be written."""
        if self.settings.read_only:
            return "RAG_READ_ONLY is set"
        if self.settings.chroma_host:
            return ""
        return _unwritable(self.settings.chroma_dir)

    @property
    def read_only(self) -> bool:
        """Whether this store refuses writes; it still answers (see `read_only_reason`)."""
        return bool(self.read_only_reason())

    def _open_snapshot(self, reason: str) -> Any:
        """A client of a copy of the embedded store in a temporary folder, for a folder it cannot write.

        Chroma writes to its database as it opens it (migrations, its log), even to read, so a
        read-only folder, or a full disk, could not be queried at all. The copy is taken again
        when the store's files change, and removed when this store is.
        """
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        directory = self.settings.chroma_dir
        _remove_orphaned_snapshots()
        scratch = Path(tempfile.mkdtemp(prefix=f"{_SNAPSHOT_PREFIX}{os.getpid()}-"))
        copy = scratch / "chroma"
        try:
            signature = _signature(directory)
            shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("*.lock"))
            client = chromadb.PersistentClient(
                path=str(copy), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            )
        except Exception as exc:
            _forget_embedded(copy)
            shutil.rmtree(scratch, ignore_errors=True)
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreUnavailableError(
                f"the Chroma store in {directory} cannot be written ({reason}), and a copy to read it "
                f"from could not be made in {scratch.parent}: {detail}. Free some space there, or set "
                "TMPDIR to a folder with room for a copy of the store."
            ) from None
        self.drop_snapshot()
        # Removed with this store, or at exit at the latest.
        remove = weakref.finalize(self, shutil.rmtree, str(scratch), True)
        self._snapshot = _Snapshot(copy, reason, signature, remove)
        return client

    def drop_snapshot(self) -> None:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            _forget_embedded(snapshot.path, stop=True)
            snapshot.remove()

    def refuse_foreign(self) -> None:
        """Raises when the embedded store's folder holds files that are not a Chroma store."""
        directory = self.settings.chroma_dir
        if (
            not self.settings.chroma_host
            and directory.is_dir()
            and not (directory / "chroma.sqlite3").exists()
            and any(directory.iterdir())
        ):
            raise StoreUnavailableError(
                f"{directory} exists but is not a Chroma store; nothing was changed. "
                "Move it away or point RAG_DATA_DIR elsewhere."
            )

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (IndexMismatchError, NoIndexError):
            raise
        except Exception as exc:
            from chromadb.errors import InternalError

            if _is_connection_error(exc):
                raise StoreUnavailableError(
                    f"the Chroma store at {self.settings.store_location} is unavailable ({what}): {exc}"
                ) from None
            if not self.settings.chroma_host and isinstance(exc, InternalError):
                # A failed write (disk full, read-only folder) can leave the embedded engine stuck on
                # its next write: drop it, so the next call reconnects.
                _forget_embedded(self.settings.chroma_dir)
                self._client = None
                self._on_lost()
                raise StoreUnavailableError(
                    f"the Chroma store in {self.settings.chroma_dir} failed to {what}: {exc}. "
                    "Check that RAG_DATA_DIR is writable and has free space, then try again."
                ) from None
            if self.settings.chroma_host and isinstance(exc, InternalError):
                self._on_lost()
                raise StoreUnavailableError(
                    f"the Chroma server at {self.settings.store_location} failed to {what}: {exc}. "
                    "Check the server's log and free space, then try again."
                ) from None
            raise

    def reopen(self) -> None:
        """Another process wrote to the embedded store: this process's vector index is stale.

        The embedded client keeps the HNSW index in memory per process and does not see
        other processes' writes, so drop the cached system for this path and connect again.
        """
        if self.settings.chroma_host or self._client is None:
            return
        if self._snapshot is None and not _forget_embedded(self._client):
            return
        self._client = None
        self.drop_snapshot()
        self._client = self._connect()
        self._on_lost()

    def paged(
        self, collection: Any, *, include_text: bool, where: dict[str, Any] | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            got = self.call(
                "read", collection.get, where=where, include=include, limit=GET_PAGE, offset=offset
            )
            ids = got["ids"]
            if not ids:
                return
            documents = got.get("documents") or [""] * len(ids)
            for item_id, text, metadata in zip(ids, documents, got["metadatas"], strict=True):
                yield item_id, text or "", dict(metadata or {})
            if len(ids) < GET_PAGE:
                return
            offset += len(ids)
            del got, documents
            release_freed_memory()  # the page's decoded rows, before the next page is read


def _forget_embedded(engine: Path | Any, *, stop: bool = False) -> bool:
    """Drops chromadb's process-wide engine of an embedded store folder, or of a client (and stops
    it); returns False when this chromadb keeps its engines elsewhere, and nothing was dropped.

    chromadb shares one engine per folder among all of a process's clients, and offers no public
    way to drop one: `clear_system_cache()` drops every folder's, and `close()` keeps the engine
    while another client uses it. So this is the one place that uses its private registry.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = str(engine) if isinstance(engine, Path) else engine._identifier
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    except (ImportError, AttributeError):
        return False
    if stop and system is not None:
        with contextlib.suppress(Exception):
            system.stop()
    return True


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The copy a read-only store reads: where, why, and the files it was copied from."""

    path: Path
    reason: str
    signature: tuple[tuple[str, int, int], ...]
    remove: weakref.finalize[Any, Any]


_SNAPSHOT_PREFIX = "rag-read-only-"


def _remove_orphaned_snapshots() -> None:
    """Removes the copies that processes which ended without cleaning up (SIGTERM, SIGKILL) left behind."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SNAPSHOT_PREFIX}*-*"):
        pid = folder.name.removeprefix(_SNAPSHOT_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, someone else's
            pass


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of the store's database files: they change on every write."""
    found = []
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal"):
        with contextlib.suppress(OSError):
            stat = (directory / name).stat()
            found.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _unwritable(directory: Path) -> str:
    """Why the embedded store in `directory` cannot be written ("" when it can, or does not exist yet)."""
    database = directory / "chroma.sqlite3"
    if not database.exists():
        return ""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "Read-only file system"
    except OSError:
        pass
    if not (os.access(directory, os.W_OK) and os.access(database, os.W_OK)):
        return "Permission denied"
    return ""


def _is_connection_error(exc: BaseException) -> bool:
    import httpx  # what chromadb's HTTP client uses

    lost = (
        ConnectionError,
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
    )
    # chromadb reports a server it cannot reach while connecting as a bare ValueError.
    return any(isinstance(e, lost) for e in _chain(exc)) or "Could not connect" in str(exc)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__
