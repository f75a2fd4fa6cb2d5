"""Hand-computed checks for eval.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.metrics import (
    RiskCoverage,
    aggregate,
    answer_hit,
    aurc,
    cosine,
    doc_hit,
    evidence_recall,
    exact_match,
    expected_calibration_error,
    normalize_answer,
    percentile,
    rank_auc,
    reciprocal_rank,
    refusal_rates,
    reliability,
    risk_coverage,
    rouge_l,
    token_f1,
)

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The  Cat's hat!", "cats hat"),
        ("An apple a day", "apple day"),
        ("theater andante thereby", "theater andante thereby"),
        ("“Don’t panic” — she said", "dont panic she said"),
        ("1990–1995", "19901995"),
        ("‘quoted’ «guillemets» …", "quoted guillemets"),
        ("  hello\n\tworld  ", "hello world"),
        ("", ""),
        ("The a AN.", ""),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_unicode_punctuation_matches_ascii_punctuation() -> None:
    assert normalize_answer("“Don’t” – go") == normalize_answer('"Don\'t" - go')


def test_token_f1_partial_overlap() -> None:
    # pred [cat, sat], gold [cat, sat, down]: overlap 2, P = 2/2, R = 2/3, F1 = 2*1*(2/3)/(1+2/3) = 0.8
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)


def test_token_f1_counts_repeated_tokens_as_multiset() -> None:
    # pred [cat, cat, cat], gold [cat, dog]: overlap min(3,1) = 1, P = 1/3, R = 1/2, F1 = (1/3)/(5/6) = 0.4
    assert token_f1("cat cat cat", "cat dog") == pytest.approx(0.4)
    # pred [cat, cat], gold [cat, cat, dog]: overlap min(2,2) = 2, P = 1, R = 2/3, F1 = 0.8
    assert token_f1("cat cat", "cat cat dog") == pytest.approx(0.8)


def test_token_f1_no_overlap() -> None:
    # overlap 0 -> 0.0
    assert token_f1("red", "blue") == 0.0


def test_token_f1_ignores_articles_punctuation_and_case() -> None:
    # both normalise to [eiffel, tower]: P = R = 1, F1 = 1.0
    assert token_f1("The Eiffel Tower.", "eiffel  TOWER") == pytest.approx(1.0)


def test_token_f1_curly_quotes() -> None:
    # “Don’t” -> dont, don't -> dont: identical single token, F1 = 1.0
    assert token_f1("“Don’t”", "don't") == pytest.approx(1.0)
    assert exact_match("“Don’t”", "don't") == 1.0


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("", "cat", 0.0),  # only prediction empty -> 0.0
        ("cat", "", 0.0),  # only gold empty -> 0.0
        ("", "", 1.0),  # both empty -> 1.0
        ("The!", "a ...", 1.0),  # both normalise to no tokens -> 1.0
    ],
)
def test_f1_and_em_empty_cases(prediction: str, gold: str, expected: float) -> None:
    assert token_f1(prediction, gold) == expected
    assert exact_match(prediction, gold) == expected


def test_exact_match() -> None:
    # "the eiffel tower." -> "eiffel tower" == "eiffel tower"
    assert exact_match("The Eiffel Tower.", "eiffel tower") == 1.0
    # "eiffel" != "eiffel tower"
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0


def test_rouge_l_known_pair() -> None:
    # pred [police, killed, gunman], gold [police, kill, gunman]: LCS = [police, gunman] = 2,
    # P = 2/3, R = 2/3, F = 2/3
    assert rouge_l("the police killed the gunman", "the police kill the gunman") == pytest.approx(2 / 3)


def test_rouge_l_unequal_lengths() -> None:
    # pred [x, y, z], gold [x, q, z, w, v]: LCS = [x, z] = 2, P = 2/3, R = 2/5,
    # F = 2*(2/3)*(2/5)/(2/3+2/5) = (8/15)/(16/15) = 0.5
    assert rouge_l("x y z", "x q z w v") == pytest.approx(0.5)


def test_rouge_l_respects_order_unlike_f1() -> None:
    # pred [police, killed, gunman], gold [gunman, police, killed]: LCS = [police, killed] = 2, F = 2/3;
    # the bags are equal so token F1 = 1.0
    assert rouge_l("police killed the gunman", "the gunman police killed") == pytest.approx(2 / 3)
    assert token_f1("police killed the gunman", "the gunman police killed") == pytest.approx(1.0)


def test_rouge_l_empty_cases() -> None:
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "cat") == 0.0
    assert rouge_l("cat", "") == 0.0


def test_evidence_recall_folds_case_and_whitespace() -> None:
    evidence = ["The  Quick\nbrown FOX", "lazy DOG", "not present"]
    passages = ["the quick brown fox jumps", "over the   lazy\tdog."]
    # found: quote 1 in passage 1, quote 2 in passage 2, quote 3 nowhere -> 2/3
    assert evidence_recall(evidence, passages) == pytest.approx(2 / 3)


def test_evidence_recall_ignores_quotation_marks_dashes_and_end_punctuation() -> None:
    # Gold files quote titles and remarks their own way; the phrase is what an article holds.
    assert evidence_recall(['\u201cSuccession"'], ["the drama Succession won"]) == 1.0
    assert (
        evidence_recall(["\u201cThe pandemic is over.\u201d"], ['He said, "The pandemic is over," and left'])
        == 1.0
    )
    assert evidence_recall(["Don't Worry Darling"], ["Don\u2019t Worry Darling premiered"]) == 1.0
    assert evidence_recall(['The "Doomsday Glacier"'], ["the \u2018Doomsday Glacier\u2019 melts"]) == 1.0
    assert evidence_recall(["10%\u201320%"], ["between 10%-20% of them"]) == 1.0
    assert reciprocal_rank(['\u201cSerial"'], ["nothing", "the podcast Serial"]) == pytest.approx(1 / 2)
    # Inner punctuation still counts, and so do words.
    assert evidence_recall(["U.S. Open"], ["the US Open"]) == 0.0
    assert evidence_recall(['\u201cSuccession"'], ["the drama Successor won"]) == 0.0


def test_evidence_recall_quote_across_two_passages_is_not_found() -> None:
    # "fox jumps over" is only in the concatenation of the passages -> 0/1
    assert evidence_recall(["fox jumps over"], ["the fox jumps", "over the dog"]) == 0.0


def test_evidence_recall_none_and_zero() -> None:
    assert evidence_recall([], ["anything"]) is None
    assert evidence_recall(["  \n"], ["anything"]) is None
    # one quote, no passages -> 0/1
    assert evidence_recall(["quote"], []) == 0.0


def test_doc_hit() -> None:
    assert doc_hit(None, ["a"]) is None
    assert doc_hit("b", ["a", "b"]) == 1.0
    assert doc_hit("c", ["a", "b"]) == 0.0
    assert doc_hit("a", []) == 0.0


def test_reciprocal_rank_by_evidence() -> None:
    passages = ["nothing here", "a fox", "the LAZY  dog sleeps"]
    # first passage holding "lazy dog" is rank 3 -> 1/3
    assert reciprocal_rank(["Lazy dog"], passages) == pytest.approx(1 / 3)
    # "a fox" (rank 2) holds the second quote before rank 3 holds the first -> 1/2
    assert reciprocal_rank(["lazy dog", "fox"], passages) == pytest.approx(1 / 2)


def test_reciprocal_rank_evidence_wins_over_document() -> None:
    # evidence given but not found -> 0.0, even though gold_doc is at rank 2
    assert reciprocal_rank(["zzz"], ["a", "b"], gold_doc="d1", passage_docs=["d0", "d1"]) == 0.0


def test_reciprocal_rank_by_document() -> None:
    docs = ["d1", "d1", "d2", "d2"]
    # first passage from d2 is rank 3 -> 1/3
    assert reciprocal_rank([], ["p"] * 4, gold_doc="d2", passage_docs=docs) == pytest.approx(1 / 3)
    assert reciprocal_rank([], ["p"] * 4, gold_doc="d9", passage_docs=docs) == 0.0


def test_reciprocal_rank_none_without_evidence_or_document() -> None:
    assert reciprocal_rank([], ["p"]) is None
    assert reciprocal_rank([], ["p"], gold_doc="d") is None
    assert reciprocal_rank([], ["p"], passage_docs=["d"]) is None


def test_mean_reciprocal_rank_via_aggregate() -> None:
    ranks = [
        reciprocal_rank(["b"], ["x", "y", "b"]),  # 1/3
        reciprocal_rank(["x"], ["x"]),  # 1
        reciprocal_rank(["q"], ["x"]),  # 0
        reciprocal_rank([], ["x"]),  # None, ignored
    ]
    # MRR = (1/3 + 1 + 0) / 3 = 4/9
    assert aggregate([{"rr": rank} for rank in ranks]) == {"rr": pytest.approx(4 / 9), "n": 4}


def test_cosine() -> None:
    assert cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    # 1*4 + 2*5 + 3*6 = 32; |a| = sqrt(14), |b| = sqrt(77) -> 32 / sqrt(1078) ≈ 0.974632
    assert cosine([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(32 / math.sqrt(1078))
    assert cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert cosine([3.0, 4.0], [-3.0, -4.0]) == pytest.approx(-1.0)
    assert cosine([0.0, 0.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="length"):
        cosine([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0, 15.0),  # position 0
        (10, 17.0),  # position 4*0.10 = 0.4 -> 15 + 0.4*(20-15) = 17
        (25, 20.0),  # position 4*0.25 = 1
        (50, 35.0),  # position 4*0.50 = 2
        (95, 48.0),  # position 4*0.95 = 3.8 -> 40 + 0.8*(50-40) = 48
        (100, 50.0),  # position 4
    ],
)
def test_percentile(q: float, expected: float) -> None:
    values = [50.0, 15.0, 40.0, 20.0, 35.0]
    assert percentile(values, q) == pytest.approx(expected)
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_small_inputs_and_errors() -> None:
    assert percentile([7.0], 95) == 7.0
    # position 1*0.95 = 0.95 -> 1 + 0.95*(2-1) = 1.95
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 101)


def test_aggregate_ignores_none() -> None:
    items: list[dict[str, float | None]] = [
        {"f1": 1.0, "rr": None},
        {"f1": 0.5, "rr": 0.5},
        {"f1": 0.0, "rr": None, "doc": None},
    ]
    # f1 = (1 + 0.5 + 0) / 3 = 0.5; rr = 0.5 / 1 = 0.5; doc has no values -> None
    assert aggregate(items) == {"f1": pytest.approx(0.5), "rr": pytest.approx(0.5), "doc": None, "n": 3}
    assert aggregate([]) == {"n": 0}


def test_refusal_rates() -> None:
    types = ["single", "multi", "unanswerable", "unanswerable", "unanswerable", "single"]
    abstained = [False, True, True, True, False, False]
    # unanswerable: 2 of 3 abstained -> 2/3; answerable: 1 of 3 abstained -> 1/3
    assert refusal_rates(types, abstained) == {
        "correct_refusal_rate": pytest.approx(2 / 3),
        "false_refusal_rate": pytest.approx(1 / 3),
    }


def test_refusal_rates_empty_denominators() -> None:
    assert refusal_rates(["single"], [False]) == {"correct_refusal_rate": None, "false_refusal_rate": 0.0}
    assert refusal_rates([], []) == {"correct_refusal_rate": None, "false_refusal_rate": None}
    with pytest.raises(ValueError, match="abstention"):
        refusal_rates(["single"], [])


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("The festival was won by **Sweden**, officials said.", "Sweden", 1.0),
        ("Jacksonville, Florida topped the list.", "Jacksonville, Florida", 1.0),
        ("Jacksonville, FL topped the list.", "Jacksonville, Florida", 0.0),
        ("Swedenborg wrote it.", "Sweden", 0.0),  # whole words only
        ("The Met Gala honours fashion.", "The “Fashion”", 1.0),  # articles and quotes normalised
        ("anything", "", 0.0),
        ("", "Sweden", 0.0),
    ],
)
def test_answer_hit(prediction: str, gold: str, expected: float) -> None:
    assert answer_hit(prediction, gold) == expected


def test_ece_of_perfect_calibration_is_zero() -> None:
    # Three of four right at 0.75; always right at 1.0, never at 0.0.
    confidences = [0.75, 0.75, 0.75, 0.75, 1.0, 0.0]
    correct = [True, True, True, False, True, False]

    assert expected_calibration_error(confidences, correct) == pytest.approx(0.0)


def test_ece_hand_computed() -> None:
    # Bin 0.9–1.0: two at 0.9, one right: |0.5 - 0.9| = 0.4, weight 2/4.
    # Bin 0.2–0.3: 0.2 and 0.25, one right: |0.5 - 0.225| = 0.275, weight 2/4.
    ece = expected_calibration_error([0.9, 0.9, 0.2, 0.25], [True, False, False, True])

    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.275)


def test_ece_uses_the_bins_given() -> None:
    # One bin: mean confidence 0.55 against accuracy 0.5.
    assert expected_calibration_error([0.9, 0.2], [True, False], bins=1) == pytest.approx(0.05)
    # Ten bins: 0.9 and 0.2 apart, each off by 0.1 and 0.2.
    assert expected_calibration_error([0.9, 0.2], [True, False]) == pytest.approx(0.15)


def test_reliability_bins_are_half_open_but_the_last() -> None:
    bins = reliability([0.0, 0.1, 0.19, 0.95, 1.0], [True, False, True, True, False])

    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert (bins[0].low, bins[0].high, bins[9].low, bins[9].high) == (0.0, 0.1, 0.9, 1.0)
    assert bins[1].mean_confidence == pytest.approx(0.145)
    assert bins[1].accuracy == 0.5
    assert bins[2].mean_confidence is None
    assert bins[2].accuracy is None
    assert bins[9].accuracy == 0.5


def test_calibration_of_nothing_is_none() -> None:
    assert expected_calibration_error([], []) is None
    assert aurc([], []) is None
    assert risk_coverage([], []) == []


@pytest.mark.parametrize("function", [expected_calibration_error, risk_coverage, aurc])
def test_calibration_input_errors(function) -> None:
    with pytest.raises(ValueError, match="2 confidences but 1 correctness flags"):
        function([0.5, 0.5], [True])
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        function([1.5], [True])


def test_risk_coverage_known_example() -> None:
    points = risk_coverage([0.6, 0.9, 0.7, 0.8], [False, True, True, False])

    # By confidence: 0.9 right, 0.8 wrong, 0.7 right, 0.6 wrong.
    assert points == [
        RiskCoverage(0.25, 0.0),
        RiskCoverage(0.5, 0.5),
        RiskCoverage(0.75, pytest.approx(1 / 3)),
        RiskCoverage(1.0, 0.5),
    ]
    assert aurc([0.6, 0.9, 0.7, 0.8], [False, True, True, False]) == pytest.approx(
        (0 + 0.5 + 1 / 3 + 0.5) / 4
    )


def test_risk_coverage_keeps_ties_together() -> None:
    points = risk_coverage([0.9, 0.5, 0.9], [True, True, False])

    assert points == [RiskCoverage(pytest.approx(2 / 3), 0.5), RiskCoverage(1.0, pytest.approx(1 / 3))]
    # 0.5 held over the first two thirds, 1/3 over the last third.
    assert aurc([0.9, 0.5, 0.9], [True, True, False]) == pytest.approx(2 / 3 * 0.5 + 1 / 3 * 1 / 3)


def test_risk_coverage_is_monotone_in_coverage() -> None:
    rng = np.random.default_rng(7)
    confidences = rng.choice([0.1, 0.35, 0.5, 0.8, 0.95], size=60).tolist()
    correct = (rng.random(60) < np.array(confidences)).tolist()

    points = risk_coverage(confidences, correct)
    coverages = [point.coverage for point in points]

    assert coverages == sorted(coverages)
    assert len(set(coverages)) == len(coverages) == len(set(confidences))
    assert points[-1] == RiskCoverage(1.0, pytest.approx(correct.count(False) / 60))
    assert 0.0 <= aurc(confidences, correct) <= 1.0


def test_aurc_is_zero_when_every_answer_is_right_and_one_when_none_is() -> None:
    assert aurc([0.2, 0.9, 0.5], [True, True, True]) == 0.0
    assert aurc([0.2, 0.9, 0.5], [False, False, False]) == pytest.approx(1.0)


def test_rank_auc_orders_pairs_and_counts_ties_half() -> None:
    assert rank_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert rank_auc([0.1], [0.9, 0.8]) == 0.0
    assert rank_auc([0.5, 0.5], [0.5]) == 0.5
    # Pairs: 0.9 beats both, 0.4 beats 0.3 and ties 0.4, 0.2 beats neither: (2 + 1.5 + 0) / 6.
    assert rank_auc([0.9, 0.4, 0.2], [0.3, 0.4]) == pytest.approx(3.5 / 6)
    assert rank_auc([], [0.3]) is None
    assert rank_auc([0.3], []) is None


def test_rank_auc_is_the_share_of_pairs_in_order() -> None:
    rng = np.random.default_rng(7)
    positives = rng.integers(0, 10, 40).tolist()
    negatives = rng.integers(0, 10, 30).tolist()
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives]
    assert rank_auc(positives, negatives) == pytest.approx(sum(pairs) / len(pairs))
