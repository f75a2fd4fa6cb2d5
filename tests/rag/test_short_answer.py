"""Short answers: the asked-for kind, verbatim spans, and the assistant's check of them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eval.gold import read_gold_jsonl
from ingest.pipeline import ingest_paths
from rag.answering import CAVEAT, Answerer, Draft
from rag.assistant import Assistant
from rag.spans import (
    answer_kind,
    answer_mention,
    answer_noun,
    is_list_question,
    mid_sentence_names,
    place_names,
    span_candidates,
)
from rag.text import lexical_terms
from rag.types import Citation, ShortAnswer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.answering import AnswerRequest
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.types import Answer

REPO = Path(__file__).resolve().parents[2]
GOLD = read_gold_jsonl(REPO / "eval" / "gold" / "fentanyl_seed.jsonl")

# -- what the question asks for -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who said the tariffs will come off if fentanyl ends?", "person"),
        ("Whose idea was the working group?", "person"),
        ("Giorgia Meloni became which country’s new prime minister?", "place"),
        # An abbreviation ends no sentence: the asking clause is the whole question.
        ("Which country issued a warrant for Sen. Lindsey Graham over a video?", "place"),
        ("Who agreed to meet the committee investigating the attack on the U.S. Capitol?", "person"),
        ("Gov. Gavin Newsom signed a bill. Which state did he sign it in?", "place"),
        # A plural owner describes the thing asked for; a singular one is what is asked for.
        ("Abuse was found within which women’s professional sport in the US?", "entity"),
        ("Which St. Louis-based company was sold?", "organisation"),
        ("Which players’ union went on strike?", "organisation"),
        ("Which company's chief executive resigned?", "organisation"),
        ("When did the tariffs take effect?", "date"),
        ("In which year did China ban the drug?", "date"),
        ("On what date did the tariffs kick in?", "date"),
        ("Since when has Trump been demanding a crackdown?", "date"),
        ("How many people died?", "number"),
        ("How much did the deal cost?", "number"),
        ("How long was the hike postponed?", "number"),
        ("What percentage of the drugs come from China?", "number"),
        ("Where was the meeting held?", "place"),
        ("In which city did the group meet?", "place"),
        ("Which country was first to ban the drug?", "place"),
        ("Which team won the final?", "organisation"),
        ("Which company makes the precursors?", "organisation"),
        ("Sue Bird played her final game. Which team did she play for?", "organisation"),
        ("What is the name of the drug?", "entity"),
        ("A Trump-era policy expires on May 11. What is the policy called?", "entity"),
        ("A powerful cyclone hit Myanmar. What was its name?", "entity"),
        ("The Wienermobile has been renamed to?", "entity"),
        ("HBO Max relaunched as a service called:", "entity"),
        ("What is the new drug known as?", "entity"),
        ("What was the working group called on to do?", None),
        ("What did the officials who named the group say?", None),
        ("What did the company do after it was renamed?", None),
        ("What is the capital of France?", "place"),
        ("SpaceX launched a rocket on Wednesday. What was its destination?", "place"),
        ("What is the average cost of a hen party in the UK?", "number"),
        ("What was the final score?", "number"),
        ("What is the deadline for the deal?", "date"),
        ("What is the nickname of the Moroccan team?", "entity"),
        ("What is the state of the economy?", None),
        ("What is the company's plan?", None),
        ("What is the policy on semi-skimmed milk?", None),
        ("What was the number one song?", None),
        ("What were the suspects charged with after being named?", None),
        ("Why did China retaliate?", None),
        ("How does the tariff work?", None),
        ("How did the talks go?", None),
        ("Explain the tariff dispute.", None),
        ("Did China retaliate?", None),
        ("Is fentanyl legal?", None),
        ("Has the group met since January?", None),
        ("Who is Mao Ning?", None),
        ("Where and when did the group meet?", None),
        ("When and where did the group meet?", None),
        ("When did the tariff take effect, and what reason did the US give?", None),
        ("What did Shen Dingli say about the working group?", None),
        ("What is the difference between the two positions?", None),
        ("What happened on March 12?", None),
        ("Which came first: the meeting or the podcast?", None),
        ("What did they agree to set up, and has it materialised?", None),
        ("Which band said it is recording an album and will tour next year?", "organisation"),
        ("Which band released a single and will headline the festival?", "organisation"),
        ("Which agency approved the drug and is it safe?", None),
        # Fill-in-the-blank quiz questions: the last word says what the blank holds.
        ("The slugger broke a record previously held by:", "entity"),
        ("She became the first rookie to win the title since:", "date"),
        ("The cat is the tallest in the world. He measures:", "number"),
        ("Unemployment fell by:", "number"),
        # Any other blank, and a "what" left where the object goes, asks for the phrase that follows.
        ("The judge granted the request for:", "phrase"),
        ("The government announced new measures:", "phrase"),
        ("NASA crashed a spacecraft into what?", "phrase"),
        ("Microbes can eat what at cool temperatures?", "phrase"),
        ("The program is named for the twin sister of whom?", "phrase"),
        ("What things did she remember differently to what she saw?", None),
        ("Which team won, and what did the coach say?", None),
        ("Which academics are quoted, and where are they from?", "person"),
        ("What items did the family take, and who took them?", None),
        ("What did the minister say about the tariffs?", None),
        ("Which company was founded by the man to whom the prize was given?", "organisation"),
        ("Which player's age was questioned?", "person"),
        ("For whom was the last state funeral held?", "person"),
        ("The bill could raise the minimum wage to which hourly amount?", "number"),
        ("What annual rate did the bank set?", "number"),
        ("Which public figure announced a campaign?", "entity"),
        ("What is the name of the Chinese President?", "person"),
        ("What is the name of the new US Commerce Secretary?", "person"),
        ("What was the name of the British airline that collapsed?", "organisation"),
        ("What is the name of the city in which it happened?", "place"),
        ("What is the name of the country's new currency?", "entity"),
        # A quiz names the choices apart ("which of these …"), and a noun's plural may end in -es.
        ("Which of these NFL head coaches was fired this week?", "person"),
        ("Which of the following US airports has been the worst for delays?", "place"),
        ("Which of these fast food restaurants has the slowest drive-thru?", "organisation"),
        ("Which coaches were fired?", "person"),
        # The head noun may be followed by a participle; the name may be the noun's own.
        ("What is the name of the foreign ministry spokeswoman quoted in the piece?", "person"),
        ("What is the name of the company founded by the brothers?", "organisation"),
        ("What is the judge's name?", "person"),
        ("What was the city's old name?", "place"),
        ("What is the carrier's name?", "entity"),
        ("What is the Air Force Research Laboratory program called?", "entity"),
        ("What was the combined total for that year?", "number"),
        ("Which wide receiver led the celebration?", "person"),
        # A relative clause's wh-word asks nothing when another one does.
        ("Which company, which runs the island's grid, reported the blackout?", "organisation"),
        ("She turned down the Oscar for Marlon Brando, who had won for which film?", "entity"),
        ("After Puerto Rico, which country did the storm hit?", "place"),
    ],
)
def test_answer_kind(question: str, kind: str | None) -> None:
    assert answer_kind(question) == kind


@pytest.mark.parametrize(
    ("question", "listing"),
    [
        ("Which academics are quoted in the article?", True),
        ("Which of the academics quoted are based in Asia?", True),
        ("Which countries signed the deal?", True),
        ("Which people were arrested?", True),
        ("Which officials were quoted?", True),
        ("Name the players who scored.", True),
        ("Which country signed the deal?", False),
        ("Which official is quoted?", False),
        ("Which team did she play for?", False),
        ("Who is Mao Ning?", False),
        ("When did the tariffs take effect?", False),
        ("How many people died?", False),
        ("Coca-Cola discontinued which one of its products?", False),
        ("Which one of these countries signed the deal?", False),
        ("What percentage of people in the UK dunk their sausage rolls in tea?", False),
        ("What share of voters were undecided?", False),
        ("Which coaches were fired this season?", True),
        ("Which of these bands announced a reunion this week?", False),
        ("Which of the following airports has been the worst for delays?", False),
        ("Which of these players were named to the team?", True),
        ("Who is quoted in the article?", True),
        ("Who was interviewed for the story?", True),
        ("Who is quoted as saying the tariffs would come off?", False),
        ("Who interviewed Howard Lutnick?", False),
    ],
)
def test_is_list_question(question: str, listing: bool) -> None:
    assert is_list_question(question) is listing


# -- spans of a sentence ---------------------------------------------------------------------------

_PIECES = st.one_of(
    st.sampled_from(
        [
            "Howard Lutnick",
            "US Commerce Secretary Howard Lutnick",
            "Dr Vanda Felbab-Brown",
            "Mr Trump’s",
            "Chinese Foreign Ministry spokeswoman Mao Ning",
            "the National University of Singapore",
            "New York",
            "Brookings Institution",
            "California Gov. Gavin Newsom",
            "O'Brien",
            "Zoë Ångström",
            "Roger Maris’ AL",
            "Russia’s President Vladimir Putin",
            "The Queen's Gambit",
            "Mets' GM",
            "CBS' 60 Minutes",
            "the tariffs",
            "said",
            "kicked in on",
            "a new record",
            "in",
            "of",
            "The",
            "And",
            "per cent",
            "billion",
        ]
    ),
    st.sampled_from(
        [
            "March 10",
            "March 9, 2025",
            "Jan. 17",
            "17th of January",
            "Monday, March 10th",
            "mid-2019",
            "the late 1990s",
            "last week",
            "May 2019",
            "Sept",
            "2024",
        ]
    ),
    st.sampled_from(
        ["US$200 billion", "S$266 billion", "$5", "£3.5m", "€ 12", "¥1,000", "10 per cent", "25%"]
    ),
    st.sampled_from(["90 days", "1,500 hours", "two", "a dozen", "several", "half of", "18 to 45"]),
    st.integers(min_value=-5, max_value=10**7).map(str),
    st.from_regex(r"[A-Z][a-z]{1,8}", fullmatch=True),
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    st.sampled_from(["“", "”", '"', "'", "’", "(", ")", "[", "—", "-", "&", "...", "…", "%", "$"]),
    st.text(max_size=4),
)
_GLUE = st.sampled_from([" ", " ", " ", ", ", "; ", ": ", " — ", "", "\n", "  ", "\u00a0"])


@st.composite
def _sentences(draw: st.DrawFn) -> tuple[str, str]:
    pieces = draw(st.lists(_PIECES, min_size=1, max_size=14))
    glue = draw(st.lists(_GLUE, min_size=len(pieces), max_size=len(pieces)))
    sentence = "".join(p + g for p, g in zip(pieces, glue, strict=True)).rstrip() + draw(
        st.sampled_from(["", ".", "?", ".”"])
    )
    echoed = draw(st.lists(st.sampled_from(pieces), max_size=4))
    question = " ".join([draw(st.sampled_from(["Who", "When", "Which", "How many", "Where"])), *echoed]) + "?"
    return sentence, question


@pytest.mark.parametrize("kind", ["number", "date", "person", "place", "organisation", "entity"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_sentences())
def test_span_candidates_are_verbatim_trimmed_and_not_the_question(kind: str, case: tuple[str, str]) -> None:
    sentence, question = case
    question_terms = set(lexical_terms(question))
    for candidate in span_candidates(kind, sentence, question):
        assert 0 <= candidate.start < candidate.end <= len(sentence)
        assert sentence[candidate.start : candidate.end] == candidate.text
        assert candidate.text == candidate.text.strip()
        assert set(lexical_terms(candidate.text)) - question_terms, (candidate, question)


@pytest.mark.parametrize(
    ("kind", "sentence", "question", "expected"),
    [
        (
            "date",
            "Lutnick said in an interview on March 9, before the tariffs kicked in on March 10.",
            "When did the tariffs kick in?",
            {"March 9", "March 10"},
        ),
        (
            "person",
            "“If fentanyl ends, these will come off,” US Commerce Secretary Howard Lutnick said.",
            "Who said the tariffs will come off?",
            {"Howard Lutnick"},
        ),
        (
            "number",
            "The hike was postponed for 90 days in a significant concession.",
            "For how long was the hike postponed?",
            {"90 days"},
        ),
        (  # a possessive ends a name: the owner and the owned are two candidates
            "entity",
            "He broke Ada Jones’ AL record and matched Grace Hopper’s NL mark.",
            "Whose records did he break?",
            {"Ada Jones", "Grace Hopper"},
        ),
        (
            "person",
            "Russia’s President Vladimir Putin spoke on Friday.",
            "Who spoke on Friday?",
            {"Vladimir Putin"},
        ),
        (  # a quote that opens on a new line: the span is the words, not the line break
            "entity",
            "He called the record “\nThe Long Night” on air.",
            "What did he call the record?",
            {"The Long Night"},
        ),
        (  # before other words a possessive stays inside the name
            "entity",
            "Critics loved The Queen's Gambit, and the People's Republic of China banned it.",
            "Which show did critics love?",
            {"Queen's Gambit", "People's Republic of China"},
        ),
        (  # a number word ends at its word's end: "Tens" is no "Ten", "hundreds" no "hundred"
            "number",
            "Tens of thousands of fans marched, and hundreds of homes burned.",
            "How many fans marched?",
            {"Tens of thousands", "hundreds of homes"},
        ),
    ],
)
def test_span_candidates_find_the_answer(kind: str, sentence: str, question: str, expected: set[str]) -> None:
    assert expected <= {c.text for c in span_candidates(kind, sentence, question)}


def test_a_word_that_starts_like_a_number_word_is_no_number() -> None:
    assert (
        span_candidates("number", "Tennis fans and Seventh Day groups waited.", "How many fans waited?") == []
    )


@pytest.mark.parametrize("kind", ["organisation", "entity"])
def test_an_organisation_named_with_and_is_one_candidate(kind: str) -> None:
    sentence = (
        "The Senate confirmed Colleen Shogan to head the National Archives and Records Administration, "
        "and the Department of Health and Human Services welcomed it, as did Apple and Google."
    )
    texts = {c.text for c in span_candidates(kind, sentence, "Which agency will Colleen Shogan head?")}

    assert {
        "National Archives and Records Administration",
        "Department of Health and Human Services",
    } <= texts
    assert "Apple and Google" not in texts  # two companies, not one name
    for two in (
        "Agents of the FBI and Drug Enforcement Administration raided it.",
        "Regulators fined Barclays and Lloyds Banking Group.",
        "It partnered with Google and Amazon Web Services.",
    ):
        assert not any(" and " in c.text for c in span_candidates(kind, two, "Which agency did it?")), two
    people = {c.text for c in span_candidates("person", sentence, "Who was confirmed?")}
    assert not any(" and " in text for text in people)


def test_a_quoted_title_leads_when_a_creative_work_is_asked_for() -> None:
    sentence = "“Succession,” the HBO drama centering on the Roy family, won the top prize."

    work = {c.text: c.fit for c in span_candidates("entity", sentence, "Which show took home the award?")}
    other = {c.text: c.fit for c in span_candidates("entity", sentence, "Which network aired the winner?")}

    assert work["Succession"] > work["HBO"]
    assert other["Succession"] == other["HBO"]
    shows = "The image shows “the ice giant” Neptune from a new angle."
    verb = {c.text: c.fit for c in span_candidates("entity", shows, "The photo shows which planet?")}
    assert verb["Neptune"] >= verb["the ice giant"]  # "shows" is a verb here, not a show


def test_a_surname_that_looks_like_a_plural_is_still_a_person() -> None:
    sentence = "The campaign was funded by Arron Banks, said Andy Wigmore."
    fits = {c.text: c.fit for c in span_candidates("person", sentence, "Who funded the campaign?")}
    assert fits["Arron Banks"] == fits["Andy Wigmore"] == 1.0


def test_a_footnote_marker_is_no_number_but_a_bracketed_figure_is() -> None:
    sentence = "The festival drew 48,000 visitors [1] and [300] lanterns; see [3]. It cost [$22 million]."
    texts = {c.text for c in span_candidates("number", sentence, "How many visitors did it draw?")}
    assert texts == {"48,000", "$22 million"}


def test_the_day_of_a_date_and_the_number_in_a_name_are_no_quantities() -> None:
    sentence = "On March 11, 9 March and 4 May, 300 people with Covid-19 and F-35 pilots spoke up."
    texts = {c.text for c in span_candidates("number", sentence, "How many people spoke up?")}
    assert texts == {"300"}


@pytest.mark.parametrize(
    ("question", "age_leads"),
    [
        ("How many Grand Slam titles did he win?", False),
        ("How many Americans die from fentanyl?", False),
        ("How old was he when he retired?", True),
        ("Which age group is most at risk?", True),
    ],
)
def test_a_number_after_aged_is_an_age_not_a_count(question: str, age_leads: bool) -> None:
    sentence = "He retired at age 41 with 20 titles, and Americans aged 18 to 45 are most at risk."
    fits = {c.text.split(" titles")[0]: c.fit for c in span_candidates("number", sentence, question)}
    assert (fits["41"] >= fits["20"]) is age_leads
    assert (fits["18 to 45"] >= fits["20"]) is age_leads


def test_a_name_is_not_joined_to_a_date_by_a_small_word() -> None:
    sentence = "Mr Trump called Chinese President Xi Jinping on Jan 17 and the Bank of England on Monday."
    assert {c.text for c in span_candidates("person", sentence, "Who is the Chinese President?")} >= {
        "Xi Jinping"
    }
    names = {c.text for c in span_candidates("organisation", sentence, "Which bank was called?")}
    assert "Bank of England" in names
    assert not any("Jan" in name or "Monday" in name for name in names)


def test_a_month_told_by_its_year_in_words_is_a_whole_date() -> None:
    sentence = "Its first meeting was in January 2024, and a follow-up meeting was held in July that year."
    fits = {c.text: c.fit for c in span_candidates("date", sentence, "When was the follow-up meeting held?")}
    assert fits["July that year"] == fits["January 2024"]
    other = "It rained in May, and the lanterns were released last year."
    bare = {c.text: c.fit for c in span_candidates("date", other, "When did it rain?")}
    assert bare["May"] < fits["July that year"]
    assert bare["last year"] < fits["July that year"]  # no month: as vague as before


def test_once_and_twice_are_counts() -> None:
    sentence = "The US used the issue as an excuse to impose tariffs twice on Chinese imports."
    texts = {c.text for c in span_candidates("number", sentence, "How many times did the US impose tariffs?")}
    assert texts == {"twice"}
    assert not span_candidates("number", sentence, "By what percentage did the US raise tariffs?")


def test_a_percentage_is_no_amount_of_money() -> None:
    sentence = "Tariffs rose from 10 per cent to 25 per cent on US$200 billion worth of goods."
    fits = {c.text: c.fit for c in span_candidates("number", sentence, "How much were the goods worth?")}
    assert fits["US$200 billion"] > fits["10 per cent"]
    assert fits["US$200 billion"] > fits["25 per cent"]


def test_an_amount_of_money_keeps_its_rate_unless_the_question_names_it() -> None:
    sentence = "Workers could earn $22 an hour, and a trial pays £1,600 per month."
    assert {"$22 an hour", "£1,600 per month"} <= {
        c.text for c in span_candidates("number", sentence, "How much could workers earn?")
    }
    named = {c.text for c in span_candidates("number", sentence, "How much does the trial pay a month?")}
    assert "£1,600" in named


def test_a_range_of_percentages_is_one_span() -> None:
    sentence = "Between 10%–20% of those infected develop long Covid."
    texts = {c.text for c in span_candidates("number", sentence, "What percentage develop long Covid?")}
    assert "10%–20%" in texts


@pytest.mark.parametrize(
    ("sentence", "kind", "name"),
    [
        ("Shanghai-based scholar Shen Dingli noted that China had done more.", "place", "Shanghai"),
        ("The New York-based Acme Corp said so.", "organisation", "Acme Corp"),
        ("The New York-based Acme Corp said so.", "place", "New York"),
    ],
)
def test_a_name_made_a_modifier_is_a_name_of_its_own(sentence: str, kind: str, name: str) -> None:
    # "Shanghai-based" opens its sentence, yet is a name, and the name is "Shanghai", even where
    # no other sentence writes it mid-sentence (no known names).
    for known in (None, frozenset()):
        assert name in {c.text for c in span_candidates(kind, sentence, "Where is it based?", known)}


def test_a_common_noun_is_a_candidate_when_a_common_category_is_asked_for() -> None:
    sentence = "Purple, the new candy, joins several flavours and titles, Mars said, giving fans chess sets."
    texts = {c.text for c in span_candidates("entity", sentence, "What color is the new candy?")}
    assert {"chess", "chess sets", "flavours", "Mars"} <= texts  # plain words, and names as before
    assert not {"giving", "said", "candy", "new candy"} & texts  # participles; the question's own words
    fits = {c.text: c.fit for c in span_candidates("entity", sentence, "What color is the new candy?")}
    assert fits["chess"] < fits["Mars"]


def test_no_common_noun_is_a_candidate_for_a_name_or_a_work() -> None:
    sentence = "The hit podcast Serial was made by Sarah Koenig in a small studio."
    for question in ("Which podcast spawned the case?", "Which Grand Slam tournament did he win?"):
        assert all(c.text[0].isupper() for c in span_candidates("entity", sentence, question))


@pytest.mark.parametrize(
    ("kind", "sentence", "question", "answer"),
    [
        (
            "person",
            "The British heir, Prince William, met Bruce Springsteen.",
            "Who met the singer?",
            "Bruce Springsteen",
        ),
        (
            "place",
            "British researchers named Bradford the gloomiest city.",
            "Which city is the gloomiest?",
            "Bradford",
        ),
        (
            "place",
            "Black voters in Jacksonville elected Donna Deegan.",
            "Which city elected her?",
            "Jacksonville",
        ),
    ],
)
def test_a_word_for_a_people_is_no_person_or_place(
    kind: str, sentence: str, question: str, answer: str
) -> None:
    fits = {c.text: c.fit for c in span_candidates(kind, sentence, question)}
    assert max(fits, key=lambda text: fits[text]) == answer
    assert all(fit < fits[answer] for text, fit in fits.items() if text in {"British", "Black"})


def test_a_lowercase_colour_is_a_candidate_and_a_participle_is_not() -> None:
    sentence = "She wore a red dress and a gold ring, walking to the wedding."
    texts = {c.text for c in span_candidates("entity", sentence, "What color was her dress?")}
    assert {"red", "gold", "ring"} <= texts
    assert "walking" not in texts


def test_a_word_for_a_people_answers_only_a_question_about_peoples() -> None:
    sentence = "Fans cheered as the British heir, Prince William, opened the games for Americans abroad."
    for question, kind in (("Who opened the games?", "person"), ("What kind of event opened?", "entity")):
        texts = {c.text for c in span_candidates(kind, sentence, question)}
        assert not {"British", "Americans"} & texts, question
    texts = {c.text for c in span_candidates("entity", sentence, "What nationality is the heir?")}
    assert "British" in texts


@pytest.mark.parametrize(
    ("sentence", "person", "fit"),
    [
        ("The FIS Snowboard event drew crowds.", "FIS Snowboard", 0.3),  # an acronym opens a body's name
        ("NASA Administrator Bill Nelson said the launch would wait.", "Bill Nelson", 1.0),
        ("King Charles III became Britain's new monarch.", "Charles III", 1.0),
        ("The award went to AJ Brown on Sunday.", "AJ Brown", 1.0),
        # A people's word before a name says where the person is from; it is no part of the name.
        ("The champion, American Dustin Johnson, took home the prize.", "Dustin Johnson", 1.0),
    ],
)
def test_a_person_is_not_a_body_an_acronym_opens(sentence: str, person: str, fit: float) -> None:
    fits = {c.text: c.fit for c in span_candidates("person", sentence, "Who spoke?")}
    assert fits.get(person) == fit, fits


def test_an_answer_noun_is_made_of_words() -> None:
    # A run of dashes is no word: the noun stays short, and so does the call that embeds it.
    assert answer_noun("What color " + "-" * 1900 + "?", "entity") == "color"
    assert answer_noun("Which St. Louis-based company was sold?", "organisation") == "St. Louis-based company"


@pytest.mark.parametrize(
    ("question", "noun"),
    [
        ("Which band announced this week it is touring?", "band"),
        ("Which US state announced a ban on the app?", "US state"),
        ("Which NFL team made a visit to the White House?", "NFL team"),
        ("Which social media platform banned political ads?", "social media platform"),
        ("Which new treat did the chain add?", "new treat"),
        # Whose: the owner is what is asked for.
        ("Which university’s football team declined an invitation?", "university"),
        # A kind of something is compared with that something, not with "kind".
        ("What kind of gun does the bandana bullet kin use?", "gun"),
        ("Which type of product was recalled?", "product"),
    ],
)
def test_the_answer_noun_ends_at_a_noun_of_the_asked_for_kind(question: str, noun: str) -> None:
    kind = answer_kind(question)
    assert kind is not None
    assert answer_noun(question, kind) == noun


@pytest.mark.parametrize(
    ("question", "kind", "noun"),
    [
        ("What was the name of the mission?", "entity", "mission"),
        ("What is the name of the city's new stadium?", "place", "city's new stadium"),
        # A person is compared with "person": "harbour master" drew a town's name.
        ("What is the name of the Chinese President?", "person", "person"),
        ("Who is the harbour master of Brackenhurst?", "person", "person"),
        ("What is the carrier's name?", "entity", "carrier"),
        ("What is the name of the anthem composed for the coronation?", "entity", "anthem"),
    ],
)
def test_the_answer_noun_of_a_name_or_who_is_the_question(question: str, kind: str, noun: str) -> None:
    assert answer_noun(question, kind) == noun


def test_a_name_asked_for_gets_no_plain_words() -> None:
    sentence = "The crash of the spacecraft, a mission called DART, hit the asteroid Dimorphos."
    texts = {c.text for c in span_candidates("entity", sentence, "What was the name of the mission?")}
    assert "DART" in texts
    assert "crash" not in texts


def test_which_of_the_following_gets_no_plain_words() -> None:
    sentence = "The company made diet soda for years."
    assert not span_candidates("entity", sentence, "Which of the following is true?")


def test_numbers_read_in_linear_time_and_keep_their_digit_groups() -> None:
    # The date and name checks look back a few characters, not to the sentence's start.
    started = time.perf_counter()
    span_candidates("number", "1 " * 10_000, "How many?")
    assert time.perf_counter() - started < 1.0
    sentence = "He is 6-foot-5; 1,000,000 people and 12,34,567 more, not 1,,2."
    texts = {c.text for c in span_candidates("number", sentence, "How many people?")}
    assert {"5", "1,000,000"} <= texts
    assert "1,,2" not in texts


def test_a_rate_is_no_time_phrase_and_initials_keep_their_dot() -> None:
    sentence = "The startup raised $100 million a year ago in the U.S. market."
    assert "$100 million" in {c.text for c in span_candidates("number", sentence, "How much did it raise?")}
    assert "U.S." in {c.text for c in span_candidates("place", sentence, "Where did it raise it?")}


def test_the_united_states_repeats_a_question_that_names_it() -> None:
    # "us" is a stop word, so "U.S." shared no term with "…fleeing the US?" and stood as an answer.
    sentence = "Russia granted Snowden, who fled the U.S. in 2013, citizenship; the United States objected."
    asked = {
        c.text for c in span_candidates("place", sentence, "Which country took him in after he fled the US?")
    }
    assert asked == {"Russia", "Snowden"}
    unasked = {c.text for c in span_candidates("place", sentence, "Which country objected?")}
    assert {"U.S.", "United States"} <= unasked


def test_an_amount_converted_in_brackets_is_no_figure_of_its_own() -> None:
    sentence = (
        "A hike on US$200 billion (S$266 billion) of goods, €50,000 (£43,000) in fines, 40 homes (about 12%)"
        " hit since 2019 (about 300 people)."
    )
    texts = {c.text for c in span_candidates("number", sentence, "How much were the goods worth?")}
    assert {"US$200 billion", "€50,000", "12%", "300 people"} <= texts
    assert not {"S$266 billion", "£43,000"} & texts


def test_a_span_that_only_repeats_the_question_is_no_candidate() -> None:
    sentence = "Howard Lutnick said the tariffs would come off, Mao Ning said."
    texts = {c.text for c in span_candidates("person", sentence, "What did Howard Lutnick say?")}
    assert "Mao Ning" in texts
    assert not any("Lutnick" in text for text in texts)


@pytest.mark.parametrize(
    ("sentence", "question", "kind", "name"),
    [
        (
            "Attendees of the gala honoured fashion on Monday.",
            "The gala honoured which field?",
            "entity",
            "Attendees",
        ),
        (
            "Questions are swirling about the chase in New York.",
            "In what city was the chase?",
            "place",
            "Questions",
        ),
        ("Thus, the unofficial end of summer.", "Which holiday ends the summer?", "entity", "Thus"),
        ("Decision: court rules against the artist.", "Which court ruled?", "organisation", "Decision"),
    ],
)
def test_a_word_that_only_opens_a_sentence_is_no_name(
    sentence: str, question: str, kind: str, name: str
) -> None:
    # Nothing around writes the word capitalised after a lowercase word, so it is a common word.
    around = [sentence, "the fans watched as the show went on in the city."]
    assert name not in {c.text for c in span_candidates(kind, sentence, question, mid_sentence_names(around))}
    # Without that evidence the candidate is kept, as before.
    assert name in {c.text for c in span_candidates(kind, sentence, question)}


def test_a_name_that_opens_a_sentence_is_kept_when_written_as_one_elsewhere() -> None:
    sentence = "Bradford topped the list of the gloomiest cities."
    question = "Which city is the gloomiest?"
    around = [sentence, "A study put Bradford first."]
    assert "Bradford" in {
        c.text for c in span_candidates("place", sentence, question, mid_sentence_names(around))
    }
    assert "Bradford" not in {
        c.text for c in span_candidates("place", sentence, question, mid_sentence_names([sentence]))
    }


@pytest.mark.parametrize(
    ("question", "sentence", "best", "other"),
    [
        (
            "Which US state banned the app?",
            "Also on Monday, Canada banned it, after Montana did.",
            "Montana",
            "Canada",
        ),
        (
            "Which country issued the warrant?",
            "Interpol said the Philippines issued it in Geneva.",
            "Philippines",
            "Geneva",
        ),
        (
            "They last went on strike in what year?",
            "On May 2 the union struck, for the first time since 2007.",
            "2007",
            "May 2",
        ),
        ("On what day do heart attacks peak?", "The 1998 study found they peak on Monday.", "Monday", "1998"),
        ("Who led the delegation?", "In Washington, Blinken led it.", "Blinken", "Washington"),
        (
            "A strike is brewing at which major company?",
            "In the UK, workers at UPS may strike.",
            "UPS",
            "UK",
        ),
        (
            "Which restaurant chain stayed open?",
            "Cracker Barrel stayed open across Florida.",
            "Cracker Barrel",
            "Florida",
        ),
        (
            "How many cases has China prosecuted?",
            "The 2019 rules led to 1,500 cases.",
            "1,500",
            "2019 rules",
        ),
    ],
)
def test_a_candidate_of_the_asked_for_sort_fits_best(
    question: str, sentence: str, best: str, other: str
) -> None:
    kind = answer_kind(question)
    assert kind is not None
    fits = {c.text: c.fit for c in span_candidates(kind, sentence, question)}
    assert fits[best] > fits[other]


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("Which U.S. state banned the app?", "Canada banned it too, after Montana did.", "Montana"),
        (
            "Which country's president visited?",
            "South Korea's President Yoon Suk Yeol visited.",
            "South Korea",
        ),
        (
            "Meloni became which country’s prime minister?",
            "Italy’s Prime Minister Giorgia Meloni spoke.",
            "Italy",
        ),
        ("How many people attended the rally?", "Organisers said 2000 people attended it in 2019.", "2000"),
    ],
)
def test_the_best_fitting_candidate(question: str, sentence: str, expected: str) -> None:
    kind = answer_kind(question)
    assert kind is not None
    candidates = span_candidates(kind, sentence, question)
    assert max(candidates, key=lambda c: c.fit).text == expected


def test_names_are_read_only_within_a_sentence() -> None:
    names = mid_sentence_names(
        ["Questions are swirling.\nThousands watched", "It was Russia's attack.", "said the U.S. would"]
    )
    assert {"Russia", "U.S"} <= names
    assert not names & {"Questions", "Thousands", "It", "Russia's"}


def test_a_country_that_opens_a_sentence_is_still_a_name() -> None:
    sentence = "Russia launched 40 drones overnight."
    names = mid_sentence_names([sentence])
    assert [c.text for c in span_candidates("place", sentence, "Which country launched drones?", names)] == [
        "Russia"
    ]


def test_a_team_may_be_named_after_its_country() -> None:
    sentence = "Argentina beat France in the final, said FIFA."
    fits = {c.text: c.fit for c in span_candidates("organisation", sentence, "Which team won the World Cup?")}
    assert fits["Argentina"] == fits["FIFA"]


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        (
            "NASA crashed a spacecraft into what?",
            "On Monday NASA crashed its DART spacecraft into an asteroid, which it moved.",
            ["an asteroid"],
        ),
        (
            "Campaigners held a sign saying what?",
            "Two campaigners held a sign saying “Who voted for this?” before they left.",
            ["Who voted for this?"],
        ),
        (
            "A judge approved the request for:",
            "The judge approved Trump's request for a special master to review the evidence.",
            ["a special master"],
        ),
        (
            "The US used it as an excuse to impose what?",
            "It used the issue as an excuse to impose additional tariffs twice this year.",
            ["additional tariffs"],
        ),
        (
            "Americans pay more because of what?",
            "They pay more because of this summer's heat waves, and Americans pay more because of the heat "
            "waves this year.",
            ["this summer's heat waves", "the heat waves"],
        ),
        # The blank's last word alone ("for") leads nowhere: the question's words must stand before it.
        ("A judge approved the request for:", "Fans waited for hours in the rain.", []),
        # "saying in a statement": a phrase does not open with a preposition.
        ("Campaigners held a sign saying what?", "The group was saying in a statement it would go on.", []),
    ],
)
def test_a_blank_is_filled_by_the_phrase_after_the_questions_words(
    question: str, sentence: str, expected: list[str]
) -> None:
    assert answer_kind(question) == "phrase"
    assert [c.text for c in span_candidates("phrase", sentence, question)] == expected


@pytest.mark.parametrize(
    ("question", "sentence", "refers"),
    [
        ("Which band announced a reunion tour?", "The band announced it on Tuesday.", True),
        ("Which band announced a reunion tour?", "This veteran band said so.", True),
        ("Which major company faces a strike?", "The company said talks go on.", True),
        # Only a description that opens the sentence continues the sentence before.
        ("Which band announced a reunion tour?", "Fans of the band queued.", False),
        ("Which band announced a reunion tour?", "The singer announced it.", False),
        ("Who announced a reunion tour?", "The band announced it.", False),
    ],
)
def test_an_article_refers_back_to_the_asked_for_thing_by_its_noun(
    question: str, sentence: str, refers: bool
) -> None:
    kind = answer_kind(question)
    assert kind is not None
    mention = answer_mention(question, kind)
    assert (mention is not None and mention.search(sentence) is not None) == refers


def test_a_state_of_another_country_is_any_place() -> None:
    sentence = "Floods hit Kerala and Assam."
    fits = {c.text: c.fit for c in span_candidates("place", sentence, "Which Indian state flooded?")}
    assert fits["Kerala"] == fits["Assam"] == 1.0


# -- through the assistant, on the seed article -----------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings) -> Assistant:
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("short") / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    report = ingest_paths([REPO / "seeds"], settings, index=assistant.index, progress=False)
    assert report.ok
    return assistant


_REUNION = """title: A reunion

