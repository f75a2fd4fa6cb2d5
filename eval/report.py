"""Render an `EvalRun`: a plain-text summary, a Markdown report and PNG plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from eval.gold import GOLD_TYPES
from eval.harness import JUDGE_METRICS, METRICS, evidence_rank
from eval.metrics import aurc, reliability, risk_coverage

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from matplotlib.figure import Figure

    from eval.harness import EvalRun, Evaluation, ItemResult

__all__ = ["PLOTS", "format_value", "render_markdown", "summary_text", "write_report"]

PLOTS: dict[str, str] = {
    "metrics_by_type.png": "Key metrics of the assistant per question type",
    "systems.png": "Key metrics overall, assistant and baselines side by side",
    "score_distributions.png": "Distribution of token F1 and semantic similarity on answerable questions",
    "risk_coverage.png": "Risk (share wrong) against coverage (share kept), keeping the most confident first",
}
"""File names of the plots `write_report` draws, with their captions."""

_KEY_METRICS = (
    "evidence_recall_at_k",
    "doc_hit_at_k",
    "mrr",
    "token_f1",
    "rouge_l",
    "semantic_similarity",
    "correct_refusal_rate",
    "false_refusal_rate",
    "citation_validity",
)
_DISTRIBUTIONS = ("token_f1", "semantic_similarity")
_WORST = 8
_SNIPPET = 400


def format_value(metric: str, value: float | None) -> str:
    """A metric value for tables: '—' for None, ms with one decimal, counts as ints, else 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if metric == "n":
        return str(int(value))
    if metric.startswith("latency_ms"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def _metric_names(run: EvalRun) -> list[str]:
    judged = [key for key in JUDGE_METRICS if key in run.assistant.summary]
    return [*METRICS, *judged, "n"]


def _systems(run: EvalRun) -> list[Evaluation]:
    return [run.assistant, *run.baselines.values()]


def _types(run: EvalRun) -> list[str]:
    return [kind for kind in GOLD_TYPES if kind in run.assistant.by_type]


# -- plain text ---------------------------------------------------------------------------------


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_text(run: EvalRun) -> str:
    """One screen: every metric overall for each system, then the assistant per question type."""
    systems = _systems(run)
    types = _types(run)
    header = ["metric", *(s.system for s in systems), *(f"assistant:{kind}" for kind in types)]
    rows = [
        [
            metric,
            *(format_value(metric, s.summary.get(metric)) for s in systems),
            *(format_value(metric, run.assistant.by_type[kind].get(metric)) for kind in types),
        ]
        for metric in _metric_names(run)
    ]
    return _text_table(header, rows)


# -- markdown -----------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---", *["---:"] * (len(header) - 1)]) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _side_by_side(run: EvalRun, kind: str | None) -> list[str]:
    systems = _systems(run)

    def summary(evaluation: Evaluation) -> dict[str, float | None]:
        return evaluation.summary if kind is None else evaluation.by_type.get(kind, {})

    rows = [
        [metric, *(format_value(metric, summary(s).get(metric)) for s in systems)]
        for metric in _metric_names(run)
    ]
    return _md_table(["metric", *(s.system for s in systems)], rows)


def _inline(text: str, limit: int = _SNIPPET) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("|", "\\|") or "(empty)"


def _worst_answerable(results: Sequence[ItemResult]) -> list[ItemResult]:
    answerable = [
        r for r in results if r.gold["type"] != "unanswerable" and r.scores.get("token_f1") is not None
    ]
    return sorted(answerable, key=lambda r: (r.scores["token_f1"] or 0.0, r.gold["id"]))[:_WORST]


def _worst_section(run: EvalRun) -> list[str]:
    lines = ["## Worst answers", "", f"Lowest token F1 among answerable questions (up to {_WORST}):", ""]
    worst = _worst_answerable(run.assistant.results)
    for result in worst:
        scores = result.scores
        lines += [
            f"- **{result.gold['id']}** ({result.gold['type']}; token F1 "
            f"{format_value('token_f1', scores.get('token_f1'))}, semantic similarity "
            f"{format_value('semantic_similarity', scores.get('semantic_similarity'))}"
            f"{', refused' if result.answer.abstained else ''})",
            f"  - question: {_inline(result.gold['question'])}",
            f"  - answer: {_inline(result.answer.text)}",
            f"  - gold: {_inline(result.gold['answer'])}",
        ]
    if not worst:
        lines.append("None.")
    answered = [
        r for r in run.assistant.results if r.gold["type"] == "unanswerable" and not r.answer.abstained
    ]
    lines += ["", f"Unanswerable questions that were answered ({len(answered)}):", ""]
    for result in answered[:_WORST]:
        lines += [
            f"- **{result.gold['id']}**: {_inline(result.gold['question'])}",
            f"  - answer: {_inline(result.answer.text)}",
        ]
    if not answered:
        lines.append("None.")
    return lines


def _rated(evaluation: Evaluation) -> tuple[list[float], list[bool]]:
    """Confidences that each response is right, and whether it was, for the results that have one."""
    rated = [(p, r.correct) for r in evaluation.results if (p := r.p_correct) is not None]
    return [p for p, _ in rated], [right for _, right in rated]


def _calibration_section(run: EvalRun) -> list[str]:
    summary = run.assistant.summary
    confidences, correct = _rated(run.assistant)
    lines = [
        "## Calibration",
        "",
        "Each response's confidence that it is right (the answer's confidence; one minus it for a "
        "refusal) against whether it was: an unanswerable question is right when refused, an "
        "answerable one when answered and the gold answer occurs in it, or token F1 ≥ 0.5, or its "
        "first citation holds a gold evidence quote.",
        "",
    ]
    if not confidences:
        return [*lines, "No answer carried a confidence."]
    lines += [
        f"{len(confidences)} of {len(run.assistant.results)} responses carried a confidence; "
        f"ECE (10 bins) {format_value('ece', summary.get('ece'))}, "
        f"AURC {format_value('aurc', summary.get('aurc'))}; the confidence ranks answerable questions "
        f"above unanswerable ones with ROC AUC {format_value('answerable_auc', summary.get('answerable_auc'))} "
        "(0.5 is chance).",
        "",
    ]
    rows = [
        [
            f"{b.low:.1f}–{b.high:.1f}",
            str(b.count),
            format_value("confidence", b.mean_confidence),
            format_value("accuracy", b.accuracy),
        ]
        for b in reliability(confidences, correct)
        if b.count
    ]
    return lines + _md_table(["confidence bin", "count", "mean confidence", "accuracy"], rows)


def _retrieval_rank(result: ItemResult) -> int | None:
    return evidence_rank(result.gold, result.ranked or result.answer.passages)


def _worst_retrieved_section(run: EvalRun) -> list[str]:
    """Answerable questions whose evidence is not in the top k, deepest miss first, with what was found."""
    k = int(run.config.get("k") or max((len(r.answer.passages) for r in run.assistant.results), default=0))
    missed = []
    for result in run.assistant.results:
        if result.gold["type"] == "unanswerable" or not (
            any(quote.strip() for quote in result.gold["evidence"]) or result.gold["doc"]
        ):
            continue
        rank = _retrieval_rank(result)
        # A list question reads more passages than k (`list_top_k`): its own count is its depth.
        if rank is None or rank > max(len(result.answer.passages) or k, 1):
            missed.append((rank, result))
    missed.sort(key=lambda pair: (pair[0] is not None, -(pair[0] or 0), pair[1].gold["id"]))
    lines = [
        "## Worst-retrieved questions",
        "",
        f"Answerable questions whose evidence is in none of the answer's passages ({len(missed)}; "
        f"up to {_WORST} shown, never-found first), with the passages that were retrieved instead:",
        "",
    ]
    for rank, result in missed[:_WORST]:
        depth = len(result.ranked)
        found = f"first found at rank {rank}" if rank else f"not in the top {depth or k}"
        lines += [
            f"- **{result.gold['id']}** ({found})",
            f"  - question: {_inline(result.gold['question'])}",
            f"  - gold: {_inline(result.gold['answer'])}",
        ]
        for n, passage in enumerate(result.answer.passages[:3], start=1):
            dated = f", {passage.date}" if passage.date else ""
            lines.append(f"  - [{n}] *{_inline(passage.title, 100)}*{dated}: {_inline(passage.text, 160)}")
    if not missed:
        lines.append("None.")
    return lines


def render_markdown(run: EvalRun, plots: Sequence[str] = ()) -> str:
    """The report: tables overall and per type, calibration, the worst answers, the plots, and the config."""
    types = _types(run)
    assistant = run.assistant
    by_type_rows = [
        [
            metric,
            format_value(metric, assistant.summary.get(metric)),
            *(format_value(metric, assistant.by_type[kind].get(metric)) for kind in types),
        ]
        for metric in _metric_names(run)
    ]
    config = run.config
    lines = [
        "# Evaluation report",
        "",
        f"{assistant.summary.get('n', 0):.0f} questions from `{config.get('gold', '?')}`; "
        f"answerer `{config.get('answerer', '?')}`, k={config.get('k', '?')}, "
        f"embedder `{config.get('embedder', '?')}`; {config.get('timestamp', '')}.",
        "",
        "Retrieval and answer metrics cover answerable questions; a refused answerable question scores 0.",
        "",
        "## Assistant by question type",
        "",
        *_md_table(["metric", "all", *types], by_type_rows),
        "",
        "## Overall",
        "",
        *_side_by_side(run, None),
    ]
    for kind in types:
        lines += ["", f"## {kind}", "", *_side_by_side(run, kind)]
    lines += ["", *_calibration_section(run)]
    lines += ["", *_worst_section(run), "", *_worst_retrieved_section(run)]
    if plots:
        lines += ["", "## Plots", ""]
        for name in plots:
            lines += [f"![{PLOTS.get(name, name)}]({name})", ""]
    lines += [
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(config, indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)


# -- plots --------------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100)


def _bars(path: Path, groups: Sequence[str], series: dict[str, Sequence[float | None]], title: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    for n, (label, values) in enumerate(series.items()):
        positions = [i + (n - (len(series) - 1) / 2) * width for i in range(len(groups))]
        heights = [math.nan if v is None else v for v in values]
        axes.bar(positions, heights, width=width, label=label)
    axes.set_xticks(range(len(groups)), [g.replace("_", " ") for g in groups], rotation=25, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(figure, path)


def _distributions(path: Path, systems: Sequence[Evaluation]) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    bins = [i / 10 for i in range(11)]
    for n, metric in enumerate(_DISTRIBUTIONS, start=1):
        axes = figure.add_subplot(1, len(_DISTRIBUTIONS), n)
        for evaluation in systems:
            values = [v for r in evaluation.results if (v := r.scores.get(metric)) is not None]
            if values:
                axes.hist(
                    [min(max(v, 0.0), 1.0) for v in values], bins=bins, alpha=0.55, label=evaluation.system
                )
        axes.set_title(metric.replace("_", " "))
        axes.set_xlabel("score")
        axes.set_ylabel("questions")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(figure, path)


def _risk_coverage(path: Path, systems: Sequence[Evaluation]) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for evaluation in systems:
        confidences, correct = _rated(evaluation)
        points = risk_coverage(confidences, correct)
        if points:
            area = format_value("aurc", aurc(confidences, correct))
            axes.plot(
                [0.0, *(p.coverage for p in points)],
                [points[0].risk, *(p.risk for p in points)],
                drawstyle="steps-pre",
                label=f"{evaluation.system} (AURC {area})",
            )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("coverage")
    axes.set_ylabel("risk")
    axes.set_title("risk–coverage")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left")
    else:
        axes.text(0.5, 0.5, "no answer carried a confidence", ha="center", va="center")
    _save(figure, path)


def write_report(run: EvalRun, directory: Path) -> Path:
    """Writes `report.md` and its PNG plots into `directory`; returns the report's path."""
    directory.mkdir(parents=True, exist_ok=True)
    types = _types(run)
    assistant = run.assistant
    _bars(
        directory / "metrics_by_type.png",
        _KEY_METRICS,
        {
            **{kind: [assistant.by_type[kind].get(m) for m in _KEY_METRICS] for kind in types},
            "all": [assistant.summary.get(m) for m in _KEY_METRICS],
        },
        "assistant, by question type",
    )
    _bars(
        directory / "systems.png",
        _KEY_METRICS,
        {s.system: [s.summary.get(m) for m in _KEY_METRICS] for s in _systems(run)},
        "all questions, by system",
    )
    _distributions(directory / "score_distributions.png", _systems(run))
    _risk_coverage(directory / "risk_coverage.png", _systems(run))
    report = directory / "report.md"
    report.write_text(render_markdown(run, list(PLOTS)), encoding="utf-8")
    return report
