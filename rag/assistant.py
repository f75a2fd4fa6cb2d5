"""The library entry point: `Assistant` asks, streams, and exposes the retriever and the chain."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig

from rag import about
from rag.answering import ABSTENTION, AnswerRequest, Draft, make_answerer
from rag.asof import TimeScope, parse_day, resolve, spoken_day
from rag.citations import renumber, strip_markers, verify
from rag.errors import BackendUnavailableError, NoIndexError, RagError
from rag.followup import asks_for_more, condense, normalise_history
from rag.spans import is_list_question
from rag.text import lexical_terms, words
from rag.types import Answer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Sequence

    from rag.answering import Answerer
    from rag.index import Index
    from rag.retriever import ArticleFilter, HybridRetriever
    from rag.settings import Settings
    from rag.types import Citation, DocRecord, Embedder, Passage, ShortAnswer

__all__ = ["AnswerChain", "Assistant", "QuestionError"]


def _scoped(article_filter: ArticleFilter | None, scope: TimeScope) -> ArticleFilter:
    """`article_filter` narrowed to the articles published in the scope's window, up to its day."""
    from rag.retriever import ArticleFilter

    return dataclasses.replace(
        article_filter or ArticleFilter(),
        published_since=scope.since.isoformat() if scope.since else None,
        published_by=scope.as_of.isoformat(),
    )


def _before(article_filter: ArticleFilter | None, since: dt.date) -> ArticleFilter:
    """`article_filter` narrowed to the dated articles published before `since` (the window's
    articles and the undated ones were searched with the window)."""
    from rag.retriever import ArticleFilter

    chosen = article_filter or ArticleFilter()
    last = (since - dt.timedelta(days=1)).isoformat()
    return dataclasses.replace(chosen, date_to=min(chosen.date_to or last, last))


class QuestionError(RagError, ValueError):
    """The question cannot be asked as given (empty, too long)."""


_PARTICLES = frozenset(["up", "down", "out", "off", "in", "over", "back", "away"])


def _closed_compounds(text: str) -> set[str]:
    """A phrasal verb's noun, as lexical terms: "crack down" → "crackdown", "sets up" → "setup"
    (a headline's verb is often a question's noun)."""
    found = set()
    tokens = words(text)
    for word, particle in itertools.pairwise(tokens):
        if particle in _PARTICLES and (stem := lexical_terms(word)):
            found.update(lexical_terms(stem[0] + particle))
    return found


def _clean_question(question: str, limit: int) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("the question is empty")
    if len(cleaned) > limit:
        raise QuestionError(
            f"the question has {len(cleaned)} characters; the limit is {limit} (RAG_MAX_QUESTION_CHARS)"
        )
    return cleaned


def _supported(short: ShortAnswer, citations: Sequence[Citation], article_text: Callable[[str], str]) -> bool:
    """Whether the short answer is the article's text at its offsets, inside a verified quote."""
    try:
        text = article_text(short.doc_id)
    except KeyError:
        return False
    return (
        bool(short.text.strip())
        and text[short.start : short.end] == short.text
        and any(c.doc_id == short.doc_id and c.start <= short.start and short.end <= c.end for c in citations)
    )


