"""The lexical-engine comparison on a tiny corpus: the engines agree on obvious queries, an update
replaces an article, FTS5 indexes exactly the project's terms, and the report has every row."""

from __future__ import annotations

import importlib.util
import sqlite3
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from eval.lexical_compare import (
    ENGINES,
    CompareConfig,
    Fts5Engine,
    LexicalEngine,
    chunk_text,
    quality_set,
    render,
    run_comparison,
)
from rag.text import lexical_terms, sentence_spans

pytestmark = pytest.mark.fast

if TYPE_CHECKING:
    from pathlib import Path

    from eval.gold import GoldItem

TEXTS = {
    "volcano": "The volcano erupted near the village at dawn. Lava flowed into the sea for three days. "
    "Residents fled to the hills and waited.",
    "football": "The football team won the cup final on Sunday. Fans celebrated in the streets all night. "
    "The coach praised the young striker.",
    "bakery": "The bakery sold fresh bread every morning. Croissants were the most popular pastry. "
    "The baker woke at four to light the ovens.",
    "election": "Voters chose a new mayor in the city election. Turnout rose to sixty percent. "
    "The winner promised cheaper buses.",
    "harvest": "Farmers began the grape harvest early this year. The dry summer made the grapes sweet. "
    "Winemakers expect a strong vintage.",
    "satellite": "The space agency launched a weather satellite on Friday. The rocket lifted off at noon. "
    "Engineers confirmed the orbit an hour later.",
}
OBVIOUS = {
    "How long did the lava flow into the sea?": "volcano",
    "Which team won the football cup final?": "football",
    "What pastry was the most popular at the bakery?": "bakery",
    "Who won the mayor election and what was the turnout?": "election",
    "Why were the grapes sweet at this year's harvest?": "harvest",
    "When did the rocket with the weather satellite lift off?": "satellite",
}
GOLD: list[GoldItem] = [
    {"id": f"q{i}", "question": q, "answer": "", "type": "single", "evidence": [], "doc": doc}
    for i, (q, doc) in enumerate(OBVIOUS.items())
]
ENGINE_PARAMS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            engine.requires is not None and importlib.util.find_spec(engine.requires) is None,
            reason=f"{engine.requires} is not installed",
        ),
    )
    for name, engine in ENGINES.items()
]


def _built(name: str, directory: Path) -> LexicalEngine:
    engine = ENGINES[name](directory / name)
    engine.build({doc_id: chunk_text(doc_id, text, words_per_chunk=12) for doc_id, text in TEXTS.items()})
    return engine


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_engines_agree_on_the_top_hit(name: str, tmp_path: Path) -> None:
    today, engine = _built("today", tmp_path), _built(name, tmp_path)
    try:
        for question, doc_id in OBVIOUS.items():
            top = engine.search(question, 3)[0]
            assert top.doc_id == doc_id, question
            assert top == today.search(question, 3)[0], question
            assert TEXTS[doc_id][top.start : top.end] == top.text
    finally:
        engine.close()
        today.close()


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_put_replaces_an_article(name: str, tmp_path: Path) -> None:
    engine = _built(name, tmp_path)
    try:
        engine.put("volcano", chunk_text("volcano", "Ash from the crater covered the orchards."))
        engine.put("glacier", chunk_text("glacier", "The glacier retreated by forty metres."))
        assert [c.doc_id for c in engine.search("lava flowed", 5)] == []
        assert [c.text for c in engine.search("crater ash", 5)] == [
            "Ash from the crater covered the orchards."
        ]
        assert engine.search("glacier retreated", 5)[0].doc_id == "glacier"
    finally:
        engine.close()


def test_fts5_indexes_exactly_the_lexical_terms(tmp_path: Path) -> None:
    engine = _built("fts5", tmp_path)
    engine.close()
    chunks = [c for doc_id, text in TEXTS.items() for c in chunk_text(doc_id, text, words_per_chunk=12)]
    expected = Counter(term for chunk in chunks for term in lexical_terms(chunk.text))
    expected.update(lexical_terms("u.s. covid-19 naïve forecast_model Straße"))
    db = sqlite3.connect(engine.directory / "lexical.sqlite3")
    with db:
        db.execute(
            f"INSERT INTO {Fts5Engine.TABLE} (rowid, terms) VALUES (?, ?)",
            (10_000, " ".join(lexical_terms("u.s. covid-19 naïve forecast_model Straße"))),
        )
    db.execute(f"CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, {Fts5Engine.TABLE}, 'row')")
    assert dict(db.execute("SELECT term, cnt FROM temp.vocabulary")) == dict(expected)
    db.close()


def test_the_report_has_every_row() -> None:
    sentences = [" ".join(t[a:b].split()) for t in TEXTS.values() for a, b in sentence_spans(t)]
    config = CompareConfig(
        sentences=sentences,
        chunk_lengths=[12, 20, 30],
        queries=list(OBVIOUS),
        article=["A new article about a comet.", "Astronomers saw its tail."],
        sets=[quality_set("tiny", TEXTS, GOLD)],
        scales=(60,),
        build_repeats=1,
        update_repeats=1,
    )
    comparison = run_comparison(config)
    assert [row.measure for row in comparison.rows] == [
        "60 chunks: full build (s)",
        "60 chunks: add one article (ms)",
        "60 chunks: replace one article (ms)",
        "60 chunks: search p50 / p95 (ms)",
        "60 chunks: index on disk (MB)",
        "tiny: recall@5 / MRR",
    ]
    assert comparison.engines == list(ENGINES)
    for row in comparison.rows:
        for name in ENGINES:
            assert (row.figures[name] is None) == (name in comparison.missing), (row.measure, name)
    for name, figures in comparison.rows[-1].figures.items():
        assert figures is None or figures == (1.0, 1.0), name
    table = render(comparison)
    assert all(f"| {row.measure} |" in table for row in comparison.rows)
    assert all(engine.label in table for engine in ENGINES.values())
