"""The extractive answerer on hand-made passages: quotes, short answers, abstentions, the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ingest.loaders import load_article
from rag import answering
from rag.answering import (
    ABSTENTION,
    AnswerRequest,
    Draft,
    ExtractiveAnswerer,
    ScoredSpan,
    available_answerers,
    make_answerer,
)
from rag.citations import verify
from rag.types import Passage
from tests.support import SEED_ARTICLE, Fact, HashingEmbedder, make_settings

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.fast

FACTS = [
    Fact("Larkspur Hollow", "harbour master", "Idris Wexford", 12),
    Fact("Corriebrae", "fire chief", "Henrike Solano", 9),
]
SEED = load_article(SEED_ARTICLE)
TEXTS = {fact.file_name: fact.article(n).split("\n\n", 1)[1] for n, fact in enumerate(FACTS)} | {
    SEED.doc_id: SEED.text
}
EMBEDDER = HashingEmbedder()


def _request(question: str, *doc_ids: str) -> AnswerRequest:
    """Each article whole as one passage, in the given order of retrieval."""
    passages = [
        Passage(f"{doc_id}-0", doc_id, doc_id, "", TEXTS[doc_id], 0, len(TEXTS[doc_id]), 1.0 / rank)
        for rank, doc_id in enumerate(doc_ids, start=1)
    ]
    return AnswerRequest(question, passages, query_vector=EMBEDDER.embed_query(question), embedder=EMBEDDER)


def _one_passage(question: str, doc_id: str, title: str, text: str) -> AnswerRequest:
    """One article's whole text as the only passage retrieved."""
    passage = Passage(f"{doc_id}-0", doc_id, title, "", text, 0, len(text), 1.0)
    return AnswerRequest(question, [passage], query_vector=EMBEDDER.embed_query(question), embedder=EMBEDDER)


@pytest.mark.parametrize(
    ("kind", "spans", "expected"),
    [
        # "What is the judge's name?": the better-scored place yields to the person.
        ("person", 2, "Aileen Cannon"),
        # With no person among the spans, the place still answers; for a thing, the score decides.
        ("person", 1, "Florida"),
        ("entity", 2, "Florida"),
    ],
)
def test_a_span_plainly_of_another_kind_answers_only_when_no_span_of_the_kind_does(
    kind: str, spans: int, expected: str
) -> None:
    table = [
        ScoredSpan(0, 0, 7, "Florida", value=6.5, fit=0.3, near=0.11),
        ScoredSpan(1, 0, 13, "Aileen Cannon", value=4.9, fit=1.0, near=0.06),
    ][:spans]

    class Fixed(ExtractiveAnswerer):
        def span_table(self, *args: object, **kwargs: object) -> list[ScoredSpan]:
            return list(table)

    span = Fixed().short_answer(_request("What is the judge's name?", SEED.doc_id), kind, [], [])
    assert span is not None and span.text == expected


def _assert_quoted(draft: Draft) -> None:
    """Every citation is verbatim, and the short answer lies inside a citation."""
    kept, failed = verify(draft.citations, TEXTS.__getitem__)
    assert draft.citations and not failed and kept == list(draft.citations)
    assert [c.n for c in draft.citations] == list(range(1, len(draft.citations) + 1))
    assert all(f"{c.quote} [{c.n}]" in draft.text for c in draft.citations)
    short = draft.short_answer
    if short is not None:
        assert TEXTS[short.doc_id][short.start : short.end] == short.text
        assert any(
            c.doc_id == short.doc_id and c.start <= short.start < short.end <= c.end for c in draft.citations
        )


def test_a_who_question_gets_the_person_quoted_from_the_right_article() -> None:
    fact = FACTS[0]
    draft = ExtractiveAnswerer().answer(_request(fact.question, FACTS[1].file_name, fact.file_name))

    assert not draft.abstained
    assert draft.short_answer is not None and draft.short_answer.text == fact.person
    assert draft.text.startswith(f"{fact.person} —")
    assert draft.citations[0].doc_id == fact.file_name and fact.answer_sentence in draft.citations[0].quote
    _assert_quoted(draft)


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("How many years did Idris Wexford spend working in the region?", "12"),
        ("Who said that the tariffs would come off if fentanyl ends?", "Howard Lutnick"),
        ("For which age group of Americans is fentanyl the leading cause of death?", "18 to 45"),
    ],
)
def test_short_answers_are_spans_of_a_cited_sentence(question: str, short: str) -> None:
    doc_ids = [SEED.doc_id, FACTS[0].file_name]
    draft = ExtractiveAnswerer(refuse=False).answer(_request(question, *doc_ids))

    assert draft.short_answer is not None and draft.short_answer.text == short
    _assert_quoted(draft)