The Marrow Bells are coming to a city near you.

The band announced a reunion tour on Tuesday, in a video full of jokes. Members Ann Ode and Ben Tarr will
rejoin the founding guitarist, Cy Lune, for the tour. Tickets go on sale on Monday.
"""


def test_the_thing_a_sentence_calls_the_band_is_named_in_the_sentence_before(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings
) -> None:
    from rag.settings import Settings

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "reunion.txt").write_text(_REUNION, encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    assert ingest_paths([tmp_path / "docs"], settings, index=assistant.index, progress=False).ok
    answer = assistant.ask("Which band announced a reunion tour?")
    assert answer.short_answer is not None, answer.text
    assert answer.short_answer.text == "Marrow Bells"
    _check_short_answer(assistant, answer)
    # Asked for a person, the same sentences give a person.
    who = assistant.ask("Who is the founding guitarist?")
    assert who.short_answer is not None and who.short_answer.text == "Cy Lune"


_VISIT = """title: A visit

Last autumn the Orbit City Comets won their first championship, beating the{rivals} in six games.

On Monday the Comets were invited to the White House, where the president praised the team's pitching.
"""


@pytest.mark.parametrize(
    ("rivals", "expected"),
    [
        (" Harbour Gulls", "Orbit City Comets"),
        # Two teams that the short form could mean: it stays as the article says it.
        (" Lake Town Comets", "Comets"),
    ],
)
def test_a_short_form_of_a_name_answers_with_the_full_name(
    tmp_path: Path, embedder: SentenceTransformerEmbeddings, rivals: str, expected: str
) -> None:
    from rag.settings import Settings

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "visit.txt").write_text(_VISIT.format(rivals=rivals), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    assistant = Assistant(settings, embedder=embedder)
    assert ingest_paths([tmp_path / "docs"], settings, index=assistant.index, progress=False).ok
    answer = assistant.ask("Which baseball team was invited to the White House?")
    assert answer.short_answer is not None, answer.text
    assert answer.short_answer.text == expected
    _check_short_answer(assistant, answer)


def _with_answerer(seeded: Assistant, answerer: Answerer) -> Assistant:
    return Assistant(
        seeded.settings,
        embedder=seeded.embedder,
        index=seeded.index,
        retriever=seeded.retriever,
        answerer=answerer,
    )


def _check_short_answer(assistant: Assistant, answer: Answer) -> None:
    short = answer.short_answer
    assert short is not None
    assert assistant.index.article_text(short.doc_id)[short.start : short.end] == short.text
    assert any(
        c.doc_id == short.doc_id and c.start <= short.start and short.end <= c.end for c in answer.citations
    )
    assert answer.text.removeprefix(f"{CAVEAT} ").startswith(f"{short.text} — ")
    assert not answer.abstained


def test_every_short_answer_on_the_gold_set_is_a_verbatim_span_of_a_citation(seeded: Assistant) -> None:
    checked = 0
    for item in GOLD:
        answer = seeded.ask(item["question"])
        if answer.short_answer is not None:
            checked += 1
            _check_short_answer(seeded, answer)
            assert not any("short answer" in note for note in answer.notes), answer.notes
    assert checked >= 5


def test_the_seed_article_says_who_wrote_it_and_its_headline(seeded: Assistant) -> None:
    author = seeded.ask("Who wrote this article?")
    _check_short_answer(seeded, author)
    assert author.short_answer is not None and author.short_answer.text == "Lim Min Zhang"
    assert author.citations[0].quote == "Lim Min Zhang is China correspondent at The Straits Times."
    # The cited chunk is shown first, then the retrieved passages, as many as a question gets.
    assert author.passages[0].chunk_id == author.citations[0].chunk_id
    assert len(author.passages) == seeded.settings.top_k
    summary = seeded.ask("What is this article about?")
    assert summary.citations[0].quote == "What’s in it for Beijing to crack down harder on fentanyl?"
    assert summary.citations[1].quote.startswith("BEIJING – Should Beijing crack down harder on fentanyl")
    headline = seeded.ask("What is the article's headline?")
    _check_short_answer(seeded, headline)
    assert headline.text.startswith(
        "What’s in it for Beijing to crack down harder on fentanyl? — the article's headline"
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "In which year did China become the first country to put all fentanyl-related substances "
            "on its controlled substances list?",
            "2019",
        ),
        ("Who said that the tariffs would come off if fentanyl ends?", "Howard Lutnick"),
        ("Since when has Trump been demanding that Beijing crack down harder on fentanyl?", "February"),
        ("For how long was the planned tariff hike on US$200 billion of Chinese goods postponed?", "90 days"),
        # Worded unlike the article: "Shanghai-based" holds "based"; a converted amount is no answer.
        ("Where is Shen Dingli based?", "Shanghai"),
        # Worded like it: the hyphenated word still matches whole, and "Shanghai" is no scholar.
        ("Which Shanghai-based scholar noted that China and the US have a working group?", "Shen Dingli"),
        ("How much were the Chinese goods affected by the planned tariff hike worth?", "US$200 billion"),
        # A blank: the phrase after "in response to" in the article's words.
        ("The White Paper was issued by China in response to what?", "charges"),
        # The lead is a rhetorical question; its aside between dashes states the figure.
        ("How many Americans die from fentanyl each year?", "thousands"),
    ],
)
def test_factoid_questions_get_the_right_short_answer(
    seeded: Assistant, question: str, expected: str
) -> None:
    answer = seeded.ask(question)
    assert answer.short_answer is not None, answer.text
    assert answer.short_answer.text == expected
    _check_short_answer(seeded, answer)
    assert answer.confidence is not None and 0.0 <= answer.confidence <= 1.0


_GOLD_QUESTIONS = [item["question"] for item in GOLD]
_NO_SPAN_OPENINGS = ("Why ", "How does ", "How did ", "How do ", "does ", "Has ", "Do ")


def test_why_how_and_yes_no_questions_get_no_short_answer(seeded: Assistant) -> None:
    questions = [q for q in _GOLD_QUESTIONS if q.startswith(_NO_SPAN_OPENINGS)]
    answers = [seeded.ask(question) for question in questions]
    assert len(questions) >= 6
    assert [a.question for a in answers if a.short_answer is not None] == []
    assert sum(not a.abstained for a in answers) >= 3


# -- the assistant drops a short answer it cannot verify --------------------------------------------

_QUOTE = (
    "China often points to how it became the first in the world to officially put all "
    "fentanyl-related substances under a controlled substances list in 2019."
)


class ScriptedAnswerer(Answerer):
    """Quotes the given citations and puts `short` first, as the extractive answerer does."""

    name = "scripted"

    def __init__(self, short: ShortAnswer, citations: tuple[Citation, ...]) -> None:
        self.short = short
        self.citations = citations

    def stream(self, request: AnswerRequest) -> Iterator[str | Draft]:
        text = " ".join([f"{self.short.text} —", *(f"{c.quote} [{c.n}]" for c in self.citations)])
        yield text
        yield Draft(text, self.citations, short_answer=self.short, confidence=0.9)


@pytest.fixture(scope="module")
def quoted(seeded: Assistant) -> tuple[str, Citation]:
    """The seed article's text and a true citation of its 2019 sentence."""
    (record,) = seeded.articles()
    text = seeded.index.article_text(record.doc_id)
    start = text.index(_QUOTE)
    citation = Citation(1, record.doc_id, record.title, "", "chunk", start, start + len(_QUOTE), _QUOTE)
    return text, citation


