"""Answerers turn a question and passages into a draft answer with citations.

Built-ins register exactly like any other answerer; the extractive one is the default:
it quotes the few sentences of the passages that best answer the question and abstains
when the evidence does not cover the question.
"""

from __future__ import annotations

import math
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.text import lexical_terms, sentence_spans, words
from rag.types import Citation, Passage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from rag.settings import Settings
    from rag.store import Embedder

__all__ = [
    "ABSTENTION",
    "AnswerRequest",
    "Answerer",
    "Draft",
    "ExtractiveAnswerer",
    "available_answerers",
    "make_answerer",
    "register",
]

ABSTENTION = "The articles don't say."
"""The one sentence the assistant gives when the passages do not contain the answer."""


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """Everything an answerer may use: the question, the passages and the shared tools."""

    question: str
    passages: Sequence[Passage]
    query_vector: Sequence[float] | None = None
    embedder: Embedder | None = None
    idf: Callable[[str], float] | None = None
    known: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """An answerer's output before verification: text with `[n]` markers and the citations."""

    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    notes: tuple[str, ...] = ()
    evidence: dict[str, float] = field(default_factory=dict)


class Answerer(ABC):
    """Writes a draft answer from passages; `stream` yields text pieces, then the `Draft`."""

    name: str = ""

    @abstractmethod
    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        """Text as it is produced, then exactly one final `Draft`."""

    def answer(self, request: AnswerRequest) -> Draft:
        """The final draft, without the streaming."""
        for piece in self.stream(request):
            if isinstance(piece, Draft):
                return piece
        raise RuntimeError(f"answerer {self.name!r} produced no draft")


_REGISTRY: dict[str, Callable[[Settings], Answerer]] = {}


def register(name: str) -> Callable[[Callable[[Settings], Answerer]], Callable[[Settings], Answerer]]:
    """Registers an answerer factory under `name` (built-ins use this too)."""

    def wrap(factory: Callable[[Settings], Answerer]) -> Callable[[Settings], Answerer]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available_answerers() -> list[str]:
    """Registered answerer names, the default first."""
    return list(_REGISTRY)


