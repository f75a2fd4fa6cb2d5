"""`rag bench`: speed and memory of ingest and answers, side by side with peer pipelines, in one run.

Every figure comes from the same run, on the same documents and the same model:

- ingest throughput of `rag ingest` (the library call, in-process) per embedding backend, against a
  raw encode of the same chunks with that backend, and against the textbook LangChain pipeline and
  LlamaIndex's default `VectorStoreIndex` (optional `peers` extra);
- warm latency of retrieval alone and of a full extractive answer, against the peers' retrieval;
- cold start of a new `rag ask` process and of `import rag`;
- peak memory of `rag ingest` and `rag ask` (in child processes);
- query latency, memory and BM25 cost (a full build, and the sync after adding one article) as the
  store grows to 10^3, 10^4, 10^5 chunks, filled with vectors perturbed around real ones and
  shuffled real text.

Nothing here is asserted: the figures are printed, compared with the targets, and written as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.index import Index, IndexWriter
    from rag.settings import Settings
    from rag.vectors import SentenceVectors

__all__ = [
    "BenchConfig",
    "BenchResult",
    "ColdStart",
    "Documents",
    "IngestRow",
    "Machine",
    "Memory",
    "NotMeasured",
    "OurIngest",
    "Percentiles",
    "QueryRow",
    "RunConfig",
    "ScaleNotRun",
    "ScaleRow",
    "SystemKey",
    "Target",
    "add_bench_parser",
    "render",
    "run_bench",
    "run_bench_command",
]

_REPO = Path(__file__).resolve().parents[1]
_SEED_ARTICLE = _REPO / "seeds" / "straits-times-us-china-fentanyl.txt"
_SEED_GOLD = _REPO / "eval" / "gold" / "fentanyl_seed.jsonl"
_SINGLE_TOPIC = _REPO.parent / "shared" / "datasets" / "single-topic"
_PEERS_HINT = "pip install 'rag-articles[peers]'"
_WARMUP_QUESTIONS = (
    "What happened at the meeting?",
    "Who announced the new rules and when?",
    "How many people were affected?",
)
_QUICK_QUESTIONS = 12
_SCALE_DOC_CHUNKS = 25
"""Synthetic chunks per synthetic article when filling a store for the scale runs (a long news
article: retrieval reads the texts of the articles its hits come from)."""
_SCALE_BATCH_CHUNKS = 2000
"""Synthetic chunks written and committed together."""

TARGETS: tuple[tuple[str, str], ...] = (
    ("ingest_vs_raw_encode", ">= 0.9x raw encode throughput of its own backend"),
    ("backend_vs_torch_ingest", ">= 3x torch fp32 ingest speed"),
    ("seed_answer_p50_ms", "<= 30 ms"),
    ("seed_answer_p95_ms", "<= 60 ms"),
    ("scale_1e5_answer_p50_ms", "<= 100 ms at 10^5 chunks"),
    ("cold_rag_ask_s", "<= 4 s median"),
    ("import_rag_s", "<= 0.5 s median"),
    ("ingest_vs_langchain", ">= 2.5x LangChain's embedded word pieces/s (same model; ours on --backend)"),
    ("ingest_vs_llamaindex", "> 1x LlamaIndex's embedded word pieces/s (same model; ours on --backend)"),
    ("retrieval_vs_langchain", "> 1x (faster than LangChain)"),
    ("retrieval_vs_llamaindex", "> 1x (faster than LlamaIndex)"),
)


# -- command line -------------------------------------------------------------------------------


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers `bench` on the `rag` command's subparsers; its handler is `run_bench_command`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure ingest speed, answer latency, cold start, memory and scale against peers",
        description=(
            "Measure, in one run on the same documents and model: ingest throughput (against a raw "
            "encode and against LangChain and LlamaIndex pipelines), warm query latency, cold start, "
            "peak memory, and latency and memory as the store grows. Indexes go into a temporary "
            "folder; ONNX copies of the model are made once and kept in RAG_MODEL_CACHE_DIR."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI-sized run: the seed article, 10^3 scale only"
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write every figure as JSON")
    parser.add_argument(
        "--docs",
        type=Path,
        action="append",
        metavar="PATH",
        help="documents to ingest (repeatable; default: the seed article plus the single-topic documents)",
    )
    parser.add_argument(
        "--backend",
        help="backend whose cold start, memory and scale are measured, and compared with torch "
        "(default: RAG_EMBEDDING_BACKEND)",
    )
    parser.add_argument(
        "--backends",
        help="comma-separated backends to ingest and query with (default: torch, onnx-int8 and --backend; quick: torch and --backend)",
    )
    parser.add_argument(
        "--scales", help="comma-separated store sizes in chunks (default 1000,10000,100000; quick 1000)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=0,
        help="timed runs of each ingest, the fastest counting (default 3; quick 1)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the LangChain and LlamaIndex rows")
    parser.set_defaults(run=run_bench_command)
    return parser


def run_bench_command(args: argparse.Namespace) -> int:
    """Runs `rag bench`; prints the table (and writes the JSON); returns the exit code."""
    from rag.embeddings import BACKENDS
    from rag.settings import load_settings

    settings = load_settings()
    backend = args.backend or settings.embedding_backend
    if backend not in BACKENDS:
        print(f"error: --backend: choose one of {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    if args.backends:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    else:
        backends = ["torch", backend] if args.quick else ["torch", "onnx-int8", backend]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        print(
            f"error: --backends: unknown {', '.join(unknown)}; choose from {', '.join(BACKENDS)}",
            file=sys.stderr,
        )
        return 2
    try:
        scales = [int(float(s)) for s in args.scales.split(",")] if args.scales else None
    except ValueError:
        print("error: --scales: give chunk counts such as 1000,10000", file=sys.stderr)
        return 2
    config = BenchConfig(
        settings=settings,
        docs=list(args.docs) if args.docs else None,
        quick=args.quick,
        backend=backend,
        backends=list(dict.fromkeys(backends)),
        scales=scales or ([1000] if args.quick else [1000, 10_000, 100_000]),
        peers=not args.no_peers,
        runs=args.runs,
    )
    result = run_bench(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(render(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.json}")
    return 0


# -- what is measured, and the figures ----------------------------------------------------------


@dataclass
class BenchConfig:
    """What `run_bench` measures; `settings` gives the model, the chunking and the model cache."""

    settings: Settings
    docs: list[Path] | None = None
    quick: bool = False
    backend: str = "auto"
    backends: list[str] = field(default_factory=lambda: ["torch", "onnx-int8", "auto"])
    runs: int = 0
    """Timed runs of each ingest (0: 1 with `quick`, else 3)."""
    scales: list[int] = field(default_factory=lambda: [1000, 10_000, 100_000])
    peers: bool = True


System = Literal["rag", "raw encode", "langchain", "llamaindex"]
"""Who a row measures: our pipeline, a raw encode of our chunks with our model, or a peer pipeline."""
What = Literal["retrieval", "answer"]
_PEER_LABELS: dict[System, str] = {"langchain": "LangChain", "llamaindex": "LlamaIndex"}


@dataclass(frozen=True, slots=True)
class SystemKey:
    """What rows are looked up by; the peers run the model with torch and have no backend."""

    system: System
    backend: str | None = None


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency percentiles in milliseconds over `n` questions (`None` when there were none)."""

    p50_ms: float | None
    p95_ms: float | None
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OurIngest:
    """What only our ingest rows have: the model load, and each run paired with the raw encode after it."""

    model_load_s: float
    exported_on_first_use: bool | None
    vs_raw_encode_runs: list[float]
    vs_raw_encode: float
    vs_raw_encode_cpu: float


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestRow:
    """Ingest throughput of one system, from its fastest run; `system` is the row's label."""

    key: SystemKey
    system: str
    seconds: float
    runs_s: list[float]
    cpu_s: float
    chunks: int
    chunks_per_s: float | None
    chunks_per_cpu_s: float | None
    kchars_per_s: float | None
    embedded_ktokens_per_s: float | None
    truncated_chunks_pct: float | None
    ours: OurIngest | None = None

    def to_json(self) -> dict[str, Any]:
        figures = asdict(self)
        del figures["key"]
        ours = figures.pop("ours") or {}
        return {"system": figures.pop("system"), "measured": True, **figures, **ours}


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryRow:
    """Warm latency of retrieval alone, or of a full answer, with one system."""

    key: SystemKey
    system: str
    what: What
    latency: Percentiles

    def to_json(self) -> dict[str, Any]:
        return {"system": self.system, "what": self.what, "measured": True, **asdict(self.latency)}