def _ask_scripted(seeded: Assistant, short: ShortAnswer, *citations: Citation) -> Answer:
    assistant = _with_answerer(seeded, ScriptedAnswerer(short, citations))
    return assistant.ask("In which year did China control all fentanyl-related substances?")


def test_a_true_short_answer_inside_the_citation_is_kept(
    seeded: Assistant, quoted: tuple[str, Citation]
) -> None:
    _, citation = quoted
    start = citation.start + _QUOTE.index("2019")
    answer = _ask_scripted(seeded, ShortAnswer("2019", citation.doc_id, start, start + 4), citation)
    assert answer.short_answer == ShortAnswer("2019", citation.doc_id, start, start + 4)
    assert answer.text == f"2019 — {_QUOTE} [1]"
    assert answer.notes == ()
    assert answer.confidence == 0.9


def _bogus(text: str, citation: Citation) -> dict[str, ShortAnswer]:
    in_quote = citation.start + _QUOTE.index("2019")
    elsewhere = text.index("March 10")
    return {
        "offsets one off": ShortAnswer("2019", citation.doc_id, in_quote + 1, in_quote + 5),
        "text not the article's": ShortAnswer("2020", citation.doc_id, in_quote, in_quote + 4),
        "true but outside the citation": ShortAnswer("March 10", citation.doc_id, elsewhere, elsewhere + 8),
        "straddles the citation's end": ShortAnswer(
            text[in_quote : citation.end + 4], citation.doc_id, in_quote, citation.end + 4
        ),
        "unknown article": ShortAnswer("2019", "no-such-doc", in_quote, in_quote + 4),
    }


