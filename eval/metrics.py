"""Per-question answer, retrieval and refusal metrics, and their aggregation.

Answer normalisation follows the SQuAD evaluation script, with one deliberate change: besides
``string.punctuation`` it drops every character whose Unicode category is punctuation (``P*``), so
curly quotes, en/em dashes and similar characters are removed the way ASCII punctuation is.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ReliabilityBin",
    "RiskCoverage",
    "aggregate",
    "answer_hit",
    "aurc",
    "cosine",
    "doc_hit",
    "evidence_recall",
    "exact_match",
    "expected_calibration_error",
    "normalize_answer",
    "percentile",
    "quotes_missing_from",
    "rank_auc",
    "reciprocal_rank",
    "refusal_rates",
    "reliability",
    "risk_coverage",
    "rouge_l",
    "token_f1",
]

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_UNANSWERABLE = "unanswerable"


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(s: str) -> str:
    """Lowercase, drop ASCII and Unicode punctuation, drop articles a/an/the, collapse whitespace."""
    lowered = s.lower()
    no_punctuation = "".join(char for char in lowered if not _is_punctuation(char))
    no_articles = _ARTICLES.sub(" ", no_punctuation)
    return " ".join(no_articles.split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split()


def _f_measure(overlap: int, n_prediction: int, n_gold: int) -> float:
    if overlap == 0:
        return 0.0
    precision = overlap / n_prediction
    recall = overlap / n_gold
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 over the multiset of normalised tokens; 1.0 if both are empty, 0.0 if one is."""
    predicted = _tokens(prediction)
    expected = _tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    return _f_measure(overlap, len(predicted), len(expected))


def answer_hit(prediction: str, gold: str) -> float:
    """1.0 if the normalised gold answer occurs in the normalised prediction as whole words, else 0.0."""
    expected = normalize_answer(gold)
    if not expected:
        return 0.0
    return float(f" {expected} " in f" {normalize_answer(prediction)} ")


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0] * (len(b) + 1)
        for j, token_b in enumerate(b, start=1):
            if token_a == token_b:
                current[j] = previous[j - 1] + 1
            else:
                current[j] = max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (beta=1) over normalised tokens; 1.0 if both are empty, 0.0 if one is."""
    predicted = _tokens(prediction)
    expected = _tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    return _f_measure(_lcs_length(predicted, expected), len(predicted), len(expected))


_TYPOGRAPHY = str.maketrans(
    dict.fromkeys("'\"\u2018\u2019\u201a\u201b\u2032\u201c\u201d\u201e\u201f\u2033")
    | dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-")
)
"""Quotation marks and apostrophes dropped, dashes as "-": an article and a gold file rarely agree on
them ("\u201cSuccession\"" for Succession, \u2019 for ')."""
_QUOTE_EDGES = " .,;:!?"
"""Stripped from both ends of an evidence quote: a quoted remark's closing punctuation is not part of
the phrase an article holds."""


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).split()).casefold()


def _folded_quotes(evidence: Sequence[str]) -> list[str]:
    return [quote for quote in (_fold(raw).strip(_QUOTE_EDGES) for raw in evidence) if quote]


def evidence_recall(evidence: Sequence[str], passages: Sequence[str]) -> float | None:
    """Share of evidence quotes contained in at least one single passage.

    Both sides are whitespace-collapsed and case-folded, without quotation marks or apostrophes and
    with dashes as "-"; a quote loses the punctuation at its ends. A quote split across
    two passages counts as not found. Blank quotes are ignored; None when no quote remains.
    """
    quotes = _folded_quotes(evidence)
    if not quotes:
        return None
    folded_passages = [_fold(passage) for passage in passages]
    found = sum(any(quote in passage for passage in folded_passages) for quote in quotes)
    return found / len(quotes)


def quotes_missing_from(evidence: Sequence[str], texts: Sequence[str]) -> list[str]:
    """The evidence quotes (as given) that none of `texts` holds, matched as in `evidence_recall`."""
    folded = "\x00".join(_fold(text) for text in texts)
    return [raw for raw in evidence if (quote := _fold(raw).strip(_QUOTE_EDGES)) and quote not in folded]


def doc_hit(gold_doc: str | None, passage_docs: Sequence[str]) -> float | None:
    """1.0 if any passage comes from the gold document, else 0.0; None when the document is unknown."""
    if gold_doc is None:
        return None
    return float(gold_doc in passage_docs)


