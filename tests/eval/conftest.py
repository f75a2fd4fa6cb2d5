"""Hand-made gold items and answers whose scores are worked out in the tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest
from langchain_core.embeddings import Embeddings

from rag.answering import ABSTENTION
from rag.types import Answer, Citation, Passage

if TYPE_CHECKING:
    from pathlib import Path

    from eval.gold import GoldItem
    from rag.embeddings import SentenceTransformerEmbeddings

ARTICLES = {
    "a.txt": "The capital of France is Paris. It is on the Seine.",
    "b.txt": "Tariffs kicked in on March 10. Talks stalled.",
    "m.txt": "Alpha and beta were found. Gamma was not.",
}


class TableEmbeddings(Embeddings):
    """Fixed vectors for known texts; an unknown text is a test failure."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.seen: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [self.table[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]


def passage(doc_id: str, text: str, index: int = 0) -> Passage:
    start = ARTICLES.get(doc_id, text).find(text)
    return Passage(
        chunk_id=f"{doc_id}-{index}",
        doc_id=doc_id,
        title=doc_id,
        source="",
        text=text,
        start=max(start, 0),
        end=max(start, 0) + len(text),
        score=1.0 / (index + 1),
    )


def citation(n: int, doc_id: str, quote: str, *, supported: bool = True, shift: int = 0) -> Citation:
    start = ARTICLES[doc_id].find(quote) + shift
    return Citation(
        n=n,
        doc_id=doc_id,
        title=doc_id,
        source="",
        chunk_id=f"{doc_id}-0",
        start=start,
        end=start + len(quote),
        quote=quote,
        supported=supported,
    )


def gold_item(
    item_id: str,
    kind: str,
    question: str,
    answer: str = "",
    evidence: tuple[str, ...] = (),
    doc: str | None = None,
) -> GoldItem:
    return {
        "id": item_id,
        "question": question,
        "answer": answer,
        "type": kind,  # type: ignore[typeddict-item]
        "evidence": list(evidence),
        "doc": doc,
    }


def answer(
    question: str,
    text: str,
    *,
    abstained: bool = False,
    passages: tuple[Passage, ...] = (),
    citations: tuple[Citation, ...] = (),
    total: float = 100.0,
    answerer: str = "extractive",
) -> Answer:
    return Answer(
        question=question,
        rewritten_query=question,
        text=ABSTENTION if abstained else text,
        abstained=abstained,
        citations=citations,
        passages=passages,
        timings_ms={"total": total},
        answerer=answerer,
    )


@dataclass(frozen=True)
class Handmade:
    gold: list[GoldItem]
    answers: list[Answer]
    embeddings: TableEmbeddings
    articles: dict[str, str]


@pytest.fixture
def handmade() -> Handmade:
    """Five questions: a right answer with one bad citation, a false refusal, a half-right
    multi-passage answer, a correct refusal and an answered unanswerable question."""
    gold = [
        gold_item(
            "s1",
            "single",
            "What is the capital?",
            "Paris is the capital",
            ("capital of France is Paris",),
            "a.txt",
        ),
        gold_item("s2", "single", "When did tariffs start?", "March 10", ("kicked in on March 10",), "b"),
        gold_item("m1", "multi", "What was found?", "alpha gamma", ("Gamma was found",)),
        gold_item("u1", "unanswerable", "Who is the mayor?", doc="a.txt"),
        gold_item("u2", "unanswerable", "What is the river's length?", doc="a.txt"),
    ]
    answers = [
        answer(
            "What is the capital?",
            "Paris is the capital [1][2]",
            passages=(
                passage("a.txt", "The capital of France is Paris."),
                passage("m.txt", "Gamma was not.", 1),
            ),
            citations=(
                citation(1, "a.txt", "The capital of France is Paris."),
                citation(2, "a.txt", "It is on the Seine.", shift=1),
            ),
            total=100.0,
        ),
        answer(
            "When did tariffs start?",
            "",
            abstained=True,
            passages=(
                passage("m.txt", "Talks stalled nowhere."),
                passage("b.txt", "Tariffs kicked in on March 10.", 1),
            ),
            total=200.0,
        ),
        answer(
            "What was found?",
            "alpha beta [1]",
            passages=(passage("m.txt", "Alpha and beta were found."),),
            citations=(citation(1, "m.txt", "Alpha and beta were found.", supported=False),),
            total=300.0,
        ),
        answer(
            "Who is the mayor?",
            "",
            abstained=True,
            passages=(passage("a.txt", "It is on the Seine."),),
            total=400.0,
        ),
        answer(
            "What is the river's length?",
            "It is on the Seine. [1]",
            passages=(passage("a.txt", "It is on the Seine."),),
            citations=(citation(1, "a.txt", "It is on the Seine."),),
            total=500.0,
        ),
    ]
    embeddings = TableEmbeddings(
        {
            "Paris is the capital": [1.0, 0.0],
            "alpha beta": [1.0, 0.0],
            "alpha gamma": [0.6, 0.8],
        }
    )
    return Handmade(gold=gold, answers=answers, embeddings=embeddings, articles=dict(ARTICLES))


CONFIDENCES = (0.9, 0.3, 0.6, 0.2, 0.55)
"""Confidences given to the `handmade` answers by `confident`, in order."""


@pytest.fixture
def confident(handmade: Handmade) -> Handmade:
    """`handmade` with a confidence on every answer. As calibration counts them, s1 (gold in the
    answer), m1 (token F1 0.5) and u1 (rightly refused) are right; s2 (refused) and u2 (answered)
    are wrong. The refusals' confidences of being right are 1 - 0.3 = 0.7 and 1 - 0.2 = 0.8."""
    answers = [replace(a, confidence=c) for a, c in zip(handmade.answers, CONFIDENCES, strict=True)]
    return replace(handmade, answers=answers)


MAYORS = {
    "old-mayor.txt": ("2020-03-02", "Ada Quill"),
    "new-mayor.txt": ("2024-03-04", "Bram Holt"),
}
"""Two dated articles that name a different mayor of Glenhaven: which is found depends on the day asked."""


@pytest.fixture(scope="module")
def mayors_data_dir(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings
) -> Path:
    """A data folder with `MAYORS` indexed by the real pipeline."""
    from ingest.pipeline import ingest_paths
    from rag.index import Index
    from rag.settings import Settings

    root = tmp_path_factory.mktemp("mayors")
    folder = root / "articles"
    folder.mkdir()
    for name, (day, mayor) in MAYORS.items():
        (folder / name).write_text(
            f"Title: Glenhaven council\nDate: {day}\n\n"
            f"Glenhaven's new mayor is {mayor}, the council said on Monday. "
            f"Mayor {mayor} took office after a close vote in the town hall.\n",
            encoding="utf-8",
        )
    settings = Settings(data_dir=root / "data", _env_file=None)
    assert ingest_paths([folder], settings, index=Index(settings, embedder), progress=False).ok
    return settings.data_dir
