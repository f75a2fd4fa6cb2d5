"""LLM-judged metrics with a scripted LangChain chat model."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from eval.harness import JUDGE_METRICS, score_answers
from eval.judge import Judge
from rag.errors import ConfigError
from rag.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.fast

FAITHFUL_2_OF_3 = (
    '```json\n{"statements": [{"statement": "a", "supported": true}, '
    '{"statement": "b", "supported": false}, {"statement": "c", "supported": true}]}\n```'
)
CORRECT_TP2_FP1 = 'Here you go: {"TP": ["x", "y"], "FP": ["z"], "FN": []}'


def scripted(*replies: str) -> GenericFakeChatModel:
    messages: Iterator[AIMessage] = iter([AIMessage(content=reply) for reply in replies])
    return GenericFakeChatModel(messages=messages)


def test_faithfulness_is_the_supported_share() -> None:
    judge = Judge(scripted(FAITHFUL_2_OF_3))

    assert judge.faithfulness("q?", "a. b. c.", ["passage one"]) == pytest.approx(2 / 3)


def test_answer_correctness_is_factual_f1() -> None:
    judge = Judge(scripted(CORRECT_TP2_FP1))

    assert judge.answer_correctness("q?", "x y z", "x y") == pytest.approx(2 / (2 + 0.5))


@pytest.mark.parametrize(
    "reply", ["I cannot grade this.", '{"statements": "all good"}', "{not json}", "[1, 2]"]
)
def test_unreadable_reply_scores_none(reply: str) -> None:
    judge = Judge(scripted(reply, reply))

    assert judge.faithfulness("q?", "an answer", ["p"]) is None
    assert judge.answer_correctness("q?", "an answer", "gold") is None


def test_score_of_items(handmade) -> None:
    # s1 answered (faithfulness + correctness), s2 refused (correctness 0, no call),
    # u1 refused (nothing), u2 answered unanswerable (faithfulness only).
    judge = Judge(
        scripted(FAITHFUL_2_OF_3, CORRECT_TP2_FP1, '{"statements": [{"statement": "s", "supported": false}]}')
    )
    gold = [handmade.gold[i] for i in (0, 1, 3, 4)]
    answers = [handmade.answers[i] for i in (0, 1, 3, 4)]

    evaluation = score_answers(gold, answers, judge=judge)
    scores = {r.gold["id"]: r.scores for r in evaluation.results}

    assert scores["s1"]["faithfulness"] == pytest.approx(2 / 3)
    assert scores["s1"]["answer_correctness"] == pytest.approx(0.8)
    assert scores["s2"]["faithfulness"] is None
    assert scores["s2"]["answer_correctness"] == 0.0
    assert scores["u1"]["faithfulness"] is None
    assert scores["u1"]["answer_correctness"] is None
    assert scores["u2"]["faithfulness"] == 0.0
    assert scores["u2"]["answer_correctness"] is None
    assert list(evaluation.summary)[-3:] == [*JUDGE_METRICS, "n"]
    assert evaluation.summary["faithfulness"] == pytest.approx(1 / 3)
    assert evaluation.summary["answer_correctness"] == pytest.approx(0.4)
    assert evaluation.by_type["single"]["answer_correctness"] == pytest.approx(0.4)


def _settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> Settings:
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_from_settings_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="RAG_LLM_MODEL"):
        Judge.from_settings(_settings(monkeypatch))


def test_from_settings_builds_an_openai_compatible_client(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    judge = Judge.from_settings(
        _settings(monkeypatch, llm_model="qwen2.5", llm_base_url="http://127.0.0.1:9/v1", llm_temperature=0.7)
    )

    assert "qwen2.5" in judge.model_name
    assert judge.model.temperature == 0.0  # type: ignore[attr-defined]
