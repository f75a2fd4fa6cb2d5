"""Fit the extractive answerer's evidence model: when to refuse, and how confident an answer is.

    python -m eval.calibrate [--seed-gold F] [--single-topic DIR] [--archive GOLD=DATA_DIR ...]
                             [--features rows.jsonl] [--from-features rows.jsonl] [--write [--out F]]

Every question of every dataset is asked with abstention off, and the evidence features of
the answer are recorded (`--features` keeps them; `--from-features` refits without asking
again). To the gold questions it adds generated hard negatives: each answerable question
with one of its names, numbers or years swapped for one the articles never mention. With
`--cross`, each answerable question is also asked of every other dataset's index when its
answer has a word that index never mentions (news that archive does not hold); off by default,
as it did not improve the leave-one-dataset-out figures (see the README).

Two scikit-learn logistic regressions are fitted on the same features:

- the *refusal* model, answerable vs unanswerable (classes balanced); the answerer refuses
  below its threshold, chosen as the highest whose false-refusal rate on the training
  questions stays within `--false-refusal-budget`;
- the *confidence* model, whether the answer is right (the gold answer occurs in it, or its
  first quote holds the gold evidence), not balanced, so that its probability is calibrated:
  it is `Answer.confidence`, and an answer below `--caveat-below` is given with a caveat.

Features and figures are chosen by leave-one-dataset-out: each dataset is scored by models
fitted on the others only, and those are the figures printed. `--write` then fits on all of
them and writes `rag/evidence_model.json` (or `--out`), which the answerer loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from eval.gold import GoldItem
    from rag.types import Embedder

__all__ = ["Row", "collect", "fit", "hard_negatives", "leave_one_out", "main"]

SWAP_WEIGHT = 0.3
"""Weight of one generated hard negative against one real question when fitting."""

REPO = Path(__file__).resolve().parents[1]
MODEL_PATH = REPO / "rag" / "evidence_model.json"

_EVIDENCE = ("dense", "lexical", "context", "missing", "missing_mass", "keys", "keys_anywhere", "focus")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "evidence": _EVIDENCE,
    "evidence+novelty": (*_EVIDENCE, "novelty", "unknown"),
    "evidence+novelty+span": (*_EVIDENCE, "novelty", "unknown", "span_gap", "span_support"),
}
"""Candidate feature sets; leave-one-dataset-out picks one. None holds a feature measured against
the other retrieved sentences (`dense_peak`, `lexical_peak`): those shift with how many sentences
there are, and made a plain answer from a one-article index look doubtful."""


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One question asked of one dataset, with what the answerer saw and whether it was right."""

    dataset: str
    id: str
    origin: str
    """`gold`, `swap` for a generated hard negative, or `cross` for a question of this dataset
    asked of another's index (`asked_of`)."""
    answerable: bool
    correct: bool
    features: dict[str, float]
    asked_of: str = ""
    """The dataset whose index a `cross` question was asked of ("" for the dataset's own)."""


# -- hard negatives -------------------------------------------------------------------------------

_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_INVENTED = (
    "Orla Fenwick",
    "Tobiah Quarrel",
    "Ysolde Marrin",
    "Casimir Oakhurst",
    "Thessaly Brand",
    "Emrys Kettleby",
    "Wenna Stroud",
    "Lucan Ashgrove",
)
"""Names for swaps; each is checked against the index before use."""


def hard_negatives(items: Sequence[GoldItem], known: Callable[[str], bool]) -> list[GoldItem]:
    """Unanswerable twins of answerable questions: one name, year or number swapped for one the
    articles never mention (as `known` tells), so the question reads the same but the articles
    cannot answer it."""
    from rag.text import lexical_terms

    def unknown(text: str) -> bool:
        return not any(known(term) for term in lexical_terms(text))

    names = [name for name in _INVENTED if unknown(name)]
    twins: list[GoldItem] = []
    for n, item in enumerate(items):
        if item["type"] == "unanswerable":
            continue
        question = item["question"]
        swapped = None
        name = _NAME.search(question)
        year = _YEAR.search(question)
        number = _NUMBER.search(question)
        if name and names:
            swapped = question[: name.start()] + names[n % len(names)] + question[name.end() :]
        elif year:
            for shift in (7, -9, 13, -17):
                other = str(int(year.group(0)) + shift)
                if not known(other):
                    swapped = question[: year.start()] + other + question[year.end() :]
                    break
        elif number:
            value = number.group(0).replace(",", "")
            tripled = float(value) * 3 + 7
            other = f"{int(tripled):,}" if tripled.is_integer() else f"{tripled:.2f}"
            if not known(other):
                swapped = question[: number.start()] + other + question[number.end() :]
        if swapped:
            twins.append(
                {
                    "id": f"{item['id']}-swap",
                    "type": "unanswerable",
                    "question": swapped,
                    "answer": "",
                    "evidence": [],
                    "doc": None,
                    "asked_on": item.get("asked_on"),  # asked as of the same day as its twin
                }
            )
    return twins