@dataclass(frozen=True, slots=True, kw_only=True)
class NotMeasured:
    """An ingest or query row that was not run, and why; query rows say `what` was not timed."""

    key: SystemKey
    system: str
    note: str
    what: What | None = None

    def to_json(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"system": self.system, "measured": False, "note": self.note}
        return figures | ({"what": self.what} if self.what else {})


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleRow:
    """Serving and BM25 figures at one store size; `measured` is false when the serving child failed."""

    chunks: int
    measured: bool
    fill_s: float
    bm25_rebuild_s: float
    first_answer_s: float | None
    retrieval: Percentiles | None
    answer: Percentiles | None
    serve_peak_rss_mb: float
    add_one_doc_ingest_s: float
    add_one_doc_bm25_sync_s: float
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleNotRun:
    """A store size left out, and why."""

    chunks: int
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "measured": False, "note": self.note}


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdStart:
    """New-process timings (medians of child runs); `serve_peak_rss_mb` is the largest `rag ask`."""

    backend: str
    rag_ask_s: float
    rag_ask_runs_s: list[float]
    rag_ask_failed: str | None
    serve_peak_rss_mb: float
    import_rag_s: float
    rag_help_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """Peak memory of `rag ingest` and of `rag ask`, each in its own child process."""

    backend: str
    ingest_peak_rss_mb: float
    ingest_process_s: float
    chunks: int | None
    failed: str | None
    serve_peak_rss_mb: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One of `TARGETS`, with the value measured (`met` is `None` when it was not measured)."""

    name: str
    target: str
    value: float | None
    met: bool | None
    by_cpu_time: float | None
    note: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """The machine the run was on, and its load average at the start and at the end."""

    cpus: int | None
    python: str
    platform: str
    load_avg_start: list[float]
    load_avg_end: list[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """The `BenchConfig` of the run, as recorded with its figures."""

    quick: bool
    backend: str
    backends: list[str]
    scales: list[int]
    model: str
    batch_size: int
    chunk_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Documents:
    """The documents ingested, and how many questions time the queries."""

    description: str
    paths: list[str]
    files: int
    characters: int
    questions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchResult:
    """Every figure of one `rag bench` run; `to_json()` is the `--json` object."""

    machine: Machine
    config: RunConfig
    documents: Documents
    ingest: list[IngestRow | NotMeasured]
    query: list[QueryRow | NotMeasured]
    seed_index: list[QueryRow]
    cold_start: ColdStart
    memory: Memory
    scale: list[ScaleRow | ScaleNotRun]
    seconds: float
    targets: list[Target]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": asdict(self.machine),
            "config": asdict(self.config),
            "documents": asdict(self.documents),
            "ingest": [row.to_json() for row in self.ingest],
            "query": [row.to_json() for row in self.query],
            "seed_index": [row.to_json() for row in self.seed_index],
            "cold_start": asdict(self.cold_start),
            "memory": asdict(self.memory),
            "scale": [row.to_json() for row in self.scale],
            "seconds": self.seconds,
            "targets": [asdict(target) for target in self.targets],
        }


# -- measuring helpers --------------------------------------------------------------------------


def _percentiles(values: Sequence[float]) -> Percentiles:
    from eval.metrics import percentile

    if not values:
        return Percentiles(None, None, 0)
    return Percentiles(round(percentile(values, 50), 2), round(percentile(values, 95), 2), len(values))


def _latencies_ms(fn: Callable[[str], Any], questions: Sequence[str]) -> list[float]:
    """Milliseconds `fn` takes on each question."""
    result = []
    for question in questions:
        started = time.perf_counter()
        fn(question)
        result.append((time.perf_counter() - started) * 1000)
    return result


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _clock(runs: list[tuple[float, float]]) -> Iterator[None]:
    """Appends the block's wall time and this process's CPU time (all its threads) to `runs`."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield
    runs.append((time.perf_counter() - wall, _cpu_seconds() - cpu))


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


@dataclass(frozen=True, slots=True)
class _ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


_LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "peak_kb": peak, "returncode": code}, out)
"""
"""Runs a command and records its wall time and peak RSS. The command is started from this small
process, not from the bench: Linux carries a parent's peak RSS over fork and exec, so a child of
the (large) bench process would report the bench's own peak."""


