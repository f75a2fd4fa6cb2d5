"""A follow-up becomes a question a person would write: retrieval searches it and the chat shows it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.followup import Turn, asks_for_more, condense

pytestmark = pytest.mark.fast

MAO: Turn = (
    "Who is Mao Ning?",
    "Chinese Foreign Ministry spokeswoman Mao Ning said on March 11 that the US has used the fentanyl "
    "issue as an excuse to impose additional tariffs twice on Chinese imports. [1]",
)
TARIFFS: Turn = ("What did she say about tariffs?", MAO[1])
LUTNICK: Turn = (
    "Who is the US Commerce Secretary?",
    "“If fentanyl ends, I think these (tariffs) will come off,” US Commerce Secretary Howard Lutnick "
    "said in an interview on March 9. [1]",
)
FENTANYL: Turn = (
    "What is fentanyl?",
    "Fentanyl has been identified as the leading cause of death for Americans aged 18 to 45. [1]",
)
GROUP: Turn = (
    "What is the joint working group on counter-narcotics?",
    "Shanghai-based international relations scholar Shen Dingli noted that China and the US have "
    "established a joint working group on counter-narcotics. [1]",
)
INSPECTOR: Turn = (
    "Who is the market inspector of Calder Rise?",
    "Sunniva Moreau will serve as the new market inspector of Calder Rise from next month. [1] "
    "Sunniva previously spent 8 years working in the region. [2]",
)
FELBAB: Turn = (
    "What did Felbab-Brown say about the 2019 move?",
    "Dr Vanda Felbab-Brown from the Brookings Institution said the 2019 move to control all "
    "fentanyl-related substances was “a significant ask of China”. [1]",
)
MARCH_12: Turn = (
    "What did China's officials say on March 12?",
    "On March 12, officials from China’s foreign and public security ministries told reporters that "
    "the country has done all it can for the US. [1]",
)
CHANNEL: Turn = (
    "What did Trump and Xi agree on Jan 17?",
    "An agreement to set up a “channel of strategic communication” during a phone call between Mr Trump "
    "and Chinese President Xi Jinping on Jan 17 has yet to materialise. [1]",
)
TAKE_EFFECT: Turn = (
    "When did China's latest tariffs take effect?",
    "“If fentanyl ends, I think these (tariffs) will come off,” US Commerce Secretary Howard Lutnick said "
    "in an interview on March 9, before China’s latest retaliatory tariffs kicked in on March 10. [1]",
)
ACCUSED: Turn = (
    "What does the US accuse Chinese chemical companies of?",
    "The US has alleged that Chinese chemical companies produce the vast majority of the key "
    "ingredients, known as precursors, used to make fentanyl. [1]",
)
HISTORIES = [
    [MAO],
    [MAO, TARIFFS],
    [LUTNICK],
    [FENTANYL],
    [GROUP],
    [INSPECTOR],
    [FELBAB],
    [MARCH_12],
    [CHANNEL],
    [TAKE_EFFECT],
    [ACCUSED],
]
FOLLOW_UPS = [
    "What did she say about tariffs?",
    "What did he say?",
    "When did he say it?",
    "How many years did they spend working in the region?",
    "What is it used for?",
    "Where was its follow-up meeting?",
    "Has it materialised?",
    "Why is that?",
    "What happened to that group?",
    "What happened then?",
    "And in 2019?",
    "And on March 11?",
    "What about Shen Dingli?",
    "How about the US?",
    "Anything else?",
    "Tell me more",
    "Why?",
    "And what did she say the US should do?",
    "But what did the US do?",
    "Is there more on the same issue?",
]


@pytest.mark.parametrize("history", HISTORIES, ids=lambda history: history[-1][0])
@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_no_rewrite_carries_notes_for_the_machine(question: str, history: list[Turn]) -> None:
    rewritten = condense(question, history)

    assert "(context:" not in rewritten
    assert not set("()[];") & set(rewritten), "brackets and notes come from the answers, never the user"
    assert "previously spent" not in rewritten and "leading cause of death" not in rewritten
    assert rewritten[:1].isupper() and rewritten.endswith("?")


@pytest.mark.parametrize(
    ("question", "history", "standalone"),
    [
        ("What did she say about tariffs?", [MAO], "What did Mao Ning say about tariffs?"),
        ("And in 2019?", [MAO, TARIFFS], "What did Mao Ning say about tariffs in 2019?"),
        (
            "How many years did they spend working in the region?",
            [INSPECTOR],
            "How many years did Sunniva Moreau spend working in the region?",
        ),
        (
            "What did he say about the tariffs?",
            [LUTNICK],
            "What did US Commerce Secretary Howard Lutnick say about the tariffs?",
        ),
        ("Who does it kill most?", [FENTANYL], "Who does fentanyl kill most?"),
        (
            "When did it first meet?",
            [GROUP],
            "When did the joint working group on counter-narcotics first meet?",
        ),
        ("What did she say?", [FELBAB], "What did Dr Vanda Felbab-Brown say?"),
        ("What about Shen Dingli?", [FELBAB], "What did Shen Dingli say about the 2019 move?"),
        ("And on March 11?", [MARCH_12], "What did China's officials say on March 11?"),
        ("Anything else?", [MAO, TARIFFS], "What else did Mao Ning say about tariffs?"),
        ("And what did she say the US should do?", [MAO], "What did Mao Ning say the US should do?"),
        # Nothing to name "it" with: the two questions become one, as a person would ask them.
        (
            "Has it materialised?",
            [CHANNEL],
            "What did Trump and Xi agree on Jan 17, and has it materialised?",
        ),
        ("Why?", [MAO, TARIFFS], "What did Mao Ning say about tariffs, and why?"),
        # "Them" is the question's tariffs, not the one person the answer names.
        ("And who announced them?", [TAKE_EFFECT], "Who announced China's latest tariffs?"),
        ("Where are they based?", [ACCUSED], "Where are the Chinese chemical companies based?"),
        # "They … them" are two parties: the questions become one.
        (
            "Why did they impose them?",
            [TAKE_EFFECT],
            "When did China's latest tariffs take effect, and why did they impose them?",
        ),
        # More items of a list: the same question, for other ones.
        (
            "Any others?",
            [("Which academics are quoted?", "Zhiqun Zhu — Professor Zhiqun Zhu said so. [1]")],
            "Which other academics are quoted?",
        ),
        # After "Who is …?", "it" is not the person asked about.
        (
            "What did he say about it?",
            [LUTNICK],
            "What did US Commerce Secretary Howard Lutnick say about it?",
        ),
        (
            "What did she say about it?",
            [("Who is the Chinese foreign ministry spokeswoman?", MAO[1])],
            "What did Mao Ning say about it?",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and value.endswith("?") else None,
)
def test_the_rewrite_names_what_the_follow_up_points_back_to(
    question: str, history: list[Turn], standalone: str
) -> None:
    assert condense(question, history) == standalone


def test_a_standalone_question_stays_as_asked() -> None:
    for question in (
        "What is fentanyl?",
        "Is there a deal?",
        "Did the US say that China should act?",
        "In what year did the Fernwick heron sanctuary open?",
        "On which day did the tariffs kick in?",
        "According to Zhiqun Zhu, what does China prioritise?",
    ):
        assert condense(question, [MAO, TARIFFS]) == question


@settings(max_examples=300, deadline=None)
@given(
    question=st.text(max_size=60),
    history=st.lists(st.tuples(st.text(max_size=60), st.text(max_size=200)), max_size=4),
)
def test_brackets_in_a_rewrite_are_only_ever_the_users_own(question: str, history: list[Turn]) -> None:
    rewritten = condense(question, history)

    typed = question + "".join(asked for asked, _ in history)
    assert all(mark in typed for mark in "()[];" if mark in rewritten)


@pytest.mark.parametrize(
    "fragment", ["Since when?", "For how long?", "In which city?", "On what date?", "In what year?"]
)
def test_a_short_prepositional_question_leans_on_the_previous_one(fragment: str) -> None:
    history = [("What tariffs did China impose on US goods?", "China imposed tariffs on US goods. [1]")]
    rewritten = condense(fragment, history)
    assert rewritten != fragment
    assert "tariffs" in rewritten


@pytest.mark.parametrize(
    ("question", "more"),
    [
        ("What else did she say?", True),
        ("Anything more?", True),
        ("Which other academics are quoted?", True),
        ("Tell me more", True),
        ("Go on", True),
        ("What did she say?", False),
        ("How many more days did the council have?", False),
        ("Is there more fentanyl in the US?", False),
    ],
)
def test_a_follow_up_that_asks_for_more(question: str, more: bool) -> None:
    assert asks_for_more(question) is more
