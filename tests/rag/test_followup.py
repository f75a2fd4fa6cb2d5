"""The deterministic follow-up rewrite: what it keeps from the previous turn."""

from __future__ import annotations

import pytest

from rag.followup import condense

pytestmark = pytest.mark.fast

QUESTION = "Who is the market inspector of Calder Rise?"
ANSWER = (
    "Sunniva Moreau will serve as the new market inspector of Calder Rise from next month. [1] "
    "Sunniva previously spent 8 years working in the region. [2]"
)


def test_they_after_a_question_about_someone_is_the_person_the_answer_names() -> None:
    rewritten = condense("How many years did they spend working in the region?", [(QUESTION, ANSWER)])

    assert rewritten == "How many years did Sunniva Moreau spend working in the region?"


def test_only_the_answers_first_sentence_is_looked_at() -> None:
    # A later sentence of the previous answer can already hold the follow-up's answer; in the
    # query it outweighed the question and the answerer refused (found by the soak test).
    rewritten = condense("How many years did they spend working in the region?", [(QUESTION, ANSWER)])

    assert "8 years" not in rewritten and "previously spent" not in rewritten


def test_a_named_person_replaces_he_and_needs_no_context() -> None:
    rewritten = condense("What did he say next?", [("What did Shen Dingli say?", "He said it was hard. [1]")])

    assert rewritten == "What did Shen Dingli say next?"


def test_a_standalone_question_is_unchanged() -> None:
    question = "When did the joint working group first meet?"

    assert condense(question, [(QUESTION, ANSWER)]) == question