@pytest.mark.parametrize(
    "case",
    [
        "offsets one off",
        "text not the article's",
        "true but outside the citation",
        "straddles the citation's end",
        "unknown article",
    ],
)
def test_a_short_answer_that_is_not_a_cited_span_is_dropped(
    seeded: Assistant, quoted: tuple[str, Citation], case: str
) -> None:
    text, citation = quoted
    short = _bogus(text, citation)[case]
    answer = _ask_scripted(seeded, short, citation)
    assert answer.short_answer is None
    assert not answer.abstained
    assert answer.text == f"{_QUOTE} [1]"
    assert not answer.text.startswith(short.text)
    assert any("dropped the short answer" in note for note in answer.notes)
    assert len(answer.citations) == 1


def test_a_short_answer_inside_a_citation_that_failed_verification_is_dropped(
    seeded: Assistant, quoted: tuple[str, Citation]
) -> None:
    text, good = quoted
    other = text.index("March 10")
    bad = Citation(2, good.doc_id, good.title, "", "chunk", other, other + 8, "March 11")
    short = ShortAnswer("March 10", good.doc_id, other, other + 8)
    answer = _ask_scripted(seeded, short, good, bad)
    assert answer.short_answer is None
    assert answer.text.startswith(f"{_QUOTE} [1]")
    assert [c.quote for c in answer.citations] == [_QUOTE]
    assert any("dropped the short answer" in note for note in answer.notes)
    assert any("dropped 1 citation" in note for note in answer.notes)


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("Which government officials from each side are quoted on the fentanyl-tariff issue?", "Mao Ning"),
        # A second part asks about each item; the items are still the list's.
        ("Which professors are quoted, and where are they from?", "Zhiqun Zhu"),
        # "Who is quoted…?" asks for everyone who is, not for one name ("White Paper" was one).
        ("Who is quoted in the article?", "Chong Ja Ian"),
    ],
)
def test_a_list_question_gathers_several_named_items_each_with_its_citation(
    seeded: Assistant, question: str, named: str
) -> None:
    answer = seeded.ask(question)

    assert not answer.abstained
    assert answer.short_answer is None  # several items, not one span
    assert len(answer.citations) >= 2
    article = seeded.index.article_text(answer.citations[0].doc_id)
    items = []
    for citation in answer.citations:
        assert article[citation.start : citation.end] == citation.quote
        # Each item is named before its own quote, and the quote says it: "Mao Ning — … Mao Ning said …".
        item = answer.text.split(f"{citation.quote} [{citation.n}]")[0].rsplit("[", 1)[-1]
        name = item.split("—")[0].strip(" ]0123456789:")
        name = name.removeprefix(CAVEAT).strip()
        assert name and name in citation.quote, (name, citation.quote)
        items.append(name)
    assert len(set(items)) == len(items)
    assert named in items


