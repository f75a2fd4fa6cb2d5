"""Fit the extractive answerer's span model: which candidate span becomes the short answer.

    python -m eval.span_ranker --archive GOLD=DATA_DIR [--archive GOLD=DATA_DIR ...]
                               [--features groups.jsonl] [--from-features groups.jsonl] [--write [--out F]]

Every answerable gold question is asked as `rag eval` asks it, and the answerer's candidate
spans are recorded with their `SPAN_FEATURES` (`rag.answering`); a candidate is right when it
equals the gold answer after normalisation (the exact-match rule). Questions with no right
candidate, or only right ones, teach nothing and are left out.

The ranker is a scikit-learn logistic regression on pairs (right candidate − wrong candidate,
each question weighted the same), so a candidate's score is a weighted sum of its features.
Its regularisation is chosen by cross-validation within the training questions. The figures
printed are leave-one-dataset-out: each dataset ranked by a model fitted on the others only,
beside the packaged model. `--write` then fits on all of them and writes `rag/span_model.json`
(or `--out`), which the answerer loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eval.gold import GoldItem
    from rag.answering import ScoredSpan, SpanModel
    from rag.types import Embedder

__all__ = ["Group", "Ranker", "collect", "fit", "leave_one_out", "main", "top1"]

REPO = Path(__file__).resolve().parents[1]
MODEL_PATH = REPO / "rag" / "span_model.json"
C_GRID = (0.01, 0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried by the inner cross-validation."""
FOLDS = 5
DEFAULT_C = 1.0
"""C when there are too few questions to cross-validate (fewer than two per fold)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    """One question's candidate spans: their features and whether each is the gold answer."""

    dataset: str
    id: str
    texts: list[str]
    features: list[dict[str, float]]
    right: list[bool]


def collect(
    dataset: str, gold: Sequence[GoldItem], data_dir: Path, embedder: Embedder, model: SpanModel
) -> list[Group]:
    """Asks every answerable question of the index in `data_dir` and records its candidate spans
    (`model` picks where in the sentences each distinct span is read)."""
    from eval.metrics import normalize_answer
    from rag.answering import ExtractiveAnswerer
    from rag.assistant import Assistant
    from rag.settings import Settings

    class Recording(ExtractiveAnswerer):
        tables: list[list[ScoredSpan]]

        def span_table(self, *args: Any, **kwargs: Any) -> list[ScoredSpan]:
            table = super().span_table(*args, **kwargs)
            self.tables.append(table)
            return table

    answerer = Recording(refuse=False, span_model=model)
    assistant = Assistant(Settings(data_dir=data_dir, _env_file=None), embedder=embedder, answerer=answerer)
    groups = []
    for item in gold:
        if item["type"] == "unanswerable" or not item["answer"]:
            continue
        answerer.tables = []
        assistant.ask(item["question"], as_of=item.get("asked_on"))
        if not answerer.tables:  # not a short-answer question
            continue
        table = answerer.tables[0]  # the first is over all the best sentences; later ones re-read one
        gold_answer = normalize_answer(item["answer"])
        right = [normalize_answer(span.text) == gold_answer for span in table]
        groups.append(
            Group(dataset, item["id"], [s.text for s in table], [dict(s.features) for s in table], right)
        )
    return groups


def _matrix(group: Group, features: Sequence[str]) -> np.ndarray:
    """One row per candidate, one column per feature (0 for a feature it lacks)."""
    return np.array([[f.get(name, 0.0) for name in features] for f in group.features], dtype=float)