def cross_negatives(items: Sequence[GoldItem], known: Callable[[str], bool]) -> list[GoldItem]:
    """Answerable questions of one dataset as unanswerable questions of another index: those
    whose answer has a word that index never mentions (so the answer cannot be in it), asked
    without their day (the other index's articles may be from any time)."""
    from rag.text import lexical_terms

    return [
        {
            "id": f"{item['id']}-cross",
            "type": "unanswerable",
            "question": item["question"],
            "answer": "",
            "evidence": [],
            "doc": None,
            "asked_on": None,
        }
        for item in items
        if item["type"] != "unanswerable"
        and (terms := lexical_terms(item["answer"]))
        and not all(known(term) for term in terms)
    ]


# -- collecting -----------------------------------------------------------------------------------


def _right(item: GoldItem, text: str, short: str | None, first_quote: str) -> bool:
    from eval.metrics import answer_hit, evidence_recall, token_f1

    if item["type"] == "unanswerable":
        return False
    prediction = short or text
    return bool(
        answer_hit(text, item["answer"])
        or token_f1(prediction, item["answer"]) >= 0.5
        or (first_quote and evidence_recall(item["evidence"], [first_quote]))
    )


def collect(
    dataset: str,
    gold: Sequence[GoldItem],
    data_dir: Path,
    embedder: Embedder,
    *,
    swaps: bool = True,
    asked_of: str = "",
) -> list[Row]:
    """Asks every question (and its hard negatives) of the index in `data_dir`, abstention off,
    as `rag eval` asks it (time words read, as of its `asked_on` day). Questions about an article
    itself are answered from the article, never by the evidence model, and are left out.

    With `asked_of`, the index is that other dataset's, and only the `cross_negatives` of the
    questions are asked."""
    from rag.answering import AnswerRequest, Draft, ExtractiveAnswerer
    from rag.assistant import Assistant
    from rag.citations import strip_markers
    from rag.settings import Settings

    class Recording(ExtractiveAnswerer):
        drafts: list[Draft]

        def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
            for piece in super().stream(request):
                if isinstance(piece, Draft):
                    self.drafts.append(piece)
                yield piece

    answerer = Recording(refuse=False)
    assistant = Assistant(Settings(data_dir=data_dir, _env_file=None), embedder=embedder, answerer=answerer)
    assistant.index.sync_lexical()  # `knows` answers from BM25's state, read on first use
    if asked_of:
        items = cross_negatives(gold, assistant.index.knows)
    else:
        items = list(gold)
        if swaps:
            items += hard_negatives(gold, assistant.index.knows)
    rows = []
    for item in items:
        answerer.drafts = []
        assistant.ask(item["question"], as_of=item.get("asked_on"))
        if not answerer.drafts:  # asked about the article itself: no evidence model decides
            print(f"left out {item['id']}: answered from the article itself", file=sys.stderr)
            continue
        # The last draft is the answer's: an empty time window is answered again from earlier articles.
        draft = answerer.drafts[-1]
        short = draft.short_answer.text if draft.short_answer else None
        first = draft.citations[0].quote if draft.citations else ""
        rows.append(
            Row(
                dataset=dataset,
                id=item["id"],
                origin="cross" if asked_of else "swap" if item["id"].endswith("-swap") else "gold",
                answerable=item["type"] != "unanswerable",
                correct=_right(item, strip_markers(draft.text), short, first),
                features={k: float(v) for k, v in draft.evidence.items()},
                asked_of=asked_of,
            )
        )
    return rows


