"""Sentence splitting: abbreviations, decimals, quotes and headings do not break or merge sentences."""

from __future__ import annotations

import pytest

from rag.text import lexical_terms, sentence_spans

pytestmark = pytest.mark.fast


def _sentences(text: str) -> list[str]:
    spans = sentence_spans(text)
    for start, end in spans:
        assert text[start:end] == text[start:end].strip()
    return [text[start:end] for start, end in spans]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met Dr. Jones in Boston. They talked for an hour.",
            ["Mr. Smith met Dr. Jones in Boston.", "They talked for an hour."],
        ),
        (
            "Mr Trump met Dr Shen on Monday. Both spoke briefly.",
            ["Mr Trump met Dr Shen on Monday.", "Both spoke briefly."],
        ),
        (
            "The U.S. Commerce Secretary spoke. The U.K. envoy did not.",
            ["The U.S. Commerce Secretary spoke.", "The U.K. envoy did not."],
        ),
        (
            "Prices rose on Jan. 5 and again on Feb. 6. Traders were calm.",
            ["Prices rose on Jan. 5 and again on Feb. 6.", "Traders were calm."],
        ),
        (
            "J. K. Rowling wrote it. It sold well.",
            ["J. K. Rowling wrote it.", "It sold well."],
        ),
    ],
)
def test_abbreviations_and_initials_do_not_end_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_decimals_and_currency_do_not_end_sentences() -> None:
    text = (
        "Tariffs hit US$200.5 billion (S$266.3 billion) of goods. Growth slowed to 2.5 per cent. Shares fell."
    )
    assert _sentences(text) == [
        "Tariffs hit US$200.5 billion (S$266.3 billion) of goods.",
        "Growth slowed to 2.5 per cent.",
        "Shares fell.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = (
        "“If fentanyl ends, these will come off,” he said. "
        "He added: “We are done.” Then he left! “Why?” she asked."
    )
    assert _sentences(text) == [
        "“If fentanyl ends, these will come off,” he said.",
        "He added: “We are done.”",
        "Then he left!",
        "“Why?” she asked.",
    ]


def test_headings_without_periods_are_their_own_sentences() -> None:
    text = "Trade war deepens\n\nBeijing hit back on Monday. Markets fell.\n\nMore on this Topic\n\nIt ended."
    assert _sentences(text) == [
        "Trade war deepens",
        "Beijing hit back on Monday.",
        "Markets fell.",
        "More on this Topic",
        "It ended.",
    ]


def test_short_lines_in_one_block_are_separate_items() -> None:
    text = "Key points\n- Tariffs rose\n- Talks stalled\nWhat comes next"
    assert _sentences(text) == ["Key points", "- Tariffs rose", "- Talks stalled", "What comes next"]


def test_spans_index_the_original_text_and_skip_blank_input() -> None:
    text = "  First one.   Second one?\n\n\n  Third one!  "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one?", "Third one!"]
    assert spans == sorted(spans)
    assert sentence_spans("") == []
    assert sentence_spans(" \n\n\t ") == []


@pytest.mark.parametrize(
    "question", ["Which professors are quoted in the article?", "Which professors does the article mention?"]
)
def test_words_about_what_an_article_does_are_no_search_terms(question: str) -> None:
    # "Quoted", like "mentioned", says the article names someone; the passages need not say it.
    assert lexical_terms(question) == ["professor"]


@pytest.mark.parametrize(
    ("possessive", "plain"),
    [
        ("the FBI's search", "the FBI searched"),
        ("Truss’s plan", "Truss planned"),
        ("CNN's poll", "a CNN poll"),
    ],
)
def test_a_possessive_is_the_same_term_as_the_bare_word(possessive: str, plain: str) -> None:
    # The stemmer keeps "fbis" and "trusss" apart from "fbi" and "truss": the "'s" goes first.
    assert lexical_terms(possessive)[0] == lexical_terms(plain)[0]


def test_a_contracted_is_leaves_no_term() -> None:
    assert lexical_terms("He's sure she's right and who's next") == ["sure", "right", "next"]
