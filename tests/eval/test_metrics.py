"""Hand-computed checks for eval.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.metrics import (
    aggregate,
    answer_hit,
    cosine,
    doc_hit,
    evidence_recall,
    exact_match,
    normalize_answer,
    percentile,
    reciprocal_rank,
    refusal_rates,
    rouge_l,
    token_f1,
)


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
