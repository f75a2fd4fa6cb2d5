"""Fitting the span model: the pairwise fit, leave-one-dataset-out, the saved model, and candidates
collected from a real index (issue #14)."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from eval.span_ranker import MODEL_PATH, Group, collect, fit, leave_one_out, main, top1
from rag.answering import SPAN_FEATURES, SpanModel
from tests.eval.conftest import gold_item

if TYPE_CHECKING:
    from pathlib import Path

    from rag.assistant import Assistant
    from rag.embeddings import SentenceTransformerEmbeddings


def _groups(dataset: str, n: int, rule: str, seed: int) -> list[Group]:
    """Questions of 2–6 candidates whose right one has the highest `rule` feature; the others are noise."""
    rng = np.random.default_rng(seed)
    groups = []
    for q in range(n):
        size = int(rng.integers(2, 7))
        features = [{name: float(rng.normal()) for name in SPAN_FEATURES} for _ in range(size)]
        best = max(range(size), key=lambda i: features[i][rule])
        right = [i == best for i in range(size)]
        groups.append(Group(dataset, f"{dataset}-{q}", [f"c{i}" for i in range(size)], features, right))
    return groups


def test_the_fit_learns_the_feature_that_picks_the_right_candidate() -> None:
    ranker = fit(_groups("a", 80, "near", seed=1), SPAN_FEATURES)
    weights = ranker.weights

    near = SPAN_FEATURES.index("near")
    assert weights[near] == max(weights)
    assert abs(weights).argsort()[-1] == near
    fresh = _groups("b", 50, "near", seed=2)
    assert top1(fresh, SPAN_FEATURES, weights) >= 45
    assert ranker.c in (0.01, 0.1, 1.0, 10.0)


def test_leave_one_out_ranks_each_dataset_with_a_model_fitted_on_the_others() -> None:
    groups = _groups("fit-rules", 30, "fit", seed=3)
    for n, name in enumerate(("near-one", "near-two", "near-three")):
        groups += _groups(name, 60, "near", seed=4 + n)
    packaged = SpanModel(("near",), (1.0,))

    report = leave_one_out(groups, SPAN_FEATURES, packaged)

    # Fitted mostly on "near" sets, the model ranks a held-out "near" set well, and the "fit-rules"
    # set about as well as chance would (its right candidate is one of 2–6), though a model fitted
    # on it would rank it perfectly.
    assert report["near-one"]["fitted_on_others"] >= 45
    assert report["fit-rules"]["fitted_on_others"] <= 15
    assert top1(groups[:30], SPAN_FEATURES, fit(groups[:30], SPAN_FEATURES).weights) >= 28
    assert report["near-two"]["packaged"] == report["near-two"]["with_right_candidate"] == 60
    assert report["fit-rules"]["questions"] == 30


def test_a_question_with_no_wrong_or_no_right_candidate_teaches_nothing() -> None:
    useful = _groups("a", 40, "fit", seed=6)
    useless = [
        Group("a", "all-right", ["x", "y"], [{"fit": -5.0}, {"fit": -6.0}], [True, True]),
        Group("a", "none-right", ["x", "y"], [{"fit": 9.0}, {"fit": 8.0}], [False, False]),
    ]

    assert fit(useful + useless, SPAN_FEATURES).weights == pytest.approx(fit(useful, SPAN_FEATURES).weights)
    with pytest.raises(ValueError, match="no question has both a right and a wrong candidate"):
        fit(useless, SPAN_FEATURES)


def test_each_question_weighs_the_same_however_many_candidates_it_has() -> None:
    # Twenty two-candidate questions say "fit"; one forty-candidate question says "near". Counted
    # by pairs, the one question would outweigh the twenty (39 pairs against 20).
    small = [
        Group("a", f"s{q}", ["r", "w"], [{"fit": 1.0, "near": 0.0}, {"fit": 0.0, "near": 1.0}], [True, False])
        for q in range(20)
    ]
    crowd = [{"fit": 1.0, "near": 0.0} for _ in range(39)]
    big = Group(
        "a", "big", [f"c{i}" for i in range(40)], [{"fit": 0.0, "near": 1.0}, *crowd], [True] + [False] * 39
    )

    weights = fit([*small, big], ("fit", "near")).weights

    assert weights[0] > weights[1]


def test_a_few_questions_are_fitted_without_cross_validation() -> None:
    one = _groups("a", 1, "fit", seed=9)

    ranker = fit(one, SPAN_FEATURES)

    assert ranker.c == 1.0 and top1(one, SPAN_FEATURES, ranker.weights) == 1
    report = leave_one_out(
        [*one, Group("b", "all-right", ["x"], [{"fit": 0.0}], [True])], SPAN_FEATURES, None
    )
    assert report["a"]["fitted_on_others"] is None and report["a"]["C"] is None
    assert report["b"]["fitted_on_others"] == 1


def test_a_refit_needs_two_datasets(tmp_path: Path) -> None:
    features = tmp_path / "groups.jsonl"
    features.write_text(
        "".join(json.dumps(dataclasses.asdict(g)) + "\n" for g in _groups("one", 20, "fit", seed=10))
    )

    with pytest.raises(SystemExit):
        main(["--from-features", str(features)])


def test_the_written_model_is_the_fit_on_every_dataset_and_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = _groups("one", 40, "kind", seed=7) + _groups("two", 40, "kind", seed=8)
    features = tmp_path / "groups.jsonl"
    features.write_text("".join(json.dumps(dataclasses.asdict(g)) + "\n" for g in groups))
    out = tmp_path / "span_model.json"
    packaged = MODEL_PATH.read_bytes()

    assert main(["--from-features", str(features), "--write", "--out", str(out)]) == 0

    assert MODEL_PATH.read_bytes() == packaged
    printed = capsys.readouterr().out
    assert "held out one" in printed and f"wrote {out}" in printed
    payload = json.loads(out.read_text())
    model = SpanModel.from_json(payload)
    assert model.features == SPAN_FEATURES
    assert model.weights == pytest.approx(fit(groups, SPAN_FEATURES).weights.tolist())
    assert payload["fitted_on"] == {"one": 40, "two": 40}
    assert set(payload["leave_one_dataset_out"]) == {"one", "two"}


def test_collect_asks_each_question_as_of_its_day(
    mayors_data_dir: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    item = gold_item("mayor", "single", "Who is the mayor of Glenhaven?", "Ada Quill")
    item["asked_on"] = "2021-06-01"  # Bram Holt's article is from 2024

    (group,) = collect("mayors", [item], mayors_data_dir, embedder, SpanModel.packaged())

    assert "Bram Holt" not in group.texts
    assert [text for text, right in zip(group.texts, group.right, strict=True) if right] == ["Ada Quill"]


def test_collect_labels_the_gold_answer_among_a_questions_candidates(seed_assistant: Assistant) -> None:
    gold = [
        gold_item(
            "who", "single", "Who said that the tariffs would come off if fentanyl ends?", "Howard Lutnick"
        ),
        gold_item(
            "why", "single", "Why does China resist US pressure on fentanyl?", "It sees the US as a threat"
        ),
        gold_item("none", "unanswerable", "Who chaired the committee?"),
    ]

    groups = collect(
        "seed", gold, seed_assistant.settings.data_dir, seed_assistant.embedder, SpanModel.packaged()
    )

    # The why-question asks for no short answer and the unanswerable one has none to find.
    (group,) = groups
    assert (group.dataset, group.id) == ("seed", "who")
    assert [text for text, right in zip(group.texts, group.right, strict=True) if right] == ["Howard Lutnick"]
    assert len(group.texts) >= 2
    assert all(set(features) == set(SPAN_FEATURES) for features in group.features)


def test_a_bad_archive_stops_with_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as bad_spec:
        main(["--archive", "gold.jsonl"])
    assert bad_spec.value.code == 2
    assert "'gold.jsonl': expected GOLD=DATA_DIR" in capsys.readouterr().err

    missing = tmp_path / "nowhere" / "gold.jsonl"
    with pytest.raises(SystemExit) as no_gold:
        main(["--archive", f"{missing}={tmp_path}", "--archive", f"{missing}={tmp_path}"])
    assert no_gold.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "gold file not found" in err and "Traceback" not in err


def test_c_is_the_one_whose_held_out_folds_rank_best(monkeypatch: pytest.MonkeyPatch) -> None:
    import eval.span_ranker as ranker

    tried: list[float] = []

    def fake_fit(groups: list[Group], features: tuple[str, ...], c: float) -> np.ndarray:
        tried.append(c)
        return np.full(len(features), c)

    # Held-out questions are ranked right only by the model fitted with C = 0.1.
    monkeypatch.setattr(ranker, "_fit_c", fake_fit)
    monkeypatch.setattr(ranker, "top1", lambda groups, features, weights: len(groups) * (weights[0] == 0.1))

    chosen = fit(_groups("a", 40, "fit", seed=11), SPAN_FEATURES)

    assert chosen.c == 0.1 and list(chosen.weights) == [0.1] * len(SPAN_FEATURES)
    assert sorted(set(tried)) == [0.01, 0.1, 1.0, 10.0] and len(tried) == 4 * 5 + 1
