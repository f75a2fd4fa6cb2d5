"""Helpers for the ingestion suite: generated articles, the `rag` command in a subprocess, index views."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embeddings import SentenceTransformerEmbeddings
from tests.support import raw_store, vector_rows

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.index import Index

RAG = Path(sys.executable).parent / "rag"

_CITIES = [
    "Singapore", "Jakarta", "Manila", "Hanoi", "Bangkok", "Kuala Lumpur", "Seoul", "Tokyo", "Taipei",
    "Sydney", "Auckland", "Mumbai", "Dhaka", "Colombo", "Perth", "Osaka", "Cebu", "Penang",
]  # fmt: skip
_SECTORS = [
    "shipping", "semiconductor", "rice farming", "tourism", "banking", "solar power", "fisheries",
    "construction", "aviation", "healthcare", "logistics", "textiles", "education", "retail", "insurance",
]  # fmt: skip
_FIRST = [
    "Aisha",
    "Bernard",
    "Chen",
    "Dewi",
    "Eduardo",
    "Farah",
    "Gopal",
    "Hana",
    "Ivan",
    "Junaid",
    "Kavya",
    "Lars",
]
_LAST = [
    "Tan",
    "Lim",
    "Nguyen",
    "Santos",
    "Kumar",
    "Park",
    "Ito",
    "Wong",
    "Rahman",
    "Silva",
    "Haddad",
    "Okafor",
]
_ROLES = ["an economist", "a union leader", "a port official", "an analyst", "a minister", "a trade lawyer"]
_ACTIONS = [
    "expanded its export quotas", "cut the subsidy scheme", "launched a training programme",
    "postponed the port expansion", "froze its hiring plans", "lifted the price controls",
    "introduced a carbon levy", "tightened the licensing rules", "delayed its bond issuance",
    "approved the rail link",
]  # fmt: skip
_REACTIONS = [
    "Shares of listed firms in the sector rose {n} per cent in early trading.",
    "Small businesses warned that about {n} jobs could be affected by the end of the year.",
    "The finance ministry said the change would cost roughly {n} million dollars over three years.",
    "Opposition lawmakers demanded a hearing, saying {n} households had not been consulted.",
    "Exporters said shipping times had already lengthened by {n} days on average.",
]


def article_text(number: int, *, revision: int = 0, paragraphs: int = 4) -> str:
    """A distinct, news-like article of a few KB; another `revision` rewrites part of it."""
    rng = random.Random(number * 7919 + 17)
    city, sector = _CITIES[number % len(_CITIES)], _SECTORS[(number * 7) % len(_SECTORS)]
    lines = [f"{city} {sector} outlook shifts after report {number}", ""]
    if revision:
        lines += [
            f"Update {revision}: officials in {city} revised report {number} on {sector} overnight.",
            "",
        ]
    for paragraph in range(paragraphs):
        sentences = []
        for _ in range(3):
            person, role = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", rng.choice(_ROLES)
            action, month = rng.choice(_ACTIONS), rng.choice(["March", "June", "October"])
            year = rng.randint(2015, 2025)
            sentences.append(
                f"{person}, {role} in {city}, said the {sector} regulator {action} in {month} {year}."
            )
            sentences.append(rng.choice(_REACTIONS).format(n=rng.randint(2, 900)))
        if revision and paragraph == 1:
            sentences[0] = f"Revision {revision} of report {number} replaced this paragraph's opening claim."
        lines += [" ".join(sentences), ""]
    return "\n".join(lines)


def write_articles(folder: Path, count: int, *, revision: int = 0) -> list[Path]:
    """Writes `count` generated articles into `folder` as a000.txt, a001.txt, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"a{number:03d}.txt"
        path.write_text(article_text(number, revision=revision), encoding="utf-8")
        paths.append(path)
    return paths


def cli_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `rag` subprocess: offline, no telemetry, only the RAG_* settings given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env["RAG_DATA_DIR"] = str(data_dir)
    env |= {f"RAG_{name.upper()}": value for name, value in settings.items()}
    return env


def run_rag(args: list[str], data_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Runs the real `rag` command (from a folder without a `.env`) and captures its output."""
    return subprocess.run(
        [str(RAG), *args],
        env=cli_env(data_dir, **settings),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_rag_json(args: list[str], data_dir: Path, **settings: str) -> tuple[int, dict[str, Any]]:
    """Runs `rag ... --json`; returns the exit status and the parsed report."""
    done, report = run_rag_json_full(args, data_dir, **settings)
    return done.returncode, report


def run_rag_json_full(
    args: list[str], data_dir: Path, **settings: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Runs `rag ... --json`; returns the finished process and the parsed report."""
    done = run_rag([*args, "--json"], data_dir, **settings)
    try:
        return done, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"no JSON from rag {args}: stdout={done.stdout!r} stderr={done.stderr[-2000:]!r}"
        ) from None