def make_answerer(name: str, settings: Settings) -> Answerer:
    """The answerer registered as `name`, configured by `settings`."""
    if name not in _REGISTRY:
        raise ConfigError(f"RAG_ANSWERER: unknown answerer {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name](settings)


# -- the extractive answerer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtractiveConfig:
    """Weights and thresholds of the extractive answerer (calibrated with `eval/calibrate.py`)."""

    dense_weight: float = 0.6
    lexical_weight: float = 0.4
    rank_weight: float = 0.05
    max_sentences: int = 3
    keep_ratio: float = 0.92
    min_score: float = 0.30
    min_key_coverage: float = 0.5


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: Passage
    rank: int
    start: int
    end: int
    text: str


_QUESTION_WORDS = frozenset("what when where who whom whose which why how does did do is are was were can could".split())
_NUMBER = re.compile(r"\d")


def key_terms(question: str) -> list[str]:
    """Terms an answer must speak to: numbers, names and other capitalised words, as lexical terms."""
    keys: list[str] = []
    tokens = re.findall(r"[\w’'$%.-]+", question)
    for position, token in enumerate(tokens):
        clean = token.strip(".-’'")
        if not clean:
            continue
        if _NUMBER.search(clean) or (clean[0].isupper() and (position > 0 or clean.lower() not in _QUESTION_WORDS)):
            keys.extend(t for t in lexical_terms(clean) if t)
    return list(dict.fromkeys(keys))


class _VectorCache:
    def __init__(self, size: int = 20000) -> None:
        self._items: OrderedDict[tuple[str, int, int], list[float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def vectors(self, embedder: Embedder, sentences: Sequence[_Sentence]) -> list[list[float]]:
        keys = [(s.passage.chunk_id, s.start, s.end) for s in sentences]
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._items]
        fresh = embedder.embed_documents([sentences[i].text for i in missing]) if missing else []
        with self._lock:
            for i, vector in zip(missing, fresh, strict=True):
                self._items[keys[i]] = vector
            result = []
            for key in keys:
                result.append(self._items[key])
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result


class ExtractiveAnswerer(Answerer):
    """Quotes the sentences that best answer the question; abstains when the evidence is thin."""

    name = "extractive"

    def __init__(self, config: ExtractiveConfig | None = None) -> None:
        self.config = config or ExtractiveConfig()
        self._cache = _VectorCache()

    def candidates(self, passages: Sequence[Passage]) -> list[_Sentence]:
        """Each distinct sentence of the passages, with its position in its article."""
        seen: set[tuple[str, int]] = set()
        sentences = []
        for rank, passage in enumerate(passages):
            for a, b in sentence_spans(passage.text):
                start, end = passage.start + a, passage.start + b
                if (passage.doc_id, start) in seen or len(words(passage.text[a:b])) < 3:
                    continue
                seen.add((passage.doc_id, start))
                sentences.append(_Sentence(passage, rank, start, end, passage.text[a:b]))
        return sentences

    def score(self, request: AnswerRequest, sentences: Sequence[_Sentence]) -> tuple[list[float], dict[str, float]]:
        """A relevance score per sentence, and the evidence features of the best one."""
        config = self.config
        idf = request.idf or (lambda _term: 1.0)
        question_terms = list(dict.fromkeys(lexical_terms(request.question)))
        weights = {t: idf(t) for t in question_terms}
        total = sum(weights.values()) or 1.0
        dense = [0.0] * len(sentences)
        if request.embedder is not None and request.query_vector is not None and sentences:
            query = request.query_vector
            for i, vector in enumerate(self._cache.vectors(request.embedder, sentences)):
                dense[i] = sum(a * b for a, b in zip(query, vector, strict=True))
        scores = []
        for i, sentence in enumerate(sentences):
            terms = set(lexical_terms(sentence.text))
            lexical = sum(w for t, w in weights.items() if t in terms) / total
            prior = 1.0 / (1.0 + sentence.rank)
            scores.append(config.dense_weight * dense[i] + config.lexical_weight * lexical + config.rank_weight * prior)
        evidence: dict[str, float] = {}
        if scores:
            best = max(range(len(scores)), key=scores.__getitem__)
            evidence = {"score": scores[best], "dense": dense[best]}
        return scores, evidence

    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        """Yields the answer sentence by sentence, then the draft."""
        config = self.config
        sentences = self.candidates(request.passages)
        scores, evidence = self.score(request, sentences)
        if not sentences:
            yield ABSTENTION
            yield Draft(ABSTENTION, abstained=True, evidence={"score": 0.0})
            return
        order = sorted(range(len(sentences)), key=lambda i: -scores[i])
        best = scores[order[0]]
        chosen = [order[0]]
        for i in order[1 : config.max_sentences * 3]:
            if len(chosen) >= config.max_sentences:
                break
            if scores[i] >= config.keep_ratio * best:
                chosen.append(i)
        keys = key_terms(request.question)
        covered_text = set(lexical_terms(" ".join(sentences[i].text for i in chosen)))
        key_coverage = sum(1 for k in keys if k in covered_text) / len(keys) if keys else 1.0
        evidence |= {"key_coverage": key_coverage, "keys": float(len(keys))}
        if best < config.min_score or key_coverage < config.min_key_coverage:
            yield ABSTENTION
            yield Draft(ABSTENTION, abstained=True, evidence=evidence)
            return
        chosen.sort(key=lambda i: (sentences[i].passage.doc_id, sentences[i].start))
        citations, pieces = [], []
        for n, i in enumerate(chosen, start=1):
            sentence = sentences[i]
            passage = sentence.passage
            citations.append(
                Citation(
                    n=n,
                    doc_id=passage.doc_id,
                    title=passage.title,
                    source=passage.source,
                    chunk_id=passage.chunk_id,
                    start=sentence.start,
                    end=sentence.end,
                    quote=sentence.text,
                )
            )
            piece = f"{sentence.text} [{n}]"
            pieces.append(piece)
            yield piece if n == 1 else " " + piece
        yield Draft(" ".join(pieces), tuple(citations), evidence=evidence)


@register("extractive")
def _extractive(settings: Settings) -> Answerer:
    return ExtractiveAnswerer()


def _unused(*_: Any) -> float:
    return math.nan