def test_a_why_question_quotes_without_a_short_answer() -> None:
    draft = ExtractiveAnswerer(refuse=False).answer(
        _request("Why did residents welcome the decision?", FACTS[0].file_name)
    )
    assert draft.short_answer is None
    _assert_quoted(draft)


def test_the_streamed_pieces_make_the_drafts_text() -> None:
    pieces = list(ExtractiveAnswerer().stream(_request(FACTS[1].question, FACTS[1].file_name)))

    *texts, draft = pieces
    assert all(isinstance(piece, str) for piece in texts) and isinstance(draft, Draft)
    assert "".join(str(piece) for piece in texts) == draft.text


@pytest.mark.parametrize("doc_ids", [(), tuple(TEXTS)], ids=["no passages", "passages off the topic"])
def test_a_question_the_passages_do_not_answer_is_refused(doc_ids: tuple[str, ...]) -> None:
    draft = ExtractiveAnswerer().answer(
        _request("What is the boiling point of liquid nitrogen on Titan?", *doc_ids)
    )

    assert draft.abstained and draft.text == ABSTENTION
    assert draft.citations == () and draft.short_answer is None


def test_the_extractive_answerer_is_the_first_registered(tmp_path: Path) -> None:
    assert available_answerers()[0] == "extractive"
    settings = make_settings(tmp_path / "data")
    assert isinstance(make_answerer("extractive", settings), ExtractiveAnswerer)


def test_a_quoted_list_names_only_people_the_passages_quote() -> None:
    text = (
        "Professor Ada Quill said the new bridge was safe for heavy lorries. "
        "The bridge was opened by the mayor, Tomas Reed, and the harbour master Olu Brant at noon. "
        "“Traffic has doubled since the spring,” said Dr Ilse Marsh, who studies the port’s logistics."
    )
    request = _one_passage("Which experts are quoted about the bridge?", "bridge.txt", "A bridge opens", text)

    draft = ExtractiveAnswerer(refuse=False).answer(request)

    named = [c.quote for c in draft.citations]
    assert any("Ada Quill" in quote for quote in named) and any("Ilse Marsh" in quote for quote in named)
    assert "Tomas Reed —" not in draft.text and "Olu Brant —" not in draft.text


def test_a_list_of_people_leaves_out_a_name_the_passages_call_a_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "Quillon Reach said" reads like a person quoted; "residents of Quillon Reach" says it is a town.
    text = (
        "Harbour master Ottilie Vasquez said the new pier would open in May. "
        "Ferry inspector Teodor Haugland said the crossings would run every hour. "
        "The council of Quillon Reach said on Monday that residents of Quillon Reach backed the new pier."
    )
    request = _one_passage("Which officials are quoted about the pier?", "quillon.txt", "A new pier", text)

    draft = ExtractiveAnswerer(refuse=False).answer(request)

    assert "Ottilie Vasquez —" in draft.text and "Teodor Haugland —" in draft.text
    assert "Quillon Reach —" not in draft.text
    # Without reading the passages for place names, the town was a third "official".
    monkeypatch.setattr(answering, "place_names", lambda _texts: frozenset())
    assert "Quillon Reach —" in ExtractiveAnswerer(refuse=False).answer(request).text


def test_a_number_in_the_unit_asked_for_wins_over_one_the_question_rules_out() -> None:
    # Both stories' headlines say "four-year" or a week, which the span model's headline and support
    # features favour; but "How much … cost?" asks for money.
    opening = (
        "Harbor City opens new Larkspur Bridge after four-year build\n\n"
        "HARBOR CITY — The Larkspur Bridge opened to traffic on Thursday morning, ending a four-year "
        "construction project that cost $415 million.\n\nThe mayor cut the ribbon at 7 a.m."
    )
    follow_up = (
        "Larkspur Bridge closed for repairs a week after four-year build\n\n"
        "HARBOR CITY — The Larkspur Bridge was closed on Wednesday night after inspectors found a cracked "
        "joint, one week after it opened.\n\nRepairs would take about ten days, the transport department said."
    )
    passages = [
        Passage("a-0", "a.txt", opening.split("\n")[0], "", opening, 0, len(opening), 1.0),
        Passage("b-0", "b.txt", follow_up.split("\n")[0], "", follow_up, 0, len(follow_up), 0.5),
    ]
    question = "How much did the Larkspur Bridge cost?"
    request = AnswerRequest(
        question, passages, query_vector=EMBEDDER.embed_query(question), embedder=EMBEDDER
    )
    draft = ExtractiveAnswerer(refuse=False).answer(request)
    assert draft.short_answer is not None and draft.short_answer.text == "$415 million"