def _run_child(argv: Sequence[str], *, env: dict[str, str], stdin: str = "") -> _ChildRun:
    """Runs a command; its wall time and its own peak RSS."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as figures,
    ):
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, figures.name, *argv],
            input=stdin,
            stdout=out,
            stderr=err,
            env=env,
            text=True,
            cwd=_REPO,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        try:
            measured = json.loads(figures.read())
        except ValueError:
            measured = {"seconds": 0.0, "peak_kb": 0, "returncode": -1}
        return _ChildRun(
            measured["seconds"], measured["peak_kb"] / 1024, measured["returncode"], out.read(), err.read()
        )


def _child_env(settings: Settings, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        {
            "RAG_DATA_DIR": str(settings.data_dir),
            "RAG_COLLECTION": settings.collection,
            "RAG_EMBEDDING_MODEL": settings.embedding_model,
            "RAG_EMBEDDING_BACKEND": backend,
            "RAG_MODEL_CACHE_DIR": str(settings.model_cache_dir),
            "RAG_CHUNK_TOKENS": str(settings.chunk_tokens),
            "RAG_CHUNK_OVERLAP_SENTENCES": str(settings.chunk_overlap_sentences),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH", "")])),
        }
    )
    return env


def _rag_command() -> list[str]:
    script = Path(sys.executable).with_name("rag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rag.cli"]


# -- the documents and questions ------------------------------------------------------------------


@dataclass
class _Corpus:
    paths: list[Path]
    files: int
    characters: int
    questions: list[str]
    seed_questions: list[str]
    description: str


def _corpus(config: BenchConfig, scratch: Path) -> _Corpus:
    from eval.gold import read_gold_jsonl

    seed_questions = [item["question"] for item in read_gold_jsonl(_SEED_GOLD)]
    if config.quick:
        seed_questions = seed_questions[:_QUICK_QUESTIONS]
    questions = list(seed_questions)
    if config.docs:
        paths, description = list(config.docs), "given"
        archive_questions = _gold_beside(paths)[: _QUICK_QUESTIONS if config.quick else None]
        if archive_questions:
            # An archive's own questions (its gold.jsonl) time retrieval at its scale; the seed's
            # questions stay for the seed-index row beside it.
            questions, description = archive_questions, "given, with the gold questions beside them"
    elif config.quick:
        paths, description = [_SEED_ARTICLE], "seed article"
    else:
        paths, description = [_SEED_ARTICLE], "seed article"
        if _SINGLE_TOPIC.is_dir():
            from eval.single_topic import load_single_topic, write_documents

            dataset = load_single_topic(_SINGLE_TOPIC)
            folder = scratch / "single-topic"
            write_documents(dataset.documents, folder)
            paths.append(folder)
            questions += [item["question"] for item in dataset.gold]
            description = "seed article + single-topic documents"
    from ingest.pipeline import discover

    sources, _problems = discover(paths)
    characters = sum(len(s.path.read_text(encoding="utf-8", errors="replace")) for s in sources)
    return _Corpus(paths, len(sources), characters, questions, seed_questions, description)


def _gold_beside(paths: Sequence[Path]) -> list[str]:
    """Questions of a `gold.jsonl` in, or next to, each documents folder (an archive's layout).

    Each file is read once; one that is not a valid gold file is passed over.
    """
    from eval.gold import DatasetError, read_gold_jsonl

    questions: list[str] = []
    seen: set[Path] = set()
    for path in paths:
        for gold in (path / "gold.jsonl", path.parent / "gold.jsonl"):
            if not (path.is_dir() and gold.is_file()):
                continue
            if gold.resolve() not in seen:
                seen.add(gold.resolve())
                with contextlib.suppress(DatasetError):
                    questions += [item["question"] for item in read_gold_jsonl(gold)]
            break
    return questions


def _read_texts(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """(path, text) of every file below `paths`, as the peers read them: the raw file text."""
    from ingest.pipeline import discover

    sources, _problems = discover(list(paths))
    return [(str(s.path), s.path.read_text(encoding="utf-8", errors="replace")) for s in sources]


# -- our pipeline ---------------------------------------------------------------------------------


def _settings_for(base: Settings, data_dir: Path, collection: str, backend: str) -> Settings:
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "collection": collection,
            "embedding_backend": backend,
            "chroma_host": None,
            "chroma_token": None,
        }
    )


@dataclass
class _Ingested:
    settings: Settings
    embedder: SentenceTransformerEmbeddings
    index: Index
    texts: list[str]
    vectors: list[list[float]]
    row: IngestRow
    raw_row: IngestRow


def _ingest_ours(
    config: BenchConfig, corpus: _Corpus, data_dir: Path, backend: str, log: Callable[[str], None]
) -> _Ingested:
    from ingest.pipeline import ingest_paths
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.index import Index

    embedder = SentenceTransformerEmbeddings(
        config.settings.embedding_model,
        batch_size=config.settings.embedding_batch_size,
        backend=backend,  # type: ignore[arg-type]
        cache_dir=config.settings.model_cache_dir,
    )
    marker = embedder.export_dir / "embedder.json"
    before = marker.stat().st_mtime_ns if backend != "torch" and marker.exists() else None
    started = time.perf_counter()
    embedder.load()
    embedder.embed_documents(["warm up"])
    load_seconds = time.perf_counter() - started
    exported = None if backend == "torch" else marker.stat().st_mtime_ns != before
    # A first small ingest, untimed: imports Chroma and BM25 as any later run in this process finds them.
    warm = _settings_for(config.settings, data_dir, f"bench-warmup-{backend}", backend)
    ingest_paths([_SEED_ARTICLE], warm, index=Index(warm, embedder), rebuild=True, progress=False)
    log(f"  ingest with {backend} (model ready in {load_seconds:.1f}s)")
    runs: list[tuple[float, float]] = []
    raw_runs: list[tuple[float, float]] = []
    vectors: list[list[float]] = []
    texts: list[str] = []
    for run in range(_repeats(config)):
        # Each run indexes into a new data folder, as the peers' runs do: a first `rag ingest`.
        settings = _settings_for(config.settings, data_dir / f"run-{run}", f"bench-{backend}", backend)
        with _clock(runs):
            index = Index(settings, embedder)
            ingest_paths(corpus.paths, settings, index=index, progress=False)
        texts = [c.text for c in sorted(index.committed_chunks(), key=lambda c: (c.doc_id, c.index))]
        log(f"  raw encode of the same {len(texts)} chunks with {backend}")
        with _clock(raw_runs):
            vectors = embedder.embed_documents(texts)
    # Each ingest against the raw encode run right after it: a slow spell of a shared machine
    # slows both of a pair, where the fastest of each could come from different spells.
    pairs = [raw / ours for (ours, _cpu), (raw, _raw_cpu) in zip(runs, raw_runs, strict=True)]
    cpu_pairs = [raw / ours for (_wall, ours), (_raw_wall, raw) in zip(runs, raw_runs, strict=True)]
    own = OurIngest(
        model_load_s=round(load_seconds, 2),
        exported_on_first_use=exported,
        vs_raw_encode_runs=[round(p, 3) for p in pairs],
        vs_raw_encode=round(statistics.median(pairs), 2),
        vs_raw_encode_cpu=round(statistics.median(cpu_pairs), 2),
    )
    row = _ingest_row(
        SystemKey("rag", backend), f"rag ingest ({backend})", runs, texts, corpus.characters, embedder, own
    )
    raw_row = _ingest_row(
        SystemKey("raw encode", backend),
        f"raw encode ({backend})",
        raw_runs,
        texts,
        corpus.characters,
        embedder,
    )
    return _Ingested(settings, embedder, index, texts, vectors, row, raw_row)


def _repeats(config: BenchConfig) -> int:
    """Timed runs of each ingest; the fastest counts (a shared machine only ever slows a run down)."""
    return config.runs or (1 if config.quick else 3)


def _ingest_row(
    key: SystemKey,
    system: str,
    runs: Sequence[tuple[float, float]],
    texts: Sequence[str],
    characters: int,
    counter: SentenceTransformerEmbeddings,
    ours: OurIngest | None = None,
) -> IngestRow:
    """Throughput of one system from its fastest run; CPU seconds are steadier on a shared machine.

    Word pieces past the model window are cut off by the model, not embedded.
    """
    seconds = min(wall for wall, _cpu in runs)
    cpu = min(cpu for _wall, cpu in runs)
    window = counter.max_tokens
    counts = counter.count_tokens(list(texts)) if texts else []
    embedded = sum(min(n, window) for n in counts)
    return IngestRow(
        key=key,
        system=system,
        seconds=round(seconds, 3),
        runs_s=[round(wall, 3) for wall, _cpu in runs],
        cpu_s=round(cpu, 3),
        chunks=len(texts),
        chunks_per_s=round(len(texts) / seconds, 2) if seconds > 0 else None,
        chunks_per_cpu_s=round(len(texts) / cpu, 2) if cpu > 0 else None,
        kchars_per_s=round(characters / seconds / 1000, 2) if seconds > 0 else None,
        embedded_ktokens_per_s=round(embedded / seconds / 1000, 2) if seconds > 0 else None,
        truncated_chunks_pct=round(100 * sum(n > window for n in counts) / len(counts), 1)
        if counts
        else None,
        ours=ours,
    )


def _query_rows(
    key: SystemKey,
    name: str,
    settings: Settings,
    embedder: SentenceTransformerEmbeddings,
    index: Index,
    questions: Sequence[str],
) -> list[QueryRow]:
    from rag.assistant import Assistant

    assistant = Assistant(settings, embedder=embedder, index=index)
    retriever = assistant.retriever
    for question in _WARMUP_QUESTIONS:
        assistant.ask(question)
    retrieval = _latencies_ms(retriever.search, questions)
    answers = _latencies_ms(assistant.ask, questions)
    return [
        QueryRow(key=key, system=name, what="retrieval", latency=_percentiles(retrieval)),
        QueryRow(key=key, system=name, what="answer", latency=_percentiles(answers)),
    ]


# -- peers ---------------------------------------------------------------------------------------


def _missing_peers() -> dict[str, str]:
    import importlib.util

    needs = {
        "langchain": ("langchain_huggingface", "langchain_text_splitters", "langchain_chroma"),
        "llamaindex": (
            "llama_index.core",
            "llama_index.embeddings.huggingface",
            "llama_index.vector_stores.chroma",
        ),
    }
    missing = {}
    for peer, modules in needs.items():
        absent = []
        for module in modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                absent.append(module)
        if absent:
            missing[peer] = f"not installed ({', '.join(absent)}): {_PEERS_HINT}"
    return missing


def _langchain(
    model_path: str,
    documents: list[tuple[str, str]],
    characters: int,
    folder: Path,
    questions: Sequence[str],
    counter: SentenceTransformerEmbeddings,
    repeats: int,
) -> tuple[IngestRow, QueryRow]:
    """The textbook pipeline: RecursiveCharacterTextSplitter, HuggingFaceEmbeddings, Chroma.from_documents."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = HuggingFaceEmbeddings(
        model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    embeddings.embed_query("warm up")
    runs: list[tuple[float, float]] = []
    for run in range(repeats):
        with _clock(runs):
            splitter = RecursiveCharacterTextSplitter(
                chunk_size=1000, chunk_overlap=200, add_start_index=True
            )
            splits = splitter.split_documents(
                [Document(page_content=t, metadata={"source": p}) for p, t in documents]
            )
            vectorstore = Chroma.from_documents(
                splits, embeddings, collection_name="langchain", persist_directory=str(folder / f"run-{run}")
            )
    texts = [split.page_content for split in splits]
    row = _ingest_row(
        SystemKey("langchain"),
        "LangChain (RecursiveCharacterTextSplitter + HuggingFaceEmbeddings + Chroma)",
        runs,
        texts,
        characters,
        counter,
    )
    for question in _WARMUP_QUESTIONS:
        vectorstore.similarity_search(question, k=5)
    latencies = _latencies_ms(lambda q: vectorstore.similarity_search(q, k=5), questions)
    query = QueryRow(
        key=SystemKey("langchain"), system="LangChain", what="retrieval", latency=_percentiles(latencies)
    )
    return row, query


def _llamaindex(
    model_path: str,
    documents: list[tuple[str, str]],
    characters: int,
    folder: Path,
    questions: Sequence[str],
    counter: SentenceTransformerEmbeddings,
    repeats: int,
) -> tuple[IngestRow, QueryRow]:
    """LlamaIndex's default: VectorStoreIndex.from_documents with HuggingFaceEmbedding on Chroma."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embed_model = HuggingFaceEmbedding(model_name=model_path, device="cpu")
    embed_model.get_query_embedding("warm up")
    runs: list[tuple[float, float]] = []
    for run in range(repeats):
        with _clock(runs):
            client = chromadb.PersistentClient(
                path=str(folder / f"run-{run}"), settings=ChromaSettings(anonymized_telemetry=False)
            )
            collection = client.get_or_create_collection("llamaindex")
            storage = StorageContext.from_defaults(
                vector_store=ChromaVectorStore(chroma_collection=collection)
            )
            index = VectorStoreIndex.from_documents(
                [Document(text=t, metadata={"source": p}) for p, t in documents],
                storage_context=storage,
                embed_model=embed_model,
            )
    texts = [str(text) for text in collection.get(include=["documents"])["documents"] or []]
    row = _ingest_row(
        SystemKey("llamaindex"),
        "LlamaIndex (VectorStoreIndex + HuggingFaceEmbedding + Chroma)",
        runs,
        texts,
        characters,
        counter,
    )
    retriever = index.as_retriever(similarity_top_k=5)
    for question in _WARMUP_QUESTIONS:
        retriever.retrieve(question)
    latencies = _latencies_ms(retriever.retrieve, questions)
    query = QueryRow(
        key=SystemKey("llamaindex"), system="LlamaIndex", what="retrieval", latency=_percentiles(latencies)
    )
    return row, query


# -- cold start and memory -------------------------------------------------------------------------


def _cold_start(settings: Settings, backend: str, question: str, runs: int) -> ColdStart:
    env = _child_env(settings, backend)
    asks = [_run_child([*_rag_command(), "ask", question], env=env) for _ in range(runs)]
    failed = [a for a in asks if a.returncode != 0]
    imports = [_run_child([sys.executable, "-c", "import rag"], env=env) for _ in range(max(runs, 5))]
    helps = [_run_child([*_rag_command(), "--help"], env=env) for _ in range(runs)]
    return ColdStart(
        backend=backend,
        rag_ask_s=round(statistics.median(a.seconds for a in asks), 3),
        rag_ask_runs_s=[round(a.seconds, 3) for a in asks],
        rag_ask_failed=failed[0].stderr.strip()[-500:] if failed else None,
        serve_peak_rss_mb=round(max(a.peak_rss_mb for a in asks), 1),
        import_rag_s=round(statistics.median(i.seconds for i in imports), 3),
        rag_help_s=round(statistics.median(h.seconds for h in helps), 3),
    )


def _ingest_memory(
    settings: Settings, backend: str, paths: Sequence[Path], *, serve_peak_rss_mb: float
) -> Memory:
    """Peak memory of `rag ingest` in a child process, beside that of `rag ask` (from the cold start)."""
    env = _child_env(settings, backend)
    run = _run_child([*_rag_command(), "ingest", "--rebuild", "--json", *map(str, paths)], env=env)
    chunks = None
    with contextlib.suppress(ValueError):
        chunks = json.loads(run.stdout).get("chunks")
    return Memory(
        backend=backend,
        ingest_peak_rss_mb=round(run.peak_rss_mb, 1),
        ingest_process_s=round(run.seconds, 2),
        chunks=chunks,
        failed=run.stderr.strip()[-500:] if run.returncode != 0 else None,
        serve_peak_rss_mb=serve_peak_rss_mb,
    )


def serve_probe() -> None:
    """Child side of the scale runs: open the index the environment names, answer, print figures."""
    from rag.assistant import Assistant

    request = json.loads(sys.stdin.read())
    started = time.perf_counter()
    assistant = Assistant()
    assistant.ask(_WARMUP_QUESTIONS[0])
    first = time.perf_counter() - started
    for question in _WARMUP_QUESTIONS[1:]:
        assistant.ask(question)
    questions = request["questions"]
    retriever = assistant.retriever
    retrieval = _latencies_ms(retriever.search, questions)
    answers = _latencies_ms(assistant.ask, questions)
    print(
        json.dumps(
            {
                "first_answer_s": round(first, 3),
                "retrieval": asdict(_percentiles(retrieval)),
                "answer": asdict(_percentiles(answers)),
            }
        )
    )


# -- scale ---------------------------------------------------------------------------------------


class _Synthetic:
    """Chunks for the scale runs: vectors perturbed around real ones, real sentences with words shuffled.

    Given the real chunks' sentence vectors (of their `sentence_spans`), synthetic chunks get
    sentence vectors too, perturbed around those of their real chunk, so answering at scale
    reads stored vectors as it does on a real index.
    """

    def __init__(
        self,
        texts: Sequence[str],
        vectors: Sequence[Sequence[float]],
        seed: int = 0,
        *,
        sentence_vectors: Sequence[SentenceVectors | None] | None = None,
    ) -> None:
        import numpy as np

        from rag.text import sentence_spans

        self.rng = np.random.default_rng(seed)
        # A second stream, so texts and chunk vectors are the same with or without sentence vectors.
        self.sentence_rng = np.random.default_rng(seed + 1)
        self.base = np.asarray(vectors, dtype=np.float32)
        self.sentences = [[t[a:b].rstrip(".!?").split() for a, b in sentence_spans(t)] for t in texts]
        self.vocabulary = sorted({w for chunk in self.sentences for s in chunk for w in s})
        self.sentence_base: list[Any] | None = None
        if sentence_vectors is not None:
            self.sentence_base = [
                self.base[row : row + 1] if pooled is None else pooled.matrix
                for row, pooled in enumerate(sentence_vectors)
            ]

    def sentence_vectors(self, row: int, text: str) -> SentenceVectors | None:
        """Vectors for the sentences of synthetic `text` made from real chunk `row`, about 0.8 cosine from that chunk's."""
        import numpy as np

        from rag.text import sentence_spans
        from rag.vectors import SentenceVectors

        if self.sentence_base is None:
            return None
        spans = sentence_spans(text)
        real = self.sentence_base[row]
        picked = real[[min(i, len(real) - 1) for i in range(len(spans))]]
        noise = self.sentence_rng.normal(0.0, 0.75 / np.sqrt(real.shape[1]), size=picked.shape)
        return SentenceVectors.from_matrix(spans, picked + noise.astype(np.float32))

    def vectors(self, count: int) -> tuple[Any, Any]:
        """`count` unit vectors, each about 0.8 cosine from a real chunk's, and which chunk that was."""
        import numpy as np

        rows = self.rng.integers(0, len(self.base), size=count)
        noise = self.rng.normal(0.0, 0.75 / np.sqrt(self.base.shape[1]), size=(count, self.base.shape[1]))
        vectors = self.base[rows] + noise.astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), rows

    def text(self, row: int) -> str:
        """A chunk like real chunk `row`: its sentences, words shuffled, plus a few other words."""
        sentences = []
        for words in self.sentences[row]:
            shuffled = [str(w) for w in self.rng.permutation(words)] if words else ["Empty"]
            shuffled[0] = shuffled[0][:1].upper() + shuffled[0][1:]
            sentences.append(" ".join(shuffled) + ".")
        extra = self.rng.choice(len(self.vocabulary), size=3)
        sentences.append("Also " + " ".join(self.vocabulary[i] for i in extra) + ".")
        return " ".join(sentences)