class Assistant:
    """Answers questions about the indexed articles with verified citations.

    Collaborators default from `settings`; pass real alternatives to compose or test.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        index: Index | None = None,
        retriever: HybridRetriever | None = None,
        answerer: Answerer | None = None,
    ) -> None:
        from rag.settings import load_settings

        self.settings = settings or load_settings()
        self._embedder = embedder
        self._index = index
        self._retriever = retriever
        self._answerers: dict[str, Answerer] = {}
        if answerer is not None:
            self._answerers[self.settings.answerer] = answerer

    # -- collaborators ----------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedding model."""
        if self._embedder is None:
            from rag.embeddings import embedder_from_settings

            self._embedder = embedder_from_settings(self.settings)
        return self._embedder

    @property
    def index(self) -> Index:
        """The article index (Chroma and BM25)."""
        if self._index is None:
            from rag.index import Index

            self._index = Index(self.settings, self.embedder)
        return self._index

    @property
    def retriever(self) -> HybridRetriever:
        """The hybrid retriever, a LangChain `BaseRetriever`."""
        if self._retriever is None:
            from rag.retriever import HybridRetriever

            self._retriever = HybridRetriever.from_settings(self.settings, self.index)
        return self._retriever

    def answerer(self, name: str | None = None) -> Answerer:
        """The answerer called `name` (default: the `answerer` setting)."""
        name = name or self.settings.answerer
        if name not in self._answerers:
            self._answerers[name] = make_answerer(name, self.settings)
        return self._answerers[name]

    @cached_property
    def chain(self) -> AnswerChain:
        """The whole pipeline as a LangChain Runnable (`invoke`, `stream`, `batch`, async)."""
        return AnswerChain(assistant=self)

    # -- articles ---------------------------------------------------------------------------

    def articles(self) -> list[DocRecord]:
        """Indexed articles, by title."""
        if not self.index.exists():
            return []
        return sorted(self.index.records().values(), key=lambda r: (r.title.casefold(), r.doc_id))

    def delete_article(self, doc_id: str) -> None:
        """Removes an article and its chunks from the index."""
        with self.index.writer() as writer:
            writer.delete(doc_id)

    # -- asking -----------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Sequence[Any] = (),
        *,
        k: int | None = None,
        article_filter: ArticleFilter | None = None,
        answerer: str | None = None,
        as_of: dt.date | str | None = None,
    ) -> Answer:
        """Answers `question` (a follow-up to `history`, if given) with verified citations, as of
        the day `as_of` (default today; see `stream`)."""
        answer: Answer | None = None
        for piece in self.stream(
            question, history, k=k, article_filter=article_filter, answerer=answerer, as_of=as_of
        ):
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Any] = (),
        *,
        k: int | None = None,
        article_filter: ArticleFilter | None = None,
        answerer: str | None = None,
        as_of: dt.date | str | None = None,
    ) -> Iterator[str | Answer]:
        """Yields answer text as it is produced, then the final `Answer`.

        The question is answered as of the day `as_of` (YYYY-MM-DD or a date; default today):
        articles published after it are not used, and its time words ("this week", "yesterday",
        "last month") limit the articles to a window of publication dates before it (undated
        articles are kept). A refusal within a window names it, and the closest match published
        before it.

        Without `as_of`, "today" is only a guess at when the question is meant: when the index's
        newest article is older than the window today's time words set (an archive that ended
        before it), every article up to today is searched instead, and the answer says that none
        is from the window and when the newest is from.
        """
        started = time.perf_counter()
        question = _clean_question(question, self.settings.max_question_chars)
        day = parse_day(as_of)
        chosen = self.answerer(answerer)
        turns = normalise_history(history)
        rewritten = self.rewrite(question, turns, chosen)
        scope = resolve(rewritten, day) if self.settings.time_words else TimeScope(day, query=rewritten)
        window, ended = scope, "" if as_of not in (None, "") else self._ended_before(scope)
        if ended:
            scope = TimeScope(day, query=scope.query)
        query = scope.query
        self.index.check_embedder()  # before embedding: the embedder may take on the index's identity
        query_vector = self.embedder.embed_query(query)
        scoped = _scoped(article_filter, scope)
        if k is None and is_list_question(query):
            k = max(self.settings.top_k, self.settings.list_top_k)
        passages = self.retriever.search(query, k=k, article_filter=scoped, query_vector=query_vector)
        shown = rewritten if scope.since is None else f"{rewritten} [{scope.describe()}]"
        if ended:
            shown = (
                f"{rewritten} [no article published {window.since} to {day} ({window.phrase});"
                f" the newest is from {ended}]"
            )
        retrieved = time.perf_counter()
        if not passages and not self.index.records():
            # Every article deleted: an empty index is no answer that "the articles don't say".
            raise NoIndexError(
                f"no articles are indexed yet in {self.settings.store_location}; `rag ingest PATH` adds some"
            )
        if (
            not passages
            and article_filter is not None
            and article_filter.allowed(self.index.records()) == set()
        ):
            # A filter no article passes (a mistyped id) must not read as "the articles don't say".
            said = f"{ABSTENTION} No article matches the filter ({article_filter.describe()})."
            refused = Draft(said, abstained=True)
            answer = self._finish(question, shown, [], refused, chosen.name, [], started, retrieved)
            yield said
            yield dataclasses.replace(answer, text=said, as_of=day.isoformat())
            return
        asked = about.about_article(question)  # as the user said it: the rewrite adds earlier topics
        if asked is not None and not asked.named and turns and about.about_article(turns[-1][0]) is None:
            asked = None  # "What is it about?" after a question about the news asks about its subject
        found = None if asked is None else self._about(asked, turns, passages, scoped)
        if found is not None:
            # The article's byline, headline or lead answers it, whichever answerer was chosen.
            answered, cited = found
            answer = self._finish(question, shown, cited, answered, "extractive", [], started, retrieved)
            if answered.abstained:  # its own words: "the articles don't say" is not what is meant
                answer = dataclasses.replace(answer, text=answered.text)
            yield answer.text
            yield dataclasses.replace(answer, as_of=day.isoformat())
            return
        request = AnswerRequest(
            question=query,
            passages=passages,
            query_vector=query_vector,
            embedder=self.embedder,
            idf=self.index.idf,
            known=self.index.knows,
            # "What else …?": what the last few answers quoted is not quoted again.
            said=" ".join(strip_markers(answer) for _, answer in turns[-3:])
            if asks_for_more(question)
            else "",
        )
        notes: list[str] = []
        # Within a window the text is held back: a refusal there may become an earlier article's answer.
        windowed = scope.since is not None and not ended
        draft: Draft | None = None
        try:
            for piece in chosen.stream(request):
                if isinstance(piece, Draft):
                    draft = piece
                elif not windowed:
                    yield piece
        except BackendUnavailableError as exc:
            chosen, draft = self._extractively(exc, chosen, request, notes)
            if not windowed:
                yield draft.text
        assert draft is not None
        answer = self._finish(question, shown, passages, draft, chosen.name, notes, started, retrieved)
        if ended:
            said = (
                f" No article is from {spoken_day(window.since or day)} to {spoken_day(day)} ({window.phrase});"
                f" the newest is from {spoken_day(ended)}, so older articles were searched."
            )
            yield said
            answer = dataclasses.replace(
                answer,
                text=answer.text + said,
                notes=(*answer.notes, f"the index ends before the window: {window.describe()}"),
            )
        elif windowed:
            if answer.abstained:
                answer = self._before_window(
                    answer, scope, request, article_filter, k, chosen, notes, started
                )
            yield answer.text
        yield dataclasses.replace(answer, as_of=day.isoformat())

    def _about(
        self,
        asked: about.AboutQuestion,
        turns: Sequence[tuple[str, str]],
        passages: Sequence[Passage],
        scoped: ArticleFilter,
    ) -> tuple[Draft, list[Passage]] | None:
        """The answer to a question about the article itself (`rag.about`), with the passages it
        shows. The article is the one its subject picks ("the story about …", or the one an earlier
        question of the conversation named), else the one in scope; with several in scope and no
        subject, the answer asks which. None when nothing citable answers it: it is then answered
        as any other question."""
        records = self.index.records()
        allowed = scoped.allowed(records)
        scope = {d: r for d, r in records.items() if allowed is None or d in allowed}
        in_scope = [r for r in scope.values() if r.duplicate_of not in scope]  # a copy is the same article
        subject = asked.subject or next(
            (
                earlier.subject
                for q, _ in reversed(turns)
                if (earlier := about.about_article(q)) and earlier.subject
            ),
            "",
        )
        record: DocRecord | None
        if lexical_terms(subject):
            candidates = in_scope
            if len(in_scope) > 1:  # each article once, in the order the subject's search ranks it
                found = self.retriever.search(subject, k=_SUBJECT_DEPTH, article_filter=scoped)
                candidates = [records[doc_id] for doc_id in dict.fromkeys(p.doc_id for p in found)]
            record = next((r for r in candidates if self._is_about(r, subject)), None)
            if record is None:
                said = f"{ABSTENTION} No article in scope is about “{subject}”."
                return about.declined(said), list(passages)
        elif len(in_scope) == 1:
            record = in_scope[0]
        elif len(in_scope) > 1:
            said = (
                f"Which article do you mean? {len(in_scope)} are in scope: say what it is about (“the article"
                " about …”), or choose it in the article filter."
            )
            return about.declined(said), list(passages)
        else:
            return None
        text = self.index.article_text(record.doc_id)
        chunks = sorted(self.index.article_chunks([record.doc_id]), key=lambda c: c.index)
        answered = about.answer(asked.asked, record, text, chunks)
        if answered is None:
            return None
        draft, cited = answered
        return draft, _shown(cited, passages)

    def _is_about(self, record: DocRecord, subject: str) -> bool:
        """Whether an article's headline and lead say what a subject says: its rarest word and half
        of its words (a roundup that mentions it further down is not about it)."""
        terms = set(lexical_terms(subject))
        text = self.index.article_text(record.doc_id)
        opening = about.lead(text, record.title, count=3)
        spans = [*([opening.headline] if opening.headline else []), *opening.sentences]
        said = " ".join([record.title, *(text[a:b] for a, b in spans)])
        has = set(lexical_terms(said)) | _closed_compounds(said)
        rarest = max(terms, key=self.index.idf)
        return rarest in has and 2 * len(terms & has) >= len(terms)

    def _extractively(
        self, failure: BackendUnavailableError, chosen: Answerer, request: AnswerRequest, notes: list[str]
    ) -> tuple[Answerer, Draft]:
        """The extractive answer, noted in `notes`, when an LLM backend failed and `llm_fallback`
        allows it; otherwise the failure is raised again."""
        if not self.settings.llm_fallback or chosen.name == "extractive":
            raise failure
        notes.append(f"{failure} — answered extractively instead")
        extractive = self.answerer("extractive")
        return extractive, extractive.answer(request)

    def _ended_before(self, scope: TimeScope) -> str:
        """The index's newest publication day when its dated articles all precede the scope's
        window ("" when the window holds one, there is no window, or no article is dated)."""
        if scope.since is None or not self.index.exists():
            return ""
        newest = max((r.date[:10] for r in self.index.records().values() if r.date), default="")
        return newest if newest and newest < scope.since.isoformat() else ""

    def _before_window(
        self,
        refusal: Answer,
        scope: TimeScope,
        request: AnswerRequest,
        article_filter: ArticleFilter | None,
        k: int | None,
        chosen: Answerer,
        notes: list[str],
        started: float,
    ) -> Answer:
        """What follows a refusal within a time window: the answer of the dated articles published
        before it, saying that it is not from the window and how old it is; or, when they do not
        answer either, the refusal naming the window and the closest earlier match with its date.
        An LLM backend that fails here falls back as in the window (`llm_fallback`)."""
        assert scope.since is not None
        span = f"{spoken_day(scope.since)} to {spoken_day(scope.as_of)}"
        passages = self.retriever.search(
            scope.query,
            k=k,
            article_filter=_before(article_filter, scope.since),
            query_vector=request.query_vector,
        )
        retrieved = time.perf_counter()
        answer = refusal
        if passages:
            earlier = dataclasses.replace(request, passages=passages)
            notes = list(notes)
            try:
                draft = chosen.answer(earlier)
            except BackendUnavailableError as exc:
                chosen, draft = self._extractively(exc, chosen, earlier, notes)
            answer = self._finish(
                refusal.question,
                refusal.rewritten_query,
                passages,
                draft,
                chosen.name,
                notes,
                started,
                retrieved,
            )
        if not answer.abstained:
            cited = {c.chunk_id for c in answer.citations}
            days = sorted(p.date[:10] for p in passages if p.chunk_id in cited and p.date)
            when = f"from {spoken_day(days[-1])}" if days else "undated"
            return dataclasses.replace(
                answer,
                text=f"{answer.text} (Nothing published {span} ({scope.phrase}) answers it; this is {when}.)",
                notes=(
                    *answer.notes,
                    f"nothing in the window answers it: {scope.describe()}; answered from earlier articles",
                ),
            )
        said = f" No article published from {span} answers it"
        if passages and passages[0].date:
            said += f"; the closest match, “{passages[0].title}”, is from {spoken_day(passages[0].date)}"
        return dataclasses.replace(
            refusal,
            text=refusal.text + said + ".",
            notes=(*refusal.notes, f"nothing in the window answers it: {scope.describe()}"),
        )

    def rewrite(
        self, question: str, history: Sequence[tuple[str, str]], answerer: Answerer | None = None
    ) -> str:
        """The standalone query for a follow-up question."""
        if not history:
            return question
        rewrite_with = getattr(answerer, "condense", None)
        if callable(rewrite_with):
            try:
                return str(rewrite_with(question, history))
            except BackendUnavailableError:
                pass
        return condense(question, history)

    def _finish(
        self,
        question: str,
        rewritten: str,
        passages: Sequence[Passage],
        draft: Draft,
        answerer: str,
        notes: list[str],
        started: float,
        retrieved: float,
    ) -> Answer:
        citations, failed = verify(draft.citations, self.index.article_text)
        text = draft.text
        if failed:
            notes.append(f"dropped {len(failed)} citation(s) whose quote did not match the article")
            text = strip_markers(text, set(failed))
        text, citations = renumber(text, citations)
        abstained = draft.abstained or not text.strip()
        short = draft.short_answer
        if short is not None and not _supported(short, citations, self.index.article_text):
            notes.append("dropped the short answer: it did not match a cited quote of the article")
            text = text.replace(f"{short.text} — ", "", 1)
            short = None
        if abstained:
            text, citations, short = ABSTENTION, [], None
        finished = time.perf_counter()
        return Answer(
            question=question,
            rewritten_query=rewritten,
            text=text,
            abstained=abstained,
            citations=tuple(citations),
            passages=tuple(passages),
            timings_ms={
                "retrieve": round((retrieved - started) * 1000, 2),
                "answer": round((finished - retrieved) * 1000, 2),
                "total": round((finished - started) * 1000, 2),
            },
            answerer=answerer,
            notes=tuple([*draft.notes, *notes]),
            short_answer=short,
            confidence=draft.confidence,
        )


