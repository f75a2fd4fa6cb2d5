"""RAGAS-style metrics judged by a chat model: faithfulness and answer correctness.

* ``faithfulness``: the judge splits the answer into statements and marks each as supported by
  the retrieved passages or not; the score is the supported share.
* ``answer_correctness``: the judge sorts statements into TP (in the answer and the gold answer),
  FP (only in the answer) and FN (only in the gold answer); the score is the factual F1
  ``TP / (TP + (FP + FN) / 2)``. RAGAS's semantic part is reported separately as
  ``semantic_similarity``.

A reply that cannot be read as the requested JSON scores None.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from rag.citations import strip_markers
from rag.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from langchain_core.language_models import BaseChatModel

    from eval.gold import GoldItem
    from rag.settings import Settings
    from rag.types import Answer

__all__ = ["Judge", "chat_model"]

_SYSTEM = "You grade answers of a question-answering system. Reply with one JSON object and nothing else."

_FAITHFULNESS = """Context passages:
{context}

Question: {question}
Answer: {answer}

Break the answer into short, self-contained factual statements. For each statement decide whether \
the context passages alone support it. Reply as JSON:
{{"statements": [{{"statement": "...", "supported": true}}]}}"""

_CORRECTNESS = """Question: {question}
Ground truth: {gold}
Answer: {answer}

Break the answer and the ground truth into short, self-contained factual statements and sort them:
"TP": statements of the answer that the ground truth supports;
"FP": statements of the answer that the ground truth does not support;
"FN": statements of the ground truth that the answer leaves out.
Reply as JSON: {{"TP": ["..."], "FP": ["..."], "FN": ["..."]}}"""

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def chat_model(settings: Settings) -> tuple[BaseChatModel, str]:
    """The chat model `settings` configure, built as the `llm` answerer builds it but at temperature 0."""
    if not settings.llm_model and not settings.llm_base_url:
        raise ConfigError(
            "--judge needs a chat model: set RAG_LLM_MODEL (and RAG_LLM_BASE_URL for a local server)"
        )
    from rag.llm import chat_model_from_settings

    return chat_model_from_settings(settings.model_copy(update={"llm_temperature": 0.0}))


def _parse(reply: str) -> dict[str, Any] | None:
    match = _OBJECT.search(reply)
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _strings(value: object) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [str(item) for item in value]


class Judge:
    """Scores answers with a LangChain chat model; inject any `BaseChatModel` (tests script one)."""

    def __init__(self, model: BaseChatModel, *, label: str | None = None, max_passages: int = 5) -> None:
        self.model = model
        self.model_name = label or type(model).__name__
        self.max_passages = max_passages

    @classmethod
    def from_settings(cls, settings: Settings) -> Judge:
        """A judge using the chat model `settings` configure."""
        model, label = chat_model(settings)
        return cls(model, label=label)

    def _ask(self, prompt: str) -> dict[str, Any] | None:
        from langchain_core.messages import HumanMessage, SystemMessage

        reply = self.model.invoke([SystemMessage(_SYSTEM), HumanMessage(prompt)])
        content = reply.content if isinstance(reply.content, str) else reply.text
        return _parse(content)

    def faithfulness(self, question: str, answer: str, passages: Sequence[str]) -> float | None:
        """Share of the answer's statements that the passages support; None if there are none."""
        if not answer.strip():
            return None
        context = "\n\n".join(
            f"[{n}] {text}" for n, text in enumerate(passages[: self.max_passages], start=1)
        )
        parsed = self._ask(
            _FAITHFULNESS.format(context=context or "(none)", question=question, answer=answer)
        )
        statements = parsed.get("statements") if parsed else None
        if not isinstance(statements, list) or not statements:
            return None
        verdicts = [bool(s.get("supported")) if isinstance(s, dict) else False for s in statements]
        return sum(verdicts) / len(verdicts)

    def answer_correctness(self, question: str, answer: str, gold: str) -> float | None:
        """Factual F1 of the answer against the gold answer; 0.0 for an empty answer."""
        if not answer.strip():
            return 0.0
        parsed = self._ask(_CORRECTNESS.format(question=question, gold=gold, answer=answer))
        if parsed is None:
            return None
        groups = [_strings(parsed.get(key, [])) for key in ("TP", "FP", "FN")]
        if any(group is None for group in groups):
            return None
        tp, fp, fn = (len(group or []) for group in groups)
        if tp + fp + fn == 0:
            return None
        return tp / (tp + 0.5 * (fp + fn))

    def score(self, gold: GoldItem, answer: Answer) -> dict[str, float | None]:
        """`faithfulness` of any given answer, `answer_correctness` of answerable questions."""
        text = "" if answer.abstained else strip_markers(answer.text).strip()
        question = gold["question"]
        faithfulness = self.faithfulness(question, text, [p.text for p in answer.passages]) if text else None
        correctness = None
        if gold["type"] != "unanswerable":
            correctness = self.answer_correctness(question, text, gold["answer"])
        return {"faithfulness": faithfulness, "answer_correctness": correctness}
