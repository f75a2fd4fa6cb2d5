"""Soak: thousands of questions through one `Assistant` in one process; memory and file handles stay flat.

The questions cycle through the mix of the load test (facts, follow-ups with their own history,
seed-article questions, unanswerable ones) and through every way of asking (`ask`, `stream`,
`chain.invoke`). Growth is measured from the end of a warm-up, when caches are full.
"""

from __future__ import annotations

import gc
import random
import time
from typing import TYPE_CHECKING, Any

import pytest
from reliability_support import (
    FACTS,
    SEED_QUESTIONS,
    UNANSWERABLE,
    Question,
    answer_problem,
    fact_question,
    follow_up,
    open_fds,
    rss_mb,
    sized,
    threads,
    write_artifact,
)

from rag.assistant import Assistant
from rag.types import Answer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings

pytestmark = pytest.mark.slow

QUESTIONS = sized(300, 2000)
WARM_UP = 60
MAX_RSS_GROWTH_MB = 150
MAX_NEW_FDS = 2
MAX_STORE_CONNECTIONS = 16
"""Handles on the store's own database: Chroma's sqlite pool opens them on demand (1-3 seen in a
2,000-question run); a leak would open one or more per question."""
MAX_NEW_THREADS = 4
SAMPLE_EVERY = 50


def _plan(rng: random.Random) -> Iterator[list[Question]]:
    """Conversations, forever: every fact with and without its follow-up, seed and unanswerable questions."""
    while True:
        conversations: list[list[Question]] = []
        for fact in FACTS:
            conversations.append([fact_question(fact), follow_up(fact)])
            conversations.append([fact_question(fact)])
        conversations += [[q] for q in SEED_QUESTIONS + UNANSWERABLE]
        rng.shuffle(conversations)
        yield from conversations


def _ask(assistant: Assistant, how: str, question: str, history: list[tuple[str, str]]) -> Answer:
    if how == "ask":
        return assistant.ask(question, history)
    if how == "stream":
        pieces = list(assistant.stream(question, history))
        assert isinstance(pieces[-1], Answer)
        assert "".join(p for p in pieces[:-1] if isinstance(p, str))
        return pieces[-1]
    answer = assistant.chain.invoke({"question": question, "history": history})
    assert isinstance(answer, Answer)
    return answer


def test_thousands_of_questions_in_one_process(
    seeded: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    assistant = Assistant(seeded, embedder=embedder)
    rng = random.Random(7)
    plan = _plan(rng)
    ways = ["ask", "stream", "chain"]
    asked = 0
    wrong: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    fds_start = open_fds()
    rss_start = rss_mb()
    threads_start = threads()
    rss_warm = 0.0
    threads_warm = 0
    fds_warm: dict[str, str] = {}
    started = time.monotonic()
    warm_at = started
    while asked < QUESTIONS:
        history: list[tuple[str, str]] = []
        for question in next(plan):
            how = ways[asked % len(ways)]
            try:
                answer = _ask(assistant, how, question.text, history)
            except Exception as exc:  # counted and reported; the run goes on
                errors.append({"n": asked, "question": question.text, "how": how, "error": repr(exc)[:300]})
                break
            finally:
                asked += 1
            problem = answer_problem(answer, question, assistant.index)
            if problem:
                wrong.append({"n": asked, "question": question.text, "how": how, "problem": problem})
                break
            history.append((question.text, answer.text))
            if asked == WARM_UP:
                gc.collect()
                rss_warm, fds_warm, warm_at = rss_mb(), open_fds(), time.monotonic()
                threads_warm = threads()
            if asked % SAMPLE_EVERY == 0:
                samples.append(
                    {
                        "questions": asked,
                        "rss_mb": round(rss_mb(), 1),
                        "fds": len(open_fds()),
                        "threads": threads(),
                    }
                )
    elapsed = time.monotonic() - started
    gc.collect()
    rss_end, fds_end, threads_end = rss_mb(), open_fds(), threads()
    new_fds = {fd: target for fd, target in fds_end.items() if fds_warm.get(fd) != target}
    store_dir = str(assistant.settings.chroma_dir)
    pooled = {fd: target for fd, target in new_fds.items() if target.startswith(store_dir)}
    other_fds = {fd: target for fd, target in new_fds.items() if fd not in pooled}
    figures = {
        "questions": asked,
        "warm_up_questions": WARM_UP,
        "seconds": round(elapsed, 1),
        "questions_per_second": round((asked - WARM_UP) / (time.monotonic() - warm_at), 2),
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_warm_up": round(rss_warm, 1),
            "end": round(rss_end, 1),
            "growth_after_warm_up": round(rss_end - rss_warm, 1),
            "limit": MAX_RSS_GROWTH_MB,
        },
        "fds": {
            "start": len(fds_start),
            "after_warm_up": len(fds_warm),
            "end": len(fds_end),
            "new_after_warm_up": new_fds,
            "limit_new": MAX_NEW_FDS,
            "limit_store_connections": MAX_STORE_CONNECTIONS,
        },
        "threads": {
            "start": threads_start,
            "after_warm_up": threads_warm,
            "end": threads_end,
            "limit_new": MAX_NEW_THREADS,
        },
        "samples": samples,
        "errors": len(errors),
        "wrong_answers": len(wrong),
        "lost": len(errors) + len(wrong),
        "failures": (errors + wrong)[:20],
    }
    write_artifact("soak", figures)

    assert not errors, errors[:5]
    assert not wrong, wrong[:5]
    assert rss_end - rss_warm < MAX_RSS_GROWTH_MB, figures["rss_mb"]
    assert len(other_fds) <= MAX_NEW_FDS, other_fds
    assert len(pooled) <= MAX_STORE_CONNECTIONS, pooled
    assert threads_end - threads_warm <= MAX_NEW_THREADS, figures["threads"]
