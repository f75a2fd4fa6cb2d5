"""Run a gold set against the assistant (and peer baselines) and score every answer.

Scoring is separate from running: ``score_answers`` turns gold items and `Answer` objects into
per-question scores and summaries without asking anything, so it can be checked by hand.
Retrieval and answer metrics cover answerable questions only; a refusal of an answerable
question is scored as the answer "" (so it scores 0). Exact match and token F1 read the short
answer where there is one, else the answer text; `text_f1`, ROUGE-L, semantic similarity and
`answer_hit` read the whole text. Citation metrics pool all citations. Calibration (`ece`,
`aurc`) compares each answer's confidence with whether it was right (see `ItemResult.correct`).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from eval.gold import GOLD_TYPES, DatasetError
from eval.metrics import (
    aggregate,
    answer_hit,
    aurc,
    cosine,
    doc_hit,
    evidence_recall,
    exact_match,
    expected_calibration_error,
    percentile,
    quotes_missing_from,
    rank_auc,
    reciprocal_rank,
    refusal_rates,
    rouge_l,
    token_f1,
)
from rag.asof import without_time_notes
from rag.citations import strip_markers
from rag.errors import NoIndexError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from eval.baseline import Baseline
    from eval.gold import GoldItem
    from eval.judge import Judge
    from rag.index import Index
    from rag.settings import Settings
    from rag.types import Answer, Embedder, Passage

__all__ = [
    "JUDGE_METRICS",
    "METRICS",
    "RECALL_DEPTHS",
    "EvalRun",
    "Evaluation",
    "ItemResult",
    "ask_all",
    "doc_matches",
    "evidence_rank",
    "gold_warnings",
    "run_eval",
    "score_answers",
    "score_item",
    "summarize",
]

METRICS: tuple[str, ...] = (
    "evidence_recall_at_k",
    "doc_hit_at_k",
    "mrr",
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "recall_at_20",
    "token_f1",
    "text_f1",
    "exact_match",
    "answer_hit",
    "rouge_l",
    "semantic_similarity",
    "correct_refusal_rate",
    "false_refusal_rate",
    "citation_validity",
    "citation_support",
    "ece",
    "aurc",
    "answerable_auc",
    "latency_ms_p50",
    "latency_ms_p95",
)
"""Summary metrics, in the order tables show them."""

JUDGE_METRICS: tuple[str, ...] = ("faithfulness", "answer_correctness")
"""Summary metrics added when an LLM judge scored the answers."""

RECALL_DEPTHS: tuple[int, ...] = (1, 5, 10, 20)
"""Cut-offs of the ranked-retrieval recall (`recall_at_N`), over a retrieval as deep as the largest."""

_T = TypeVar("_T")
_MEAN_SCORES = (
    "evidence_recall_at_k",
    "doc_hit_at_k",
    "mrr",
    *(f"recall_at_{depth}" for depth in RECALL_DEPTHS),
    "token_f1",
    "text_f1",
    "exact_match",
    "answer_hit",
    "rouge_l",
    "semantic_similarity",
)
_RIGHT_F1 = 0.5
"""Token F1 from which an answer counts as right for calibration."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One gold question, what a system answered, and the scores of that answer."""

    gold: GoldItem
    answer: Answer
    scores: dict[str, float | None]
    citation_checks: tuple[bool, ...] = ()
    ranked: tuple[Passage, ...] = ()
    """The deeper retrieval that `recall_at_N` is read from (empty when none was made)."""

    @property
    def latency_ms(self) -> float | None:
        """Total time the system took for this question."""
        total = self.answer.timings_ms.get("total")
        return None if total is None else float(total)

    @property
    def correct(self) -> bool:
        """Whether the system did the right thing, as calibration counts it.

        An unanswerable question is handled right iff it was refused. An answerable one is
        answered right iff it was not refused and the gold answer occurs in the answer
        (`answer_hit`), or token F1 is at least 0.5, or the first citation's quote contains one
        of the gold evidence quotes (case- and whitespace-folded, as `evidence_recall`). An
        answer opening with a caveat is an answer, not a refusal.
        """
        answer = self.answer
        if self.gold["type"] == "unanswerable":
            return answer.abstained
        if answer.abstained:
            return False
        quoted = bool(answer.citations) and bool(
            evidence_recall(self.gold["evidence"], [answer.citations[0].quote])
        )
        return (
            bool(self.scores.get("answer_hit")) or (self.scores.get("token_f1") or 0.0) >= _RIGHT_F1 or quoted
        )

    @property
    def p_correct(self) -> float | None:
        """The system's probability that `correct` holds: the answer's confidence, or 1 − it for a
        refusal (the confidence is the probability of an answer); None without a confidence."""
        confidence = self.answer.confidence
        if confidence is None:
            return None
        return 1.0 - confidence if self.answer.abstained else confidence

    def to_json(self) -> dict[str, Any]:
        """The `items` entry of the eval JSON."""
        answer = self.answer
        return {
            "id": self.gold["id"],
            "type": self.gold["type"],
            "question": self.gold["question"],
            "answer": answer.text,
            "short_answer": None if answer.short_answer is None else answer.short_answer.to_json(),
            "confidence": answer.confidence,
            "correct": self.correct,
            "abstained": answer.abstained,
            "gold_answer": self.gold["answer"],
            "gold_doc": self.gold["doc"],
            "evidence": list(self.gold["evidence"]),
            "citations": [
                {
                    "n": c.n,
                    "doc_id": c.doc_id,
                    "chunk_id": c.chunk_id,
                    "start": c.start,
                    "end": c.end,
                    "quote": c.quote,
                    "supported": c.supported,
                    "valid": valid,
                }
                for c, valid in zip(answer.citations, self.citation_checks, strict=True)
            ],
            "passages": [_passage_json(p) for p in answer.passages],
            "evidence_rank": evidence_rank(self.gold, self.ranked) if self.ranked else None,
            "scores": dict(self.scores),
            "latency_ms": self.latency_ms,
            "answerer": answer.answerer,
            "notes": list(answer.notes),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One system's scored answers to a gold set, summarised overall and per question type."""

    system: str
    results: tuple[ItemResult, ...]
    summary: dict[str, float | None]
    by_type: dict[str, dict[str, float | None]]

    def to_json(self, *, items: bool = False) -> dict[str, Any]:
        """Summary and per-type summaries, and the per-question results when `items` is set."""
        payload: dict[str, Any] = {"summary": dict(self.summary), "by_type": dict(self.by_type)}
        if items:
            payload["items"] = [result.to_json() for result in self.results]
        return payload


@dataclass(frozen=True, slots=True)
class EvalRun:
    """The assistant's evaluation, its peers' on the same questions, and how it was run."""

    assistant: Evaluation
    baselines: dict[str, Evaluation] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The object `rag eval --json` writes."""
        return self.assistant.to_json(items=True) | {
            "baselines": {name: evaluation.to_json() for name, evaluation in self.baselines.items()},
            "config": dict(self.config),
        }


# -- scoring ------------------------------------------------------------------------------------


def _passage_json(passage: Passage) -> dict[str, Any]:
    return {
        "chunk_id": passage.chunk_id,
        "doc_id": passage.doc_id,
        "title": passage.title,
        "date": passage.date,
        "score": passage.score,
        "text": passage.text,
    }


def evidence_rank(gold: GoldItem, passages: Sequence[Passage]) -> int | None:
    """1-based rank of the first passage holding an evidence quote, or from the gold document when
    there are no quotes (as `mrr`); None when none does, or there is neither."""
    gold_doc = gold["doc"]
    docs = [gold_doc if gold_doc and doc_matches(gold_doc, p.doc_id) else p.doc_id for p in passages]
    rank = reciprocal_rank(gold["evidence"], [p.text for p in passages], gold_doc, docs)
    return round(1 / rank) if rank else None


def doc_matches(gold_doc: str, doc_id: str) -> bool:
    """Whether a passage's `doc_id` is the gold document: equal, or equal without its file suffix."""
    if doc_id == gold_doc:
        return True
    path = PurePosixPath(doc_id)
    return bool(path.suffix) and path.with_suffix("").as_posix() == gold_doc


def gold_warnings(
    gold: Sequence[GoldItem], doc_ids: Sequence[str], article_text: Callable[[str], str]
) -> list[str]:
    """What of the gold set the index cannot match, which would otherwise read as retrieval misses:
    a `doc` that no indexed article is, an evidence quote that no indexed article holds."""
    warnings = []
    unknown = [item for item in gold if item["doc"] and not any(doc_matches(item["doc"], d) for d in doc_ids)]
    if unknown:
        first = unknown[0]
        example = f"; indexed ids look like {doc_ids[0]!r}" if doc_ids else ""
        warnings.append(
            f"{len(unknown)} of {len(gold)} gold items name a doc that is not indexed ({first['id']}: "
            f"{first['doc']!r}){example}: doc hit counts them as misses"
        )
    texts = [article_text(doc_id) for doc_id in doc_ids]
    unfound = [(item, missing) for item in gold if (missing := quotes_missing_from(item["evidence"], texts))]
    if unfound:
        item, missing = unfound[0]
        warnings.append(
            f"{len(unfound)} of {len(gold)} gold items have evidence that no indexed article holds word for "
            f"word ({item['id']}: {missing[0]!r}): evidence recall counts it as not found"
        )
    return warnings


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _check_citations(answer: Answer, article_text: Callable[[str], str] | None) -> tuple[bool, ...]:
    if article_text is None:
        return ()
    checks = []
    for citation in answer.citations:
        try:
            text = article_text(citation.doc_id)
        except KeyError:
            checks.append(False)
            continue
        in_bounds = 0 <= citation.start < citation.end <= len(text)
        checks.append(in_bounds and text[citation.start : citation.end] == citation.quote)
    return tuple(checks)


def _prediction(answer: Answer) -> str:
    """The answer's text as scored: no markers, and none of the assistant's notes on dates."""
    return "" if answer.abstained else strip_markers(without_time_notes(answer.text)).strip()


def _short_prediction(answer: Answer) -> str:
    if answer.abstained or answer.short_answer is None:
        return _prediction(answer)
    return answer.short_answer.text.strip()


def _full_prediction(answer: Answer) -> str:
    """The answer text, with the short answer in front when the text does not already hold it."""
    text = _prediction(answer)
    short = _short_prediction(answer)
    return text if short in text else f"{short} {text}"


def score_item(
    gold: GoldItem,
    answer: Answer,
    *,
    similarity: float | None = None,
    citation_checks: Sequence[bool] = (),
    ranked: Sequence[Passage] | None = None,
) -> dict[str, float | None]:
    """Per-question scores; `similarity` is the embedding cosine of prediction and gold answer.

    `exact_match` and `token_f1` score the short answer when there is one, else the text;
    `text_f1` always scores the text (markers stripped), and `answer_hit` the text with the
    short answer. `ranked` holds a deeper retrieval's passages, best first, for `recall_at_N`
    (None without it). Unanswerable questions get None for retrieval and answer scores; a
    refused answerable question is scored as the answer "" (similarity 0).
    """
    answerable = gold["type"] != "unanswerable"
    scores: dict[str, float | None] = dict.fromkeys(_MEAN_SCORES)
    if answerable:
        passages = [passage.text for passage in answer.passages]
        gold_doc = gold["doc"]
        docs = [passage.doc_id for passage in answer.passages]
        if gold_doc is not None:
            docs = [gold_doc if doc_matches(gold_doc, doc) else doc for doc in docs]
        prediction = _prediction(answer)
        short = _short_prediction(answer)
        scores |= {
            "evidence_recall_at_k": evidence_recall(gold["evidence"], passages),
            "doc_hit_at_k": doc_hit(gold_doc, docs),
            "mrr": reciprocal_rank(gold["evidence"], passages, gold_doc, docs),
            "token_f1": token_f1(short, gold["answer"]),
            "text_f1": token_f1(prediction, gold["answer"]),
            "exact_match": exact_match(short, gold["answer"]),
            "answer_hit": answer_hit(_full_prediction(answer), gold["answer"]),
            "rouge_l": rouge_l(prediction, gold["answer"]),
            "semantic_similarity": 0.0 if not prediction else similarity,
        }
        if ranked is not None:
            scores |= {f"recall_at_{depth}": _ranked_recall(gold, ranked, depth) for depth in RECALL_DEPTHS}
    scores["citation_validity"] = _share(list(citation_checks))
    scores["citation_support"] = _share([citation.supported for citation in answer.citations])
    return scores


def _ranked_recall(gold: GoldItem, ranked: Sequence[Passage], depth: int) -> float | None:
    """Evidence recall of the top `depth` passages; the gold document's hit when there are no quotes."""
    top = ranked[:depth]
    recall = evidence_recall(gold["evidence"], [passage.text for passage in top])
    if recall is not None or gold["doc"] is None:
        return recall
    return doc_hit(
        gold["doc"], [gold["doc"] if doc_matches(gold["doc"], p.doc_id) else p.doc_id for p in top]
    )


def _similarities(
    gold: Sequence[GoldItem],
    answers: Sequence[Answer],
    embed: Callable[[list[str]], list[list[float]]] | None,
) -> list[float | None]:
    if embed is None:
        return [None] * len(gold)
    pairs = [
        (i, _prediction(answer), item["answer"])
        for i, (item, answer) in enumerate(zip(gold, answers, strict=True))
        if item["type"] != "unanswerable" and _prediction(answer)
    ]
    result: list[float | None] = [None] * len(gold)
    if not pairs:
        return result
    vectors = embed([text for _, prediction, reference in pairs for text in (prediction, reference)])
    for n, (i, _, _) in enumerate(pairs):
        result[i] = cosine(vectors[2 * n], vectors[2 * n + 1])
    return result


def summarize(results: Sequence[ItemResult]) -> dict[str, float | None]:
    """Summary metrics of some results (see `METRICS`), plus `n`; judge metrics when present."""
    judged = [key for key in JUDGE_METRICS if any(key in result.scores for result in results)]
    means = aggregate(
        [{key: result.scores.get(key) for key in (*_MEAN_SCORES, *judged)} for result in results]
    )
    rates = refusal_rates(
        [result.gold["type"] for result in results], [result.answer.abstained for result in results]
    )
    checks = [check for result in results for check in result.citation_checks]
    supported = [citation.supported for result in results for citation in result.answer.citations]
    latencies = [latency for result in results if (latency := result.latency_ms) is not None]
    rated = [(p, result.correct) for result in results if (p := result.p_correct) is not None]
    # Whether the confidence ranks the questions the articles answer above those they do not.
    scored = [
        (result.gold["type"] != "unanswerable", c)
        for result in results
        if (c := result.answer.confidence) is not None
    ]
    confidences = [p for p, _ in rated]
    correct = [right for _, right in rated]
    summary: dict[str, float | None] = {
        **{key: means.get(key) for key in _MEAN_SCORES},
        **rates,
        "citation_validity": _share(checks),
        "citation_support": _share(supported),
        "ece": expected_calibration_error(confidences, correct),
        "aurc": aurc(confidences, correct),
        "answerable_auc": rank_auc(
            [c for answerable, c in scored if answerable], [c for answerable, c in scored if not answerable]
        ),
        "latency_ms_p50": percentile(latencies, 50) if latencies else None,
        "latency_ms_p95": percentile(latencies, 95) if latencies else None,
        **{key: means.get(key) for key in judged},
        "n": len(results),
    }
    return summary


def score_answers(
    gold: Sequence[GoldItem],
    answers: Sequence[Answer],
    *,
    system: str = "assistant",
    article_text: Callable[[str], str] | None = None,
    embed: Callable[[list[str]], list[list[float]]] | None = None,
    judge: Judge | None = None,
    ranked: Sequence[Sequence[Passage]] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Scores `answers[i]` against `gold[i]`, summarised overall and per type.

    `article_text` (doc id to cleaned text) enables citation validity, `embed` (texts to vectors)
    semantic similarity, `judge` the LLM-judged metrics, and `ranked` (a deeper retrieval per
    question, best first) `recall_at_N`; each is None when not given.
    `progress` shows a bar on stderr while the judge works.
    """
    if len(gold) != len(answers):
        raise ValueError(f"score_answers: {len(gold)} gold items but {len(answers)} answers")
    if ranked is not None and len(ranked) != len(gold):
        raise ValueError(f"score_answers: {len(gold)} gold items but {len(ranked)} rankings")
    similarities = _similarities(gold, answers, embed)
    deep: list[tuple[Passage, ...] | None] = (
        [None] * len(gold) if ranked is None else [tuple(passages) for passages in ranked]
    )
    results = []
    rows = _bar(
        list(zip(gold, answers, similarities, deep, strict=True)),
        desc=f"judge {system}",
        enabled=progress and judge is not None,
    )
    for item, answer, similarity, passages in rows:
        checks = _check_citations(answer, article_text)
        scores = score_item(item, answer, similarity=similarity, citation_checks=checks, ranked=passages)
        if judge is not None:
            scores |= judge.score(item, answer)
        results.append(
            ItemResult(gold=item, answer=answer, scores=scores, citation_checks=checks, ranked=passages or ())
        )
    by_type: dict[str, dict[str, float | None]] = {
        kind: summarize(subset)
        for kind in GOLD_TYPES
        if (subset := [result for result in results if result.gold["type"] == kind])
    }
    return Evaluation(system=system, results=tuple(results), summary=summarize(results), by_type=by_type)


# -- running ------------------------------------------------------------------------------------


def _bar(items: Sequence[_T], *, desc: str, enabled: bool) -> Iterable[_T]:
    if not enabled:
        return items
    import sys

    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q", file=sys.stderr, leave=False)


def ask_all(
    gold: Sequence[GoldItem], ask: Callable[[str], Answer], *, desc: str = "eval", progress: bool = True
) -> list[Answer]:
    """Asks every gold question in order, with a progress bar on stderr."""
    return [ask(item["question"]) for item in _bar(gold, desc=desc, enabled=progress)]


@dataclass(frozen=True, slots=True)
class _Evaluated:
    settings: Settings
    index: Index
    description: dict[str, Any]


@contextlib.contextmanager
def _temporary_index(
    paths: Sequence[Path], settings: Settings, embedder: Embedder, scratch: Path, progress: bool
) -> Iterator[_Evaluated]:
    from ingest.pipeline import ingest_paths
    from rag.index import Index

    local = settings.model_copy(
        update={"data_dir": scratch / "data", "chroma_host": None, "chroma_token": None}
    )
    index = Index(local, embedder)
    report = ingest_paths(paths, local, index=index, progress=progress)
    if report.documents == 0:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.failed) or "no documents found"
        raise DatasetError(f"nothing to evaluate on: {reasons}")
    yield _Evaluated(
        settings=local,
        index=index,
        description={
            "paths": [str(path) for path in paths],
            "index": "temporary",
            "articles": report.documents,
            "chunks": report.chunks,
            "ingest_seconds": round(report.seconds, 2),
            "failed": [{"path": f.path, "reason": f.reason} for f in report.failed],
        },
    )


@contextlib.contextmanager
def _user_index(settings: Settings, embedder: Embedder) -> Iterator[_Evaluated]:
    from rag.index import Index

    index = Index(settings, embedder)
    if not index.exists():
        raise NoIndexError(
            f"no index in {settings.store_location}; run `rag ingest PATH` first, or pass --docs PATH"
        )
    records = index.records()
    if not records:
        raise NoIndexError(
            f"the index in {settings.store_location} holds no articles; run `rag ingest PATH` first"
        )
    yield _Evaluated(
        settings=settings,
        index=index,
        description={
            "paths": [],
            "index": settings.store_location,
            "articles": len(records),
            "chunks": sum(record.n_chunks for record in records.values()),
        },
    )


def run_eval(
    gold: Sequence[GoldItem],
    settings: Settings,
    *,
    embedder: Embedder,
    docs: Sequence[Path] | None = None,
    k: int | None = None,
    answerer: str | None = None,
    baselines: Sequence[str] = (),
    judge: Judge | None = None,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    use_dates: bool = True,
) -> EvalRun:
    """Asks the assistant (and each named baseline) every gold question and scores the answers.

    A gold item's `asked_on` day is the day it is answered as of (unless `use_dates` is False;
    items without one are answered as of today). The baselines have no notion of time.

    With `docs`, the documents are indexed into a temporary data folder that is deleted
    afterwards; without, the index that `settings` names is used (and never written).
    Baselines are built from the same articles the assistant's store holds.
    """
    from eval.baseline import make_baseline, store_articles
    from rag.answering import available_answerers
    from rag.assistant import Assistant
    from rag.errors import ConfigError
    from rag.retriever import ArticleFilter

    if not gold:
        raise DatasetError("the gold set has no questions")
    chosen = answerer or settings.answerer
    if chosen not in available_answerers():
        raise ConfigError(f"unknown answerer {chosen!r}; choose one of {', '.join(available_answerers())}")
    started = time.perf_counter()
    embed = embedder.embed_documents
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-eval-")))
        evaluated = stack.enter_context(
            _temporary_index(docs, settings, embedder, scratch, progress)
            if docs
            else _user_index(settings, embedder)
        )
        assistant = Assistant(evaluated.settings, embedder=embedder, index=evaluated.index)
        warnings = gold_warnings(gold, sorted(evaluated.index.records()), evaluated.index.article_text)
        # Each question as of the day it was asked, when the gold file says (`asked_on`).
        answers = [
            assistant.ask(
                item["question"], k=k, answerer=chosen, as_of=item.get("asked_on") if use_dates else None
            )
            for item in _bar(gold, desc="assistant", enabled=progress)
        ]
        depth = max(*RECALL_DEPTHS, k or evaluated.settings.top_k)
        # The deeper retrieval keeps to the as-of day too: a later article is not a find.
        ranked = [
            assistant.retriever.search(
                item["question"],
                k=depth,
                article_filter=ArticleFilter(published_by=item.get("asked_on") if use_dates else None),
            )
            for item in _bar(gold, desc="retrieval depth", enabled=progress)
        ]
        evaluation = score_answers(
            gold,
            answers,
            article_text=evaluated.index.article_text,
            embed=embed,
            judge=judge,
            ranked=ranked,
            progress=progress,
        )
        peers: dict[str, Evaluation] = {}
        peer_config: dict[str, Any] = {}
        if baselines:
            articles = store_articles(evaluated.index)
            for name in baselines:
                peer: Baseline = make_baseline(name, articles, embedder, scratch / f"baseline-{name}")
                peer_answers = ask_all(gold, peer.ask, desc=name, progress=progress)
                peers[name] = score_answers(
                    gold,
                    peer_answers,
                    system=name,
                    article_text=evaluated.index.article_text,
                    embed=embed,
                    judge=judge,
                    progress=progress,
                )
                peer_config[name] = peer.config()
        run_config: dict[str, Any] = {
            **(config or {}),
            "gold_items": len(gold),
            "k": k or evaluated.settings.top_k,
            "answerer": chosen,
            "as_of": "asked_on" if use_dates and any(item.get("asked_on") for item in gold) else "today",
            "time_words": evaluated.settings.time_words,
            "embedder": embedder.model_id,
            "chunking": evaluated.index.chunking,
            "collection": evaluated.settings.collection,
            "documents": evaluated.description,
            "baselines": peer_config,
            "judge": judge.model_name if judge is not None else None,
            "gold_warnings": warnings,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    run_config["seconds"] = round(time.perf_counter() - started, 2)
    return EvalRun(assistant=evaluation, baselines=peers, config=run_config)
