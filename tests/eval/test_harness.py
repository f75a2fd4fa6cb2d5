"""Scoring of hand-made answers (see `handmade` in conftest.py), worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eval.harness import (
    METRICS,
    ItemResult,
    doc_matches,
    gold_warnings,
    score_answers,
    score_item,
    summarize,
)
from rag.answering import CAVEAT
from rag.types import ShortAnswer
from tests.eval.conftest import ARTICLES, answer, citation, gold_item, passage

pytestmark = pytest.mark.fast


def _score(handmade):
    return score_answers(
        handmade.gold,
        handmade.answers,
        article_text=handmade.articles.__getitem__,
        embed=handmade.embeddings.embed_documents,
    )


def test_per_item_scores(handmade) -> None:
    results = {r.gold["id"]: r.scores for r in _score(handmade).results}

    assert results["s1"]["token_f1"] == 1.0
    assert results["s1"]["exact_match"] == 1.0
    assert results["s1"]["semantic_similarity"] == pytest.approx(1.0)
    assert results["s1"]["citation_validity"] == 0.5
    assert (results["s1"]["evidence_recall_at_k"], results["s1"]["doc_hit_at_k"], results["s1"]["mrr"]) == (
        1,
        1,
        1,
    )

    # A refused answerable question is scored as the answer "": everything about the answer is 0.
    assert results["s2"]["token_f1"] == 0.0
    assert results["s2"]["rouge_l"] == 0.0
    assert results["s2"]["semantic_similarity"] == 0.0
    # Gold doc "b" is the passage doc "b.txt" without its suffix; the evidence is in passage 2.
    assert results["s2"]["doc_hit_at_k"] == 1.0
    assert results["s2"]["mrr"] == 0.5

    assert results["m1"]["token_f1"] == pytest.approx(0.5)
    assert results["m1"]["semantic_similarity"] == pytest.approx(0.6)
    assert results["m1"]["evidence_recall_at_k"] == 0.0
    assert results["m1"]["doc_hit_at_k"] is None
    assert results["m1"]["citation_support"] == 0.0

    for item in ("u1", "u2"):
        assert results[item]["token_f1"] is None
        assert results[item]["evidence_recall_at_k"] is None
    assert results["u1"]["citation_validity"] is None


def test_summary_overall(handmade) -> None:
    summary = _score(handmade).summary

    assert list(summary) == [*METRICS, "n"]
    assert summary["n"] == 5
    assert summary["token_f1"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert summary["exact_match"] == pytest.approx(1 / 3)
    assert summary["semantic_similarity"] == pytest.approx((1.0 + 0.0 + 0.6) / 3)
    assert summary["evidence_recall_at_k"] == pytest.approx(2 / 3)
    assert summary["doc_hit_at_k"] == 1.0
    assert summary["mrr"] == pytest.approx(0.5)
    assert summary["false_refusal_rate"] == pytest.approx(1 / 3)
    assert summary["correct_refusal_rate"] == 0.5
    # Four citations in all, one with a shifted offset; one marked unsupported.
    assert summary["citation_validity"] == 0.75
    assert summary["citation_support"] == 0.75
    assert summary["latency_ms_p50"] == 300.0
    assert summary["latency_ms_p95"] == pytest.approx(480.0)


def test_summary_by_type(handmade) -> None:
    by_type = _score(handmade).by_type

    assert list(by_type) == ["single", "multi", "unanswerable"]
    single, multi, unanswerable = by_type["single"], by_type["multi"], by_type["unanswerable"]
    assert (single["n"], multi["n"], unanswerable["n"]) == (2, 1, 2)
    assert single["token_f1"] == 0.5
    assert single["false_refusal_rate"] == 0.5
    assert single["correct_refusal_rate"] is None
    assert single["citation_validity"] == 0.5
    assert multi["token_f1"] == pytest.approx(0.5)
    assert multi["false_refusal_rate"] == 0.0
    assert unanswerable["correct_refusal_rate"] == 0.5
    assert unanswerable["token_f1"] is None
    assert unanswerable["citation_validity"] == 1.0
    assert unanswerable["latency_ms_p50"] == 450.0


def test_only_answered_answerable_texts_are_embedded(handmade) -> None:
    _score(handmade)

    assert sorted(handmade.embeddings.seen) == sorted(
        ["Paris is the capital", "Paris is the capital", "alpha beta", "alpha gamma"]
    )


def test_optional_scorers_left_out_give_none(handmade) -> None:
    summary = score_answers(handmade.gold, handmade.answers).summary

    assert summary["citation_validity"] is None
    assert summary["semantic_similarity"] == 0.0  # only the refusal, which needs no embedding
    assert summary["citation_support"] == 0.75


def test_unknown_cited_document_is_invalid(handmade) -> None:
    evaluation = score_answers(handmade.gold[:1], handmade.answers[:1], article_text={}.__getitem__)

    assert evaluation.results[0].citation_checks == (False, False)


def test_lengths_must_match(handmade) -> None:
    with pytest.raises(ValueError, match="5 gold items but 4 answers"):
        score_answers(handmade.gold, handmade.answers[:4])


def test_score_item_without_similarity(handmade) -> None:
    scores = score_item(handmade.gold[2], handmade.answers[2])

    assert scores["semantic_similarity"] is None
    assert scores["citation_validity"] is None


def test_summarize_empty() -> None:
    summary = summarize([])

    assert summary["n"] == 0
    assert all(summary[key] is None for key in METRICS)


@pytest.mark.parametrize(
    ("gold", "doc_id", "expected"),
    [
        ("a.txt", "a.txt", True),
        ("3", "3.txt", True),
        ("3", "3", True),
        ("3", "13.txt", False),
        ("sub/x", "sub/x.md", True),
        ("x", "sub/x.md", False),
        ("3.txt", "3", False),
    ],
)
def test_doc_matches(gold: str, doc_id: str, expected: bool) -> None:
    assert doc_matches(gold, doc_id) is expected


def test_items_json_shape(handmade) -> None:
    evaluation = _score(handmade)
    item = evaluation.to_json(items=True)["items"][0]

    assert item["id"] == "s1"
    assert item["gold_answer"] == "Paris is the capital"
    assert [c["valid"] for c in item["citations"]] == [True, False]
    first = handmade.answers[0].passages[0]
    assert item["passages"][0] == {
        "chunk_id": "a.txt-0",
        "doc_id": "a.txt",
        "title": "a.txt",
        "date": "",
        "score": 1.0,
        "text": first.text,
    }
    assert item["scores"]["token_f1"] == 1.0
    assert item["latency_ms"] == 100.0


def test_ranked_recall_reads_the_deeper_retrieval(handmade) -> None:
    gold = handmade.gold[0]
    found_late = [passage("b.txt", f"Filler {n}.", n) for n in range(7)] + list(handmade.answers[0].passages)
    evaluation = score_answers(
        [gold], handmade.answers[:1], article_text=ARTICLES.__getitem__, ranked=[found_late]
    )
    scores = evaluation.results[0].scores

    assert [scores[f"recall_at_{depth}"] for depth in (1, 5, 10, 20)] == [0.0, 0.0, 1.0, 1.0]
    assert evaluation.to_json(items=True)["items"][0]["evidence_rank"] == 8


def test_ranked_recall_is_none_without_a_deeper_retrieval(handmade) -> None:
    scores = score_answers(handmade.gold[:1], handmade.answers[:1]).results[0].scores

    assert all(scores[f"recall_at_{depth}"] is None for depth in (1, 5, 10, 20))


def test_evidence_rank_falls_back_to_the_gold_document(handmade) -> None:
    gold = handmade.gold[0] | {"evidence": [], "doc": "a"}  # "a" names a.txt without its suffix
    ranked = [passage("m.txt", "Gamma was not.", 0), passage("a.txt", "It is on the Seine.", 1)]
    evaluation = score_answers(
        [gold], handmade.answers[:1], article_text=ARTICLES.__getitem__, ranked=[ranked]
    )

    assert evaluation.to_json(items=True)["items"][0]["evidence_rank"] == 2
    assert evaluation.results[0].scores["recall_at_1"] == 0.0
    assert evaluation.results[0].scores["recall_at_5"] == 1.0


# -- short answers ------------------------------------------------------------------------------

TARIFFS = gold_item("s2", "single", "When did tariffs start?", "March 10", ("kicked in on March 10",), "b")
TARIFFS_QUOTE = "Tariffs kicked in on March 10."
MARCH_10 = ShortAnswer("March 10", "b.txt", 21, 29)


def _tariffs(text: str, short: ShortAnswer | None = None, quote: str = TARIFFS_QUOTE):
    return replace(
        answer(
            TARIFFS["question"],
            text,
            passages=(passage("b.txt", TARIFFS_QUOTE),),
            citations=(citation(1, "b.txt", quote),),
        ),
        short_answer=short,
    )


def test_short_answer_is_what_exact_match_and_f1_score() -> None:
    scores = score_item(TARIFFS, _tariffs("March 10 — Tariffs kicked in on March 10. [1]", MARCH_10))

    assert ARTICLES["b.txt"][MARCH_10.start : MARCH_10.end] == MARCH_10.text
    assert scores["exact_match"] == 1.0
    assert scores["token_f1"] == 1.0
    # The whole text: 2 of its 8 tokens are the gold's 2.
    assert scores["text_f1"] == pytest.approx(2 * (2 / 8) * 1 / (2 / 8 + 1))
    assert scores["answer_hit"] == 1.0


def test_without_a_short_answer_the_text_is_scored() -> None:
    scores = score_item(TARIFFS, _tariffs("Tariffs kicked in on March 10. [1]"))

    assert scores["exact_match"] == 0.0
    assert scores["token_f1"] == scores["text_f1"] == pytest.approx(2 * (2 / 6) * 1 / (2 / 6 + 1))
    assert scores["answer_hit"] == 1.0


def test_answer_hit_counts_a_short_answer_the_text_leaves_out() -> None:
    scores = score_item(TARIFFS, _tariffs("Talks stalled. [1]", MARCH_10, quote="Talks stalled."))

    assert scores["token_f1"] == 1.0
    assert scores["text_f1"] == 0.0
    assert scores["answer_hit"] == 1.0


def test_a_refusal_scores_nothing_even_with_a_short_answer() -> None:
    refused = replace(_tariffs("", MARCH_10), abstained=True, citations=())
    scores = score_item(TARIFFS, refused)

    assert scores["token_f1"] == scores["text_f1"] == scores["exact_match"] == scores["answer_hit"] == 0.0


def test_items_json_carries_short_answer_and_confidence() -> None:
    short = replace(_tariffs("March 10 — Tariffs kicked in on March 10. [1]", MARCH_10), confidence=0.8)
    evaluation = score_answers(
        [TARIFFS, TARIFFS],
        [short, _tariffs("Talks stalled. [1]", quote="Talks stalled.")],
        article_text=ARTICLES.__getitem__,
    )
    items = evaluation.to_json(items=True)

    first, second = items["items"]
    assert first["short_answer"] == {"text": "March 10", "doc_id": "b.txt", "start": 21, "end": 29}
    assert first["confidence"] == 0.8
    assert first["correct"] is True
    assert second["short_answer"] is None
    assert second["confidence"] is None


# -- calibration --------------------------------------------------------------------------------


def _result(gold, given) -> ItemResult:
    return ItemResult(gold=gold, answer=given, scores=score_item(gold, given))


def test_correct_by_hit_f1_or_first_citation() -> None:
    # The gold answer occurs in the text.
    assert _result(TARIFFS, _tariffs("Tariffs kicked in on March 10. [1]")).correct
    # Neither hit nor F1, but the first citation holds the evidence quote.
    assert _result(TARIFFS, _tariffs("Tariffs began in spring. [1]")).correct
    # The evidence is only in the second citation: not right.
    second_only = replace(
        _tariffs("Talks stalled. [1] Tariffs began. [2]", quote="Talks stalled."),
        citations=(citation(1, "b.txt", "Talks stalled."), citation(2, "b.txt", TARIFFS_QUOTE)),
    )
    assert not _result(TARIFFS, second_only).correct


def test_a_caveated_answer_is_an_answer() -> None:
    caveated = replace(_tariffs(f"{CAVEAT} Tariffs kicked in on March 10. [1]"), confidence=0.3)
    result = _result(TARIFFS, caveated)

    assert result.correct
    assert result.p_correct == 0.3


def test_a_refusal_is_confident_in_one_minus_the_confidence(confident) -> None:
    results = {r.gold["id"]: r for r in score_answers(confident.gold, confident.answers).results}

    assert {key: r.correct for key, r in results.items()} == {
        "s1": True,
        "s2": False,
        "m1": True,
        "u1": True,
        "u2": False,
    }
    assert results["s2"].p_correct == pytest.approx(0.7)
    assert results["u1"].p_correct == pytest.approx(0.8)
    assert results["u2"].p_correct == 0.55


def test_summary_calibration(confident) -> None:
    summary = score_answers(confident.gold, confident.answers).summary

    # One response per bin, so each bin adds |right - confidence| / 5.
    assert summary["ece"] == pytest.approx((0.1 + 0.7 + 0.4 + 0.2 + 0.55) / 5)
    # By confidence: 0.9 right, 0.8 right, 0.7 wrong, 0.6 right, 0.55 wrong.
    assert summary["aurc"] == pytest.approx((0 + 0 + 1 / 3 + 1 / 4 + 2 / 5) / 5)
    # Answerable s1 0.9, s2 0.3, m1 0.6 against unanswerable u1 0.2, u2 0.55: s2 < u2 is the one
    # pair of six in the wrong order.
    assert summary["answerable_auc"] == pytest.approx(5 / 6)


def test_answers_without_a_confidence_are_left_out(confident, handmade) -> None:
    answers = [*confident.answers[:2], *handmade.answers[2:]]
    summary = score_answers(confident.gold, answers).summary

    # s1 (0.9, right) and s2 (0.7 to be right, wrong) only.
    assert summary["ece"] == pytest.approx((0.1 + 0.7) / 2)
    assert score_answers(handmade.gold, handmade.answers).summary["ece"] is None
    assert score_answers(handmade.gold, handmade.answers).summary["aurc"] is None
    assert score_answers(handmade.gold, handmade.answers).summary["answerable_auc"] is None


def test_gold_the_index_cannot_match_is_warned_about() -> None:
    gold = [
        gold_item("ok", "single", "What is the capital?", "Paris", ("capital of France is “Paris”.",), "a"),
        gold_item("renamed", "single", "When?", "March 10", ("March 10",), "straits-times.txt"),
        gold_item("paraphrased", "single", "What stalled?", "Talks", ("the talks were stalled",)),
        gold_item("no-doc", "unanswerable", "Who?"),
    ]
    warnings = gold_warnings(gold, sorted(ARTICLES), ARTICLES.__getitem__)

    assert warnings == [
        "1 of 4 gold items name a doc that is not indexed (renamed: 'straits-times.txt'); indexed ids look "
        "like 'a.txt': doc hit counts them as misses",
        "1 of 4 gold items have evidence that no indexed article holds word for word (paraphrased: "
        "'the talks were stalled'): evidence recall counts it as not found",
    ]
    assert gold_warnings(gold[:1], sorted(ARTICLES), ARTICLES.__getitem__) == []