def _fill(index: Index, synthetic: _Synthetic, start: int, count: int) -> None:
    """Adds `count` synthetic chunks to the index as articles of `_SCALE_DOC_CHUNKS` chunks, in one
    writer (BM25 is built afterwards, and timed on its own)."""
    with index.writer(sync_lexical=False) as writer:
        _fill_batches(writer, synthetic, start, count)


def _fill_batches(writer: IndexWriter, synthetic: _Synthetic, start: int, count: int) -> None:
    from ingest.pipeline import content_hash
    from rag.index import chunk_id
    from rag.types import Article, Chunk, PreparedArticle

    made = 0
    batch: list[PreparedArticle] = []
    while made < count:
        size = min(_SCALE_DOC_CHUNKS, count - made)
        doc_id = f"synthetic-{start + made:08d}"
        vectors, rows = synthetic.vectors(size)
        texts = [synthetic.text(int(r)) for r in rows]
        sentence_vectors = [
            synthetic.sentence_vectors(int(r), text) for r, text in zip(rows, texts, strict=True)
        ]
        body, spans, position = [], [], 0
        for text in texts:
            spans.append((position, position + len(text)))
            body.append(text)
            position += len(text) + 2
        article = Article(doc_id=doc_id, title=f"Synthetic {doc_id}", text="\n\n".join(body), source="bench")
        c_hash = content_hash(article)
        chunks = [
            Chunk(chunk_id(doc_id, c_hash, i), doc_id, i, a, b, text)
            for i, ((a, b), text) in enumerate(zip(spans, texts, strict=True))
        ]
        batch.append(
            PreparedArticle(
                article=article,
                chunks=chunks,
                vectors=vectors.tolist(),
                content_hash=c_hash,
                file_hash=c_hash,  # no file: its text stands in
                sentence_vectors=sentence_vectors,
            )
        )
        made += size
        if made >= count or sum(len(b.chunks) for b in batch) >= _SCALE_BATCH_CHUNKS:
            # As `rag ingest` writes: a batch's chunks in one write, then its records in one commit.
            writer.put(batch)
            batch = []


