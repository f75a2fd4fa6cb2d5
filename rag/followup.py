"""Turn a follow-up question into a standalone question, deterministically (no LLM).

The result is both what retrieval searches and what the chat shows after "Searched for:", so it
is a question a person would write: a pronoun gives way to what it stands for ("What did she
say?" → "What did Mao Ning say?"), a fragment is merged into the previous question ("And in
2019?" → "What did Mao Ning say about tariffs in 2019?"), and a reference with nothing to stand
for joins the previous question ("What did Trump and Xi agree on Jan 17, and has it materialised?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.citations import strip_markers
from rag.gazetteer import is_demonym
from rag.text import content_terms, sentence_spans

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Turn", "asks_for_more", "condense", "normalise_history"]

Turn = tuple[str, str]
"""One exchange: (user question, assistant answer)."""


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_LOOKBACK = 3
"""Turns looked at: the previous question is itself made standalone from the turns before it."""

_WH = r"(?:what|who|whom|whose|when|where|why|how|which)"
_AUX = (
    r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must"
    r"|isn['’]t|aren['’]t|wasn['’]t|weren['’]t|don['’]t|doesn['’]t|didn['’]t|hasn['’]t|haven['’]t)"
)
_COMMAND = r"(?:tell|list|explain|describe|give|show|summari[sz]e|name|compare|find)"
# "In what year did the sanctuary open?" and "According to Zhu, what …?" are whole questions too;
# "In which city?" and "Since when?" are fragments of the previous one.
_FULL_QUESTION = re.compile(
    rf"^(?:(?:(?:in|on|at|for|from|by|since|until|to|with|during|after|before|of)\s+(?=(?:\S+\s+){{3}}))|"
    rf"according to [^,?]+,\s+)?(?:{_WH}|{_AUX}|{_COMMAND})\b",
    re.IGNORECASE,
)
_LEADING_LINK = re.compile(r"^(?:and|but|also|so|then|ok(?:ay)?|well)\b[\s,]*", re.IGNORECASE)
_ABOUT_FRAGMENT = re.compile(r"^(?:what|how)\s+about\s+", re.IGNORECASE)
_MORE = re.compile(
    r"(?:(?:anything|what|who|something|anyone)\s+else|tell me more(?:\s+about\s+(?:it|that|this|them|him|her))?"
    r"|more(?: details)?|go on|elaborate|(?:are there\s+)?any (?:others|more))",
    re.IGNORECASE,
)
_BARE_WH = re.compile(
    rf"^{_WH}(?:\s+(?:exactly|so|not|much|many|long|often|come|else|then))?$", re.IGNORECASE
)
_PREPOSITIONS = _set(
    "in on at for during before after since from by with about regarding to between under over "
    "against among within without until towards toward"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_YEAR = re.compile(r"\b(?:in\s+)?(?:1[89]|20)\d\d\b", re.IGNORECASE)
_DAY = re.compile(
    rf"\b(?:on\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?)\b",
    re.IGNORECASE,
)
_DATE_WORDS = re.compile(rf"(?:{_MONTH}|[\d\s,])+", re.IGNORECASE)

# "What is X?" and "... about X?": what "it" or "that" most often stands for next.
_WHAT_IS = re.compile(r"^(?:what|which|who)\s+(?:is|are|was|were)\s+(?P<x>[^,;]+)$", re.IGNORECASE)
_ABOUT = re.compile(r"\b(?:about|regarding|concerning|on|over)\s+(?P<x>[^,;]+)$", re.IGNORECASE)

_REFERENCE = re.compile(
    r"\b(?P<word>he|she|him|his|her|hers|they|them|their|theirs|it|its|this|that|these|those"
    r"|there|then)(?P<is>['’]s)?\b",
    re.IGNORECASE,
)
_VAGUE = re.compile(r"\b(?:the same|such)\b", re.IGNORECASE)
_SPEECH = _set("say said says mean meant means claim claimed do")
_PERSON_VERBS = _set(
    "say said says think thought believe believed argue argued claim claimed want wanted tell told "
    "add added note noted mean meant"
)
_DEMONSTRATIVE_VERBS = _set(
    "is was are were has had have mean means meant happen happened happens matter matters "
    "work worked come came change changed"
)
_AFTER_COMPLEMENTISER = _set(
    "the a an he she it they we i you his her its their there this these those some all no"
)
_TIME_BEFORE_THEN = _set("since until by back before after from")
_ABOUT_WORDS = _set("about regarding concerning on of with over")
_NOT_POSSESSED = _PREPOSITIONS | _set(
    "and or but if that what when why how because so too as than again anymore"
)

_TITLES = r"(?:Mr|Mrs|Ms|Dr|Prof|Professor|President|Secretary|Minister|spokes(?:wo)?man|Associate Professor)"
_NAME = re.compile(rf"(?:{_TITLES}\.?\s+)?[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|al|bin|van|von|de))*")
_SENTENCE_STARTERS = _set(
    "what who whom whose when where why how which is are was were do does did can could should "
    "would will the a an in on at it its he she they this that these those if but and so as for "
    "following after before since"
)
_NOT_MODIFYING = _SENTENCE_STARTERS | _PREPOSITIONS | _set("and or but not than")
"""Words that end a noun phrase on its left: "did *China's latest tariffs*", "of *the tariffs*"."""
# A capitalised name after these words is a place or an organisation, not someone to call "she".
_PLACE_BEFORE = _set("the a an of in at from near into across inside outside")
_NOT_PEOPLE = _set(
    "university institution institute ministry times paper cabinet committee house council party "
    "department office agency commission association group bank company corporation news post "
    "channel court congress senate administration government city province state states union "
    "nations organisation organization foundation force army navy police service airport street "
    "road square river island islands bay"
)
_CALENDAR = _set(
    "january february march april may june july august september october november december jan feb "
    "mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday "
    "sunday"
)


_FOR_MORE = re.compile(
    r"\b(?:else|besides|other|others)\b|\b(?:any|anything|what|tell me|some)\s+more\b"
    r"|\bmore (?:details|detail|information)\b|^\W*(?:and\s+)?(?:go on|more|elaborate)\W*$",
    re.IGNORECASE,
)


def asks_for_more(question: str) -> bool:
    """Whether a follow-up asks for what the previous answer did not say ("What else did she say?")."""
    return bool(_FOR_MORE.search(question))


def normalise_history(history: Sequence[Any]) -> list[Turn]:
    """Accepts (question, answer) pairs, `{"role", "content"}` dicts or LangChain messages."""
    turns: list[Turn] = []
    pending: str | None = None
    for item in history:
        if isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            turns.append((item[0], item[1]))
            continue
        role = item.get("role") if isinstance(item, dict) else getattr(item, "type", None)
        content = item.get("content") if isinstance(item, dict) else getattr(item, "content", "")
        text = content if isinstance(content, str) else str(content)
        if role in {"user", "human"}:
            if pending is not None:
                turns.append((pending, ""))
            pending = text
        elif role in {"assistant", "ai"} and pending is not None:
            turns.append((pending, text))
            pending = None
    if pending is not None:
        turns.append((pending, ""))
    return turns


# -- who and what the previous turn was about ---------------------------------------------------


def _people(text: str, *, single_words: bool = False) -> list[str]:
    """Names that may be a person's, titled ones first ("Dr Vanda Felbab-Brown"), then full names."""
    titled, full, single = [], [], []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        before = text[: match.start()].split()[-1:]
        while words and words[0].lower() in _SENTENCE_STARTERS:
            before = words[:1]
            words = words[1:]
        if words and words[0].islower():  # "spokeswoman Mao Ning": the name alone reads better
            words = words[1:]
        if not words or (before and before[0].lower() in _PLACE_BEFORE):
            continue
        possessive = re.search(r"['’]s$", words[-1]) is not None
        words[-1] = re.sub(r"['’]s$", "", words[-1])
        if any(w.lower() in _NOT_PEOPLE for w in words) or words[0].lower() in _CALENDAR:
            continue
        name = " ".join(words)
        if re.match(_TITLES, name):
            titled.append(name)
        elif len(words) > 1:
            full.append(name)
        elif not words[0].isupper() and not possessive:  # not "US", nor "China's officials"
            single.append(name)
    every = titled + full + single
    # "Howard Lutnick … US Commerce Secretary Howard Lutnick": the fuller form says who he is.
    return [
        max((n for n in every if n == name or n.endswith(f" {name}")), key=len)
        for name in titled + full + (single if single_words else [])
    ]


