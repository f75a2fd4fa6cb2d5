"""The span model: which candidate becomes the short answer, and the features it reads (issue #14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answering import SPAN_FEATURES, AnswerRequest, ExtractiveAnswerer, SpanModel
from rag.types import Passage
from tests.support import HashingEmbedder

pytestmark = pytest.mark.fast

EMBEDDER = HashingEmbedder()
QUESTION = "Who opened the Harbour Lantern Festival?"
BEST = "The Harbour Lantern Festival was opened by Mayor Ada Quill on Friday evening."
LOWER = "Bram Holt, a potter from the harbour, sold lanterns there."


def _request(*articles: tuple[str, str, str]) -> AnswerRequest:
    """Each (text, title, date) one passage, in the given order of retrieval."""
    passages = [
        Passage(f"d{n}-0", f"d{n}.txt", title, "", text, 0, len(text), 1.0 / n, date=date)
        for n, (text, title, date) in enumerate(articles, start=1)
    ]
    return AnswerRequest(QUESTION, passages, query_vector=EMBEDDER.embed_query(QUESTION), embedder=EMBEDDER)


def _table(model: SpanModel, request: AnswerRequest) -> dict[str, dict[str, float]]:
    answerer = ExtractiveAnswerer(span_model=model)
    sentences = answerer.candidates(request.passages)
    scores, _ = answerer.features(request, sentences)
    return {span.text: span.features for span in answerer.span_table(request, "person", sentences, scores)}


def test_the_span_model_decides_which_candidate_is_the_short_answer() -> None:
    request = _request((BEST, "Festival opens", ""), (LOWER, "Market day", ""))

    by_relevance = ExtractiveAnswerer(span_model=SpanModel(("score",), (1.0,))).answer(request)
    by_lower_sentence = ExtractiveAnswerer(span_model=SpanModel(("sentence_rank",), (1.0,))).answer(request)

    assert by_relevance.short_answer is not None and by_relevance.short_answer.text == "Ada Quill"
    assert by_lower_sentence.short_answer is not None and by_lower_sentence.short_answer.text == "Bram Holt"


def test_the_span_models_choice_does_not_move_the_refusal() -> None:
    request = _request((BEST, "Festival opens", ""), (LOWER, "Market day", ""))

    by_relevance = ExtractiveAnswerer(span_model=SpanModel(("score",), (1.0,))).answer(request)
    by_lower_sentence = ExtractiveAnswerer(span_model=SpanModel(("sentence_rank",), (1.0,))).answer(request)

    assert by_relevance.short_answer != by_lower_sentence.short_answer
    assert by_relevance.evidence["answerable"] == by_lower_sentence.evidence["answerable"]
    assert by_relevance.confidence == by_lower_sentence.confidence


def test_every_candidate_carries_every_feature_and_its_models_score() -> None:
    model = SpanModel.packaged()
    answerer = ExtractiveAnswerer(span_model=model)
    request = _request((BEST, "Festival opens", "2024-06-01"), (LOWER, "Market day", "2024-06-02"))
    sentences = answerer.candidates(request.passages)
    scores, _ = answerer.features(request, sentences)

    table = answerer.span_table(request, "person", sentences, scores)

    assert {span.text for span in table} == {"Ada Quill", "Bram Holt"}
    for span in table:
        assert set(span.features) == set(SPAN_FEATURES)
        assert span.value == pytest.approx(model.score(span.features))
    assert max(table, key=lambda span: span.value) == answerer.short_answer(
        request, "person", sentences, scores
    )


def test_a_headline_counts_only_whole_words_and_age_is_months_behind_the_newest() -> None:
    table = _table(
        SpanModel(("score",), (1.0,)),
        _request(
            (BEST, "Ada Quillon hands over the festival", "2024-06-01"),
            (LOWER, "Bram Holt's lanterns", "2024-07-31"),
        ),
    )

    assert table["Ada Quill"]["headline"] == 0.0  # "Ada Quillon" is another name
    assert table["Bram Holt"]["headline"] == 1.0
    assert table["Ada Quill"]["age"] == pytest.approx(60 / 30)
    assert table["Bram Holt"]["age"] == 0.0


def test_a_malformed_date_neither_ages_nor_is_the_newest() -> None:
    third = ("The festival closed with fireworks over the harbour.", "Closing night", "June 2024")
    table = _table(
        SpanModel(("score",), (1.0,)),
        _request((BEST, "", "2024-06-01"), (LOWER, "", "2024-07-31"), third),
    )

    assert table["Ada Quill"]["age"] == pytest.approx(60 / 30)
    assert table["Bram Holt"]["age"] == 0.0


def test_a_headline_match_is_literal_and_whole() -> None:
    question = "What is the new hourly wage?"
    text = "The new hourly wage is $22, the council of the U.S. territory said."
    other = "Wages rose in the state last year."
    for title, expected in (("A $22 wage for workers", 1.0), ("A $220 wage for workers", 0.0)):
        passage = Passage("w-0", "w.txt", title, "", text, 0, len(text), 1.0, date="2024-06-01")
        second = Passage("v-0", "v.txt", "Wages", "", other, 0, len(other), 0.5, date="2024-06-01")
        request = AnswerRequest(
            question, [passage, second], query_vector=EMBEDDER.embed_query(question), embedder=EMBEDDER
        )
        answerer = ExtractiveAnswerer(span_model=SpanModel(("score",), (1.0,)))
        sentences = answerer.candidates(request.passages)
        scores, _ = answerer.features(request, sentences)
        table = {
            span.text: span.features for span in answerer.span_table(request, "number", sentences, scores)
        }
        assert table["$22"]["headline"] == expected, title


def test_a_headline_tells_nothing_when_every_passage_is_of_one_article() -> None:
    # Over one article the headline names its subject, not the answer.
    title = "Bram Holt's lanterns light up the festival"
    second = len(BEST) + 1  # the two passages are one article's text, one after the other
    passages = [
        Passage("d1-0", "d1.txt", title, "", BEST, 0, len(BEST), 1.0, date="2024-06-01"),
        Passage("d1-1", "d1.txt", title, "", LOWER, second, second + len(LOWER), 0.5, date="2024-06-01"),
    ]
    request = AnswerRequest(
        QUESTION, passages, query_vector=EMBEDDER.embed_query(QUESTION), embedder=EMBEDDER
    )
    table = _table(SpanModel(("score",), (1.0,)), request)

    assert table["Bram Holt"]["headline"] == 0.0


def test_an_undated_article_has_no_age() -> None:
    table = _table(SpanModel(("score",), (1.0,)), _request((BEST, "", ""), (LOWER, "", "2024-07-31")))

    assert table["Ada Quill"]["age"] == 0.0


@pytest.mark.parametrize(
    ("payload", "fault"),
    [
        ({"features": ["score", "loudness"], "weights": [1.0, 2.0]}, "['loudness']"),
        ({"features": ["score", "fit"], "weights": [1.0]}, "('score', 'fit')"),
    ],
)
def test_a_model_that_does_not_match_the_features_names_the_fix(
    payload: dict[str, list[object]], fault: str
) -> None:
    with pytest.raises(ValueError, match=r"python -m eval\.span_ranker --write") as raised:
        SpanModel.from_json(payload)
    assert fault in str(raised.value)


def test_the_packaged_model_reads_every_feature_the_answerer_gives() -> None:
    path = Path(__file__).resolve().parents[2] / "rag" / "span_model.json"
    model = SpanModel.packaged()

    assert model == SpanModel.from_json(json.loads(path.read_text()))
    assert model.features == SPAN_FEATURES
    assert ExtractiveAnswerer().span_model == model