def test_a_name_nothing_calls_a_person_is_no_list_item() -> None:
    sentence = "On March 4, China’s Cabinet issued a White Paper, and spokeswoman Mao Ning said it was fair."
    found = {c.text: c.introduced for c in span_candidates("person", sentence, "Which officials are quoted?")}
    assert found.get("Mao Ning") is True
    assert found.get("White Paper") is False


@pytest.mark.timeout(20)
def test_a_long_capitalised_question_is_classified_in_linear_time() -> None:
    # "Who is <Name>?" once backtracked over every split of a run of capitals: 320 took 18 s.
    assert answer_kind("Who is " + "A" * 1990 + "!") == "person"
    assert answer_kind("Who is Howard Lutnick?") is None
    assert answer_kind("Who is the US Commerce Secretary?") == "person"


@pytest.mark.timeout(20)
def test_a_blank_is_sought_in_a_long_sentence_in_linear_time() -> None:
    # Each "for" once re-read every word before it: 12,000 of them took 9 s, 30,000 over 20 s.
    sentence = "for “" * 30000 + " the request for a special master, he said"
    candidates = span_candidates("phrase", sentence, "The judge approved the request for:")
    assert [c.text for c in candidates] == ["a special master"]


@pytest.mark.parametrize(
    ("sentence", "question", "wanted", "unwanted"),
    [
        ("In 2019 and 300 people died in 2020.", "How many people died in 2020?", "300", "2019 and 300"),
        (
            "Prices fell from 70,000 to 55,000 last year.",
            "How much did prices fall?",
            "55,000",
            "70,000 to 55,000",
        ),
        ("The rate rose to between 3 and 5 per cent.", "What rate is expected?", "3 and 5 per cent", ""),
        ("Americans aged 18 to 45 die of it.", "Which age group is at risk?", "18 to 45", ""),
    ],
)
def test_number_ranges_join_only_real_ranges(
    sentence: str, question: str, wanted: str, unwanted: str
) -> None:
    texts = {c.text for c in span_candidates("number", sentence, question)}
    assert wanted in texts
    assert unwanted not in texts