@dataclass(frozen=True, slots=True)
class _Antecedents:
    """What the previous turn offers a pronoun: someone, something, and whether it asked who."""

    person: str | None
    topic: str | None
    about_someone: bool
    things: str | None = None
    """A plural noun phrase of the previous question ("China's latest tariffs"): what "them" names
    when no one was asked about."""


def _person(question: str, answer_lead: str) -> str | None:
    """Who "he" or "she" stands for: named in the question, else in the answer's first sentence."""
    for names in (_people(question), _people(answer_lead), _people(question, single_words=True)):
        if names:
            return names[0]
    return None


def _is_date(text: str) -> bool:
    return bool(_DATE_WORDS.fullmatch(text.strip()))


def _topic(question: str) -> str | None:
    """What "it" or "that" stands for: the X of "What is X?" or "… about X?"."""
    for pattern in (_WHAT_IS, _ABOUT):
        match = pattern.search(question)
        if not match:
            continue
        topic = match.group("x").strip()
        words = topic.lower().split()
        # "What is it used for?" has no noun phrase to offer, nor does "… on March 12?"
        if (
            words[-1] not in _PREPOSITIONS | {"like"}
            and not _REFERENCE.fullmatch(words[0])
            and not _is_date(topic)
        ):
            return topic
    return None