def _pairs(groups: Sequence[Group], features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, weights = [], []
    for group in groups:
        x = _matrix(group, features)
        right = np.array(group.right, dtype=bool)
        if not right.any() or right.all():
            continue
        n = right.sum() * (~right).sum()
        for r in np.flatnonzero(right):
            for w in np.flatnonzero(~right):
                rows.append(x[r] - x[w])
                weights.append(1.0 / n)
    if not rows:
        raise ValueError("no question has both a right and a wrong candidate span to learn from")
    diff = np.array(rows)
    weight = np.array(weights)
    # Both orders, so the classes balance and no intercept is needed; the weights average 1.
    return (
        np.vstack([diff, -diff]),
        np.r_[np.ones(len(diff)), np.zeros(len(diff))],
        np.r_[weight, weight] * len(diff) / weight.sum(),
    )


def _fit_c(groups: Sequence[Group], features: Sequence[str], c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x, y, weight = _pairs(groups, features)
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=10_000)
    return np.asarray(model.fit(x, y, sample_weight=weight).coef_[0], dtype=float)


def top1(groups: Sequence[Group], features: Sequence[str], weights: Sequence[float] | np.ndarray) -> int:
    """How many questions' best-scored candidate is right."""
    hits = 0
    for group in groups:
        if not group.features:
            continue
        hits += bool(group.right[int(np.argmax(_matrix(group, features) @ np.asarray(weights)))])
    return hits


@dataclasses.dataclass(frozen=True, slots=True)
class Ranker:
    """A fitted ranker: one weight per feature, and the C it was fitted with."""

    weights: np.ndarray
    c: float


def _learnable(groups: Sequence[Group]) -> list[Group]:
    return [g for g in groups if any(g.right) and not all(g.right)]


def fit(groups: Sequence[Group], features: Sequence[str]) -> Ranker:
    """The ranker fitted on the questions that have a right and a wrong candidate, with C chosen
    by cross-validation over them (`DEFAULT_C` when there are too few to split)."""
    learnable = _learnable(groups)
    if len(learnable) < 2 * FOLDS:
        return Ranker(_fit_c(learnable, features, DEFAULT_C), DEFAULT_C)
    order = np.random.default_rng(0).permutation(len(learnable))
    folds = [set(order[f::FOLDS].tolist()) for f in range(FOLDS)]
    best_c, best_hits = C_GRID[0], -1
    for c in C_GRID:
        hits = 0
        for held in folds:
            train = [g for i, g in enumerate(learnable) if i not in held]
            hits += top1([learnable[i] for i in held], features, _fit_c(train, features, c))
        if hits > best_hits:
            best_c, best_hits = c, hits
    return Ranker(_fit_c(learnable, features, best_c), best_c)


def leave_one_out(
    groups: Sequence[Group], features: Sequence[str], packaged: SpanModel | None
) -> dict[str, dict[str, Any]]:
    """Per dataset: its questions with a right candidate (one whose candidates are all right
    counts as ranked right by any model), and how many of them the model fitted on the other
    datasets ranks first, beside the packaged model. None when the others teach nothing."""
    report = {}
    for held in sorted({g.dataset for g in groups}):
        test = [g for g in groups if g.dataset == held and any(g.right)]
        others = [g for g in groups if g.dataset != held]
        ranker = fit(others, features) if _learnable(others) else None
        report[held] = {
            "questions": sum(1 for g in groups if g.dataset == held),
            "with_right_candidate": len(test),
            "fitted_on_others": None if ranker is None else top1(test, features, ranker.weights),
            "packaged": None if packaged is None else top1(test, packaged.features, packaged.weights),
            "C": None if ranker is None else ranker.c,
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Collect candidates, report leave-one-dataset-out figures, and (with --write) save the model."""
    from eval.archives import add_archive_option, run_or_exit

    parser = argparse.ArgumentParser(prog="python -m eval.span_ranker", description=__doc__)
    add_archive_option(
        parser, "a gold file with short answers and the data folder of its index (`rag ingest` it first)"
    )
    parser.add_argument("--features", type=Path, help="also write the collected candidates here (JSON Lines)")
    parser.add_argument("--from-features", type=Path, help="refit from candidates written by --features")
    parser.add_argument("--write", action="store_true", help="write the model to --out")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"where --write saves it ({MODEL_PATH})")
    args = parser.parse_args(argv)
    return run_or_exit(_run, args, parser)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from eval.gold import read_gold_jsonl
    from rag.answering import SPAN_FEATURES, SpanModel
    from rag.embeddings import embedder_from_settings
    from rag.settings import load_settings

    if args.from_features and (args.archive or args.features):
        parser.error("--from-features refits from its file: give no --archive or --features with it")

    try:
        packaged: SpanModel | None = SpanModel.packaged()
    except ValueError as exc:  # its features changed: collect by sentence relevance, then refit
        print(f"{exc}; comparing with no packaged model")
        packaged = None
    if args.from_features:
        groups = [Group(**json.loads(line)) for line in args.from_features.read_text().splitlines() if line]
    else:
        groups = []
        for gold_path, data_dir in args.archive:
            # One embedder per index: `auto` takes on an int8 index's backend for good.
            embedder = embedder_from_settings(load_settings())
            groups += collect(
                gold_path.parent.name,
                read_gold_jsonl(gold_path),
                data_dir,
                embedder,
                packaged or SpanModel(("score",), (1.0,)),
            )
        if args.features:
            args.features.write_text("".join(json.dumps(dataclasses.asdict(g)) + "\n" for g in groups))

    if len({g.dataset for g in groups}) < 2:
        parser.error(
            "give at least two datasets (--archive GOLD=DATA_DIR): the figures are leave-one-dataset-out"
        )
    if not _learnable(groups):
        parser.error("no question has both a right and a wrong candidate span to learn from")
    features = SPAN_FEATURES
    report = leave_one_out(groups, features, packaged)
    for held, figures in report.items():
        print(f"held out {held:14s} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    if args.write:
        ranker = fit(groups, features)
        model = {
            "features": list(features),
            "weights": ranker.weights.tolist(),
            "C": ranker.c,
            "fitted_on": {name: sum(1 for g in groups if g.dataset == name) for name in sorted(report)},
            "leave_one_dataset_out": report,
        }
        args.out.write_text(json.dumps(model, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