def test_a_straight_closing_quote_does_not_open_a_phrase() -> None:
    sentence = 'It will pass," the minister warned, citing the "Made in China 2025" plan.'
    texts = {c.text for c in span_candidates("entity", sentence, "Which plan did the minister cite?")}
    assert "Made in China 2025" in texts
    assert not any("minister warned" in text for text in texts)


@pytest.mark.parametrize(
    "question",
    ["Which United States senator sponsored the bill?", "Which official do the reports quote on tariffs?"],
)
def test_one_thing_asked_for_is_no_list(question: str) -> None:
    assert not is_list_question(question)


def test_a_title_cut_off_at_its_dot_is_no_name() -> None:
    # The capitalised run stops at "Sen.", leaving the title's abbreviation alone as a "name".
    sentence = "Sen. Tim Scott today announced he's running for president."
    question = "Scott is a Republican senator for which state?"
    for kind in ("place", "organisation", "entity"):
        assert "Sen" not in {c.text for c in span_candidates(kind, sentence, question)}
    moved = {
        c.text for c in span_candidates("place", "The team moved to St. Louis.", "Where did the team move?")
    }
    assert "St. Louis" in moved


@pytest.mark.parametrize(
    ("kind", "sentence", "question", "expected"),
    [
        # A word only a sentence's start capitalises in the question is no part of its names.
        (
            "organisation",
            "He will join Major League Soccer next season.",
            "Soccer icon Lionel Messi announced where he will play. Which league does he plan on joining?",
            "Major League Soccer",
        ),
        # The question's "Tea" ends another name: the new brand keeps its own.
        (
            "entity",
            "Goldman is launching Just Ice Tea next year.",
            "Coca-Cola is phasing out Honest Tea. What is the new tea brand Goldman is launching?",
            "Just Ice Tea",
        ),
        # The words shared with another name go together or not at all.
        (
            "entity",
            "As the Toronto International Film Festival opened, stars arrived.",
            "Which of these movies premiered at the Venice Film Festival this week?",
            "Toronto International Film Festival",
        ),
        # A name the question says of its own is still trimmed off.
        (
            "organisation",
            "Spokespeople for Twitter declined to comment.",
            "Whose Twitter account was locked?",
            "Spokespeople",
        ),
    ],
)
def test_a_name_keeps_the_end_it_shares_only_with_another_name(
    kind: str, sentence: str, question: str, expected: str
) -> None:
    assert expected in {c.text for c in span_candidates(kind, sentence, question)}