_PLURAL_NOUN = re.compile(r"[a-z][a-z-]+(?<![su]s)(?<!is)(?<!ous)s")
"""A word that reads as a plural noun: "tariffs", "companies"; not "gas", "bus", "this", "famous"."""
_DETERMINERS = _set("the these those its their his her our")
_THEY_AND_THEM = re.compile(r"\bthey\b.*\bthem\b|\bthem\b.*\bthey\b", re.IGNORECASE)
_POSSESSOR = re.compile(r"[A-Z][\w-]*['’]s")
_MODIFIER = re.compile(r"[a-z][a-z-]+")


def _things(question: str) -> str | None:
    """The last plural noun phrase of a question that something opens on the left: a determiner,
    a name's possessive or a demonym ("the tariffs", "China's latest tariffs", "the Chinese chemical
    companies"). A plural after a verb ("impose tariffs") is left alone: without parts of speech,
    "impose" would read as part of the phrase."""
    words = _body(question).split()
    for end in range(len(words) - 1, 0, -1):
        if not _PLURAL_NOUN.fullmatch(words[end]):
            continue
        for start in range(end - 1, max(end - 4, -1), -1):
            word = words[start]
            if word.lower() in _DETERMINERS or _POSSESSOR.fullmatch(word):
                return " ".join(words[start : end + 1])
            if word[:1].isupper() and is_demonym(word):
                return " ".join(["the", *words[start : end + 1]])
            if not _MODIFIER.fullmatch(word) or word in _NOT_MODIFYING:
                break
    return None


# -- rewriting ------------------------------------------------------------------------------------


def _body(question: str) -> str:
    return question.strip().rstrip("?.!").rstrip()


def _lower_start(question: str) -> str:
    words = question.split(maxsplit=1)
    first = words[0] if words else ""
    if first.lower() in _SENTENCE_STARTERS or re.fullmatch(_AUX, first, re.IGNORECASE):
        return question[:1].lower() + question[1:]
    return question


def _upper_start(question: str) -> str:
    return question[:1].upper() + question[1:]


def _possessive(name: str) -> str:
    return f"{name}’" if name.endswith("s") else f"{name}’s"


def _joined(base: str, question: str, conjunction: str = "and") -> str:
    """Two questions as one: "What did Trump and Xi agree, and has it materialised?"."""
    return f"{_body(base)}, {conjunction} {_lower_start(_body(question))}?"


