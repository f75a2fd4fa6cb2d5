"""The Markdown report, the plots and the plain-text summary of a hand-made run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from matplotlib.image import imread

from eval.harness import EvalRun, score_answers
from eval.report import PLOTS, format_value, render_markdown, summary_text, write_report
from rag.types import Answer

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.fast

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(handmade) -> EvalRun:
    assistant = score_answers(
        handmade.gold,
        handmade.answers,
        article_text=handmade.articles.__getitem__,
        embed=handmade.embeddings.embed_documents,
    )
    naive_answers = [
        Answer(
            question=a.question,
            rewritten_query=a.question,
            text=a.passages[0].text,
            abstained=False,
            passages=a.passages,
            timings_ms={"total": 50.0},
            answerer="naive",
        )
        for a in handmade.answers
    ]
    naive = score_answers(
        handmade.gold, naive_answers, system="naive", article_text=handmade.articles.__getitem__
    )
    return EvalRun(assistant=assistant, baselines={"naive": naive}, config={"gold": "hand.jsonl", "k": 5})


def test_report_files(run: EvalRun, tmp_path: Path) -> None:
    report = write_report(run, tmp_path / "report")

    assert report == tmp_path / "report" / "report.md"
    for name in PLOTS:
        path = tmp_path / "report" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        height, width, _channels = imread(path).shape
        assert height > 100
        assert width > 100


def test_report_tables(run: EvalRun) -> None:
    text = render_markdown(run, list(PLOTS))

    assert "| metric | all | single | multi | unanswerable |" in text
    assert text.count("| metric | assistant | naive |") == 4  # overall, then each type
    for heading in ("## Overall", "## single", "## multi", "## unanswerable"):
        assert heading in text
    assert "| token_f1 | 0.500 | 0.500 | 0.500 | — |" in text
    assert "| citation_validity | 0.750 |" in text
    for name in PLOTS:
        assert f"({name})" in text


def test_report_worst_answers(run: EvalRun) -> None:
    text = render_markdown(run)
    worst = text[text.index("## Worst answers") :]

    # s2 was refused (F1 0), m1 half right, s1 right: lowest first.
    assert worst.index("**s2**") < worst.index("**m1**") < worst.index("**s1**")
    assert "refused" in worst
    assert "gold: March 10" in worst
    # u2 is unanswerable but was answered; u1 was rightly refused.
    answered = worst[worst.index("Unanswerable questions that were answered") :]
    assert "**u2**" in answered
    assert "**u1**" not in answered


def test_report_worst_retrieved(run: EvalRun) -> None:
    text = render_markdown(run)
    worst = text[text.index("## Worst-retrieved questions") :]

    # m1's evidence is in no passage; s1 and s2 found theirs at ranks 1 and 2 (k=5).
    assert "**m1** (not in the top 5)" in worst
    assert "gold: alpha gamma" in worst
    assert "*m.txt*: Alpha and beta were found." in worst
    assert "**s1**" not in worst
    assert "**s2**" not in worst


def test_summary_text(run: EvalRun) -> None:
    text = summary_text(run)
    lines = text.splitlines()

    assert lines[0].split() == [
        "metric",
        "assistant",
        "naive",
        "assistant:single",
        "assistant:multi",
        "assistant:unanswerable",
    ]
    assert lines[-1].split() == ["n", "5", "5", "2", "1", "2"]
    citation_row = next(line for line in lines if line.startswith("citation_validity"))
    assert citation_row.split()[:3] == ["citation_validity", "0.750", "—"]


@pytest.mark.parametrize(
    ("metric", "value", "shown"),
    [
        ("token_f1", None, "—"),
        ("token_f1", 0.12345, "0.123"),
        ("n", 12, "12"),
        ("latency_ms_p95", 12.345, "12.3"),
    ],
)
def test_format_value(metric: str, value: float | None, shown: str) -> None:
    assert format_value(metric, value) == shown


def test_report_calibration(confident, tmp_path: Path) -> None:
    run = EvalRun(assistant=score_answers(confident.gold, confident.answers), config={"k": 5})
    report = write_report(run, tmp_path)
    text = report.read_text(encoding="utf-8")
    calibration = text[text.index("## Calibration") : text.index("## Worst answers")]

    # See test_summary_calibration for the figures.
    assert (
        "5 of 5 responses carried a confidence; ECE (10 bins) 0.390, AURC 0.197; the confidence ranks "
        "answerable questions above unanswerable ones with ROC AUC 0.833 (0.5 is chance)."
    ) in calibration
    assert "| confidence bin | count | mean confidence | accuracy |" in calibration
    for row in (
        "| 0.5–0.6 | 1 | 0.550 | 0.000 |",
        "| 0.6–0.7 | 1 | 0.600 | 1.000 |",
        "| 0.7–0.8 | 1 | 0.700 | 0.000 |",
        "| 0.8–0.9 | 1 | 0.800 | 1.000 |",
        "| 0.9–1.0 | 1 | 0.900 | 1.000 |",
    ):
        assert row in calibration
    assert "| 0.0–0.1 |" not in calibration  # empty bins are left out
    plot = tmp_path / "risk_coverage.png"
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    assert "(risk_coverage.png)" in text


def test_report_calibration_without_confidences(run: EvalRun) -> None:
    text = render_markdown(run)

    assert "## Calibration" in text
    assert "No answer carried a confidence." in text
    assert "| ece | — | — |" in text
