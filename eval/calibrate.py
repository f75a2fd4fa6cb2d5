"""Fit the extractive answerer's abstention model on the dev sets.

    python -m eval.calibrate [--seed-gold eval/gold/fentanyl_seed.jsonl] [--single-topic DIR]

Indexes each dev set into a temporary store, records the evidence features of the best
sentence for every question (abstention off), fits an L2-regularised logistic regression
(answerable vs unanswerable, classes balanced), chooses the threshold by 5-fold
cross-validation, and prints the values to put in `ExtractiveConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eval.gold import GoldItem
    from rag.embeddings import SentenceTransformerEmbeddings

__all__ = ["collect_features", "fit_logistic", "main"]

_MAX_FALSE_REFUSAL = 0.15


def collect_features(
    gold: Sequence[GoldItem], docs: Path, embedder: SentenceTransformerEmbeddings, k: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Evidence features (rows) and labels (1 = answerable) for a gold set over `docs`."""
    from ingest.pipeline import ingest_paths
    from rag.answering import FEATURES, AnswerRequest, ExtractiveAnswerer, ExtractiveConfig
    from rag.assistant import Assistant
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        assistant = Assistant(settings, embedder=embedder)
        ingest_paths([docs], settings, store=assistant.store, lexical=assistant.lexical, progress=False)
        answerer = ExtractiveAnswerer(dataclasses.replace(ExtractiveConfig(), abstain_threshold=0.0))
        rows, labels = [], []
        for item in gold:
            vector = embedder.embed_query(item["question"])
            passages = assistant.retriever.search(item["question"], k=k, query_vector=vector)
            draft = answerer.answer(
                AnswerRequest(
                    item["question"],
                    passages,
                    vector,
                    embedder,
                    assistant.lexical.idf,
                    assistant.lexical.knows,
                )
            )
            rows.append([draft.evidence.get(name, 0.0) for name in FEATURES])
            labels.append(0 if item["type"] == "unanswerable" else 1)
    return np.array(rows, dtype=float), np.array(labels, dtype=float)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 4000
) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression by gradient descent."""
    weights = np.zeros(x.shape[1])
    bias = 0.0
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    rate = 0.5
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ weights + bias)))
        error = (p - y) * balance
        weights -= rate * (x.T @ error / len(y) + l2 * weights / len(y))
        bias -= rate * error.mean()
    return weights, float(bias)


def _cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(y))
    scores = np.zeros(len(y))
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        weights, bias = fit_logistic(x[train], y[train])
        scores[test] = 1 / (1 + np.exp(-(x[test] @ weights + bias)))
    return scores


def _rates(scores: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    refused = scores < threshold
    return float(refused[y == 0].mean()), float(refused[y == 1].mean())


def choose_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """Highest correct-refusal rate whose false-refusal rate stays within the budget."""
    best, best_rate = 0.0, -1.0
    for threshold in np.arange(0.05, 0.95, 0.01):
        correct, false = _rates(scores, y, float(threshold))
        if false <= _MAX_FALSE_REFUSAL and correct > best_rate:
            best, best_rate = float(threshold), correct
    return round(best, 2)


def main(argv: Sequence[str] | None = None) -> int:
    """Fit and print the abstention model."""
    from eval.gold import read_gold_jsonl
    from eval.single_topic import load_single_topic, write_documents
    from rag.answering import FEATURES
    from rag.embeddings import embedder_from_settings
    from rag.settings import load_settings

    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__)
    parser.add_argument("--seed-gold", type=Path, default=repo / "eval" / "gold" / "fentanyl_seed.jsonl")
    parser.add_argument("--seed-docs", type=Path, default=repo / "seeds")
    parser.add_argument(
        "--single-topic", type=Path, default=repo.parent / "shared" / "datasets" / "single-topic"
    )
    args = parser.parse_args(argv)
    embedder = embedder_from_settings(load_settings())  # the configured model and backend
    parts: list[tuple[np.ndarray, np.ndarray]] = [
        collect_features(read_gold_jsonl(args.seed_gold), args.seed_docs, embedder)
    ]
    dataset = load_single_topic(args.single_topic)
    with tempfile.TemporaryDirectory(prefix="rag-calibrate-docs-") as tmp:
        write_documents(dataset.documents, Path(tmp))
        parts.append(collect_features(dataset.gold, Path(tmp), embedder))
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    scores = _cross_validated(x, y)
    threshold = choose_threshold(scores, y)
    correct, false = _rates(scores, y, threshold)
    weights, bias = fit_logistic(x, y)
    report: dict[str, Any] = {
        "features": FEATURES,
        "abstain_weights": tuple(round(float(w), 3) for w in weights),
        "abstain_bias": round(bias, 3),
        "abstain_threshold": threshold,
        "cross_validated": {"correct_refusal_rate": round(correct, 3), "false_refusal_rate": round(false, 3)},
        "questions": len(y),
    }
    for key, value in report.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