def _scale(
    config: BenchConfig,
    base: _Ingested,
    data_dir: Path,
    scratch: Path,
    questions: Sequence[str],
    log: Callable[[str], None],
) -> list[ScaleRow]:
    from ingest.pipeline import ingest_paths
    from rag.index import Index
    from rag.text import sentence_spans

    settings = _settings_for(config.settings, data_dir, f"bench-scale-{config.backend}", config.backend)
    index = Index(settings, base.embedder)
    with index.writer(rebuild=True, sync_lexical=False):
        pass
    _vectors, pooled = base.embedder.embed_documents_with_sentences(
        base.texts, [sentence_spans(text) for text in base.texts]
    )
    synthetic = _Synthetic(base.texts, base.vectors, sentence_vectors=pooled)

    rows: list[ScaleRow] = []
    filled = 0
    for step, target in enumerate(sorted(config.scales)):
        log(f"  scale {target} chunks: filling")
        started = time.perf_counter()
        _fill(index, synthetic, filled, target - filled)
        filled = target
        fill_seconds = time.perf_counter() - started
        # A full build: without its folder BM25 cannot catch up from the last step.
        started = time.perf_counter()
        index.rebuild_lexical()
        rebuild = time.perf_counter() - started
        log(f"  scale {target} chunks: serving in a child process")
        child = _run_child(
            [sys.executable, "-c", "from eval.bench import serve_probe; serve_probe()"],
            env=_child_env(settings, config.backend),
            stdin=json.dumps({"questions": list(questions)}),
        )
        probe: dict[str, Any] = {}
        with contextlib.suppress(ValueError, IndexError):
            probe = json.loads(child.stdout.strip().splitlines()[-1])
        # One more real article, ingested as `rag ingest` would: how long keeping BM25 in step takes
        # (the index loaded first, as a running chat has it, so only the catch-up is timed).
        extra = scratch / f"scale-extra-{step}"
        extra.mkdir()
        shutil.copyfile(_SEED_ARTICLE, extra / f"added-{step}.txt")
        index.sync_lexical()
        synced_before = index.lexical_sync_seconds
        report = ingest_paths([extra], settings, index=index, progress=False)
        rows.append(
            ScaleRow(
                chunks=target,
                measured=child.returncode == 0 and bool(probe),
                fill_s=round(fill_seconds, 2),
                bm25_rebuild_s=round(rebuild, 3),
                first_answer_s=probe.get("first_answer_s"),
                retrieval=Percentiles(**probe["retrieval"]) if probe.get("retrieval") else None,
                answer=Percentiles(**probe["answer"]) if probe.get("answer") else None,
                serve_peak_rss_mb=round(child.peak_rss_mb, 1),
                add_one_doc_ingest_s=round(report.seconds, 3),
                add_one_doc_bm25_sync_s=round(index.lexical_sync_seconds - synced_before, 3),
                note=None if child.returncode == 0 else child.stderr.strip()[-500:],
            )
        )
    return rows