def record_rows(index: Index) -> dict[str, dict[str, Any]]:
    """Committed article records by id, without the ingest time."""
    return {doc_id: asdict(r) | {"ingested_at": None} for doc_id, r in index.records().items()}


def raw_chunk_count(index: Index) -> int:
    """Every chunk physically in the collection, committed or not."""
    return int(raw_store(index).chunks().count())


class TokenizerOnlyEmbeddings(SentenceTransformerEmbeddings):
    """The packaged model's identity and tokenizer (so chunking is identical), with cheap hashed vectors.

    For reference ingests whose chunks and records are compared but whose vectors never are.
    """

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            seed = random.Random(hashlib.sha256(text.encode()).digest())
            vector = [seed.uniform(-1.0, 1.0) for _ in range(_DIMENSIONS)]
            norm = sum(x * x for x in vector) ** 0.5
            vectors.append([x / norm for x in vector])
        return vectors


_DIMENSIONS = 384


def pdf_with_text(lines: list[str], metadata: dict[str, Any] | None = None) -> bytes:
    """A real one-page PDF whose text layer holds `lines` (rendered by matplotlib)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.5, 11))
    for row, line in enumerate(lines):
        figure.text(0.08, 0.92 - row * 0.03, line, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf", metadata=metadata)
    return buffer.getvalue()


QUESTIONS = [
    *(
        f"What did the {sector} regulator in {city} decide?"
        for city, sector in zip(_CITIES, _SECTORS, strict=False)
    ),
    "How many jobs could be affected by the end of the year?",
    "Which lawmakers demanded a hearing?",
    "How much longer are shipping times?",
]
"""Questions about the generated articles, for comparing rankings."""


def assert_same_vectors(index: Index, reference: Index, tolerance: float = 1e-6) -> float:
    """Every committed chunk has the reference's vector (within `tolerance` per value) and the same
    sentence vectors; returns the largest difference."""
    got, want = vector_rows(index), vector_rows(reference)
    assert set(got) == set(want)
    differences = {chunk: float(abs(got[chunk] - want[chunk]).max()) for chunk in want}
    apart = sorted((d, chunk) for chunk, d in differences.items() if d > tolerance)
    assert not apart, f"{len(apart)} of {len(want)} vectors differ, up to {apart[-1][0]:.2g}"
    ids = sorted(want)
    assert index.sentence_vectors(ids) == reference.sentence_vectors(ids)
    return max(differences.values(), default=0.0)


def rankings(
    index: Index, embedder: Embeddings, questions: list[str], k: int = 10
) -> list[list[tuple[str, float]]]:
    """What the assistant's retriever ranks for each question: (chunk id, fused score), best first,
    three times `k` deep (deeper than compared, so that a chunk tied with the k-th one is there)."""
    from rag.retriever import HybridRetriever

    retriever = HybridRetriever.from_settings(index.settings, index)
    return [
        [(p.chunk_id, p.score) for p in retriever.search(q, k=3 * k, query_vector=embedder.embed_query(q))]
        for q in questions
    ]


def same_ranking(
    got: list[tuple[str, float]], want: list[tuple[str, float]], k: int = 10, tolerance: float = 1e-6
) -> bool:
    """The same top `k` scores in the same order, each from the same chunk with the same score;
    chunks whose scores are equal within `tolerance` may come in either order."""
    if len(got[:k]) != len(want[:k]):
        return False
    if any(abs(x - y) > tolerance for (_, x), (_, y) in zip(got[:k], want[:k], strict=True)):
        return False
    deeper = dict(want)
    return all(chunk in deeper and abs(deeper[chunk] - score) <= tolerance for chunk, score in got[:k])


def assert_same_rankings(
    index: Index, reference: Index, embedder: Embeddings, tolerance: float = 1e-6
) -> None:
    """The same chunks in the same order for every question in `QUESTIONS`, with the same scores."""
    got, want = rankings(index, embedder, QUESTIONS), rankings(reference, embedder, QUESTIONS)
    changed = [
        q for q, a, b in zip(QUESTIONS, got, want, strict=True) if not same_ranking(a, b, tolerance=tolerance)
    ]
    assert not changed, f"the ranking of {len(changed)} of {len(QUESTIONS)} questions changed: {changed}"
