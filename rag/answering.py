"""Answerers turn a question and passages into a draft answer with citations.

Built-ins register exactly like any other answerer; the extractive one is the default:
it quotes the few sentences of the passages that best answer the question and abstains
when the evidence does not cover the question.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.resources
import json
import math
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.asof import article_day, spoken_day
from rag.errors import ConfigError
from rag.relatives import relatives
from rag.spans import (
    answer_kind,
    answer_mention,
    answer_noun,
    is_list_question,
    mid_sentence_names,
    place_names,
    span_candidates,
)
from rag.text import WORD, content_terms, lexical_terms, sentence_spans, words
from rag.types import Citation, Passage, ShortAnswer

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Collection, Hashable, Iterator, Sequence

    from rag.settings import Settings
    from rag.spans import SpanCandidate
    from rag.types import Embedder

__all__ = [
    "ABSTENTION",
    "CAVEAT",
    "AnswerRequest",
    "Answerer",
    "Draft",
    "EvidenceModel",
    "ExtractiveAnswerer",
    "ExtractiveConfig",
    "ScoredSpan",
    "SpanModel",
    "available_answerers",
    "make_answerer",
    "register",
]

ABSTENTION = "The articles don't say."
"""The one sentence the assistant gives when the passages do not contain the answer."""

CAVEAT = "The articles may not answer this exactly; the closest passage is:"
"""Starts an answer whose evidence is in the middle band: shown, but not vouched for."""


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """Everything an answerer may use: the question, the passages and the shared tools."""

    question: str
    passages: Sequence[Passage]
    query_vector: Sequence[float] | None = None
    embedder: Embedder | None = None
    idf: Callable[[str], float] | None = None
    known: Callable[[str], bool] | None = None
    said: str = ""
    """What the conversation already told the user, for a follow-up that asks for more ("What else
    did she say?"): a sentence in it is not quoted again."""


@dataclass(frozen=True, slots=True)
class Draft:
    """An answerer's output before verification: text with `[n]` markers and the citations."""

    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    notes: tuple[str, ...] = ()
    evidence: dict[str, float] = field(default_factory=dict)
    short_answer: ShortAnswer | None = None
    confidence: float | None = None


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


_BUILTIN_MODULES = ("rag.llm",)
"""Modules whose answerers register on import; loaded on first lookup so `import rag` stays light."""


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_answerers() -> list[str]:
    """Registered answerer names, the default first."""
    _load_builtins()
    return list(_REGISTRY)


def make_answerer(name: str, settings: Settings) -> Answerer:
    """The answerer registered as `name`, configured by `settings`."""
    if name not in _REGISTRY:
        _load_builtins()
    if name not in _REGISTRY:
        raise ConfigError(f"RAG_ANSWERER: unknown answerer {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name](settings)


# -- the extractive answerer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtractiveConfig:
    """Weights of the extractive answerer's sentence scores, and how many sentences short answers come from
    (the short answer's own ranking is the span model's, `SpanModel`)."""

    dense_weight: float = 0.6
    lexical_weight: float = 0.4
    context_weight: float = 0.3
    type_weight: float = 0.1
    rank_weight: float = 0.05
    max_sentences: int = 2
    keep_ratio: float = 0.95
    max_list_items: int = 5
    list_keep_ratio: float = 0.6
    list_sentences: int = 15
    span_sentences: int = 8
    clause_distance: float = 2.0


def _logistic(
    weights: Sequence[float], bias: float, names: Sequence[str], evidence: dict[str, float]
) -> float:
    z = bias + sum(w * evidence.get(name, 0.0) for w, name in zip(weights, names, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


EVIDENCE_FEATURES = frozenset(
    [
        "dense",
        "lexical",
        "context",
        "missing",
        "missing_mass",
        "answer_type",
        "keys",
        "keys_anywhere",
        "novelty",
        "focus",
        "dense_peak",
        "lexical_peak",
        "unknown",
        "score",
        "span",
        "span_near",
        "span_support",
        "span_gap",
    ]
)
"""The evidence features an extractive draft reports, which an evidence model may read."""


@dataclass(frozen=True, slots=True)
class EvidenceModel:
    """When to refuse and how confident to be, from the evidence features of an answer.

    Two logistic regressions over the same features, fitted with scikit-learn by
    `python -m eval.calibrate` on the seed, Single-Topic and archive dev sets plus generated hard
    negatives, and shipped as `rag/evidence_model.json`: `answerable` (refuse below
    `refuse_below`) and `confidence`, the calibrated probability that the answer is right
    (answer with a caveat below `caveat_below`).
    """

    features: tuple[str, ...]
    refusal_weights: tuple[float, ...]
    refusal_bias: float
    refuse_below: float
    confidence_weights: tuple[float, ...]
    confidence_bias: float
    caveat_below: float

    @classmethod
    def packaged(cls) -> EvidenceModel:
        """The model shipped with the package."""
        return _packaged_model()

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> EvidenceModel:
        """The model as `eval.calibrate --write` saves it."""
        refusal, confidence = payload["refusal"], payload["confidence"]
        features = tuple(payload["features"])
        unknown = sorted(set(features) - EVIDENCE_FEATURES)
        if unknown or not len(features) == len(refusal["weights"]) == len(confidence["weights"]):
            raise ValueError(
                f"evidence model: features {unknown or features} do not match the answerer's evidence or the "
                "weights; refit it with `python -m eval.calibrate --write`"
            )
        return cls(
            features=tuple(payload["features"]),
            refusal_weights=tuple(refusal["weights"]),
            refusal_bias=float(refusal["bias"]),
            refuse_below=float(refusal["threshold"]),
            confidence_weights=tuple(confidence["weights"]),
            confidence_bias=float(confidence["bias"]),
            caveat_below=float(confidence["caveat_below"]),
        )

    def answerable(self, evidence: dict[str, float]) -> float:
        """Probability that the passages answer the question at all."""
        return _logistic(self.refusal_weights, self.refusal_bias, self.features, evidence)

    def confidence(self, evidence: dict[str, float]) -> float:
        """Probability that the answer is right."""
        return _logistic(self.confidence_weights, self.confidence_bias, self.features, evidence)


@functools.cache
def _packaged_model() -> EvidenceModel:
    text = importlib.resources.files("rag").joinpath("evidence_model.json").read_text(encoding="utf-8")
    return EvidenceModel.from_json(json.loads(text))


_NAMED_KINDS = frozenset(["person", "place", "organisation"])
_OTHER_KIND_FIT = 0.3
"""`rag.spans` gives a span this fit or less when it is plainly of another kind: a place or a
body for "who", a people's word for "where"."""
_MISMATCHED_NUMBER_FIT = 0.5
"""A number's fit at or below this: in another unit than asked, a year, an age (see `span_candidates`)."""

SPAN_FEATURES = (
    "score",
    "fit",
    "near",
    "rare",
    "support",
    "kind",
    "repeats",
    "headline",
    "sentence_rank",
    "age",
)
"""What the short-answer ranker reads of a candidate span:

- `score`: its sentence's relevance less the best sentence's (0 for the best);
- `fit`: how well it is of the asked-for kind (`rag.spans`);
- `near`: how close it stands to the question's words in its sentence (IDF-weighted);
- `rare`: its rarest word's IDF against a never-seen word's;
- `support`: how many other articles' sentences give it (at most 4);
- `kind`: how much it reads as the question's answer noun ("country", "team"), against the others;
- `repeats`: log(1 + how often the best sentences give it);
- `headline`: 1 when a retrieved passage's headline holds it as whole words;
- `sentence_rank`: its sentence's rank among the best sentences, over their number;
- `age`: how many months its article is older than the newest one among the best sentences (at most 3).
"""


@dataclass(frozen=True, slots=True)
class SpanModel:
    """Which candidate span becomes the short answer: a linear ranker over `SPAN_FEATURES`.

    Fitted with scikit-learn (pairwise logistic regression) by `python -m eval.span_ranker` on
    archive gold questions, choosing by leave-one-dataset-out, and shipped as `rag/span_model.json`.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def packaged(cls) -> SpanModel:
        """The model shipped with the package."""
        return _packaged_span_model()

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> SpanModel:
        """The model as `eval.span_ranker --write` saves it."""
        features, weights = tuple(payload["features"]), tuple(float(w) for w in payload["weights"])
        unknown = sorted(set(features) - set(SPAN_FEATURES))
        if unknown or len(features) != len(weights):
            raise ValueError(
                f"span model: features {unknown or features} do not match the answerer's span features or the "
                "weights; refit it with `python -m eval.span_ranker --write`"
            )
        return cls(features, weights)

    def score(self, features: dict[str, float]) -> float:
        """The candidate's rank score: higher is a likelier answer."""
        return sum(w * features.get(name, 0.0) for w, name in zip(self.weights, self.features, strict=True))


@functools.cache
def _packaged_span_model() -> SpanModel:
    text = importlib.resources.files("rag").joinpath("span_model.json").read_text(encoding="utf-8")
    return SpanModel.from_json(json.loads(text))


@dataclass(frozen=True, slots=True)
class ScoredSpan:
    """A short-answer span: `sentence` indexes the candidates; offsets are sentence-relative."""

    sentence: int
    start: int
    end: int
    text: str
    value: float
    fit: float
    near: float
    support: int = 1
    features: dict[str, float] = field(default_factory=dict)
    """Its `SPAN_FEATURES`, which the span model scored."""


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: Passage
    rank: int
    start: int
    end: int
    text: str
    previous: str
    aside: bool = False
    """An aside within a question sentence: no vector of it was stored at ingest, so it is embedded
    when read (its sentence's vector would speak for the question around it)."""


_QUESTION_WORDS = frozenset(
    [
        "what",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "which",
        "why",
        "how",
        "does",
        "did",
        "do",
        "is",
        "are",
        "was",
        "were",
        "can",
        "could",
    ]
)
_NUMBER = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|several|once|twice)\b",
    re.IGNORECASE,
)
_DATE_WORD = re.compile(
    r"\b(?:\d{4}|\d{1,2}(?:st|nd|rd|th)?|january|february|march|april|may|june|july|august|september|october|"
    r"november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|yesterday|today|tomorrow|week|month|year|day|days|ago|since|until|before|after)\b",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(
    r"\b(?:(?:Mr|Mrs|Ms|Dr|Prof|Professor|President|Secretary|Minister|Senator|Governor|Judge|King|Queen|Lord|Lady|Sir)\.?\s+[A-Z][\w’'-]+"
    r"|[A-Z][a-z][\w’'-]*\s+(?:[A-Z]\.\s+)?[A-Z][a-z][\w’'-]*)"
)
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|old|far|big|large|often)\b|\bwhat (?:percentage|percent|rate|number|amount|share|proportion|size)\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(
    r"^\s*when\b|\b(?:what|which) (?:year|date|day|month|time)\b|\bhow long ago\b", re.IGNORECASE
)
_ASKS_REASON = re.compile(
    r"^\s*why\b|\bwhat (?:is|was|are|were) the reasons?\b|\bfor what reason\b", re.IGNORECASE
)
_ASKS_SPEECH = re.compile(
    r"\b(?:what|how) (?:did|does|do|has|have|had) .{1,60}\b(?:say|said|tell|told|claim|argue|note|add|reply|respond|describe|call)\b",
    re.IGNORECASE,
)
_REASON_WORD = re.compile(
    r"\b(?:because|due|since|as|so|therefore|thus|reason|reasons|cause|caused|causes|after|following|given|"
    r"response|respond|order|result|led|lead|leads|owing|thanks|why|allow|allows|allowed|help|helps|aim|aims|"
    r"to|for)\b",
    re.IGNORECASE,
)
_SPEECH_VERBS = (
    r"said|says|say|told|tell|tells|noted|notes|added|adds|stated|states|argued|argues|claimed|claims|"
    r"wrote|writes|asked|asks|replied|replies|called|calls|described|describes|according|warned|warns|believe|"
    r"believes|urged|urges|insisted|insists|alleged|alleges|explained|explains|announced|announces|suggested"
)
"""Words that attribute speech or a view to someone in news English."""
_SPEECH_WORD = re.compile(rf"[“”\"]|\b(?:{_SPEECH_VERBS})\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(
    r"^\s*(?:who|whom|whose)\b|\bwhich (?:person|people|official|minister|expert|scholar|analyst)\b",
    re.IGNORECASE,
)


_FRAMING = frozenset(
    [
        "else",
        "exactly",
        "specifically",
        "actually",
        "particularly",
        "precisely",
        "really",
        "happen",
        "happens",
        "happened",
        "happening",
        "article",
        "articles",
        "story",
        "stories",
        "piece",
        "text",
        "passage",
        "mention",
        "mentions",
        "mentioned",
        "quoted",
        "cited",
    ]
)
"""Words by which a question speaks of the asking or of its source ("What *else* did she say?",
"Which academics are *quoted* in the *article*?"), not of the world: no passage needs to use them."""


def _question_words(question: str) -> list[tuple[str, str]]:
    """The question's content words that are not framing, each with its lexical term."""
    return [
        (word, term)
        for word, term in zip(content_terms(question), lexical_terms(question), strict=True)
        if word not in _FRAMING
    ]


def key_terms(question: str) -> list[str]:
    """Terms an answer must speak to: numbers, names and other capitalised words, as lexical terms."""
    keys: list[str] = []
    tokens = re.findall(r"[\w’'$%.-]+", question)
    for position, token in enumerate(tokens):
        clean = token.strip(".-’'")
        if not clean:
            continue
        if _NUMBER.search(clean) or (
            clean[0].isupper() and (position > 0 or clean.lower() not in _QUESTION_WORDS)
        ):
            keys.extend(t for t in lexical_terms(clean) if t)
    return list(dict.fromkeys(keys))


_FOCUS = re.compile(
    r"\b(?:what (?:kind|type|sort|brand|form|size|amount|number) of|how many|how much|what|which)\s+((?:[\w’'-]+\s+){0,2}?[\w’'-]+)\s+(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|of|in|on|for|to|from|at|by|with)\b",
    re.IGNORECASE,
)
_FOCUS_STOP = frozenset(["kind", "type", "sort", "brand", "is", "are", "was", "were", "the", "a", "an", "of"])


def focus_terms(question: str) -> list[str]:
    """The thing a what/which/how-many question asks for ("how much *health*", "which *model*")."""
    match = _FOCUS.search(question)
    if not match:
        return []
    return [t for t in lexical_terms(match.group(1)) if t not in _FOCUS_STOP]


def expected_type(question: str) -> str | None:
    """The kind of answer a question asks for: `number`, `date`, `person`, `speech`, `reason`, or None."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_PERSON.search(question):
        return "person"
    if _ASKS_SPEECH.search(question):
        return "speech"
    if _ASKS_REASON.search(question):
        return "reason"
    return None


def _has_type(kind: str | None, text: str, question_terms: set[str]) -> float:
    if kind is None:
        return 1.0
    pattern = {
        "number": _NUMBER_WORD,
        "date": _DATE_WORD,
        "person": _NAME_WORD,
        "speech": _SPEECH_WORD,
        "reason": _REASON_WORD,
    }[kind]
    if kind in {"speech", "reason"}:
        return 1.0 if pattern.search(text) else 0.0
    for match in pattern.finditer(text):
        terms = lexical_terms(match.group(0))
        if terms and not set(terms) <= question_terms:
            return 1.0
    return 0.0


class _VectorCache:
    """Embeddings remembered by key (a sentence's place, or a short text), least recent out first."""

    def __init__(self, size: int = 20000) -> None:
        self._items: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def vectors(
        self, embedder: Embedder, keys: Sequence[Hashable], texts: Sequence[str]
    ) -> list[list[float]]:
        with self._lock:
            known = {key: self._items[key] for key in keys if key in self._items}
        missing = [i for i, key in enumerate(keys) if key not in known]
        fresh = embedder.embed_documents([texts[i] for i in missing]) if missing else []
        for i, vector in zip(missing, fresh, strict=True):
            known[keys[i]] = vector
        with self._lock:
            for key in keys:
                self._items[key] = known[key]
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return [known[key] for key in keys]


_CLAUSE_BREAK = re.compile(r"[,;:()“”\"—–]|\s-\s")


def _months_before(day: dt.date | None, newest: dt.date | None) -> float:
    """How many 30-day months `day` is before `newest`; 0 when either is unknown."""
    return 0.0 if day is None or newest is None else max((newest - day).days, 0) / 30


def _positions(text: str, tokens: Sequence[tuple[int, int]], clause_distance: float) -> list[float]:
    """Each token's position, counting a comma, dash, bracket or quote between tokens as
    `clause_distance` more words: "on March 9, before … kicked in on March 10" puts March 10 nearer."""
    positions: list[float] = []
    at = 0.0
    for n, (start, _end) in enumerate(tokens):
        if n:
            at += 1.0 + clause_distance * len(_CLAUSE_BREAK.findall(text, tokens[n - 1][1], start))
        positions.append(at)
    return positions


class ExtractiveAnswerer(Answerer):
    """Quotes the sentences that best answer the question; abstains when the evidence is thin."""

    name = "extractive"

    def __init__(
        self,
        config: ExtractiveConfig | None = None,
        model: EvidenceModel | None = None,
        *,
        refuse: bool = True,
        span_model: SpanModel | None = None,
    ) -> None:
        """`refuse=False` answers every question (the evidence is still reported), as calibration needs."""
        self.config = config or ExtractiveConfig()
        self.model = model
        self.refuse = refuse
        self.span_model = span_model or SpanModel.packaged()
        self._cache = _VectorCache()

    @property
    def evidence_model(self) -> EvidenceModel:
        """The refusal and confidence model: the one given, else the packaged one."""
        return self.model or EvidenceModel.packaged()

    def candidates(self, passages: Sequence[Passage]) -> list[_Sentence]:
        """Each distinct sentence of the passages, with its position in its article."""
        seen: set[tuple[str, int]] = set()
        sentences = []
        for rank, passage in enumerate(passages):
            previous = ""
            for a, b in sentence_spans(passage.text):
                text = passage.text[a:b]
                # A question in the text (a headline, a rhetorical lead) never answers one, but an
                # aside within it states a fact: "Should Beijing crack down – a synthetic opioid
                # whose abuse results in thousands of American deaths a year – …?"
                asked = text.rstrip("”’\"' ").endswith("?")
                parts = (
                    [
                        (a + m.start(m.lastindex or 0), a + m.end(m.lastindex or 0))
                        for m in _ASIDE.finditer(text)
                    ]
                    if asked
                    else [(a, b)]
                )
                for start, end in parts:
                    part, at = passage.text[start:end], passage.start + start
                    if (passage.doc_id, at) not in seen and len(words(part)) >= 3:
                        seen.add((passage.doc_id, at))
                        sentences.append(_Sentence(passage, rank, at, at + len(part), part, previous, asked))
                previous = text
        return sentences

    def features(
        self, request: AnswerRequest, sentences: Sequence[_Sentence]
    ) -> tuple[list[float], list[dict[str, float]]]:
        """A relevance score per sentence and the evidence features behind it."""
        config = self.config
        idf = request.idf or (lambda _term: 1.0)
        asked = _question_words(request.question)
        question_terms = list(dict.fromkeys(term for _, term in asked))
        weights = {t: idf(t) for t in question_terms}
        total = sum(weights.values()) or 1.0
        kind = expected_type(request.question)
        keys = key_terms(request.question)
        focus = focus_terms(request.question)
        passage_terms = {p.chunk_id: set(lexical_terms(p.text)) for p in request.passages}
        everywhere = set().union(*passage_terms.values()) if passage_terms else set()
        # A question word is not missing where the passages use a word WordNet relates to it
        # ("publish" for "issued", "academics" for "Professor").
        everywhere |= {
            term for word, term in asked if term not in everywhere and relatives(word) & everywhere
        }
        missing = max((weights[t] for t in question_terms if t not in everywhere), default=0.0)
        unknown = sum(1 for k in keys if not request.known(k)) / len(keys) if keys and request.known else 0.0
        missing_mass = sum(w for t, w in weights.items() if t not in everywhere) / total
        keys_anywhere = sum(1 for k in keys if k in everywhere) / len(keys) if keys else 1.0
        top_idf = max(weights.values(), default=1.0) or 1.0
        dense = [0.0] * len(sentences)
        if request.query_vector is not None and sentences:
            dense = self._dense(request, sentences, request.query_vector)
        scores, features = [], []
        for i, sentence in enumerate(sentences):
            own = set(lexical_terms(sentence.text))
            around = own | set(lexical_terms(sentence.previous))
            lexical = sum(w for t, w in weights.items() if t in own) / total
            context = sum(w for t, w in weights.items() if t in around) / total
            typed = _has_type(
                kind,
                f"{sentence.previous} {sentence.text}" if kind in {"person", "speech"} else sentence.text,
                set(question_terms),
            )
            key_cover = sum(1 for k in keys if k in around) / len(keys) if keys else 1.0
            focus_cover = sum(1 for f in focus if f in around) / len(focus) if focus else 1.0
            novelty = len(own - set(question_terms)) / len(own) if own else 0.0
            prior = 1.0 / (1.0 + sentence.rank)
            scores.append(
                config.dense_weight * dense[i]
                + config.lexical_weight * lexical
                + config.context_weight * (context - lexical)
                + config.type_weight * typed
                + config.rank_weight * prior
            )
            features.append(
                {
                    "dense": dense[i],
                    "lexical": lexical,
                    "context": context,
                    "missing": missing / top_idf,
                    "answer_type": typed,
                    "keys": key_cover,
                    "novelty": novelty,
                    "focus": focus_cover,
                    "unknown": unknown,
                    "missing_mass": missing_mass,
                    "keys_anywhere": keys_anywhere,
                }
            )
        if features:
            mean_dense = sum(dense) / len(dense)
            mean_lexical = sum(f["lexical"] for f in features) / len(features)
            for i, feature in enumerate(features):
                feature["dense_peak"] = dense[i] - mean_dense
                feature["lexical_peak"] = feature["lexical"] - mean_lexical
        return scores, features

    def _dense(
        self, request: AnswerRequest, sentences: Sequence[_Sentence], query_vector: Sequence[float]
    ) -> list[float]:
        """Cosine of each sentence to the query: stored sentence vectors first, else embedded now."""
        import numpy as np

        vectors: list[Any] = []
        for sentence in sentences:
            stored = sentence.passage.sentence_vectors
            offset = sentence.passage.start
            vectors.append(
                None
                if stored is None or sentence.aside
                else stored.get(sentence.start - offset, sentence.end - offset)
            )
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        if missing:
            if request.embedder is None:
                return [0.0] * len(sentences)
            embedded = self._cache.vectors(
                request.embedder,
                [(sentences[i].passage.chunk_id, sentences[i].start, sentences[i].end) for i in missing],
                [sentences[i].text for i in missing],
            )
            for i, vector in zip(missing, embedded, strict=True):
                vectors[i] = vector
        matrix = np.asarray(vectors, dtype=np.float64)
        return (matrix @ np.asarray(query_vector, dtype=np.float64)).tolist()  # type: ignore[no-any-return]

    def short_answer(
        self, request: AnswerRequest, kind: str, sentences: Sequence[_Sentence], scores: Sequence[float]
    ) -> ScoredSpan | None:
        """The candidate span the span model ranks first, or None when there is none.

        For a person, a place or an organisation, a span plainly of another kind ("Florida" for
        "What is the judge's name?", fit at most `_OTHER_KIND_FIT`) is ranked only when no span
        of the asked-for kind is there to rank."""
        table = self.span_table(request, kind, sentences, scores)
        if kind in _NAMED_KINDS:
            table = [span for span in table if span.fit > _OTHER_KIND_FIT] or table
        elif kind == "number":
            # "$415 million" over the "four" of "four-year" for "How much did it cost?": a number
            # whose unit or use the question rules out (fit halved or less) only when no other is there.
            table = [span for span in table if span.fit > _MISMATCHED_NUMBER_FIT] or table
        return max(table, key=lambda span: span.value) if table else None

    def span_table(
        self, request: AnswerRequest, kind: str, sentences: Sequence[_Sentence], scores: Sequence[float]
    ) -> list[ScoredSpan]:
        """Every distinct span of the asked-for kind in the best sentences, each where it ranks
        best, with its `SPAN_FEATURES` and the span model's score (`value`)."""
        config = self.config
        model = self.span_model
        idf = request.idf or (lambda _term: 1.0)
        question_terms = {term for _, term in _question_words(request.question)}
        weights = {t: idf(t) for t in question_terms}
        total = sum(weights.values()) or 1.0
        order = sorted(range(len(sentences)), key=lambda i: -scores[i])[: config.span_sentences]
        if not order:
            return []
        rare_scale = idf("\x00never a term\x00") or 1.0
        names = mid_sentence_names(p.text for p in request.passages)
        places = place_names(p.text for p in request.passages)
        mention = answer_mention(request.question, kind)
        days = {i: article_day(sentences[i].passage.date) for i in order}
        newest = max((day for day in days.values() if day is not None), default=None)
        best: dict[str, ScoredSpan] = {}
        support: dict[str, set[str]] = {}
        repeats: dict[str, int] = {}
        for rank, i in enumerate(order):
            sentence = sentences[i]
            tokens = [(m.start(), m.end()) for m in WORD.finditer(sentence.text)]
            position = _positions(sentence.text, tokens, config.clause_distance)
            anchors: dict[str, list[float]] = {}
            for n, (a, b) in enumerate(tokens):
                word = sentence.text[a:b]
                # "Shanghai-based" is one BM25 term, and holds "based" for "Where is he based?".
                terms = set(lexical_terms(word))
                if "-" in word:
                    terms.update(lexical_terms(word.replace("-", " ")))
                for term in terms & question_terms:
                    anchors.setdefault(term, []).append(position[n])
            found = [
                (candidate, i, candidate.start, candidate.end)
                for candidate in span_candidates(kind, sentence.text, request.question, names, places)
            ]
            referred = mention.search(sentence.text) if mention else None
            if referred:
                # "The band announced a new tour": the band is named in a sentence just before.
                found += [
                    (candidate, j, referred.start(), referred.end())
                    for candidate, j in _antecedents(kind, sentences, i, request.question, names, places)
                ]
            for candidate, source, here, there in found:
                inside = [position[n] for n, (a, b) in enumerate(tokens) if a < there and b > here]
                near = (
                    sum(
                        weights[term] / (1.0 + min(abs(n - m) for n in places for m in inside))
                        for term, places in anchors.items()
                    )
                    / total
                )
                key = " ".join(lexical_terms(candidate.text))
                features = {
                    "score": scores[i] - scores[order[0]],
                    "fit": candidate.fit,
                    "near": near,
                    "rare": min(max((idf(t) for t in key.split()), default=0.0) / rare_scale, 1.0),
                    "sentence_rank": rank / config.span_sentences,
                    "age": min(_months_before(days[i], newest), 3.0),
                }
                support.setdefault(key, set()).add(sentence.passage.doc_id)
                repeats[key] = repeats.get(key, 0) + 1
                value = model.score(features)
                if key not in best or value > best[key].value:
                    best[key] = ScoredSpan(
                        source,
                        candidate.start,
                        candidate.end,
                        candidate.text,
                        value,
                        candidate.fit,
                        near,
                        features=features,
                    )
        kinds = self._kind_similarity(request, kind, [span.text for span in best.values()])
        # A headline tells one story from another; over a single article it names the article's
        # subject ("Beijing" for where the cartels traffic fentanyl from), not the answer.
        titles = (
            {p.title for p in request.passages} if len({p.doc_id for p in request.passages}) > 1 else set()
        )
        table = []
        for key, span in best.items():
            said = re.compile(rf"(?<!\w){re.escape(span.text)}(?!\w)")
            features = span.features | {
                "support": min(len(support[key]) - 1, 4),
                "kind": kinds.get(span.text, 0.0),
                "repeats": math.log1p(repeats[key]),
                "headline": float(any(said.search(title) for title in titles)),
            }
            table.append(
                dataclasses.replace(
                    span, value=model.score(features), support=len(support[key]), features=features
                )
            )
        return _fold_short_forms(table, names)

    def _kind_similarity(self, request: AnswerRequest, kind: str, texts: Sequence[str]) -> dict[str, float]:
        """How much each span reads as the asked-for thing ("United Kingdom" as a *country*, not
        "Boris Johnson"): the cosine of its vector with the question's answer noun's, less the mean."""
        noun = answer_noun(request.question, kind)
        if noun is None or request.embedder is None or len(texts) < 2:
            return {}
        import numpy as np

        unique = list(dict.fromkeys([noun, *texts]))
        matrix = np.asarray(self._cache.vectors(request.embedder, unique, unique), dtype=np.float64)
        similarity = matrix[1:] @ matrix[0]
        similarity -= similarity.mean()
        return dict(zip(unique[1:], similarity.tolist(), strict=True))

    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        """Yields the answer sentence by sentence, then the draft."""
        sentences = [
            s for s in self.candidates(request.passages) if not (request.said and s.text in request.said)
        ]
        scores, features = self.features(request, sentences)
        if not sentences:
            yield ABSTENTION
            yield Draft(ABSTENTION, abstained=True, evidence={"answerable": 0.0}, confidence=0.0)
            return
        order = sorted(range(len(sentences)), key=lambda i: -scores[i])
        kind = answer_kind(request.question)
        listing = is_list_question(request.question)
        span = None if kind is None or listing else self.short_answer(request, kind, sentences, scores)
        top = order[0] if span is None else span.sentence
        # Whether the passages answer at all is read from the best sentence, whichever span won.
        evidence = dict(features[order[0]]) | {
            "score": scores[order[0]],
            "span": 0.0 if span is None else span.fit,
            "span_near": 0.0 if span is None else span.near,
            "span_support": 0.0 if span is None else min(span.support, 5) / 5,
            # A phrase after the question's words is often paraphrased: its absence says nothing.
            "span_gap": 0.0
            if kind in {None, "phrase"} or listing or (span is not None and span.fit >= 0.5)
            else 1.0,
        }
        model = self.evidence_model if self.refuse else self.model
        answerable = 1.0 if model is None else model.answerable(evidence)
        confidence = None if model is None else model.confidence(evidence)
        evidence["answerable"] = answerable
        if self.refuse and answerable < self.evidence_model.refuse_below:
            yield ABSTENTION
            yield Draft(ABSTENTION, abstained=True, evidence=evidence, confidence=confidence)
            return
        labels: dict[int, str] = {}
        if listing and kind not in {None, "phrase"}:
            names = mid_sentence_names(p.text for p in request.passages)
            places = place_names(p.text for p in request.passages)
            labels = self._items(request.question, kind, order, scores, sentences, names, places)
            if kind == "person" and _ASKS_QUOTED.search(request.question):
                # "Which academics are quoted?": a person named but not quoted is no item.
                texts = [p.text for p in request.passages]
                labels = {i: name for i, name in labels.items() if _quoted(name, texts)}
            chosen = list(labels) or [top]
        else:
            chosen = [top, *self._more(order, scores, sentences, top, listing)]
        if not listing:
            chosen = [
                chosen[0],
                *sorted(chosen[1:], key=lambda i: (sentences[i].passage.doc_id, sentences[i].start)),
            ]
            if span is not None and kind is not None:
                chosen, span = self._newest_first(request, kind, chosen, span, sentences, scores)
        dated = {i: sentences[i].passage.date[:10] for i in chosen}
        lead = dated[chosen[0]]
        # Quotes from articles older than the first one's are named with their dates.
        older = {i: day for i, day in dated.items() if lead and day and day < lead}
        citations, pieces = [], []
        if model is not None and confidence is not None and confidence < model.caveat_below:
            pieces.append(CAVEAT)
        if span is not None:
            pieces.append(f"{span.text} —")
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
            label = f"{labels[i]} — " if i in labels else ""
            if i in older:
                label += f"Earlier ({spoken_day(older[i])}): "
            pieces.append(f"{label}{sentence.text} [{n}]")
        for n, piece in enumerate(pieces):
            yield piece if n == 0 else " " + piece
        short = None
        if span is not None:
            sentence = sentences[span.sentence]
            short = ShortAnswer(
                span.text, sentence.passage.doc_id, sentence.start + span.start, sentence.start + span.end
            )
        yield Draft(
            " ".join(pieces),
            tuple(citations),
            evidence=evidence,
            short_answer=short,
            confidence=confidence,
        )

    def _newest_first(
        self,
        request: AnswerRequest,
        kind: str,
        chosen: list[int],
        span: ScoredSpan,
        sentences: Sequence[_Sentence],
        scores: Sequence[float],
    ) -> tuple[list[int], ScoredSpan]:
        """When a quote from a newer article than the first one's gives another figure for the same
        thing ("310 homes" after "40 homes": a figure that changed), it goes first and its figure
        becomes the short answer. A number counting something else ("12 families") changes nothing."""
        first = sentences[chosen[0]].passage.date[:10]
        newest = max(chosen, key=lambda i: sentences[i].passage.date[:10])
        if kind != "number" or not first or sentences[newest].passage.date[:10] <= first:
            return chosen, span
        found = self.short_answer(request, kind, [sentences[newest]], [scores[newest]])
        if found is None or lexical_terms(found.text) == lexical_terms(span.text):
            return chosen, span
        if _counted(sentences[newest].text, found.end) != _counted(sentences[span.sentence].text, span.end):
            return chosen, span
        return [newest, *(i for i in chosen if i != newest)], dataclasses.replace(found, sentence=newest)

    def _more(
        self,
        order: Sequence[int],
        scores: Sequence[float],
        sentences: Sequence[_Sentence],
        top: int,
        listing: bool,
    ) -> list[int]:
        """Sentences to quote after the first: close seconds, or for a list several good ones."""
        config = self.config
        limit = config.max_list_items if listing else config.max_sentences
        ratio = config.list_keep_ratio if listing else config.keep_ratio
        best = scores[order[0]]
        more: list[int] = []
        seen = {sentences[top].text}
        for i in order[: limit * 3]:
            if len(more) + 1 >= limit:
                break
            if i == top or scores[i] < ratio * best or sentences[i].text in seen:
                continue
            seen.add(sentences[i].text)
            more.append(i)
        return more

    def _items(
        self,
        question: str,
        kind: str,
        order: Sequence[int],
        scores: Sequence[float],
        sentences: Sequence[_Sentence],
        names: Collection[str],
        places: Collection[str],
    ) -> dict[int, str]:
        """For "Which academics are quoted…": the best sentences that each name a new item of the
        asked-for kind, mapped to that item, in the order of their scores."""
        config = self.config
        best = scores[order[0]]
        items: dict[int, str] = {}
        seen: set[str] = set()
        for i in order[: config.list_sentences]:
            if len(items) >= config.max_list_items or scores[i] < config.list_keep_ratio * best:
                break
            candidates = [
                c
                for c in span_candidates(kind, sentences[i].text, question, names, places)
                if c.fit >= 0.8 and c.introduced
            ]
            fresh = [c for c in candidates if " ".join(lexical_terms(c.text)) not in seen]
            if not fresh:
                continue
            item = max(fresh, key=lambda c: c.fit)
            seen.add(" ".join(lexical_terms(item.text)))
            items[i] = item.text
        return items


_ASKS_QUOTED = re.compile(r"\b(?:quoted|cited|interviewed)\b", re.IGNORECASE)
_QUOTING = rf"(?:{_SPEECH_VERBS}|sees|thinks)"
"""How news attributes a quote or a view to a person ("Chong … sees the White Paper as …")."""


def _quoted(name: str, texts: Sequence[str]) -> bool:
    """Whether a passage quotes the person (by name or surname): "Zhu … said", "said Prof Zhu",
    "according to Zhu"; a name only mentioned ("a phone call with Xi Jinping") is not quoted."""
    surname = re.escape(name.split()[-1])
    quoted = re.compile(
        rf"\b{surname}\b[^.!?]{{0,150}}?\b{_QUOTING}\b|\b{_QUOTING}\s+(?:\w+\.?\s+){{0,3}}{surname}\b"
    )
    return any(quoted.search(text) for text in texts)


def _fold_short_forms(table: list[ScoredSpan], names: Collection[str]) -> list[ScoredSpan]:
    """A name's later short form ("the Braves", "Lutnick") is one candidate with its full form
    ("Atlanta Braves", "Howard Lutnick") when exactly one other candidate is it after one to three
    words that the passages capitalise mid-sentence (not "Embattled CNN", nor "NFL's"): the full
    form is the answer, where it is said, ranked as the better of the two."""
    fuller: dict[str, list[int]] = {}
    for n, span in enumerate(table):
        parts = span.text.split(" ")
        for cut in range(1, min(len(parts), 4)):
            if all(part in names and not _NOT_A_NAME_WORD.search(part) for part in parts[:cut]):
                fuller.setdefault(" ".join(parts[cut:]), []).append(n)
    folded = dict(enumerate(table))
    for n, span in enumerate(table):
        longer = fuller.get(span.text, [])
        if not span.text[:1].isupper() or len(longer) != 1 or longer[0] not in folded:
            continue
        whole = folded[longer[0]]
        if span.value > whole.value:
            folded[longer[0]] = dataclasses.replace(
                span, sentence=whole.sentence, start=whole.start, end=whole.end, text=whole.text
            )
        del folded[n]
    return list(folded.values())


_NOT_A_NAME_WORD = re.compile(r"\d|['’]s$|^[^\w]|\W$")
"""A number, a possessive or punctuation at either end: "4", "NFL's", "(Reuters)"."""


_ANTECEDENT_SENTENCES = 2
_ASIDE = re.compile(r"(?<=[a-z0-9,”’)])\s[–—]\s([^–—?]+?)(?=\s[–—]\s)|\(([^()?]+)\)")
"""An aside between dashes (not a dateline's: "BEIJING – Should…") or in brackets."""


def _antecedents(
    kind: str,
    sentences: Sequence[_Sentence],
    i: int,
    question: str,
    names: Collection[str],
    places: Collection[str],
) -> list[tuple[SpanCandidate, int]]:
    """What "the band" of sentence `i` refers to: the first candidate of the asked-for kind in the
    nearest of the two sentences before it in its passage that has one (a subject is named first:
    "Blink-182 is reuniting with Tom DeLonge. The band …"), with that sentence's index."""
    sentence = sentences[i]
    for j in range(i - 1, max(i - 1 - _ANTECEDENT_SENTENCES, -1), -1):
        earlier = sentences[j]
        if earlier.passage.chunk_id != sentence.passage.chunk_id or earlier.start >= sentence.start:
            break
        candidates = span_candidates(kind, earlier.text, question, names, places)
        if candidates:
            first = min(candidate.start for candidate in candidates)
            return [(candidate, j) for candidate in candidates if candidate.start == first]
    return []


@register("extractive")
def _extractive(settings: Settings) -> Answerer:
    return ExtractiveAnswerer()


def _counted(sentence: str, end: int) -> tuple[str, ...]:
    """What a number ending at `end` counts: the analysed first word after it ("homes" → "home")."""
    after = WORD.search(sentence, end)
    return tuple(lexical_terms(after.group(0))) if after else ()