# -- the run --------------------------------------------------------------------------------------


def run_bench(config: BenchConfig, *, log: Callable[[str], None] = lambda _line: None) -> BenchResult:
    """Measures everything `config` asks for and returns the figures (`to_json()` is the `--json` object)."""
    from rag.embeddings import resolve_model_path

    started = time.perf_counter()
    load_avg_start = _load()
    with _scratch() as scratch:
        data_dir = scratch / "data"
        data_dir.mkdir()
        corpus = _corpus(config, scratch)
        log(f"bench: {corpus.files} files, {corpus.characters} characters ({corpus.description})")

        ingest_rows: list[IngestRow | NotMeasured] = []
        query_rows: list[QueryRow | NotMeasured] = []
        ingested: dict[str, _Ingested] = {}
        for backend in dict.fromkeys([*config.backends, config.backend]):
            ingested[backend] = done = _ingest_ours(config, corpus, data_dir, backend, log)
            ingest_rows += [done.row, done.raw_row]
            log(f"  queries with {backend}")
            query_rows += _query_rows(
                SystemKey("rag", backend),
                f"rag ({backend})",
                done.settings,
                done.embedder,
                done.index,
                corpus.questions,
            )
        ours = ingested[config.backend]

        log("  seed index latency")
        seed_settings = _settings_for(
            config.settings, data_dir, f"bench-seed-{config.backend}", config.backend
        )
        seed_rows = _seed_latency(seed_settings, ours.embedder, corpus.seed_questions)

        model_path = resolve_model_path(config.settings.embedding_model)
        missing = (
            _missing_peers()
            if config.peers
            else {"langchain": "skipped (--no-peers)", "llamaindex": "skipped (--no-peers)"}
        )
        documents = _read_texts(corpus.paths)
        peer: System
        for peer, run_peer in (("langchain", _langchain), ("llamaindex", _llamaindex)):
            label = _PEER_LABELS[peer]
            if peer in missing:
                key = SystemKey(peer)
                ingest_rows.append(NotMeasured(key=key, system=label, note=missing[peer]))
                query_rows.append(NotMeasured(key=key, system=label, note=missing[peer], what="retrieval"))
                continue
            log(f"  peer: {label}")
            row, query = run_peer(
                model_path,
                documents,
                corpus.characters,
                scratch / peer,
                corpus.questions,
                ours.embedder,
                _repeats(config),
            )
            ingest_rows.append(row)
            query_rows.append(query)

        log("  cold start")
        cold_start = _cold_start(
            ours.settings, config.backend, corpus.seed_questions[0], 2 if config.quick else 3
        )
        log("  ingest memory")
        memory_settings = _settings_for(
            config.settings, data_dir, f"bench-memory-{config.backend}", config.backend
        )
        memory = _ingest_memory(
            memory_settings, config.backend, corpus.paths, serve_peak_rss_mb=cold_start.serve_peak_rss_mb
        )
        scale: list[ScaleRow | ScaleNotRun] = [
            *_scale(config, ours, data_dir, scratch, corpus.seed_questions, log)
        ]
        if config.quick or max(config.scales) < 1_000_000:
            scale.append(
                ScaleNotRun(
                    chunks=1_000_000,
                    note="not run: pass --scales ...,1000000 (about 1 GB of text and an hour to fill here)",
                )
            )
    return BenchResult(
        machine=Machine(
            cpus=os.cpu_count(),
            python=platform.python_version(),
            platform=platform.platform(),
            load_avg_start=load_avg_start,
            load_avg_end=_load(),
        ),
        config=RunConfig(
            quick=config.quick,
            backend=config.backend,
            backends=config.backends,
            scales=config.scales,
            model=config.settings.embedding_model,
            batch_size=config.settings.embedding_batch_size,
            chunk_tokens=config.settings.chunk_tokens,
        ),
        documents=Documents(
            description=corpus.description,
            paths=[str(p) for p in corpus.paths],
            files=corpus.files,
            characters=corpus.characters,
            questions=len(corpus.questions),
        ),
        ingest=ingest_rows,
        query=query_rows,
        seed_index=seed_rows,
        cold_start=cold_start,
        memory=memory,
        scale=scale,
        seconds=round(time.perf_counter() - started, 1),
        targets=_targets(
            ingest=ingest_rows,
            query=query_rows,
            seed_index=seed_rows,
            scale=scale,
            cold_start=cold_start,
            backend=config.backend,
        ),
    )