_SUBJECT_DEPTH = 10
"""Passages searched for the article a subject names ("the story about …"), best first."""


def _shown(cited: Sequence[Passage], retrieved: Sequence[Passage]) -> list[Passage]:
    """The cited chunks, then the retrieved passages, as many as were retrieved (or cited)."""
    first = list(dict.fromkeys(cited))
    ids = {p.chunk_id for p in first}
    return [*first, *(p for p in retrieved if p.chunk_id not in ids)][: max(len(retrieved), len(first))]


class AnswerChain(Runnable[Any, Answer]):
    """The assistant as a Runnable.

    Input: a question string, or `{"question", "history"?, "k"?, "article_filter"?, "answerer"?,
    "as_of"?}`.
    `invoke`/`batch`/`ainvoke`/`abatch` return an `Answer`; `stream`/`astream` yield text
    pieces as they are produced and then the final `Answer`.
    """

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    @staticmethod
    def _arguments(value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            return {"question": value}
        if isinstance(value, dict) and "question" in value:
            allowed = {"question", "history", "k", "article_filter", "answerer", "as_of"}
            unknown = set(value) - allowed
            if unknown:
                raise QuestionError(f"unknown input keys: {', '.join(sorted(unknown))}")
            return dict(value)
        raise QuestionError("input must be a question string or a dict with a 'question' key")

    def _run(self, value: Any) -> Iterator[str | Answer]:
        arguments = self._arguments(value)
        question = arguments.pop("question")
        history = arguments.pop("history", ())
        return self.assistant.stream(question, history, **arguments)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """The final `Answer`."""

        def run(value: Any) -> Answer:
            answer = None
            for piece in self._run(value):
                if isinstance(piece, Answer):
                    answer = piece
            assert answer is not None
            return answer

        return self._call_with_config(run, input, config, **kwargs)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """Text pieces, then the final `Answer`."""

        def transform(values: Iterator[Any]) -> Iterator[Any]:
            for value in values:
                yield from self._run(value)

        yield from self._transform_stream_with_config(iter([input]), transform, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """`stream` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        pieces = self.stream(input, config, **kwargs)
        done = object()
        while True:
            piece = await loop.run_in_executor(None, next, pieces, done)
            if piece is done:
                return
            yield piece
