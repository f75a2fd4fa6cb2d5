"""Parse untrusted files in a separate process, within a time and a memory budget.

A hostile file (an HTML page whose parse time grows with the square of its attributes, a PDF
that inflates) then costs at most the budget: the process is killed, the file is reported with
the reason, and the next file gets a fresh process. One process serves many files, so a normal
file pays only for sending its bytes and receiving its article.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ingest.loaders import LoadError
from rag.errors import RagError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection

    from rag.settings import Settings
    from rag.types import Article

__all__ = ["ParseWorker", "parse_worker"]

_START_TIMEOUT_S = 120.0
"""Seconds a new process may take to import the parsers (not part of any file's budget)."""
_BOOT = (
    "import sys; from multiprocessing.connection import Connection; "
    "connection = Connection(int(sys.argv[1])); sys.path[:] = connection.recv(); "
    "from ingest.worker import _serve; _serve(connection, int(sys.argv[2]))"
)
"""The process's program. Not `multiprocessing`'s spawn, which runs the caller's main script again
in the new process: a script calling `ingest_paths` without a `__main__` guard would recurse."""


@dataclass(frozen=True, slots=True)
class _Job:
    """A file for the parsing process, and the seconds it may take."""

    data: bytes
    name: str
    doc_id: str
    path: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class _Reply:
    """What the parsing process sends: that it is ready, a file's article, or why there is none
    (after a "fatal" one the process ends)."""

    outcome: Literal["ready", "article", "failed", "fatal"]
    article: Article | None = None
    reason: str = ""


class ParseWorker:
    """A parsing process, started when first needed and again after it was killed."""

    def __init__(self, *, timeout_s: float, memory_mb: int) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._ready = False

    @property
    def alive(self) -> bool:
        """Whether the process is running (an idle worker keeps it for the next file)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Starts the process, if it is not running, without waiting for it to be ready."""
        if self.alive:
            return
        self.close()
        # Not forked: the caller holds model and database threads that a fork would copy mid-state.
        # A session of its own: Ctrl-C in a terminal interrupts the caller, which then stops this.
        parent, child = multiprocessing.Pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(child.fileno()), str(self.memory_mb)],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child.close()
        parent.send(sys.path)
        self._process, self._connection, self._ready = process, parent, False

    def parse(self, data: bytes, *, name: str, doc_id: str, path: str) -> Article:
        """The article in `data`; raises `LoadError` with the reason, including a blown budget."""
        connection = self._connection_ready()
        try:
            connection.send(_Job(data, name, doc_id, path, self.timeout_s))
        except OSError:
            raise LoadError(self._stopped()) from None
        if not connection.poll(self.timeout_s):
            self.close()
            raise LoadError(f"parsing took longer than {self.timeout_s:g} s (RAG_PARSE_TIMEOUT_S)")
        try:
            reply: _Reply = connection.recv()
        except (EOFError, OSError):
            raise LoadError(self._stopped()) from None
        if reply.article is not None:
            return reply.article
        if reply.outcome == "fatal":
            self.close()
        raise LoadError(reply.reason)

    def close(self) -> None:
        """Stops the process (a later `parse` starts another)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)
            self._process = None
        self._ready = False

    def _connection_ready(self) -> Connection:
        self.start()
        assert self._connection is not None
        if not self._ready:
            ready = self._connection.poll(_START_TIMEOUT_S)
            try:
                message = self._connection.recv() if ready else None
            except (EOFError, OSError):
                message = None
            if message != _Reply("ready"):
                why = self._stopped() if ready else f"not ready after {_START_TIMEOUT_S:g} s"
                self.close()
                raise RagError(
                    f"the process that parses files did not start ({why}); "
                    f"if RAG_PARSE_MEMORY_MB ({self.memory_mb}) is low, raise it"
                )
            self._ready = True
        return self._connection

    def _stopped(self) -> str:
        """Why the process is gone, for the file it was parsing."""
        code = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(5)
        self.close()
        if code == -signal.SIGKILL:
            return "the parser was killed (out of memory?)"
        if code is not None and code < 0:
            return f"the parser crashed ({signal.Signals(-code).name})"
        return f"the parser stopped (exit code {code})"


_idle: list[ParseWorker] = []
_idle_lock = threading.Lock()


@contextlib.contextmanager
def parse_worker(settings: Settings) -> Iterator[ParseWorker]:
    """A worker with the settings' budget for one ingest run: an idle one of this process, or a new one.

    Its process starts now, so it imports the parsers while the caller gets ready; after the run it
    waits for the next (the chat's uploads reuse it). After an error it is stopped instead.
    """
    with _idle_lock:
        worker = next((w for w in _idle if w.memory_mb == settings.parse_memory_mb and w.alive), None)
        if worker is not None:
            _idle.remove(worker)
    if worker is None:
        worker = ParseWorker(timeout_s=settings.parse_timeout_s, memory_mb=settings.parse_memory_mb)
    worker.timeout_s = settings.parse_timeout_s
    worker.start()
    try:
        yield worker
    except BaseException:
        worker.close()
        raise
    if worker.alive:
        with _idle_lock:
            _idle.append(worker)


def _serve(connection: Connection, memory_mb: int) -> None:
    """The parsing process: replies to each `_Job` with its article or why not."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _soft, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    import logging

    # A parser's warning ("EOF marker not found") would reach stderr without the file's name; a
    # file that fails is reported with it, and one that parses needs no word.
    logging.getLogger().addHandler(logging.NullHandler())
    import pypdf  # noqa: F401  (imported now, so that no file's budget pays for it)
    import trafilatura  # noqa: F401

    from ingest.loaders import parse_article

    connection.send(_Reply("ready"))
    while True:
        try:
            job: _Job = connection.recv()
        except (EOFError, OSError):
            return
        # The caller kills this process when the file's time is up; should the caller itself be
        # killed meanwhile, this CPU limit ends the parse that nobody waits for any more.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_limit = int(usage.ru_utime + usage.ru_stime + 2 * job.timeout_s + 10)
        if cpu_hard == resource.RLIM_INFINITY or cpu_limit < cpu_hard:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_hard))
        try:
            reply = _Reply(
                "article", parse_article(job.data, name=job.name, doc_id=job.doc_id, path=job.path)
            )
        except LoadError as exc:
            reply = _Reply("failed", reason=str(exc))
        except MemoryError:
            # What failed to allocate may have left a library half-way: reply, then start afresh.
            del job
            with contextlib.suppress(Exception):
                connection.send(
                    _Reply(
                        "fatal",
                        reason=f"parsing needed more than {memory_mb} MB of memory (RAG_PARSE_MEMORY_MB)",
                    )
                )
            return
        except Exception as exc:  # a parser library failing on hostile input is the file's problem
            reply = _Reply("failed", reason=f"cannot parse: {type(exc).__name__}: {exc}")
        del job
        try:
            connection.send(reply)
        except OSError:  # the caller is gone
            return