def _seed_latency(
    settings: Settings, embedder: SentenceTransformerEmbeddings, questions: Sequence[str]
) -> list[QueryRow]:
    from ingest.pipeline import ingest_paths
    from rag.index import Index

    index = Index(settings, embedder)
    ingest_paths([_SEED_ARTICLE], settings, index=index, rebuild=True, progress=False)
    return _query_rows(
        SystemKey("rag", settings.embedding_backend),
        f"rag ({settings.embedding_backend}), seed index",
        settings,
        embedder,
        index,
        questions,
    )


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- targets and the table -------------------------------------------------------------------------


def _ingest_of(rows: Sequence[IngestRow | NotMeasured], key: SystemKey) -> IngestRow | None:
    """The measured ingest row of `key`, if there is one."""
    return next((r for r in rows if isinstance(r, IngestRow) and r.key == key), None)


def _latency_of(rows: Sequence[QueryRow | NotMeasured], key: SystemKey, what: What) -> QueryRow | None:
    """The measured `what` latency row of `key`, if there is one."""
    return next((r for r in rows if isinstance(r, QueryRow) and r.key == key and r.what == what), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _peer_rows(
    ingest: Sequence[IngestRow | NotMeasured], peer: System, backend: str
) -> tuple[IngestRow | None, IngestRow | None]:
    """Our ingest row on `backend` and the peer's (the peers run the model with torch)."""
    return _ingest_of(ingest, SystemKey("rag", backend)), _ingest_of(ingest, SystemKey(peer))


def _peer_ratio(ingest: Sequence[IngestRow | NotMeasured], peer: System, backend: str) -> float | None:
    """Our ingest speed over a peer's, in embedded word pieces per second.

    Per chunk would favour whoever makes small chunks, and per character (time for the same
    files) whoever makes chunks longer than the model window: the text past the window is
    never embedded, so it costs nothing and cannot be found. Word pieces the model actually
    embedded (counted with its tokenizer, capped at its window) are the work both did.
    """
    ours, theirs = _peer_rows(ingest, peer, backend)
    return _ratio(ours.embedded_ktokens_per_s, theirs.embedded_ktokens_per_s) if ours and theirs else None


def _peer_note(ingest: Sequence[IngestRow | NotMeasured], peer: System, backend: str) -> str | None:
    ours, theirs = _peer_rows(ingest, peer, backend)
    if not ours or not theirs:
        return None
    label = _PEER_LABELS[peer]
    parts = [f"unit: embedded word pieces/s, {ours.system} vs {label} (torch)"]
    torch = _ingest_of(ingest, SystemKey("rag", "torch"))
    if torch and torch is not ours:
        parts.append(
            f"torch against torch: {_ratio(torch.embedded_ktokens_per_s, theirs.embedded_ktokens_per_s)}"
        )
    truncated = theirs.truncated_chunks_pct or 0
    parts.append(
        f"per document (same files, wall time) {_ratio(ours.kchars_per_s, theirs.kchars_per_s)}"
        + (
            f", but {label} cut {truncated}% of its chunks at the model window, never embedding that text"
            if truncated > 5
            else ""
        )
    )
    return "; ".join(parts)


def _targets(
    *,
    ingest: Sequence[IngestRow | NotMeasured],
    query: Sequence[QueryRow | NotMeasured],
    seed_index: Sequence[QueryRow],
    scale: Sequence[ScaleRow | ScaleNotRun],
    cold_start: ColdStart,
    backend: str,
) -> list[Target]:
    def speed(key: SystemKey) -> float | None:
        row = _ingest_of(ingest, key)
        return row.kchars_per_s if row else None

    def chunk_speed(key: SystemKey) -> float | None:
        row = _ingest_of(ingest, key)
        return row.chunks_per_s if row else None

    ours_key = SystemKey("rag", backend)
    raw_key = SystemKey("raw encode", backend)
    torch_key = SystemKey("rag", "torch")
    ours = speed(ours_key)
    our_retrieval = _latency_of(query, ours_key, "retrieval")
    seed_answer = _latency_of(seed_index, ours_key, "answer")
    scale_row = next(
        (r for r in scale if isinstance(r, ScaleRow) and r.chunks == 100_000 and r.measured), None
    )

    def peer_latency(peer: System) -> float | None:
        row = _latency_of(query, SystemKey(peer), "retrieval")
        return row.latency.p50_ms if row else None

    own_row = _ingest_of(ingest, ours_key)
    own = own_row.ours if own_row else None
    fastest = _ratio(chunk_speed(ours_key), chunk_speed(raw_key))
    our_p50 = our_retrieval.latency.p50_ms if our_retrieval else None
    values: dict[str, float | None] = {
        "ingest_vs_raw_encode": (own.vs_raw_encode if own else None) or fastest,
        "backend_vs_torch_ingest": _ratio(ours, speed(torch_key)),
        "seed_answer_p50_ms": seed_answer.latency.p50_ms if seed_answer else None,
        "seed_answer_p95_ms": seed_answer.latency.p95_ms if seed_answer else None,
        "scale_1e5_answer_p50_ms": scale_row.answer.p50_ms if scale_row and scale_row.answer else None,
        "cold_rag_ask_s": cold_start.rag_ask_s,
        "import_rag_s": cold_start.import_rag_s,
        "ingest_vs_langchain": _peer_ratio(ingest, "langchain", backend),
        "ingest_vs_llamaindex": _peer_ratio(ingest, "llamaindex", backend),
        "retrieval_vs_langchain": _ratio(peer_latency("langchain"), our_p50),
        "retrieval_vs_llamaindex": _ratio(peer_latency("llamaindex"), our_p50),
    }
    checks: dict[str, Callable[[float], bool]] = {
        "ingest_vs_raw_encode": lambda v: v >= 0.9,
        "backend_vs_torch_ingest": lambda v: v >= 3,
        "seed_answer_p50_ms": lambda v: v <= 30,
        "seed_answer_p95_ms": lambda v: v <= 60,
        "scale_1e5_answer_p50_ms": lambda v: v <= 100,
        "cold_rag_ask_s": lambda v: v <= 4,
        "import_rag_s": lambda v: v <= 0.5,
        "ingest_vs_langchain": lambda v: v >= 2.5,
        "ingest_vs_llamaindex": lambda v: v > 1,
        "retrieval_vs_langchain": lambda v: v > 1,
        "retrieval_vs_llamaindex": lambda v: v > 1,
    }

    def cpu_rate(key: SystemKey) -> float | None:
        """Embedded word pieces per CPU second (all threads), the unit of the ingest targets."""
        row = _ingest_of(ingest, key)
        if not row or not row.cpu_s or row.embedded_ktokens_per_s is None:
            return None
        return float(row.embedded_ktokens_per_s * row.seconds / row.cpu_s)

    ours_cpu = cpu_rate(ours_key)
    by_cpu: dict[str, float | None] = {
        name: _ratio(ours_cpu, cpu_rate(key))
        for name, key in (
            ("ingest_vs_raw_encode", raw_key),
            ("backend_vs_torch_ingest", torch_key),
            ("ingest_vs_langchain", SystemKey("langchain")),
            ("ingest_vs_llamaindex", SystemKey("llamaindex")),
        )
    }
    if own and own.vs_raw_encode_cpu:
        by_cpu["ingest_vs_raw_encode"] = own.vs_raw_encode_cpu
    notes = {f"ingest_vs_{peer}": _peer_note(ingest, peer, backend) for peer in _PEER_LABELS}
    if own and own.vs_raw_encode_runs:
        notes["ingest_vs_raw_encode"] = (
            f"median of each run against the raw encode right after it: {own.vs_raw_encode_runs}; "
            f"fastest against fastest: {fastest}"
        )
    return [
        Target(
            name=name,
            target=target,
            value=values[name],
            met=None if values[name] is None else checks[name](values[name]),  # type: ignore[arg-type]
            by_cpu_time=by_cpu.get(name),
            note=notes.get(name),
        )
        for name, target in TARGETS
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("—" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _ingest_cells(r: IngestRow | NotMeasured) -> list[Any]:
    if isinstance(r, NotMeasured):
        return [r.system, *[None] * 8, r.note or "not measured"]
    return [
        r.system,
        r.chunks,
        r.seconds,
        r.chunks_per_s,
        r.cpu_s,
        r.chunks_per_cpu_s,
        r.kchars_per_s,
        r.embedded_ktokens_per_s,
        r.truncated_chunks_pct,
        "",
    ]


def _latency_cells(r: QueryRow | NotMeasured) -> list[Any]:
    if isinstance(r, NotMeasured):
        return [r.system, r.what, None, None, None, r.note]
    return [r.system, r.what, r.latency.p50_ms, r.latency.p95_ms, r.latency.n, ""]


def _scale_cells(r: ScaleRow | ScaleNotRun) -> list[Any]:
    if isinstance(r, ScaleNotRun) or not r.measured:
        return [r.chunks, None, None, None, None, None, None, None, r.note]
    return [
        r.chunks,
        r.fill_s,
        f"{r.retrieval.p50_ms}/{r.retrieval.p95_ms}" if r.retrieval else None,
        f"{r.answer.p50_ms}/{r.answer.p95_ms}" if r.answer else None,
        r.first_answer_s,
        r.serve_peak_rss_mb,
        r.bm25_rebuild_s,
        r.add_one_doc_ingest_s,
        r.add_one_doc_bm25_sync_s,
    ]


def render(result: BenchResult) -> str:
    """The bench figures as plain-text tables."""
    machine, docs = result.machine, result.documents
    parts = [
        f"rag bench — {docs.files} files, {docs.characters} characters ({docs.description}); "
        f"{machine.cpus} CPUs, load average {machine.load_avg_start} → {machine.load_avg_end}; "
        f"{result.seconds} s",
        "",
        "Ingest (same documents, same model)",
        _table(
            [
                "system",
                "chunks",
                "seconds (best)",
                "chunks/s",
                "CPU s",
                "chunks/CPU s",
                "kchars/s",
                "embedded ktokens/s",
                "truncated %",
                "note",
            ],
            [_ingest_cells(r) for r in result.ingest],
        ),
        "kchars/s: characters of the documents per second; embedded ktokens/s: word pieces the model",
        "embedded per second (its tokenizer, capped at its window; text past the window is never",
        "embedded). The peer targets compare embedded word pieces/s: per chunk or per character would",
        "reward small chunks or chunks cut off at the window.",
        "",
        "Warm query latency (ms)",
        _table(
            ["system", "what", "p50", "p95", "n", "note"],
            [_latency_cells(r) for r in [*result.query, *result.seed_index]],
        ),
        "",
        "Cold start and memory",
    ]
    cold, memory = result.cold_start, result.memory
    parts.append(
        _table(
            ["figure", "value"],
            [
                [f"rag ask, new process ({cold.backend}), median s", cold.rag_ask_s],
                ["rag ask runs, s", cold.rag_ask_runs_s],
                ["python -c 'import rag', median s", cold.import_rag_s],
                ["rag --help, median s", cold.rag_help_s],
                ["rag ingest peak RSS, MB", memory.ingest_peak_rss_mb],
                ["rag ingest process, s", memory.ingest_process_s],
                ["rag ask peak RSS, MB", memory.serve_peak_rss_mb],
            ],
        )
    )
    parts += [
        "",
        "Scale (synthetic chunks around real vectors; one child process per size)",
        _table(
            [
                "chunks",
                "fill s",
                "retrieval p50/p95 ms",
                "answer p50/p95 ms",
                "first answer s",
                "RSS MB",
                "BM25 rebuild s",
                "+1 doc ingest s",
                "+1 doc BM25 sync s",
            ],
            [_scale_cells(r) for r in result.scale],
        ),
        "",
        "Targets",
        _table(
            ["target", "wanted", "value", "met", "by CPU time", "note"],
            [
                [
                    t.name,
                    t.target,
                    t.value,
                    {True: "yes", False: "NO", None: "not measured"}[t.met],
                    t.by_cpu_time,
                    t.note or "",
                ]
                for t in result.targets
            ],
        ),
    ]
    return "\n".join(parts)
