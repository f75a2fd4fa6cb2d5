"""Turn a follow-up question into a standalone query, deterministically (no LLM)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rag.citations import strip_markers
from rag.text import content_terms, sentence_spans

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Turn", "condense", "normalise_history"]

Turn = tuple[str, str]
"""One exchange: (user question, assistant answer)."""

_PERSON_PRONOUNS = {"he": "", "she": "", "him": "", "his": "'s", "her": "'s", "hers": "'s"}
_OTHER_REFERENCES = re.compile(
    r"\b(they|them|their|it|its|this|that|these|those|there|then|the same|such)\b", re.IGNORECASE
)
_ELLIPTIC_START = re.compile(
    r"^\s*(and|but|also|so|what about|how about|anything else|what else)\b",
    re.IGNORECASE,
)
_TITLES = r"(?:Mr|Mrs|Ms|Dr|Prof|Professor|President|Secretary|Minister|spokes(?:wo)?man|Associate Professor)"
_NAME = re.compile(rf"(?:{_TITLES}\.?\s+)?[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|al|bin|van|von|de))*")
_SENTENCE_STARTERS = frozenset(
    [
        "what",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "which",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "the",
        "a",
        "an",
        "in",
        "on",
        "at",
        "it",
        "its",
        "he",
        "she",
        "they",
        "this",
        "that",
        "these",
        "those",
        "if",
        "but",
        "and",
        "so",
        "as",
        "for",
    ]
)


def normalise_history(history: Sequence[Any]) -> list[Turn]:
    """Accepts (question, answer) pairs, `{"role", "content"}` dicts or LangChain messages."""
    turns: list[Turn] = []
    pending: str | None = None
    for item in history:
        if isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            turns.append((item[0], item[1]))
            continue
        role = item.get("role") if isinstance(item, dict) else getattr(item, "type", None)
        content = item.get("content") if isinstance(item, dict) else getattr(item, "content", "")
        text = content if isinstance(content, str) else str(content)
        if role in {"user", "human"}:
            if pending is not None:
                turns.append((pending, ""))
            pending = text
        elif role in {"assistant", "ai"} and pending is not None:
            turns.append((pending, text))
            pending = None
    if pending is not None:
        turns.append((pending, ""))
    return turns


def _names(text: str) -> list[str]:
    names = []
    for match in _NAME.finditer(text):
        name = match.group(0).strip()
        words = name.split()
        while words and words[0].lower() in _SENTENCE_STARTERS:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def _person(text: str) -> str | None:
    names = _names(text)
    titled = [n for n in names if re.match(_TITLES, n)]
    multi = [n for n in names if len(n.split()) >= 2]
    for group in (titled, multi):
        if group:
            return group[0]
    return None


def _is_follow_up(question: str) -> bool:
    words = re.findall(r"[\w’']+", question.lower())
    if any(w in _PERSON_PRONOUNS for w in words) or _OTHER_REFERENCES.search(question):
        return True
    if _ELLIPTIC_START.match(question):
        return True
    return len(content_terms(question)) <= 1


def condense(question: str, history: Sequence[Turn]) -> str:
    """The question rewritten to stand alone, or unchanged when it already does."""
    if not history or not _is_follow_up(question):
        return question
    previous_question, previous_answer = history[-1]
    person = _person(previous_question) or _person(previous_answer)
    rewritten = question
    if person:

        def swap(match: re.Match[str]) -> str:
            return person + _PERSON_PRONOUNS[match.group(0).lower()]

        rewritten = re.sub(r"\b(he|she|him|his|her|hers)\b", swap, rewritten, flags=re.IGNORECASE)
    if rewritten == question or _OTHER_REFERENCES.search(question) or _ELLIPTIC_START.match(question):
        # The answer's first sentence names what "they" or "it" stands for; later sentences may
        # already hold the follow-up's answer and would then outweigh the question in the query.
        answer = strip_markers(previous_answer)
        spans = sentence_spans(answer)
        answer_words = (answer[: spans[0][1]] if spans else answer).split()[:30]
        context = "; ".join(
            part for part in (previous_question.strip().rstrip("?"), " ".join(answer_words)) if part
        )
        rewritten = f"{rewritten.rstrip()} (context: {context})"
    return rewritten