def _opens_clause(word: str, next_word: str) -> bool:
    """ "that the US should …": a clause follows, nothing points back."""
    return word == "that" and (
        next_word.lower() in _AFTER_COMPLEMENTISER or next_word[:1].isupper() or next_word[:1].isdigit()
    )


def _referent(
    word: str, next_word: str | None, previous_word: str, antecedents: _Antecedents
) -> tuple[bool, str | None, bool]:
    """Whether `word` points back, what it then stands for (None: nothing to name), possessive or not."""
    person, topic = antecedents.person, antecedents.topic
    following = (next_word or "").lower()
    if word in {"he", "she", "him", "his", "her", "hers"}:
        possessive = word in {"his", "hers"} or (
            word == "her" and next_word is not None and following not in _NOT_POSSESSED
        )
        return True, person, possessive
    if word in {"they", "them", "their", "theirs"}:
        # Someone, after a question about someone or when they say or think. Else things, never the
        # one person an answer named: after "When did China's latest tariffs take effect?", "Who
        # announced them?" asks who announced the tariffs.
        someone = antecedents.about_someone or following in _PERSON_VERBS
        referent = (person or topic) if someone else (antecedents.things or topic)
        return True, referent, word in {"their", "theirs"}
    if word in {"it", "its"}:
        if word == "it" and previous_word in _SPEECH:  # "say it": what was said, the speaker names it
            return False, None, False
        # After "Who is X?", X is someone, never "it": "What did he say about it?" is not about him.
        return True, None if antecedents.about_someone else topic, word == "its"
    if word in {"this", "that", "these", "those"}:
        if next_word is not None and following not in _DEMONSTRATIVE_VERBS:
            # "that group" points back with no noun phrase to put in its place
            return not _opens_clause(word, next_word), None, False
        # "about that" is the topic; "why is that?" and "after that" point at the answer
        return True, topic if previous_word in _ABOUT_WORDS else None, False
    # "there" and "then" point back at the end ("What happened there?") or after "since"
    return next_word is None or (word == "then" and previous_word in _TIME_BEFORE_THEN), None, False


def _resolve(question: str, antecedents: _Antecedents) -> tuple[str, bool, bool]:
    """The question with its pronouns named; whether any was; whether a reference is left open."""
    replaced = unresolved = False

    def name(match: re.Match[str]) -> str:
        nonlocal replaced, unresolved
        word = match.group("word").lower()
        after = re.match(r"\s*([\w’'-]+)", question[match.end() :])
        next_word = "is" if match.group("is") else after.group(1) if after else None
        before = question[: match.start()].split()[-1:]
        previous_word = before[0].lower() if before else ""
        points_back, referent, possessive = _referent(word, next_word, previous_word, antecedents)
        if not points_back:
            return match.group(0)
        if referent is None:
            unresolved = True
            return match.group(0)
        replaced = True
        if match.group("is"):
            return f"{referent} is"
        return _possessive(referent) if possessive else referent

    rewritten = _REFERENCE.sub(name, question)
    return rewritten, replaced, unresolved or bool(_VAGUE.search(question))


def _is_fragment(text: str, *, linked: bool) -> bool:
    """Whether the text is part of a question that the previous one completes ("in 2019?")."""
    part = _body(text)
    if _ABOUT_FRAGMENT.match(part) or _MORE.fullmatch(part) or _BARE_WH.fullmatch(part):
        return True
    if _FULL_QUESTION.match(part):
        return False
    words = part.split()
    if linked:  # "And the US?"
        return 0 < len(words) <= 4
    # Unlinked, only a date, a phrase or a name: "Fentanyl deaths in 2019?" stands alone.
    return bool(
        _YEAR.fullmatch(part)
        or _DAY.fullmatch(part)
        or (words and words[0].lower() in _PREPOSITIONS)
        or (0 < len(words) <= 3 and all(w[:1].isupper() for w in words))
    )