def test_a_name_the_question_opens_with_is_trimmed_off() -> None:
    question = "Tim Scott announced his campaign this week. Scott is a Republican senator for which state?"
    texts = {
        c.text
        for c in span_candidates("place", "NORTH CHARLESTON, S.C. - Sen. Tim Scott announced it.", question)
    }
    assert "S.C." in texts
    assert not any("Tim" in text for text in texts)


@pytest.mark.parametrize(
    ("kind", "sentence", "question", "other"),
    [
        # A venue or a team's firm reads as no person, so the driver named beside it leads.
        (
            "person",
            "Ryan Blaney held off William Byron at Charlotte Motor Speedway on Monday.",
            "Which driver finished second?",
            "Charlotte Motor Speedway",
        ),
        (
            "person",
            "William Byron drives for Hendrick Motorsports this year.",
            "Which driver won?",
            "Hendrick Motorsports",
        ),
    ],
)
def test_a_venue_or_a_firm_is_no_person(kind: str, sentence: str, question: str, other: str) -> None:
    fits = {c.text: c.fit for c in span_candidates(kind, sentence, question)}
    assert fits["William Byron"] == 1.0
    assert fits[other] <= 0.3


def test_a_name_the_passages_use_as_a_place_is_no_person() -> None:
    # Template articles: "the ferry inspector of Quillon Reach" alone reads like a person's name;
    # "residents of Quillon Reach" elsewhere in the passages says it is a place.
    passages = [
        "Teodor Haugland will serve as the new ferry inspector of Quillon Reach from next month.",
        "Residents of Quillon Reach welcomed the decision, and the mayor of Port Ellery spoke.",
    ]
    places = place_names(passages)
    assert places == {"Quillon Reach", "Port Ellery"}
    question = "Who is the harbour master of Brackenhurst?"
    unaware = {c.text: c.fit for c in span_candidates("person", passages[0], question)}
    aware = {c.text: c.fit for c in span_candidates("person", passages[0], question, None, places)}
    assert unaware["Quillon Reach"] == 1.0
    assert aware["Quillon Reach"] <= 0.3
    assert aware["Teodor Haugland"] == 1.0
    # A possessive is about what the place has, and a person may be "of" nowhere in particular.
    assert place_names(["the people of Joe Biden's campaign", "a friend of Ann Lee"]) == frozenset()


