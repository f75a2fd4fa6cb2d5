"""The naive LangChain peer on a tiny two-article corpus, with the real embedder and Chroma."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eval.baseline import NaiveBaseline, available_baselines, make_baseline
from rag.errors import ConfigError
from rag.types import Article

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbeddings


CATS = " ".join(
    [
        "Cats are small carnivorous mammals kept as pets.",
        "A domestic cat eats meat, and most owners feed their cats fish or chicken twice a day.",
        "Cats sleep for twelve to sixteen hours a day and groom themselves often.",
    ]
    * 16
)
ROCKETS = (
    "A rocket engine burns fuel and oxidiser and throws the exhaust backwards at high speed. "
    "Liquid-fuel rockets pump kerosene or hydrogen into a combustion chamber."
)
ARTICLES = [
    Article(doc_id="cats.txt", title="Cats", text=CATS),
    Article(doc_id="rockets.txt", title="Rockets", text=ROCKETS),
]


@pytest.fixture(scope="module")
def naive(embedder: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> NaiveBaseline:
    return NaiveBaseline.build(ARTICLES, embedder, tmp_path_factory.mktemp("naive"))


def test_top_passage_is_the_answer(naive: NaiveBaseline) -> None:
    answer = naive.ask("What do rocket engines burn?")

    assert answer.text == answer.passages[0].text
    assert answer.passages[0].doc_id == "rockets.txt"
    assert not answer.abstained
    assert answer.citations == ()
    assert answer.answerer == "naive"
    assert answer.timings_ms["total"] > 0


def test_never_abstains_and_keeps_offsets(naive: NaiveBaseline) -> None:
    texts = {article.doc_id: article.text for article in ARTICLES}
    answer = naive.ask("Who won the 1998 football world cup?")

    assert not answer.abstained
    assert answer.text
    assert len(answer.passages) == 4
    for passage in answer.passages:
        assert texts[passage.doc_id][passage.start : passage.end] == passage.text
        assert len(passage.text) <= 1000


def test_splits_into_overlapping_chunks(naive: NaiveBaseline) -> None:
    config = naive.config()

    assert config["chunk_size"] == 1000
    assert config["chunk_overlap"] == 200
    assert config["k"] == 4
    assert config["chunks"] > 4  # the cats article is longer than one chunk


def test_registry() -> None:
    assert available_baselines()[0] == "naive"
    with pytest.raises(ConfigError, match="unknown baseline 'clever'"):
        make_baseline("clever", ARTICLES, None, Path())  # type: ignore[arg-type]