def _index(docs: Sequence[Path], data_dir: Path, embedder: Embedder) -> None:
    from ingest.pipeline import ingest_paths
    from rag.assistant import Assistant
    from rag.settings import Settings

    settings = Settings(data_dir=data_dir, _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    ingest_paths(list(docs), settings, index=assistant.index, progress=False)


# -- fitting --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Fitted:
    """A logistic model in the raw feature space: p = sigmoid(bias + weights · x)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def scores(self, rows: Sequence[Row]) -> np.ndarray:
        """The model's probability for each row."""
        x = np.array([[row.features.get(name, 0.0) for name in self.features] for row in rows])
        z = x @ np.array(self.weights) + self.bias
        return np.asarray(1 / (1 + np.exp(-z)), dtype=float)


def fit(
    rows: Sequence[Row],
    features: Sequence[str],
    target: str,
    *,
    balanced: bool,
    swap_weight: float = SWAP_WEIGHT,
    c: float = 1.0,
) -> Fitted:
    """A standardised, L2-regularised scikit-learn logistic regression of `target` on `features`.

    Generated hard negatives (swapped names, questions asked of another index) count
    `swap_weight` each, so that they teach the model without outweighing the real unanswerable
    questions; `balanced` then gives both classes equal weight.
    """
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ModuleNotFoundError as exc:  # only the dev extra brings scikit-learn
        raise SystemExit("eval.calibrate needs scikit-learn: pip install -e '.[dev]'") from exc

    x = np.array([[row.features.get(name, 0.0) for name in features] for row in rows])
    y = np.array([bool(getattr(row, target)) for row in rows])
    weight = np.array([1.0 if row.origin == "gold" else swap_weight for row in rows])
    if balanced:
        for label in (True, False):
            mask = y == label
            if mask.any():
                weight[mask] *= len(y) / (2 * weight[mask].sum())
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit((x - scaler.mean_) / scale, y, sample_weight=weight)
    weights = model.coef_[0] / scale
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))
    return Fitted(tuple(features), tuple(float(w) for w in weights), bias)


def threshold_for(scores: np.ndarray, answerable: np.ndarray, budget: float) -> float:
    """The highest threshold whose false-refusal rate on `answerable` rows stays within `budget`."""
    positives = np.sort(scores[answerable])
    if len(positives) == 0:
        return 0.0
    allowed = int(np.floor(budget * len(positives)))
    return float(positives[allowed]) if allowed < len(positives) else float(positives[-1])


def _rates(refusal: Fitted, threshold: float, rows: Sequence[Row]) -> dict[str, float | None]:
    scores = refusal.scores(rows)
    refused = scores < threshold

    def share(mask: np.ndarray) -> float | None:
        return round(float(refused[mask].mean()), 3) if mask.any() else None

    answerable = np.array([row.answerable for row in rows])
    origin = np.array([row.origin for row in rows])
    return {
        "false_refusal": share(answerable),
        "correct_refusal": share(~answerable & (origin == "gold")),
        "swap_refusal": share(origin == "swap"),
        "cross_refusal": share(origin == "cross"),
    }


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = edges == b
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return round(float(total), 3)


def leave_one_out(
    rows: Sequence[Row], features: Sequence[str], budget: float
) -> dict[str, dict[str, float | None]]:
    """Per dataset: refusal rates, the refusal model's ranking (ROC AUC, real questions only) and
    the confidence's calibration, all from models fitted on the other datasets (nothing asked of
    the held-out dataset's index either)."""
    from sklearn.metrics import roc_auc_score

    report: dict[str, dict[str, float | None]] = {}
    for held in sorted({row.dataset for row in rows}):
        train = [row for row in rows if held not in (row.dataset, row.asked_of)]
        test = [row for row in rows if row.dataset == held]
        refusal = fit(train, features, "answerable", balanced=True)
        threshold = threshold_for(refusal.scores(train), np.array([row.answerable for row in train]), budget)
        confidence = fit(train, features, "correct", balanced=False)
        answered = [row for row in test if row.origin == "gold"]
        real = [row for row in test if row.origin == "gold"]
        labels = np.array([row.answerable for row in real])
        auc = roc_auc_score(labels, refusal.scores(real)) if 0 < labels.sum() < len(labels) else None
        report[held] = _rates(refusal, threshold, test) | {
            "auc": None if auc is None else round(float(auc), 3),
            "threshold": round(threshold, 3),
            "ece": _ece(confidence.scores(answered), np.array([row.correct for row in answered])),
        }
    return report


def _objective(report: dict[str, dict[str, float | None]]) -> float:
    """Mean held-out refusal of unanswerable questions, less twice any false refusal above 0.10.

    Unanswerable questions are the real ones and the generated hard negatives, half each: a feature
    set that lets a swapped name or number through ("… on March 43") must not win on real ones alone."""
    total = 0.0
    for figures in report.values():
        correct = figures["correct_refusal"] or 0.0
        swapped = figures.get("swap_refusal")
        refused = correct if swapped is None else (correct + swapped) / 2
        false = figures["false_refusal"] or 0.0
        total += refused - 2 * max(0.0, false - 0.10)
    return total / max(len(report), 1)


# -- command --------------------------------------------------------------------------------------