@pytest.mark.parametrize(
    ("question", "halved"),
    [
        ("How many pages long is the report?", {"90 days", "10 per cent", "$5 million"}),
        ("How many people signed the petition?", {"90 days", "10 per cent", "$5 million"}),
        # A count of a measure takes that measure: days are counted in days.
        ("How many more days did the council have?", set()),
    ],
)
def test_a_count_of_things_is_not_a_duration_a_share_or_a_sum(question: str, halved: set[str]) -> None:
    sentence = (
        "The 40-page report gave the council 90 days, cost $5 million and won 10 per cent of 300 votes."
    )
    fits = {c.text: c.fit for c in span_candidates("number", sentence, question)}
    measured = {text for text in fits if text.endswith(("days", "per cent", "million"))}
    assert measured and {text for text in measured if fits[text] < 1.0} == halved
    assert fits["300 votes" if "300 votes" in fits else "300"] == 1.0


def test_things_are_counted_whole_and_not_in_kilometres() -> None:
    sentence = "A magnitude 5.8 quake struck at a depth of 10 kilometres, killing nine people; 2.5 million lost power."
    fits = {c.text: c.fit for c in span_candidates("number", sentence, "How many people died in the quake?")}
    assert fits["5.8"] == 0.5 and fits["10 kilometres"] == 0.5  # a magnitude and a depth count no one
    assert [fit for text, fit in fits.items() if text.startswith("2.5 million")] == [
        1.0
    ]  # a scale word makes a count
    deep = {c.text: c.fit for c in span_candidates("number", sentence, "How many kilometres deep was it?")}
    assert deep.get("10", deep.get("10 kilometres")) == 1.0
