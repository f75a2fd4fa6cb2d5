"""WordNet's relatives of a question's words: a paraphrased word is not missing from an article."""

from __future__ import annotations

import pytest

from ingest.loaders import load_article
from rag.answering import AnswerRequest, ExtractiveAnswerer
from rag.relatives import relatives
from rag.text import lexical_terms
from rag.types import Passage
from tests.support import SEED_ARTICLE, HashingEmbedder

pytestmark = pytest.mark.fast


def _term(word: str) -> str:
    (term,) = lexical_terms(word)
    return term


@pytest.mark.parametrize(
    ("word", "relative"),
    [
        ("publish", "issued"),  # a synonym
        ("published", "issue"),  # found by its base form
        ("academics", "professor"),  # a noun's hyponym
        ("led", "guide"),  # an irregular form's base ("lead")
        ("spend", "spent"),  # a lemma's irregular form
        ("cities", "metropolis"),
    ],
)
def test_a_word_is_related_to_its_synonyms_and_kinds(word: str, relative: str) -> None:
    assert _term(relative) in relatives(word)


def test_relations_go_one_way_down_and_unknown_words_have_none() -> None:
    assert _term("academic") not in relatives("professor")  # a professor is an academic, not the reverse
    assert relatives("qwzxv") == frozenset()


SEED = load_article(SEED_ARTICLE)


def _evidence(question: str) -> dict[str, float]:
    """The answerer's evidence for a question asked of the whole seed article as one passage."""
    passage = Passage("seed-0", SEED.doc_id, SEED.title, "", SEED.text, 0, len(SEED.text), 1.0)
    embedder = HashingEmbedder()
    request = AnswerRequest(
        question, [passage], query_vector=embedder.embed_query(question), embedder=embedder
    )
    return ExtractiveAnswerer().answer(request).evidence


def test_a_paraphrased_question_word_is_not_missing_from_the_passage() -> None:
    # The article says the Cabinet "issued" a White Paper on March 4.
    assert "publish" not in SEED.text.lower()
    assert _evidence("What did China's Cabinet publish on March 4?")["missing"] == 0.0
    assert _evidence("What did China's Cabinet smuggle on March 4?")["missing"] > 0.0


def test_words_that_frame_a_question_are_not_missing_evidence() -> None:
    # "What else did she say?" asks about the asking, not a word the article has to use.
    assert not {"else", "exactly"} & set(SEED.text.lower().split())
    plain = _evidence("What did Mao Ning say about the tariffs?")
    assert plain["missing"] == 0.0
    for framed in (
        "What else did Mao Ning say about the tariffs?",
        "What exactly did Mao Ning say about the tariffs?",
    ):
        assert _evidence(framed)["missing"] == 0.0
        assert _evidence(framed)["missing_mass"] == plain["missing_mass"]
    # A content word the article lacks still counts.
    assert _evidence("What did Mao Ning say about the embargo?")["missing"] > 0.0
