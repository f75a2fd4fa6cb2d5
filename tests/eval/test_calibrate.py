"""The evidence model's fitting: hard negatives, the fit itself, its threshold, leave-one-dataset-out,
the saved model, and, on the seed article, that a generated hard negative is refused (issue #14)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eval.calibrate import (
    FEATURE_SETS,
    MODEL_PATH,
    SWAP_WEIGHT,
    Row,
    collect,
    cross_negatives,
    fit,
    hard_negatives,
    leave_one_out,
    main,
    threshold_for,
)
from eval.gold import read_gold_jsonl
from rag.answering import EvidenceModel, ExtractiveAnswerer
from rag.assistant import Assistant
from rag.text import lexical_terms
from tests.eval.conftest import gold_item

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eval.gold import GoldItem
    from rag.embeddings import SentenceTransformerEmbeddings

REPO = Path(__file__).resolve().parents[2]
SEED_GOLD = read_gold_jsonl(REPO / "eval" / "gold" / "fentanyl_seed.jsonl")
FEATURES = ("signal", "offset", "flat")


# -- hard negatives ---------------------------------------------------------------------------------


def _known(text: str) -> set[str]:
    """A fake index's vocabulary: the lexical terms of `text`."""
    return set(lexical_terms(text))


CORPUS = _known("Shen Dingli said in 2019 that 12 agencies met Orla Fenwick in 2026.")


def _only(items: list[GoldItem], known: set[str]) -> GoldItem:
    twins = hard_negatives(items, known.__contains__)
    assert len(twins) == 1, twins
    return twins[0]


def test_a_name_is_swapped_for_one_the_index_does_not_know() -> None:
    item = gold_item("q1", "single", "What does Shen Dingli think of the talks?", "good", ("x",), "a.txt")

    twin = _only([item], CORPUS)

    assert twin["id"] == "q1-swap"
    assert twin["type"] == "unanswerable"
    assert (twin["answer"], twin["evidence"], twin["doc"]) == ("", [], None)
    assert twin["question"].startswith("What does ") and twin["question"].endswith(" think of the talks?")
    invented = twin["question"].removeprefix("What does ").removesuffix(" think of the talks?")
    assert "Shen" not in invented and "Dingli" not in invented
    assert invented.count(" ") == 1, "a first and last name"
    # "Orla Fenwick" is the first invented name, but this index knows her: she is skipped.
    assert not _known(invented) & CORPUS
    assert invented != "Orla Fenwick"


def test_a_year_is_swapped_for_a_year_the_index_does_not_know() -> None:
    item = gold_item("q2", "single", "How many agencies met in 2019?", "12")

    twin = _only([item], CORPUS)

    # 2019 + 7 = 2026 is in the index, so the next shift (2019 - 9) is taken.
    assert twin["question"] == "How many agencies met in 2010?"
    assert twin["id"] == "q2-swap"


def test_a_number_is_swapped_when_there_is_no_name_or_year() -> None:
    twin = _only([gold_item("q3", "single", "Where did the 12 agencies meet?", "Beijing")], CORPUS)

    assert twin["question"] == "Where did the 43 agencies meet?"
    assert "43" not in CORPUS


def test_unanswerable_questions_and_questions_with_nothing_to_swap_get_no_twin() -> None:
    items = [
        gold_item("u1", "unanswerable", "What did Shen Dingli say in 2019 about 12 agencies?"),
        gold_item("s1", "single", "What is fentanyl?", "a drug"),
        gold_item("s2", "single", "Why did talks stall in the spring?", "tariffs"),
        gold_item("s3", "multi", "What did Shen Dingli say?", "more"),
    ]

    twins = hard_negatives(items, CORPUS.__contains__)

    assert [t["id"] for t in twins] == ["s3-swap"]
    assert all(t["id"].endswith("-swap") for t in twins)


def test_no_twin_when_every_replacement_is_known() -> None:
    every_year = {str(2019 + shift) for shift in (7, -9, 13, -17)}
    items = [gold_item("q", "single", "How many agencies met in 2019?", "12")]

    assert hard_negatives(items, every_year.__contains__) == []


# -- fitting ----------------------------------------------------------------------------------------


