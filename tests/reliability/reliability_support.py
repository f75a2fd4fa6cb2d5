"""Helpers for the reliability suite: sizes, a corpus with known answers, artifacts, processes, mounts."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.pipeline import ingest_paths
from rag.index import Index
from tests.ingest.ingest_support import rankings, same_ranking
from tests.support import REPO, SEED_ARTICLE, Fact, chunk_rows, free_port, make_settings, vector_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.types import Answer

ARTIFACTS = REPO / "test-artifacts" / "reliability"
BIN = Path(sys.executable).parent

LONG = os.environ.get("RAG_TEST_LONG") == "1"
"""`make test-long` sets RAG_TEST_LONG=1: the same scenarios, at full size."""
VARIANT = "long" if LONG else "short"


def sized(short: int, long: int) -> int:
    """The short (CI) or the long (`make test-long`) size of a scenario."""
    return long if LONG else short


def write_artifact(name: str, figures: dict[str, Any]) -> Path:
    """Writes test-artifacts/reliability/NAME-VARIANT.json (for the lead, whatever pytest prints)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{VARIANT}.json"
    payload = {"scenario": name, "variant": VARIANT, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.write_text(json.dumps(payload | figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values` (share in 0..1)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


# -- a corpus whose every answer is known ------------------------------------------------------


FACTS = [
    Fact("Brackenhurst", "harbour master", "Ottilie Vasquez", 12),
    Fact("Gallowmere", "fire chief", "Rasmus Okonkwo", 9),
    Fact("Sunderby Vale", "head librarian", "Marisol Achterberg", 15),
    Fact("Quillon Reach", "ferry inspector", "Teodor Haugland", 7),
    Fact("Westerlow", "chief gardener", "Annika Solberg", 21),
    Fact("Kettlewick", "water commissioner", "Dagny Fairweather", 11),
    Fact("Ashcombe Ford", "museum curator", "Ines Takahara", 18),
    Fact("Pellingham", "railway stationmaster", "Cormac Oyelaran", 6),
    Fact("Thistledown", "school principal", "Beatriz Lindgren", 14),
    Fact("Marrowgate Bay", "lighthouse keeper", "Emeka Strand", 25),
    Fact("Calder Rise", "market inspector", "Sunniva Moreau", 8),
    Fact("Oakhaven", "bridge engineer", "Faisal Brannigan", 16),
    Fact("Wrenfield", "town archivist", "Greta Nakashima", 19),
    Fact("Stonebridge Wells", "parks director", "Lucian Adeyemi", 13),
    Fact("Hallowby", "tram controller", "Noor Kjellberg", 10),
    Fact("Ivybridge Cove", "coast guard captain", "Silas Marchetti", 22),
]


@dataclass(frozen=True)
class Question:
    """A question and what its answer must cite: a phrase of the quote, or an abstention."""

    kind: str  # fact | follow-up | seed | unanswerable
    text: str
    expect: str | None  # a phrase every correct answer quotes; None: the answer is an abstention
    fact: Fact | None = None


FOLLOW_UP = "How many years did they spend working in the region?"

# Questions about the seed article whose extractive answer quotes a known sentence.
SEED_QUESTIONS = [
    Question("seed", "Who said that the tariffs would come off if fentanyl ends?", "Howard Lutnick"),
    Question(
        "seed",
        "For which age group of Americans is fentanyl the leading cause of death?",
        "leading cause of death for Americans aged 18 to 45",
    ),
    Question(
        "seed",
        "What does the US accuse Chinese chemical companies of?",
        "Chinese chemical companies produce the vast majority",
    ),
]
UNANSWERABLE = [
    Question("unanswerable", "What is the boiling point of liquid nitrogen on Titan?", None),
    Question("unanswerable", "Which football club won the 1987 Icelandic cup final?", None),
]


def fact_question(fact: Fact) -> Question:
    return Question("fact", fact.question, fact.answer_sentence, fact)


def follow_up(fact: Fact) -> Question:
    """Only answerable with the conversation's own history: 'they' is the previous answer's person."""
    return Question("follow-up", FOLLOW_UP, fact.years_sentence, fact)


def write_corpus(folder: Path) -> Path:
    """The seed article and one article per `FACTS` entry."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    for number, fact in enumerate(FACTS):
        (folder / fact.file_name).write_text(fact.article(number), encoding="utf-8")
    return folder


def answer_problem(answer: Answer, question: Question, index: Index | None = None) -> str | None:
    """Why `answer` does not answer `question` (None when it does)."""
    if question.expect is None:
        return None if answer.abstained else f"expected an abstention, got {answer.text!r}"
    if answer.abstained or not answer.citations:
        return f"expected a quote with {question.expect!r}, got {answer.text!r}"
    if not any(question.expect in c.quote for c in answer.citations):
        return f"no cited quote holds {question.expect!r}: {[c.quote for c in answer.citations]}"
    strangers = [f.person for f in FACTS if f is not question.fact and f.person in answer.text]
    if strangers:
        return f"the answer names other articles' people: {strangers}"
    if index is not None:
        for c in answer.citations:
            if index.article_text(c.doc_id)[c.start : c.end] != c.quote:
                return f"citation [{c.n}] does not match its article at {c.start}:{c.end}"
    return None


def html_problem(chat_html: str, panel_html: str, turn: int, question: Question) -> str | None:
    """Like `answer_problem`, for the chat's last message and the sources panel's section of `turn`."""
    if question.expect is None:
        if "The articles don&#x27;t say." in chat_html:
            return None
        return f"expected an abstention, got {chat_html[:300]!r}"
    if 'class="rag-error"' in chat_html:
        return f"error instead of an answer: {chat_html[:300]!r}"
    quotes = [
        html.unescape(mark)
        for section in re.findall(
            rf'<article class="rag-passage" id="rag-src-{turn}-\d+"[^>]*>(.*?)</article>', panel_html, re.S
        )
        for mark in re.findall(r"<mark>(.*?)</mark>", section, re.S)
    ]
    if not any(question.expect in quote for quote in quotes):
        return f"turn {turn}: no cited quote holds {question.expect!r}: {quotes}"
    text = html.unescape(chat_html)
    strangers = [f.person for f in FACTS if f is not question.fact and f.person in text]
    if strangers:
        return f"the answer names other articles' people: {strangers}"
    return None


# -- processes ---------------------------------------------------------------------------------


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise AssertionError(
                f"{process.args!r} exited with {process.returncode}: {log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout:.0f}s: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stops a child process (SIGTERM, or SIGKILL) and reaps it."""
    if process.poll() is None:
        process.kill() if kill else process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChromaServer:
    """`chroma run` on a fixed loopback port and folder, which can be stopped and started again."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path = path
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "chroma"),
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--path",
                    str(self.path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", self.process, 60, self.log)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            stop(self.process, kill=kill)


def _status(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, in MB."""
    return _status(pid, "VmRSS") / 1024


def threads(pid: int | str = "self") -> int:
    """Native threads of a process (Python's and the libraries' own)."""
    return _status(pid, "Threads")


def open_fds(pid: int | str = "self") -> dict[str, str]:
    """Open file descriptors of a process: number → what it points at."""
    fds = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            fds[entry.name] = str(entry.readlink())
    return fds


_MEASURE = (
    "import resource, subprocess, sys; status = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(status)"
)


def run_measured(
    command: list[str], *, env: dict[str, str], cwd: Path, timeout: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Runs `command`; returns it finished and its peak resident memory in MB.

    A small Python process starts it: the peak of a child forked from this (large) test process
    would count this process's memory too. On a timeout the whole process group is killed.
    """
    with tempfile.TemporaryDirectory(prefix="rag-measure-") as scratch:
        peak_file = Path(scratch) / "peak-kb"
        process = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, str(peak_file), *command],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"{command[:3]} did not finish in {timeout:.0f}s") from None
        peak_kb = int(peak_file.read_text())
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), peak_kb / 1024


# -- file-system faults (need root) ------------------------------------------------------------


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@functools.cache
def can_mount() -> str | None:
    """Why the mount-based fault tests cannot run here (None when they can): tried once, for real."""
    if os.geteuid() != 0:
        return "needs root: mounts a read-only bind and a small tmpfs"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "needs mount(8) and umount(8)"
    with tempfile.TemporaryDirectory(prefix="rag-mount-probe-") as probe:
        done = _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe)
        if done.returncode != 0:
            return f"cannot mount here: {done.stderr.strip()}"
        unmount(Path(probe))
    return None


def unmount(path: Path) -> None:
    """Unmounts `path`; lazily if something (an open store) still holds it."""
    if _run("umount", str(path)).returncode != 0:
        done = _run("umount", "-l", str(path))
        assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Makes `path` a read-only bind mount of itself: writes fail with EROFS, even for root."""
    done = _run("mount", "--bind", str(path), str(path))
    assert done.returncode == 0, done.stderr
    try:
        done = _run("mount", "-o", "remount,bind,ro", str(path))
        assert done.returncode == 0, done.stderr
        yield
    finally:
        unmount(path)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[None]:
    """Mounts a tmpfs of `size` on `path` (an empty folder) for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        unmount(path)


def resize(path: Path, size: str) -> None:
    done = _run("mount", "-o", f"remount,size={size}", str(path))
    assert done.returncode == 0, done.stderr


def fill_disk(path: Path, leave_bytes: int) -> Path:
    """Writes a filler file in `path` until about `leave_bytes` remain free; returns it."""
    filler = path / "filler.bin"
    free = shutil.disk_usage(path).free - leave_bytes
    with filler.open("wb") as out:
        block = b"\0" * 65536
        while free > 0:
            out.write(block[: min(len(block), free)])
            free -= len(block)
    return filler


# -- index views -------------------------------------------------------------------------------


def record_rows(index: Index) -> dict[str, tuple[str, str, int]]:
    """Committed article records by id: (content hash, file hash, chunk count)."""
    return {d: (r.content_hash, r.file_hash, r.n_chunks) for d, r in index.records().items()}


def assert_whole(index: Index) -> None:
    """Every committed article shows exactly its own chunks, at offsets that match its text."""
    by_doc: dict[str, list[tuple[int, int, int, str]]] = {}
    for chunk in index.committed_chunks():
        by_doc.setdefault(chunk.doc_id, []).append((chunk.index, chunk.start, chunk.end, chunk.text))
    assert set(by_doc) <= set(index.records())
    for doc_id, record in index.records().items():
        chunks = sorted(by_doc.get(doc_id, []))
        assert [n for n, *_ in chunks] == list(range(record.n_chunks)), doc_id
        text = index.article_text(doc_id)
        assert all(text[start:end] == chunk for _, start, end, chunk in chunks), doc_id


def tree(folder: Path) -> dict[str, str]:
    """Every file below `folder` (relative path → sha256), to show that nothing was touched."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_same_as_clean(
    index: Index, folders: list[Path], data_dir: Path, embedder: SentenceTransformerEmbeddings
) -> dict[str, Any]:
    """The index holds what a clean ingest of `folders` into `data_dir` makes: the same chunks and
    records, the same vectors (within 1e-6 per value) and sentence vectors, and the same ranking
    for every fact's question. Returns figures for the artifact."""
    settings = make_settings(data_dir)
    clean = Index(settings, embedder)
    report = ingest_paths(folders, settings, index=clean, progress=False)
    assert report.ok, report.to_json()
    assert chunk_rows(index) == chunk_rows(clean)
    assert record_rows(index) == record_rows(clean)
    got, want = vector_rows(index), vector_rows(clean)
    assert set(got) == set(want)
    apart = {chunk: float(np.abs(got[chunk] - want[chunk]).max()) for chunk in want}
    differ = [chunk for chunk, difference in apart.items() if difference > 1e-6]
    assert not differ, f"{len(differ)} of {len(want)} vectors differ, up to {max(apart.values()):.2g}"
    ids = sorted(want)
    assert index.sentence_vectors(ids) == clean.sentence_vectors(ids)
    questions = [fact.question for fact in FACTS]
    ranked, clean_ranked = rankings(index, embedder, questions), rankings(clean, embedder, questions)
    changed = [q for q, a, b in zip(questions, ranked, clean_ranked, strict=True) if not same_ranking(a, b)]
    assert not changed, f"the ranking of {len(changed)} of {len(questions)} questions changed: {changed}"
    return {"chunks": len(want), "largest_vector_difference": max(apart.values(), default=0.0)}