def reciprocal_rank(
    evidence: Sequence[str],
    passages: Sequence[str],
    gold_doc: str | None = None,
    passage_docs: Sequence[str] | None = None,
) -> float | None:
    """1/rank of the first passage holding an evidence quote, else of the first from the gold document.

    Quotes are matched as in ``evidence_recall``. The document is used only when there is no
    evidence; None when neither evidence nor (gold_doc, passage_docs) is available; 0.0 when
    nothing matches.
    """
    quotes = _folded_quotes(evidence)
    if quotes:
        for rank, passage in enumerate(passages, start=1):
            folded = _fold(passage)
            if any(quote in folded for quote in quotes):
                return 1.0 / rank
        return 0.0
    if gold_doc is None or passage_docs is None:
        return None
    for rank, doc in enumerate(passage_docs, start=1):
        if doc == gold_doc:
            return 1.0 / rank
    return 0.0


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two equal-length vectors; 0.0 when either has zero norm."""
    if len(a) != len(b):
        raise ValueError(f"cosine: vectors differ in length ({len(a)} != {len(b)})")
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(y * y for y in b))
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / (norm_a * norm_b)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation, as numpy's default method.

    Raises ValueError for an empty sequence or q outside [0, 100].
    """
    if not values:
        raise ValueError("percentile: no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile: q must be within [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def aggregate(items: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Mean of each key over the items where it is not None (None if it never is), plus ``n``."""
    values: dict[str, list[float]] = {}
    for item in items:
        for key, value in item.items():
            bucket = values.setdefault(key, [])
            if value is not None:
                bucket.append(float(value))
    result: dict[str, float | None] = {
        key: math.fsum(bucket) / len(bucket) if bucket else None for key, bucket in values.items()
    }
    result["n"] = len(items)
    return result


def refusal_rates(types: Sequence[str], abstained: Sequence[bool]) -> dict[str, float | None]:
    """Correct-refusal rate on unanswerable questions and false-refusal rate on the others.

    A rate is None when its denominator is 0. Raises ValueError when the lengths differ.
    """
    if len(types) != len(abstained):
        raise ValueError(f"refusal_rates: {len(types)} types but {len(abstained)} abstention flags")
    unanswerable = [flag for kind, flag in zip(types, abstained, strict=True) if kind == _UNANSWERABLE]
    answerable = [flag for kind, flag in zip(types, abstained, strict=True) if kind != _UNANSWERABLE]
    return {
        "correct_refusal_rate": sum(unanswerable) / len(unanswerable) if unanswerable else None,
        "false_refusal_rate": sum(answerable) / len(answerable) if answerable else None,
    }


# -- calibration --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One confidence bin `[low, high)` (the last one closed): how many, how confident, how often right."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


class RiskCoverage(NamedTuple):
    """A point of the risk–coverage curve: share of questions kept, share of those that are wrong."""

    coverage: float
    risk: float


def _checked(confidences: Sequence[float], correct: Sequence[bool], caller: str) -> None:
    if len(confidences) != len(correct):
        raise ValueError(f"{caller}: {len(confidences)} confidences but {len(correct)} correctness flags")
    if any(not 0.0 <= confidence <= 1.0 for confidence in confidences):
        raise ValueError(f"{caller}: confidences must be within [0, 1]")


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1], each `[i/bins, (i+1)/bins)` and the last closed, empty ones included.

    Raises ValueError when the lengths differ or a confidence is outside [0, 1].
    """
    _checked(confidences, correct, "reliability")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, right in zip(confidences, correct, strict=True):
        members[min(int(confidence * bins), bins - 1)].append((confidence, right))
    return [
        ReliabilityBin(
            low=i / bins,
            high=(i + 1) / bins,
            count=len(pairs),
            mean_confidence=math.fsum(c for c, _ in pairs) / len(pairs) if pairs else None,
            accuracy=sum(right for _, right in pairs) / len(pairs) if pairs else None,
        )
        for i, pairs in enumerate(members)
    ]


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float | None:
    """Expected calibration error: sum over the `reliability` bins of share × |accuracy − mean confidence|.

    None when there are no confidences; raises ValueError as `reliability` does.
    """
    if not confidences and not correct:
        return None
    total = len(confidences)
    return math.fsum(
        b.count / total * abs(b.accuracy - b.mean_confidence)
        for b in reliability(confidences, correct, bins)
        if b.accuracy is not None and b.mean_confidence is not None
    )


def risk_coverage(confidences: Sequence[float], correct: Sequence[bool]) -> list[RiskCoverage]:
    """The risk–coverage curve: keep the questions answered with at least each confidence, from the
    highest down, and measure the share kept (coverage) and the share of those that are wrong (risk).

    Questions with equal confidence are kept together, so there is one point per distinct
    confidence, by descending confidence. Raises ValueError as `reliability` does.
    """
    _checked(confidences, correct, "risk_coverage")
    ranked = sorted(zip(confidences, correct, strict=True), key=lambda pair: -pair[0])
    points: list[RiskCoverage] = []
    wrong = 0
    for n, (confidence, right) in enumerate(ranked, start=1):
        wrong += not right
        if n == len(ranked) or ranked[n][0] != confidence:
            points.append(RiskCoverage(coverage=n / len(ranked), risk=wrong / n))
    return points


def aurc(confidences: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Area under the `risk_coverage` curve, each point's risk held over the coverage it adds.

    Without ties this is the mean over k of the risk of the k most confident answers (lower is
    better; 0 when every answer is right). None when there are no confidences.
    """
    points = risk_coverage(confidences, correct)
    if not points:
        return None
    starts = [0.0, *(point.coverage for point in points[:-1])]
    return math.fsum(
        (point.coverage - start) * point.risk for start, point in zip(starts, points, strict=True)
    )


def rank_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """ROC AUC of scores: the chance that a positive outscores a negative, ties counting half
    (the Mann–Whitney statistic); 0.5 is chance. None unless both sides have a score."""
    if not positives or not negatives:
        return None
    ranked = sorted([(score, True) for score in positives] + [(score, False) for score in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        middle = (i + 1 + j) / 2  # the mean 1-based rank of a run of ties
        rank_sum += middle * sum(1 for _, positive in ranked[i:j] if positive)
        i = j
    n, m = len(positives), len(negatives)
    return (rank_sum - n * (n + 1) / 2) / (n * m)