def _rows(
    dataset: str,
    n: int,
    *,
    seed: int,
    inverted: bool = False,
    swaps: int = 0,
) -> list[Row]:
    """`n` real questions, half answerable, that `signal` separates (the other way if `inverted`);
    `offset` is noise on another scale and `flat` never varies. Then `swaps` generated negatives."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n + swaps):
        swap = i >= n
        answerable = not swap and i % 2 == 0
        high = answerable != inverted
        signal = rng.normal(2.0 if high else -2.0, 1.0)
        features = {"signal": float(signal), "offset": float(rng.normal(50.0, 10.0)), "flat": 3.0}
        rows.append(
            Row(
                dataset=dataset,
                id=f"{dataset}-{i}" + ("-swap" if swap else ""),
                origin="swap" if swap else "gold",
                answerable=answerable,
                correct=answerable and (signal > 1.0 if high else signal < -1.0),
                features=features,
            )
        )
    return rows


def _matrix(rows: Sequence[Row], features: Sequence[str] = FEATURES) -> np.ndarray:
    return np.array([[row.features[name] for name in features] for row in rows])


def test_fit_in_raw_feature_space_matches_sklearn_on_standardised_features() -> None:
    rows = _rows("a", 40, seed=1)
    x, y = _matrix(rows), np.array([row.correct for row in rows])

    fitted = fit(rows, FEATURES, "correct", balanced=False)

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)
    expected = pipeline.predict_proba(x)[:, 1]
    assert fitted.features == FEATURES
    np.testing.assert_allclose(fitted.scores(rows), expected, atol=1e-6)
    # The fold-back: w_raw = w_std / scale and b_raw = b_std - sum(w_std * mean / scale).
    scaler, model = pipeline[0], pipeline[1]
    np.testing.assert_allclose(fitted.weights, model.coef_[0] / scaler.scale_, atol=1e-6)
    bias = model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scaler.scale_)
    assert fitted.bias == pytest.approx(bias, abs=1e-6)
    assert fitted.weights[FEATURES.index("flat")] == pytest.approx(0.0, abs=1e-12)
    # Rows it never saw are scored the same way, and a missing feature counts as 0.
    unseen = [*_rows("b", 10, seed=2), Row("b", "blank", "gold", False, False, {})]
    x_unseen = np.vstack([_matrix(unseen[:-1]), np.zeros((1, len(FEATURES)))])
    np.testing.assert_allclose(fitted.scores(unseen), pipeline.predict_proba(x_unseen)[:, 1], atol=1e-6)


def test_balanced_fit_weighs_classes_equally_and_swaps_at_swap_weight() -> None:
    unbalanced = _rows("a", 30, seed=3)[:24] + [r for r in _rows("a", 30, seed=3)[24:] if not r.answerable]
    x, y = _matrix(unbalanced), np.array([row.answerable for row in unbalanced])
    assert y.sum() != len(y) - y.sum()

    fitted = fit(unbalanced, FEATURES, "answerable", balanced=True)

    balanced = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
    pipeline = make_pipeline(StandardScaler(), balanced).fit(x, y)
    np.testing.assert_allclose(fitted.scores(unbalanced), pipeline.predict_proba(x)[:, 1], atol=1e-6)

    with_swaps = _rows("a", 30, seed=4, swaps=10)
    x, y = _matrix(with_swaps), np.array([row.answerable for row in with_swaps])
    weight = np.where([row.origin == "swap" for row in with_swaps], SWAP_WEIGHT, 1.0)
    for label in (True, False):
        weight[y == label] *= len(y) / 2 / weight[y == label].sum()

    fitted = fit(with_swaps, FEATURES, "answerable", balanced=True)

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    pipeline.fit(x, y, logisticregression__sample_weight=weight)
    np.testing.assert_allclose(fitted.scores(with_swaps), pipeline.predict_proba(x)[:, 1], atol=1e-6)


@pytest.mark.parametrize("budget", [0.0, 0.08, 0.25, 0.5])
def test_threshold_refuses_at_most_the_budget_of_answerable_training_rows(budget: float) -> None:
    rows = _rows("a", 60, seed=5, swaps=8)
    fitted = fit(rows, FEATURES, "answerable", balanced=True)
    scores = fitted.scores(rows)
    answerable = np.array([row.answerable for row in rows])

    threshold = threshold_for(scores, answerable, budget)

    positives = scores[answerable]
    assert len(set(positives)) == len(positives)
    assert np.mean(positives < threshold) <= budget
    # The highest such threshold: refusing one more answerable row would break the budget.
    assert np.mean(positives <= threshold) > budget
    # Unanswerable rows do not count against the budget, however many are refused.
    assert threshold_for(scores, answerable, budget) == threshold_for(
        scores[answerable], answerable[answerable], budget
    )


def test_threshold_without_answerable_rows_refuses_nothing() -> None:
    assert threshold_for(np.array([0.2, 0.9]), np.array([False, False]), 0.08) == 0.0


def test_leave_one_out_scores_each_dataset_with_models_fitted_on_the_others() -> None:
    rows = [
        *_rows("a", 40, seed=6, swaps=6),
        *_rows("b", 40, seed=7, swaps=6),
        *_rows("inverted", 16, seed=8, inverted=True),
    ]

    report = leave_one_out(rows, FEATURES, budget=0.1)

    assert set(report) == {"a", "b", "inverted"}
    for held in ("a", "b"):
        auc, false_refusal = report[held]["auc"], report[held]["false_refusal"]
        assert auc is not None and auc >= 0.9
        assert false_refusal is not None and false_refusal <= 0.1
        assert report[held]["swap_refusal"] is not None
    inverted = [row for row in rows if row.dataset == "inverted"]
    labels = np.array([row.answerable for row in inverted])
    # Held out, the inverted set is scored by a model that never saw it: it ranks it backwards.
    figures = report["inverted"]
    assert figures["auc"] is not None and figures["auc"] <= 0.1
    assert figures["false_refusal"] is not None and figures["false_refusal"] >= 0.8
    assert figures["correct_refusal"] is not None and figures["correct_refusal"] < figures["false_refusal"]
    assert figures["ece"] is not None and figures["ece"] >= 0.5
    assert figures["swap_refusal"] is None
    # Fitted on that set itself, the same features would look excellent.
    in_sample = fit(inverted, FEATURES, "answerable", balanced=True)
    scores = in_sample.scores(inverted)
    assert roc_auc_score(labels, scores) >= 0.95
    assert np.mean(scores[labels] < threshold_for(scores, labels, 0.1)) <= 0.1
    # And the figures are exactly those of a model fitted on the other two sets.
    others = [row for row in rows if row.dataset != "inverted"]
    outside = fit(others, FEATURES, "answerable", balanced=True)
    threshold = threshold_for(outside.scores(others), np.array([row.answerable for row in others]), 0.1)
    assert figures["auc"] == round(float(roc_auc_score(labels, outside.scores(inverted))), 3)
    assert figures["threshold"] == round(threshold, 3)
    assert figures["false_refusal"] == round(float(np.mean(outside.scores(inverted)[labels] < threshold)), 3)


def test_questions_asked_of_the_held_out_datasets_index_are_not_trained_on() -> None:
    rows = [*_rows("a", 40, seed=6), *_rows("b", 40, seed=7)]
    # Questions of "a" asked of "b"'s index, with features that would turn any model around.
    crossed = [
        dataclasses.replace(row, id=f"{row.id}-cross", origin="cross", answerable=False, asked_of="b")
        for row in _rows("a", 40, seed=9, inverted=True)
        if not row.answerable
    ]

    with_crossed = leave_one_out([*rows, *crossed], FEATURES, budget=0.1)
    without = leave_one_out(rows, FEATURES, budget=0.1)

    # Held out, "b" is scored by a model that saw nothing asked of its index.
    assert with_crossed["b"] == without["b"] | {"cross_refusal": None}
    # "a"'s figures count its crossed questions apart from its real unanswerable ones.
    assert with_crossed["a"]["correct_refusal"] == without["a"]["correct_refusal"]
    assert with_crossed["a"]["cross_refusal"] is not None


def test_a_question_is_asked_of_another_index_only_when_its_answer_cannot_be_there() -> None:
    lutnick = gold_item("known", "single", "Who said the tariffs would come off?", "Howard Lutnick")
    invented = gold_item("unknown", "single", "Who chairs the working group?", "Orla Fenwick")
    unanswerable = gold_item("none", "unanswerable", "Who chairs the other group?", "")
    seed_words = _known("Howard Lutnick said the tariffs would come off.")

    (crossed,) = cross_negatives([lutnick, invented, unanswerable], seed_words.__contains__)

    assert crossed["id"] == "unknown-cross" and crossed["type"] == "unanswerable"
    assert crossed["question"] == invented["question"] and crossed["asked_on"] is None


def test_collect_reads_what_a_fresh_index_knows(seed_assistant: Assistant) -> None:
    # `collect` opens the index anew; what it knows is BM25's state, which a fresh index reads on
    # first use: a name of the seed article is known, so only the invented one is asked.
    lutnick = gold_item("known", "single", "Who said the tariffs would come off?", "Howard Lutnick")
    invented = gold_item("unknown", "single", "Who chairs the working group?", "Orla Fenwick")

    rows = collect(
        "other",
        [lutnick, invented],
        seed_assistant.settings.data_dir,
        seed_assistant.embedder,
        asked_of="seed",
    )

    assert [(row.id, row.origin, row.asked_of, row.answerable) for row in rows] == [
        ("unknown-cross", "cross", "seed", False)
    ]
    assert rows[0].dataset == "other"


# -- the saved model --------------------------------------------------------------------------------


def test_the_written_model_loads_as_the_answerers_evidence_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = sorted({name for features in FEATURE_SETS.values() for name in features})
    rows = []
    for n, dataset in enumerate(("one", "two", "three")):
        for row in _rows(dataset, 24, seed=10 + n, swaps=4):
            spread = {name: row.features["signal"] * (k + 1) % 3.0 for k, name in enumerate(names)}
            rows.append(dataclasses.replace(row, features=spread | {"dense": row.features["signal"]}))
    features = tmp_path / "rows.jsonl"
    features.write_text("".join(json.dumps(dataclasses.asdict(row)) + "\n" for row in rows))
    out = tmp_path / "model.json"
    packaged = MODEL_PATH.read_bytes()

    assert (
        main(["--from-features", str(features), "--write", "--out", str(out), "--caveat-below", "0.4"]) == 0
    )

    assert MODEL_PATH.read_bytes() == packaged
    assert f"wrote {out}" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    model = EvidenceModel.from_json(payload)
    chosen = next(name for name, names in FEATURE_SETS.items() if names == model.features)
    refusal = fit(rows, FEATURE_SETS[chosen], "answerable", balanced=True)
    confidence = fit(rows, FEATURE_SETS[chosen], "correct", balanced=False)
    assert model.refusal_weights == pytest.approx(refusal.weights)
    assert model.refusal_bias == pytest.approx(refusal.bias)
    assert model.confidence_weights == pytest.approx(confidence.weights)
    assert model.caveat_below == 0.4
    answerable = np.array([row.answerable for row in rows])
    assert model.refuse_below == pytest.approx(threshold_for(refusal.scores(rows), answerable, 0.08))
    for row, refusal_score, confidence_score in zip(
        rows, refusal.scores(rows), confidence.scores(rows), strict=True
    ):
        assert model.answerable(row.features) == pytest.approx(refusal_score, abs=1e-9)
        assert model.confidence(row.features) == pytest.approx(confidence_score, abs=1e-9)
    assert payload["fitted_on"] == {"one": 28, "three": 28, "two": 28}
    assert set(payload["leave_one_dataset_out"]) == {"one", "two", "three"}


def test_the_packaged_model_is_one_that_from_json_reads() -> None:
    model = EvidenceModel.packaged()
    assert model == EvidenceModel.from_json(json.loads(MODEL_PATH.read_text()))
    assert model.features in FEATURE_SETS.values()
    assert len(model.refusal_weights) == len(model.confidence_weights) == len(model.features)
    assert 0.0 < model.refuse_below < 1.0


# -- on the seed article ----------------------------------------------------------------------------

LUTNICK = gold_item(
    "lutnick",
    "single",
    "What did Howard Lutnick say would happen to the tariffs if fentanyl ends?",
    "they will come off",
)


def _refused(assistant: Assistant, items: Sequence[GoldItem]) -> list[str]:
    return [item["id"] for item in items if assistant.ask(item["question"]).abstained]


def test_collect_asks_as_the_assistant_does_with_its_time_words_read(seed_assistant: Assistant) -> None:
    plain = gold_item(
        "plain", "single", "Who said that the tariffs would come off if fentanyl ends?", "Lutnick"
    )
    dated = gold_item(
        "dated", "single", "Who said this week that the tariffs would come off if fentanyl ends?"
    )
    dated["asked_on"] = "2025-03-14"  # the seed article is undated, so a window keeps it

    rows = collect(
        "seed", [plain, dated], seed_assistant.settings.data_dir, seed_assistant.embedder, swaps=False
    )

    # "this week" is read as a window, not searched for: "week" is no missing word.
    assert [row.id for row in rows] == ["plain", "dated"]
    assert rows[1].features == rows[0].features
    assert rows[0].correct and rows[0].features["missing"] == 0.0


def test_collect_leaves_out_questions_about_the_article_itself(
    seed_assistant: Assistant, capsys: pytest.CaptureFixture[str]
) -> None:
    byline = gold_item("byline", "single", "Who wrote this article?", "Lim Min Zhang")
    plain = gold_item(
        "plain", "single", "Who said that the tariffs would come off if fentanyl ends?", "Lutnick"
    )

    rows = collect(
        "seed", [byline, plain], seed_assistant.settings.data_dir, seed_assistant.embedder, swaps=False
    )

    assert [row.id for row in rows] == ["plain"]
    assert "left out byline: answered from the article itself" in capsys.readouterr().err


def test_collect_asks_each_question_as_of_its_day(
    mayors_data_dir: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    ada = gold_item("ada", "single", "Who is the mayor of Glenhaven?", "Ada Quill")
    bram = gold_item("bram", "single", "Who is the mayor of Glenhaven?", "Bram Holt")
    # No article is from that week: as in `rag eval`, the answer comes from an earlier one.
    week = gold_item("week", "single", "Who is the mayor of Glenhaven this week?", "Ada Quill")
    for item in (ada, bram, week):
        item["asked_on"] = "2021-06-01"  # Bram Holt's article is from 2024

    rows = collect("mayors", [ada, bram, week], mayors_data_dir, embedder, swaps=False)

    assert {row.id: row.correct for row in rows} == {"ada": True, "bram": False, "week": True}
    assert rows[2].features["dense"] > 0


def test_a_hard_negative_is_asked_as_of_its_twins_day() -> None:
    item = gold_item("q", "single", "What did Howard Lutnick say about tariffs?", "they will come off")
    item["asked_on"] = "2025-03-12"

    (twin,) = hard_negatives([item], lambda _term: False)

    assert twin["asked_on"] == "2025-03-12" and "Howard Lutnick" not in twin["question"]


def test_generated_hard_negatives_of_the_seed_questions_are_mostly_refused(seed_assistant: Assistant) -> None:
    twins = hard_negatives(SEED_GOLD, seed_assistant.index.knows)
    answerable = {item["id"]: item for item in SEED_GOLD if item["type"] != "unanswerable"}
    assert len(twins) >= 15, "names, years or numbers to swap in at least 15 of the 39 questions"

    refused = _refused(seed_assistant, twins)

    # Measured: 13 of 17 refused with the model of 09de7c2, 14 with f059c71's refit; every name swap
    # is, the answered ones move a day or an amount ("March 43", "US$607 billion"); none of the
    # 17 originals is. Asked for: 70%, so 12 of 17.
    assert len(refused) >= 0.7 * len(twins), refused
    originals = [answerable[twin["id"].removesuffix("-swap")] for twin in twins]
    assert len(_refused(seed_assistant, originals)) <= 1
    # The refusals are the evidence model's doing: with refusal off, every twin is answered.
    unrefusing = Assistant(
        seed_assistant.settings,
        embedder=seed_assistant.embedder,
        index=seed_assistant.index,
        answerer=ExtractiveAnswerer(refuse=False),
    )
    assert _refused(unrefusing, twins) == []


def test_a_question_about_howard_lutnick_is_answered_and_its_swapped_twin_refused(
    seed_assistant: Assistant,
) -> None:
    (twin,) = hard_negatives([LUTNICK], seed_assistant.index.knows)
    assert "Howard Lutnick" not in twin["question"]
    assert twin["question"].endswith(" say would happen to the tariffs if fentanyl ends?")

    answer = seed_assistant.ask(LUTNICK["question"])
    swapped = seed_assistant.ask(twin["question"])

    assert not answer.abstained
    assert any("Howard Lutnick" in citation.quote for citation in answer.citations)
    assert swapped.abstained, swapped.text
    assert not swapped.citations


def test_a_missing_gold_file_stops_calibration_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--seed-gold", str(tmp_path / "none.jsonl"), "--archive", f"{tmp_path / 'a.jsonl'}={tmp_path}"])

    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'none.jsonl'}: gold file not found\n"