def _merge(fragment: str, base: str, antecedents: _Antecedents) -> str:
    """A fragment folded into the previous question: "And in 2019?" → "… about tariffs in 2019?"."""
    stem, part = _body(base), _body(_ABOUT_FRAGMENT.sub("", fragment.strip()))
    if _MORE.fullmatch(part):
        wh = "who" if part.lower().startswith(("who", "anyone")) else "what"
        # "What did she say …?" → "What else did she say …?"; but not "What else is fentanyl?"
        start = re.match(rf"^{wh}(?=\s+(?!(?:is|are|was|were|else)\b)\w)", stem, re.IGNORECASE)
        if start:
            return f"{stem[: start.end()]} else{stem[start.end() :]}?"
        which = re.match(r"^which(?=\s+(?!other\b)[a-z])", stem, re.IGNORECASE)
        if which:  # "Which academics are quoted?" → "Which other academics are quoted?"
            return f"{stem[: which.end()]} other{stem[which.end() :]}?"
        subject = (
            antecedents.person or antecedents.topic
            if antecedents.about_someone
            else antecedents.topic or antecedents.person
        )
        return f"What else do the articles say about {subject}?" if subject else _joined(base, part)
    if _BARE_WH.fullmatch(part):
        return _joined(base, part)
    if _YEAR.fullmatch(part) and not part.lower().startswith("in"):
        part = f"in {part}"
    elif _DAY.fullmatch(part) and not part.lower().startswith("on"):
        part = f"on {part}"
    first = part.split(maxsplit=1)[0].lower()
    if first in _PREPOSITIONS:
        for date in (_YEAR, _DAY):
            if date.fullmatch(part):  # "… on March 12?" + "And on March 11?": the new date for the old
                olds = [old for old in date.finditer(stem) if old.group(0).lower().startswith(first)]
                if olds:
                    return f"{stem[: olds[0].start()]}{part}{stem[olds[0].end() :]}?"
                return f"{stem} {part}?"
        same = re.match(rf"^(?P<head>.*)\b{first}\s+\S[^,;]*$", stem, re.IGNORECASE)
        return f"{same.group('head')}{part}?" if same else f"{stem} {part}?"
    named = _people(stem, single_words=True)
    if part[:1].isupper() and named:  # "What about Shen Dingli?": someone else, same question
        return f"{stem.replace(named[0], part, 1)}?"
    for pattern in (_WHAT_IS, _ABOUT):
        match = pattern.search(stem)
        if match and not _is_date(match.group("x")):
            return f"{stem[: match.start('x')]}{part}?"
    return _joined(base, f"what about {part}")


def condense(question: str, history: Sequence[Turn]) -> str:
    """The question rewritten to stand alone, or unchanged when it already does."""
    history = list(history)[-_LOOKBACK:]
    asked = question.strip()
    if not history or not asked:
        return question
    previous_question, previous_answer = history[-1]
    base = condense(previous_question, history[:-1])
    if not _body(base):
        return question
    answer = strip_markers(previous_answer)
    spans = sentence_spans(answer)
    # The answer's first sentence names who "she" is; later ones may already answer the follow-up.
    antecedents = _Antecedents(
        person=_person(base, answer[: spans[0][1]] if spans else answer),
        topic=_topic(_body(base)),
        about_someone=bool(re.match(r"\s*who\b", base, re.IGNORECASE)),
        # "Why did they impose them?" names two parties: neither is the previous question's things.
        things=None if _THEY_AND_THEM.search(asked) else _things(base),
    )
    linked = _LEADING_LINK.match(asked)
    rest = asked[linked.end() :] if linked else asked
    if not _body(rest):
        return question
    if _is_fragment(rest, linked=linked is not None):
        return _merge(rest, base, antecedents)
    rewritten, replaced, unresolved = _resolve(rest, antecedents)
    if replaced:
        return _upper_start(rewritten)
    # "And what happened next?" leans on the previous question; "And when did the group meet?" does not.
    if unresolved or len(content_terms(rest)) < (3 if linked else 1):
        link = linked.group(0).strip(" ,").lower() if linked else ""
        return _joined(base, rest, "but" if link == "but" else "and then" if link == "then" else "and")
    return _upper_start(rest) if linked else question