def _datasets(args: argparse.Namespace, scratch: Path) -> list[tuple[str, list[GoldItem], Path, list[Path]]]:
    from eval.gold import read_gold_jsonl
    from eval.single_topic import load_single_topic, write_documents

    sets: list[tuple[str, list[GoldItem], Path, list[Path]]] = [
        ("seed", read_gold_jsonl(args.seed_gold), scratch / "seed", [args.seed_docs])
    ]
    single_topic = load_single_topic(args.single_topic)
    docs = scratch / "single-topic-docs"
    docs.mkdir()
    write_documents(single_topic.documents, docs)
    sets.append(("single-topic", list(single_topic.gold), scratch / "single-topic", [docs]))
    for gold_path, data_dir in args.archive:
        sets.append((gold_path.parent.name, read_gold_jsonl(gold_path), data_dir, []))
    return sets


def main(argv: Sequence[str] | None = None) -> int:
    """Collect features, report leave-one-dataset-out figures, and (with --write) save the model."""
    from eval.archives import add_archive_option, run_or_exit

    shared = REPO.parent / "shared" / "datasets"
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__)
    parser.add_argument("--seed-gold", type=Path, default=REPO / "eval" / "gold" / "fentanyl_seed.jsonl")
    parser.add_argument("--seed-docs", type=Path, default=REPO / "seeds")
    parser.add_argument("--single-topic", type=Path, default=shared / "single-topic")
    add_archive_option(
        parser, "an archive's gold file and the data folder of its index (`rag ingest` it first)"
    )
    parser.add_argument("--features", type=Path, help="also write the collected rows here (JSON Lines)")
    parser.add_argument("--from-features", type=Path, help="refit from rows written by --features")
    parser.add_argument(
        "--cross",
        action="store_true",
        help="also ask each dataset's answerable questions of the other datasets' indexes, as unanswerable",
    )
    parser.add_argument("--false-refusal-budget", type=float, default=0.08)
    parser.add_argument("--caveat-below", type=float, default=0.2)
    parser.add_argument("--write", action="store_true", help="write the model to --out")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"where --write saves it ({MODEL_PATH})")
    args = parser.parse_args(argv)
    return run_or_exit(_run, args, parser)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from rag.embeddings import embedder_from_settings
    from rag.settings import load_settings

    if args.from_features:
        rows = [Row(**json.loads(line)) for line in args.from_features.read_text().splitlines() if line]
        if not args.cross:
            rows = [row for row in rows if row.origin != "cross"]
    else:
        rows = []
        with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
            sets = _datasets(args, Path(tmp))
            for name, gold, data_dir, docs in sets:
                # One embedder per index: `auto` takes on an int8 index's backend for good.
                embedder = embedder_from_settings(load_settings())
                if docs:
                    _index(docs, data_dir, embedder)
                rows += collect(name, gold, data_dir, embedder)
                if args.cross:
                    for other, other_gold, _dir, _docs in sets:
                        if other != name:
                            rows += collect(other, other_gold, data_dir, embedder, asked_of=name)
        if args.features:
            args.features.write_text("".join(json.dumps(dataclasses.asdict(row)) + "\n" for row in rows))

    results = {
        name: leave_one_out(rows, features, args.false_refusal_budget)
        for name, features in FEATURE_SETS.items()
    }
    for name, report in results.items():
        print(f"features {name!r}: objective {_objective(report):.3f}")
        for held, figures in report.items():
            print(f"  held out {held:14s} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    # The smallest set within 0.01 of the best: a closer win is noise on these few hundred questions.
    best = max(_objective(report) for report in results.values())
    chosen = min(
        (name for name, report in results.items() if _objective(report) >= best - 0.01),
        key=lambda name: len(FEATURE_SETS[name]),
    )
    print(f"chosen: {chosen!r}")
    if args.write:
        features = FEATURE_SETS[chosen]
        refusal = fit(rows, features, "answerable", balanced=True)
        threshold = threshold_for(
            refusal.scores(rows), np.array([row.answerable for row in rows]), args.false_refusal_budget
        )
        confidence = fit(rows, features, "correct", balanced=False)
        model: dict[str, Any] = {
            "features": list(features),
            "refusal": {"weights": list(refusal.weights), "bias": refusal.bias, "threshold": threshold},
            "confidence": {
                "weights": list(confidence.weights),
                "bias": confidence.bias,
                "caveat_below": args.caveat_below,
            },
            "fitted_on": {
                name: sum(1 for row in rows if row.dataset == name)
                for name in sorted({r.dataset for r in rows})
            },
            "leave_one_dataset_out": results[chosen],
        }
        args.out.write_text(json.dumps(model, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
