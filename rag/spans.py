"""Short answers: what kind of thing a question asks for, and the spans of a sentence that could be it.

A question that asks for a name, a date, a number, a place, an organisation or a named
thing gets a short answer. This module finds the asked-for kind and the candidate spans of
a sentence: verbatim, of that kind, trimmed of the question's own words, and not made only of
them. The answerer scores them (nearness to the question's words, rarity, fit). Spans carry
sentence-relative offsets, so the caller can verify them against the article like any citation.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.gazetteer import is_country, is_demonym, is_us_state
from rag.text import WORD, lexical_terms, sentence_spans

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

__all__ = [
    "SpanCandidate",
    "answer_kind",
    "answer_mention",
    "answer_noun",
    "is_list_question",
    "mid_sentence_names",
    "place_names",
    "span_candidates",
]

# -- what the question asks for -------------------------------------------------------------------

_PERSON_NOUNS = (
    r"person|people|man|woman|men|women|official|officials|minister|ministers|expert|experts|scholar|scholars|"
    r"analyst|analysts|academic|academics|professor|professors|player|players|actor|actress|actors|singer|"
    r"singers|rapper|musician|artist|author|writer|politician|politicians|senator|senators|governor|judge|"
    r"leader|leaders|candidate|candidates|president|ceo|executive|spokesman|spokeswoman|spokesperson|star|"
    r"athlete|coach|celebrity|billionaire|lawmaker|lawmakers|director|host|comedian|journalist|reporter|"
    r"correspondent|member|members|founder|character|quarterback|pitcher|golfer|driver|legend|secretary|"
    r"chairman|chairwoman|mayor|chancellor|premier|ambassador|commissioner|king|queen|prince|princess|pope|"
    r"monarch|manager|owner|speaker|envoy|receiver|runner|sprinter|swimmer|cyclist|skier|gymnast|boxer|"
    r"wrestler|jockey|batter|catcher|goalkeeper|striker|midfielder|defender"
)
_PLACE_NOUNS = (
    r"country|countries|nation|nations|city|cities|state|states|town|towns|region|province|island|islands|"
    r"continent|county|capital|place|places|airport|venue|stadium|location|area|park|river|sea|ocean|"
    r"mountain|volcano|border|neighborhood|neighbourhood|district|port|territory"
)
_ORG_NOUNS = (
    r"company|companies|firm|firms|team|teams|organi[sz]ation|organi[sz]ations|agency|agencies|group|groups|"
    r"party|parties|network|networks|brand|brands|airline|airlines|university|universities|club|clubs|band|"
    r"newspaper|outlet|bank|banks|retailer|retailers|automaker|carmaker|chain|restaurant|store|platform|app|"
    r"service|streamer|studio|publisher|court|committee|ministry|department|union|league|school"
)
_SKIP = (
    r"(?:of\s+(?:the|these|those)\s+(?:following\s+)?)?"
    r"(?:(?!(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should)\b)[\w’'.-]+\s+){0,3}?"
)
"""Words between "which" and the noun it asks about: "which *of these NFL head* coaches"."""
_MODIFIER = r"(?:(?!(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should|the|a|an|its|his|her|their)\b)[\w-]+\s+)?"
"""One word before a number's noun: "which *hourly* amount", "what *annual* rate" (not a
possessive: "which player's age" asks for the player; and "which public figure" asks for no number)."""
_NOT_PLURAL_OWNER = r"(?!(?:(?<=men)|(?<=people)|(?<=children)|(?<=s))[’'])"
"""Not a plural owner: "which women's sport" asks for the sport ("which player's age" for the player)."""
_NAME_MODIFIERS = r"(?:(?!(?:of|in|for|at|on|who|that|which)\b)[\w’'-]+\s+){0,3}?"
_NAME_HEAD_END = (
    r"(?=\s+(?:of|in|for|at|on|who|that|which|where|whose)\b|\s*[?,.:]|\s*$|"
    r"\s+(?:\w{2,}ed|known|shown|seen|chosen|held|found|given|taken|led|sent|hit|caught)\b)"
)
"""What "What is the name of the *Chinese President*?" asks for is its head noun's kind: up to three
words before it, and nothing but a question's end, a preposition or a participle after it ("the name
of the spokeswoman *quoted* in the piece"; "the name of the country's currency" asks for the currency)."""
_OWNS_NAME = r"[’']s\s+(?:(?:new|old|former|original|full|real|official)\s+)?names?\b"
"""A noun owns the name asked for: "What is the *judge's* name?" asks for a person's."""
_ASKS = {
    "number": re.compile(
        r"\bhow (?:many|much|long|old|far|big|large|tall|high|often|fast)\b|"
        rf"\b(?:what|which) (?:figure\b|{_MODIFIER}(?:percentage|percent|rate|number|amount|share|proportion|"
        r"size|age|price|cost|total|sum|score|speed|temperature|distance|height|weight)\b)",
        re.IGNORECASE,
    ),
    "date": re.compile(
        r"^\s*(?:since |until |by )?when\b|\b(?:what|which|in what|in which|on what|on which) "
        r"(?:year|date|day|month|time|decade|century|week|season)\b|\bhow long ago\b|\bsince when\b",
        re.IGNORECASE,
    ),
    "person": re.compile(
        rf"^\s*(?:who|whom|whose)\b|\bwho\s+(?:is|was|are|were|has|had|will|did|does|said|won|became)\b|"
        r"(?:^|[,;:]\s*)(?:for|to|by|with|from|of|about|against|on|at) whom\b|"
        rf"\b(?:which|what) {_SKIP}(?:{_PERSON_NOUNS})(?:e?s)?\b{_NOT_PLURAL_OWNER}|\bname (?:of )?the (?:{_PERSON_NOUNS})\b|"
        rf"\bname of the {_NAME_MODIFIERS}(?:{_PERSON_NOUNS}){_NAME_HEAD_END}|"
        rf"\bthe {_NAME_MODIFIERS}(?:{_PERSON_NOUNS}){_OWNS_NAME}",
        re.IGNORECASE,
    ),
    "place": re.compile(
        rf"^\s*(?:from )?where\b|\bwhere (?:is|was|are|were|did|does|do|has|had|will)\b|"
        rf"\b(?:which|what|in which|in what) {_SKIP}(?:{_PLACE_NOUNS})(?:e?s)?\b|"
        rf"\bname of the {_NAME_MODIFIERS}(?:{_PLACE_NOUNS}){_NAME_HEAD_END}|"
        rf"\bthe {_NAME_MODIFIERS}(?:{_PLACE_NOUNS}){_OWNS_NAME}",
        re.IGNORECASE,
    ),
    "organisation": re.compile(
        rf"\b(?:which|what) {_SKIP}(?:{_ORG_NOUNS})(?:e?s)?\b|\bname of the {_NAME_MODIFIERS}(?:{_ORG_NOUNS}){_NAME_HEAD_END}|"
        rf"\bthe {_NAME_MODIFIERS}(?:{_ORG_NOUNS}){_OWNS_NAME}",
        re.IGNORECASE,
    ),
}
_WHOSE = re.compile(
    rf"^(?!\s*(?:who|whom|whose)\b).*?\b(?:which|what)\s+(?:({_PLACE_NOUNS})|(?:{_ORG_NOUNS}))"
    r"(?:[’']s\b|[’'](?=\s))",
    re.IGNORECASE,
)
_US = re.compile(r"\bU\.S\.(?=\s)")
_US_NAME = re.compile(
    r"(?<![\w.])(?:U\.S\.A?\.?|US|USA|United States(?: of America)?)(?![\w.])|(?<![\w.])U\.S(?=\.)"
)
"""The United States as news writes it: a span that only says so repeats a question that does."""
_NO_SHORT_ANSWER = re.compile(
    r"^\s*(?:why|how(?! (?:many|much|long|old|far|big|large|tall|high|often|fast)\b)|explain|describe|"
    r"summari[sz]e|compare|discuss)\b|\bwhat (?:is|was|are|were) the (?:reasons?|difference|impact|effect|"
    r"significance|role|relationship)\b|^\s*who (?:is|was|are|were) (?-i:[A-Z][\w’'.-]*+(?:\s+[A-Z][\w’'.-]*+){0,3})\s*\??\s*$|"
    r"\b(?:for what reason|what happened|what did .{1,60}\b(?:say|argue|"
    r"think|believe|conclude|recommend|accuse|warn|claim|suggest|mean))\b",
    re.IGNORECASE,
)
_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b",
    re.IGNORECASE,
)
_MULTI_PART = re.compile(
    r"\b(?:and|or)\s+(?:(?:on|in|at|for|from|to|by|with|since)\s+)?(?:what|when|where|who|whom|why|how|which)\b|"
    r"\b(?:and|or)\s+(?:has|have|had|did|does|do|is|are|was|were|will|can)\s+"
    r"(?:(?:it|he|she|they|we|you|there|this|that|these|those|the|its|his|her|their)\b|(?-i:[A-Z]))|"
    r"\b(?:where|when|who|what) and (?:where|when|who|what|why|how)\b",
    re.IGNORECASE,
)
"""A second question: a wh-word after "and"/"or", or an auxiliary before its subject (a pronoun, a
determiner or a name: "…, and has it met since?"); "…dropping a new single and will reunite for a
tour?" is one question."""
_BLANK = re.compile(
    r"\b(?:(since|until|till)|((?:rose|fell|grew|increased|decreased|dropped|climbed|jumped|declined|"
    r"cut|reduced|raised)\s+by)|(by)|(?<!\bthe )(?<!\bnew )(?<!\bits )(?<!\btheir )(measures|weighs|costs))"
    r"\s*:\s*$",
    re.IGNORECASE,
)
"""A fill-in-the-blank question ("…a record previously held by:") and what its last words ask for:
a date after since/until, an amount after a verb of change and "by", a name after any other "by",
a number after a verb of measure ("He measures:", not "the new measures:")."""
_THING_NOUNS = (
    r"document|report|book|novel|film|movie|show|series|episode|song|album|game|app|product|law|bill|act|"
    r"treaty|program|programme|award|prize|title|name|nickname|word|term|phrase|slogan|brand|model|vehicle|"
    r"car|ship|rocket|spacecraft|mission|drug|vaccine|disease|virus|variant|species|animal|breed|storm|"
    r"hurricane|event|festival|holiday|sport|language|currency|newspaper|magazine|channel|podcast|character|"
    r"colou?r|dish|food|drink|item|feature|device|phone|weapon|material|chemical|substance|element"
)
"""Kinds of thing a "what X …" question names with a proper name or a short phrase."""
_ASKS_THING = re.compile(
    r"\bwhich\b(?!\s+(?:came|comes|is|was|one)\s+(?:first|last|earlier|later|better|worse)\b)|"
    r"\bwhat\s+(?:is|was|are|were)\s+the\s+name\b|\bname\s+(?:of\s+)?the\b|"
    r"\bwhat\s+(?:kind|type|sort|brand|colou?r|model|version)\s+of\b|"
    rf"\bwhat\s+(?:new\s+|other\s+)?(?:{_THING_NOUNS})s?\b",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"\bwhat\s+(?:is|was|are|were|will\s+be)\s+"
    r"(?:(?!(?:with|after|before|when|while|because|for|by|since|until|being)\b)[\w’'-]+\s+){0,8}?"
    r"(?:now\s+|officially\s+)?(?:called|named|renamed|titled|dubbed|known\s+as)\s*\??\s*$|"
    r"\b(?:(?:called|named|renamed(?:\s+to)?|titled|dubbed|known\s+as)\s*:|renamed\s+to\s*\?)\s*$|"
    r"\bwhat\s+(?:is|was|are|were)\s+(?:its|his|her|their)\s+(?:new\s+|full\s+|real\s+)?names?\b|"
    rf"\bwhat\s+(?:is|was|are|were)\s+the\s+{_NAME_MODIFIERS}[\w-]+{_OWNS_NAME}",
    re.IGNORECASE,
)
"""A question that asks what something is called: "What is the policy called?", "…renamed to?",
"…relaunched as a service called:", "What was its name?"."""
_WH = re.compile(r"\b(?:what|which|who|whom|whose|where|when|how|name)\b", re.IGNORECASE)


_NOT_NOUN = (
    r"(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|of|in|on|to|at|for|by|with|"
    r"this|that|these|those|recently|now|just|first|last|most|best|the|a|an)\b"
)
_ANSWER_NOUN = re.compile(
    r"\b(?:which|what)\s+(?:of\s+(?:the|these|its|their)\s+(?:following\s+)?)?"
    r"(?:(?:kind|type|sort|variety|category)s?\s+of\s+)?"  # "what type of *medication*": the category
    rf"((?:(?!{_NOT_NOUN})\w[\w’'.-]*\s+){{0,2}}(?!{_NOT_NOUN})\w[\w’'-]*)",
    re.IGNORECASE,
)
_KIND_NOUN = {"person": "person", "place": "place", "organisation": "organisation"}


_NAMED_NOUN = re.compile(
    rf"\bname of the ((?:(?!{_NOT_NOUN})[\w’'.-]+\s+){{0,3}}?(?!{_NOT_NOUN})[\w’'-]+){_NAME_HEAD_END}",
    re.IGNORECASE,
)
"""What "What is the name of the *mission*?" names. Not for a person: compared with "harbour master",
"Sunderby Vale" outranked the harbour master himself; the word "person" tells names of people apart."""


_OWNER_NOUN = re.compile(rf"\bthe\s+({_NAME_MODIFIERS}[\w-]+){_OWNS_NAME}", re.IGNORECASE)
"""What "What is the *carrier's* name?" names."""


def answer_noun(question: str, kind: str) -> str | None:
    """The words that name what is asked for: "Which *Grand Slam tournament* has …" → that; "the
    name of the *mission*" → that; a who/where question, or the name of a person → "person"/"place";
    None when the question names nothing."""
    asking = _asking_clause(question)
    match = _ANSWER_NOUN.search(asking)
    if match:
        # Its three words may run on into the verb ("band announced"): a noun of the kind ends it,
        # the first one if it owns the rest ("which university's football team" asks for the university).
        noun = match.group(1)
        heads = list(_KIND_WORD[kind].finditer(noun)) if kind in _KIND_WORD else []
        owner = next((head for head in heads if _OWNS.match(noun, head.end())), None)
        return noun[: (owner or heads[-1]).end()] if heads else noun
    named = (_NAMED_NOUN.search(asking) or _OWNER_NOUN.search(asking)) if kind != "person" else None
    if named:
        return named.group(1)
    return _KIND_NOUN.get(kind)


def _asking_clause(question: str) -> str:
    """The sentence that asks: "Sue Bird played her final game. Which team did she play for?" → the last."""
    # The sentence splitter knows "Sen. Lindsey Graham" and "the U.S. Capitol" end no sentence.
    text = question.strip()
    parts = [text[a:b] for a, b in sentence_spans(text)]
    asking = [p for p in parts if p.rstrip().endswith("?")]
    return asking[-1] if asking else question


_WHAT_IS_THE = (
    r"\bwhat\s+(?:is|was|are|were|will\s+be)\s+(?:the|its|their|his|her|this|that)\s+"
    r"(?:(?:new|current|former|final|official|total|average|largest|biggest|smallest|latest|first|last|main|"
    r"exact|estimated|annual|expected|full|real|combined|overall|median|typical|original|proposed)\s+){0,2}"
)
_HEAD_END = r"(?=\s+(?:of|in|for|at|on|that|which|where|by|to|from)\b|\s*[?,.:]|\s*$)"
_ASKS_HEAD = {
    kind: re.compile(rf"{_WHAT_IS_THE}(?:{nouns}){_HEAD_END}", re.IGNORECASE)
    for kind, nouns in (
        ("date", r"date|year|day|month|deadline"),
        (
            "number",
            r"population|cost|price|number|amount|total|score|rate|percentage|share|age|toll|budget|salary|"
            r"speed|temperature|distance|height|weight|size",
        ),
        ("place", r"capital|city|country|destination|headquarters|hometown|birthplace|venue|location"),
        ("organisation", r"company|team|agency|organi[sz]ation|network|airline|university|club|band"),
        ("entity", r"name|nickname|title|theme|slogan|motto|word|term"),
    )
}
"""What "What is/was the NOUN …?" asks for, by its head noun ("What is the capital of France?",
"What was its destination?", "What is the average cost of …?"): the noun ends the phrase or a
preposition follows it, so "the state of the economy" or "the company's plan" is no such question."""


_RELATIVE = re.compile(r"(?<=,)(\s+)(?:which|who|whom|whose)\b", re.IGNORECASE)


def _without_relatives(question: str) -> str:
    """`question` with the wh-word of a relative clause made "that" when another wh-word asks:
    "Which company, *which* runs the island's grid, …?" asks for a company, not a place, and
    "… Marlon Brando, *who* had won for which film?" for a film. "After Puerto Rico, which
    country …?" keeps its only wh-word."""
    relatives = len(_RELATIVE.findall(question))
    if not relatives or len(_WH.findall(question)) <= relatives:
        return question
    return _RELATIVE.sub(r"\1that", question)


def answer_kind(question: str) -> str | None:
    """The kind of short answer a question asks for.

    One of `number`, `date`, `person`, `place`, `organisation`, `entity` (another which/what
    thing), `phrase` (the words after a blank: "…crashed a spacecraft into what?"), or None when
    the sentences are the answer (why, how, explain, yes/no, what-did-X-say).
    """
    question = _without_relatives(_US.sub("US", _asking_clause(question)))
    if _YES_NO.search(question) and not _WH.search(question):
        return None
    second = _MULTI_PART.search(question)
    if second and is_list_question(question[: second.start()]):
        # "Which academics are quoted, and where are they from?": the items are academics, and
        # each one's sentence says the rest. Only named items: "what items…, and who…" gets sentences.
        first = answer_kind(question[: second.start()])
        return first if first in {"person", "place", "organisation"} else None
    if _NO_SHORT_ANSWER.search(question) or second:
        return None
    whose = _WHOSE.search(question)
    if whose:  # "which country's prime minister" asks for the country
        return "place" if whose.group(1) else "organisation"
    for kind in ("date", "number", "person", "place", "organisation"):
        if _ASKS[kind].search(question):
            return kind
    for kind, asks in _ASKS_HEAD.items():
        if asks.search(question):
            return kind
    blank = _BLANK.search(question)
    if blank:
        return "date" if blank.group(1) else "entity" if blank.group(3) else "number"
    if _ASKS_THING.search(question) or _ASKS_NAME.search(question):
        return "entity"
    return "phrase" if _blank_anchor(question) is not None else None


_OBJECT_WHAT = re.compile(
    r"(?<=\w)[ \t]+(?:what|whom)\b(?!\s+(?:is|was|are|were|did|does|do|has|had|will|would|can|could|should|"
    r"i|you|he|she|it|we|they|this|that|these|those|his|her|its|their|my|our|people)\b)",
    re.IGNORECASE,
)
_COMPLETION = re.compile(r"(?<=\w)\s*:\s*$")
_ANCHOR_WORDS = 4


def _blank_anchor(question: str) -> tuple[str, frozenset[str]] | None:
    """The words an object question leaves its answer after: "…calling on him to ditch plans for
    what?" and "…won the race after:" → ("for", the terms of "ditch plans") and ("after", …): the
    last word before the blank, and the content terms of the few words before it. None for any
    other question."""
    asking = _asking_clause(question)
    blank = _OBJECT_WHAT.search(asking) or _COMPLETION.search(asking)
    if blank is None:
        return None
    before = WORD.findall(asking[: blank.start()])
    if not before or before[-1].lower() in {"and", "or", "but", "so"}:
        return None  # "…, and what …?" is a second question
    return before[-1], frozenset(lexical_terms(" ".join(before[-1 - _ANCHOR_WORDS : -1])))


_SHARE_OF = (
    r"(?:percentage|percent|share|proportion|fraction|number|amount|majority|minority|half|rate)\s+of\b"
)
"""A quantity of a group: "What percentage of people…" asks for one number, not for people."""
_LIST = re.compile(
    rf"\b(?:which|what|who|name)\s+(?!{_SHARE_OF})(?:are\s+|were\s+|other\s+)?(?:the\s+)?{_SKIP}"
    rf"(?:{_PERSON_NOUNS}|{_PLACE_NOUNS}|{_ORG_NOUNS}|measures|steps|actions|things|items|ways|reasons|"
    rf"events|dates|names|examples|issues|products|documents|books|films|songs|policies|sanctions)(?:e?s)?\b"
    rf"{_NOT_PLURAL_OWNER}(?!\s+(?:is|was|does)\b)",
    re.IGNORECASE,
)
_ONE_OF = re.compile(r"\b(?:which|what|who)\s+one\b", re.IGNORECASE)
_CHOICE = re.compile(r"\bof\s+(?:these|those|the\s+following)\s", re.IGNORECASE)
_PLURAL_VERB = re.compile(r"\s+(?:are|were|have|do)\b", re.IGNORECASE)
_PLURAL_HINT = re.compile(r"\b(?:are|were|list|all|each|both)\b", re.IGNORECASE)


_WHO_IS_QUOTED = re.compile(
    r"^\s*who\s+(?:else\s+)?(?:is|are|was|were|gets|got|has\s+been|have\s+been)\s+(?:quoted|cited|interviewed)\b"
    r"(?!\s+(?:as|saying)\b)",
    re.IGNORECASE,
)
""""Who is quoted in the article?": everyone who is, though the verb is singular."""


def is_list_question(question: str) -> bool:
    """Whether a question asks for several items ("Which academics are quoted…", "Who is quoted…?");
    "which one of its products" asks for one."""
    if _WHO_IS_QUOTED.search(question):
        return True
    match = _LIST.search(question)
    if not match or _ONE_OF.search(question, 0, match.end()):
        return False
    if _CHOICE.search(match.group(0)):
        # A quiz's "Which of these bands announced…" picks one; "…of these players were…" several.
        return bool(_PLURAL_VERB.match(question, match.end()))
    head = match.group(0).split()[-1]
    if not head[:1].islower():  # "Which United States senator…" names a place, not several things
        return False
    head = head.lower()
    plural = head.endswith("s") and not head.endswith(("ss", "us", "is"))
    return (
        plural or (head in {"people", "men", "women"}) or bool(_PLURAL_HINT.search(question[match.end() :]))
    )


# -- spans of a sentence ---------------------------------------------------------------------------

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_PER_UNIT = (
    r"(?:\s(?:an?|per)\s(?:hour|day|week|month|year|gallon|litre|liter|barrel|ounce|share|person|head|"
    r"pound|kilogram|kg|ticket|dose|night|mile)\b(?!\s+(?:ago|earlier|later|before|after|on)\b))?"
)
"""A rate's unit after an amount of money: "$22 an hour", "$4 a gallon", "$80 per barrel"."""
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_SCALE = r"(?:hundred|thousand|million|billion|trillion|bn|m|k)"
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|a few|"
    r"several|(?:tens|hundreds) of (?:thousands|millions|billions)|dozens|hundreds|thousands|millions|"
    r"billions|a dozen|half|a half|a third|a quarter)(?!\w)"
)
_SAME_YEAR = r"(?:that|the same|last|this|next) year\b"
"""A month told by its year in words: "in July that year" is as exact as "in July 2024"."""
_MONTH_OF_YEAR = re.compile(rf"(?:early |mid-|late )?{_MONTH}\s+(?:of\s+)?{_SAME_YEAR}", re.IGNORECASE)
_PATTERNS = {
    "date": re.compile(
        rf"\b(?:(?:{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
        rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
        rf"|(?:early |mid-|late )?{_MONTH}\s+\d{{4}}|(?:early |mid-|late )?{_MONTH}(?:\s+(?:of\s+)?{_SAME_YEAR})?"
        rf"|{_WEEKDAY}|(?:the )?(?:early |mid-|late )?(?:1[5-9]|20)\d\d(?:s)?"
        rf"|(?:last|this|next) (?:week|month|year|weekend|spring|summer|fall|autumn|winter))\b",
    ),
    "number": re.compile(
        rf"(?<=between )\d+(?:,\d{{2,3}})*(?:\.\d+)?\s(?:and|to)\s\d+(?:,\d{{2,3}})*(?:\.\d+)?(?:\s?(?:%|per cent|percent|{_SCALE}\b))?"
        rf"|(?<!from )(?<![\d,.])\d+(?:,\d{{2,3}})*(?:\.\d+)?%?\s?(?:to|-|–)\s?\d+(?:,\d{{2,3}})*(?:\.\d+)?(?:\s?(?:%|per cent|percent|{_SCALE}\b))?"
        rf"|(?:(?:US|S|A|C|HK|NZ)?\$|£|€|¥)\s?\d+(?:,\d{{2,3}})*(?:\.\d+)?(?:\s?{_SCALE}\b)?{_PER_UNIT}"
        rf"|\b\d+(?:,\d{{2,3}})*(?:\.\d+)?(?:\s?(?:%|per cent|percent|{_SCALE}\b))?(?:\s?(?:%|per cent|percent))?"
        rf"(?:\s+(?:[a-z][\w-]*\s+){{0,1}}?(?:[a-z][\w-]+))?"
        rf"|\b{_NUMBER_WORDS}(?:\s+(?:of\s+)?(?:[a-z][\w-]*\s+){{0,1}}?[a-z][\w-]+)?"
        r"|\b(?:once|twice|thrice)\b",  # how many times, in one word (see `_TIMES`)
        re.IGNORECASE,
    ),
    "quote": re.compile(r"“([^”“]{2,80})”|(?:(?<=\s)|(?<=^)|(?<=\())\"([^\"]{2,80})\""),
}
_CAPITALISED = re.compile(
    r"(?:[A-Z][\w’'.&-]*|\d+[A-Z]\w*)(?:(?:\s+|\s+(?:of|the|de|del|la|le|van|von|der|da|di|al|bin|for|on|"
    rf"upon|du|y)\s+(?!(?:{_MONTH}|{_WEEKDAY})(?!\w))|\s+&\s+)(?:[A-Z][\w’'.&-]*|\d[\w-]*))*"
)
"""A run of capitalised words, joined by the small words of names ("Bank of England", "Rostov on
Don"), but not into a date ("Xi Jinping on Jan 17", "Minister for March")."""
_POSSESSIVE = re.compile(r"[’']s$")
"""A possessive ending: "Russia's" names Russia."""
_LEADING = re.compile(r"^(?:The|A|An|In|On|At|By|For|From|And|But|Or|If|As|To|Of|With)\s+")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_ENTITIES = _word_set(
    """the a an in on at by for from and but or if as to of with it its he she they we i you his her their our
    this that these those there here when where who what which why how after before while during since
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december mr mrs ms dr said says i i’d i'd i’m i'm i’ve i've i’ll i'll"""
)
_PERSON_TITLES = re.compile(
    r"^(?:Mr|Mrs|Ms|Dr|Prof|Professor|President|Secretary|Minister|Senator|Sen|Rep|Governor|Gov|Judge|"
    r"King|Queen|Prince|Princess|Lord|Lady|Sir|Pope|General|Gen|Chancellor|Premier|Mayor|Justice|Coach)\.?\s+"
)
_ORG_WORDS = re.compile(
    r"\b(?:Ministry|Department|University|College|Institute|Inc|Corp|Company|Co|Ltd|Group|Committee|Council|"
    r"Commission|Agency|Association|Party|Bank|Court|Office|House|Senate|Congress|Times|Post|News|Foundation|"
    r"Center|Centre|Club|League|Union|Federation|Organization|Organisation|Airlines|Airport|Network|Service|"
    r"Cabinet|Government|Administration|Parliament|Army|Navy|Police|Council|Board|Authority|Fund|Trust|"
    r"Services|Industries|Holdings|Technologies|Laboratories|Systems|Institution|Corporation|Motorsports|"
    r"Racing|Entertainment|Studios|Records|Motors|Airways)\b"
)
_PLACE_WORDS = re.compile(
    r"\b(?:City|County|State|Province|Island|Islands|Republic|Kingdom|Bay|River|Sea|Speedway|Raceway|Stadium|"
    r"Arena|Highway|Avenue|Cathedral|Beach)\b"
)


@dataclass(frozen=True, slots=True)
class SpanCandidate:
    """A possible short answer: sentence-relative `start`/`end`, and how well it fits the asked-for kind."""

    start: int
    end: int
    text: str
    fit: float
    """1.0 for the asked-for kind proper (a person's full name); less for weaker matches."""
    introduced: bool = True
    """False for a name that nothing around it calls a person (no title, role or speech verb)."""


_PLACE_AS_PERSON = 0.3
"""How well a place's or a body's name fits a person question (see `_entity_fit`)."""


def _entity_fit(kind: str, text: str) -> float:
    tokens = text.split()
    has_org = bool(_ORG_WORDS.search(text))
    has_place = bool(_PLACE_WORDS.search(text))
    if is_demonym(text) and kind in {"person", "place"}:
        return 0.1  # "British" is neither the heir to the throne nor the gloomiest city
    if kind == "person":
        if has_org or has_place or re.search(r"[’']s\s", text) or is_country(text) or is_us_state(text):
            return _PLACE_AS_PERSON
        if len(tokens) == 1 and text.isupper():
            return 0.2
        if len(tokens) > 1 and _ACRONYM.fullmatch(tokens[0]) and not _TITLE_WORD.match(f"{tokens[1]} "):
            return 0.3  # "FIS Snowboard": an acronym opens a body's name ("NASA Administrator Bill Nelson" is a person)
        if _PERSON_TITLES.match(text):
            return 1.0
        return 1.0 if 2 <= len(tokens) <= 4 else 0.6
    if kind == "organisation":
        return 1.0 if has_org else 0.7
    if kind == "place":
        return 0.5 if has_org else 1.0
    return 1.0


_ASKS_A_PEOPLE = re.compile(
    r"\b(?:nationalit(?:y|ies)|citizen(?:s|ship)?|languages?|ethnic(?:ity|ities)?|descent|heritage|origin|"
    r"people|peoples|nationals|residents)\b",
    re.IGNORECASE,
)
"""What a word for a people ("British", "Americans") can answer."""


_ACRONYM = re.compile(r"(?![IVXL]+$)[A-Z]{3,}")
"""Three capitals or more, not a regnal number ("Charles III"): "NASA", "FIS". "AJ Brown" is a person."""
_INITIALS = re.compile(r"(?<![\w.])(?:[A-Z]\.)+[A-Z]$")
_COMPOUND = re.compile(r"-(?:based|born|bred|headquartered|owned|backed|led|run|listed|registered)\b\s*")
"""A name made a modifier: "Shanghai-based", "New York-born". The name is a span of its own,
wherever it stands: a hyphen and a participle follow no common word that opens a sentence."""


def _entities(sentence: str) -> Iterator[tuple[int, int]]:
    for match in _CAPITALISED.finditer(sentence):
        run = match.group(0)
        cuts = sorted(
            [(match.start() + o.end(), match.start() + o.end()) for o in _INNER_POSSESSIVE.finditer(run)]
            + [(match.start() + c.start(), match.start() + c.end()) for c in _COMPOUND.finditer(run)]
        )
        starts = [match.start(), *(after for _, after in cuts)]
        ends = [*(before for before, _ in cuts), match.end()]
        for piece_start, piece_end in zip(starts, ends, strict=True):
            start, text = piece_start, sentence[piece_start:piece_end]
            lead = _LEADING.match(text)
            while lead:
                start += lead.end()
                text = text[lead.end() :]
                lead = _LEADING.match(text)
            text = _POSSESSIVE.sub("", text.rstrip()).rstrip(".’'-&")
            tokens = [t.lower() for t in text.split()]
            if not text or all(t.strip(".’'") in _NOT_ENTITIES for t in tokens):
                continue
            yield start, start + len(text)


_MID_SENTENCE = re.compile(r"(?<=[a-z0-9,;])[ \t]+([A-Z][\w’'&.-]*)")
_OPENS = re.compile(r"(?:^|[:“\"‘(—–]|\s-)\s*$")


def mid_sentence_names(texts: Iterable[str]) -> frozenset[str]:
    """Words the texts capitalise after a lowercase letter, a digit or a comma on the same line:
    evidence that a capitalised word is a name rather than a common word that starts a sentence
    ("Thus", "Attendees", "Decision:"). A possessive "’s" and a final dot are left off."""
    return frozenset(
        _POSSESSIVE.sub("", match.group(1)).rstrip(".")
        for text in texts
        for match in _MID_SENTENCE.finditer(text)
    )


_PLACE_CONTEXT = re.compile(
    r"\b(?i:residents|people|citizens|streets|outskirts|mayor|town|city|village|county|province|region)\s+of"
    r"\s+([A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*){0,3})"
)
"""A name the words before call a place: "residents of Quillon Reach", "the mayor of Kyiv"."""


def place_names(texts: Iterable[str]) -> frozenset[str]:
    """Names the texts use as places ("residents of Quillon Reach"). A writer keeps one name for one
    thing, so elsewhere in the same passages the name is no person either ("the ferry inspector of
    Quillon Reach" names no one for "Who is the harbour master…?")."""
    found = (match.group(1).rstrip(".") for text in texts for match in _PLACE_CONTEXT.finditer(text))
    return frozenset(name for name in found if not _POSSESSIVE.search(name))


def _opens(sentence: str, start: int) -> bool:
    """Whether a word at `start` opens the sentence, a heading after a colon, or a quote."""
    return bool(_OPENS.search(sentence, 0, start))


def _content(text: str) -> set[str]:
    return set(lexical_terms(text))


_UNITS = (
    (
        re.compile(r"\bhow long\b(?! ago)|\bhow much (?:time|longer)\b", re.IGNORECASE),
        re.compile(r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries)\b", re.I),
    ),
    (
        re.compile(r"\bhow much\b(?! (?:time|longer)\b)|\b(?:price|cost)\b", re.IGNORECASE),
        re.compile(r"[$£€¥]|\b(?:dollars?|pounds?|euros?|yuan|yen)\b|(?<!per )\bcents?\b", re.I),
    ),
    (
        re.compile(r"\b(?:percentage|percent|per cent|share|proportion|rate)\b", re.IGNORECASE),
        re.compile(r"%|\bper ?cent\b", re.I),
    ),
    (re.compile(r"\bhow old\b|\bwhat age\b", re.IGNORECASE), re.compile(r"^\d{1,3}\b")),
)
"""What a how-long/how-much/what-percentage question's number is measured in."""

_COUNTED = re.compile(r"\bhow many\s+(?P<noun>(?:[\w%$£€¥-]+\s*){1,3})", re.IGNORECASE)
""""How many pages…": the words that name what is counted ("more years", "US dollars" among them)."""
_MEASURES = (
    *(unit for _asks, unit in _UNITS[:3]),
    re.compile(
        r"\b(?:km|kilomet(?:er|re)s?|met(?:er|re)s?|miles?|feet|foot|inch(?:es)?|yards?|kg|kilo(?:gram)?s?|"
        r"grams?|tonnes?|tons?|lbs?|lit(?:er|re)s?|gallons?|barrels?|degrees?|mph|km/h|acres?|hectares?)\b",
        re.IGNORECASE,
    ),
)
"""Time, money, shares and physical units: what "how many pages" is not counted in ("90 days", "10 per
cent", "10 kilometres")."""
_FRACTIONAL = re.compile(rf"\d\.\d+(?!\d|\s?{_SCALE}\b)", re.IGNORECASE)
"""A number with a fractional part and no scale word after it: no count of things."""
_MEASURE_WORDS = _MEASURES + tuple(asks for asks, _unit in _UNITS[:3])
"""What a counted noun that is a measure looks like ("days", "dollars", "percentage points")."""

_DIGITS = re.compile(r"\d+")
_CONVERTED = re.compile(
    rf"\d(?:\s?{_SCALE}\b)?\s?\((?:about|around|roughly|some|nearly|or)?\s?$", re.IGNORECASE
)
"""An amount in brackets right after another: a conversion, not a figure of its own."""
_MONEY = re.compile(r"(?:(?:US|S|A|C|HK|NZ)?\$|£|€|¥)")
_NAMED_NUMBER = re.compile(r"(?<![\w-])[A-Z][A-Za-z]{0,5}-$")
_DAY_OF_MONTH = re.compile(rf"\b{_MONTH}\s+$")
_OF_MONTH = re.compile(rf"(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?!\w)")

_YEAR_LIKE = re.compile(r"(?:1[89]|20)\d\d\b(?![,.]\d|\s?(?:%|per ?cent|[-–]\d))")
"""A number that is most likely a year: four digits from 1800 to 2099, not a share or a range."""

_TIMES = re.compile(r"once|twice|thrice", re.IGNORECASE)
_ASKS_TIMES = re.compile(r"\bhow (?:many times|often)\b", re.IGNORECASE)
_AGED = re.compile(r"\b(?:aged|ages?|age of)\s+$", re.IGNORECASE)
"""Words before a number that make it an age ("Americans aged 18 to 45", "died at age 91")."""
_ASKS_AGE = re.compile(r"\bhow old\b|\bages?\b|\baged\b|\bage group\b", re.IGNORECASE)

_DATE_PARTS = (
    (
        re.compile(r"\b(?:what|which) (?:year|decade)\b|\bin what year\b", re.IGNORECASE),
        re.compile(r"\b(?:1[5-9]|20)\d\d(?:s)?\b"),
    ),
    (
        re.compile(r"\b(?:what|which) day\b(?! of the (?:month|year))", re.IGNORECASE),
        re.compile(
            rf"\b{_WEEKDAY}\b|\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}"
        ),
    ),
    (
        re.compile(r"\b(?:what|which) month\b", re.IGNORECASE),
        re.compile(rf"\b{_MONTH}"),
    ),
)
"""What a what-year/what-day/what-month question's date must hold: a year, a day, a month."""

_ASKS_STATE = re.compile(
    r"\b(?:which|what)\s+(?:(?:US|American)\s+)?states?\b(?!-)(?!\s+(?:of|in|media)\b)", re.IGNORECASE
)
_ASKS_COUNTRY = re.compile(
    r"\b(?:which|what)\s+(?:[\w’'-]+\s+){0,2}?(?:country|countries|nation|nations)\b", re.IGNORECASE
)


def _counts(sentence: str, end: int, question_terms: set[str]) -> bool:
    """Whether the word after a number is a thing the question counts ("2000 people" for "How many people")."""
    following = WORD.search(sentence, end)
    return following is not None and bool(set(lexical_terms(following.group(0))) & question_terms)


def _place_fit(question: str) -> Callable[[str], float] | None:
    """For "which country" or "which (US) state": how well a place name is one (a known name 1.0,
    any other 0.4); None when the question asks for another kind of place."""
    if _ASKS_STATE.search(question):
        return lambda text: 1.0 if is_us_state(text) else 0.4
    if _ASKS_COUNTRY.search(question):
        return lambda text: 1.0 if is_country(text) else 0.4
    return None


_KIND_NOUNS = (
    ("person", _PERSON_NOUNS),
    ("place", _PLACE_NOUNS),
    ("organisation", _ORG_NOUNS),
    ("entity", _THING_NOUNS),
)
_HEAD_NOUN = {
    kind: re.compile(rf"\b(?:which|what)\s+{_SKIP}({nouns})(?:e?s)?\b", re.IGNORECASE)
    for kind, nouns in _KIND_NOUNS
}
_OWNS = re.compile(r"[’']s\b")
_KIND_WORD = {kind: re.compile(rf"\b(?:{nouns})(?:e?s)?\b", re.IGNORECASE) for kind, nouns in _KIND_NOUNS}


def answer_mention(question: str, kind: str) -> re.Pattern[str] | None:
    """How an article refers back to the thing asked for, by the question's noun for it: "the
    band", "this company" for "Which band…?" / "…which major company?". None when the question
    names no such noun."""
    asks = _HEAD_NOUN.get(kind)
    head = asks.search(_asking_clause(question)) if asks else None
    if head is None:
        return None
    return re.compile(
        rf"^\W*(?:the|this|that)\s+(?:[\w-]+\s+)?{re.escape(head.group(1).lower())}\b", re.IGNORECASE
    )


_ASKS_TEAM = re.compile(r"\b(?:team|teams|side|sides|squad|squads)\b", re.IGNORECASE)


def _organisation_fit(question: str) -> Callable[[str], float] | None:
    """For "which company" or "which chain": a country, a US state or a demonym is no
    organisation ("UK" for where a strike is brewing), so it fits less (0.4); None for a team,
    which news names after its country ("Argentina won the World Cup")."""
    if _ASKS_TEAM.search(question):
        return None
    return lambda text: 0.4 if is_country(text) or is_us_state(text) or is_demonym(text) else 1.0


def _name_fit(kind: str, question: str) -> Callable[[str], float] | None:
    """How well a name is of the place or organisation asked for, when the question narrows it."""
    if kind == "place":
        return _place_fit(question)
    if kind == "organisation":
        return _organisation_fit(question)
    return None


def span_candidates(
    kind: str,
    sentence: str,
    question: str,
    known_names: Collection[str] | None = None,
    places: Collection[str] = frozenset(),
) -> list[SpanCandidate]:
    """Spans of `sentence` of the asked-for `kind` that are not already said by the question.

    A span made only of the question's terms repeats the question rather than answering it.
    Words the question spells the same way are trimmed off a name's ends, and a number's unit
    when the question names it ("1,500" for "how many hours…"), but "New York" survives
    "set a new record". With `known_names` (`mid_sentence_names` of the text around), a single
    capitalised word that opens the sentence is a name only if it is among them. A name among
    `places` (`place_names` of the text around) fits a person as a place name does.
    """
    question_terms = set(lexical_terms(question))
    question_words = set(WORD.findall(question))
    tails = _name_tails(question)
    unit = (
        next((pattern for asks, pattern in _UNITS if asks.search(question)), None)
        if kind == "number"
        else next((pattern for asks, pattern in _DATE_PARTS if asks.search(question)), None)
        if kind == "date"
        else None
    )
    named_fit = _name_fit(kind, _US.sub("US", _asking_clause(question)))
    found: dict[tuple[int, int], float] = {}
    introduced: set[tuple[int, int]] = set()
    asks_of_us = bool(_US_NAME.search(question))
    asks_age = bool(_ASKS_AGE.search(question))
    counted = _COUNTED.search(question) if kind == "number" else None
    counted_in_other_units = counted is not None and not any(
        m.search(counted.group("noun")) for m in _MEASURE_WORDS
    )
    asks_a_people = bool(_ASKS_A_PEOPLE.search(question))

    def add(start: int, end: int, fit: float, cued: bool = True) -> None:
        if end <= start:
            return
        terms = _content(sentence[start:end])
        if not terms or terms <= question_terms:
            return
        if asks_of_us and _US_NAME.fullmatch(sentence, start, end):
            return  # "U.S." for "…after fleeing the US?": "us" is a stop word, so no term matched
        found[(start, end)] = max(found.get((start, end), 0.0), fit)
        if cued:
            introduced.add((start, end))

    if kind in {"number", "date"}:
        for match in _PATTERNS[kind].finditer(sentence):
            start, end = _strip(sentence, match.start(), match.end())
            if _MARKER.fullmatch(sentence, max(start - 1, 0), end + 1):
                continue  # a footnote or citation marker, "[1]" (not "[40 homes]")
            if kind == "number":
                if _TIMES.fullmatch(sentence, start, end) and not _ASKS_TIMES.search(question):
                    continue  # "twice" answers "how many times", not "by what percentage"
                lead = _DIGITS.match(sentence, start)
                # Both look back a few characters only: a long sentence is read in linear time.
                if _DAY_OF_MONTH.search(sentence, max(0, start - 16), start) or (
                    lead and _OF_MONTH.match(sentence, lead.end())
                ):
                    continue  # "March 9", "9 March": a date, not a quantity
                if _NAMED_NUMBER.search(sentence, max(0, start - 8), start):
                    continue  # "Covid-19", "F-35": part of a name (not "6-foot-5")
                if _MONEY.match(sentence, start) and _CONVERTED.search(sentence, max(0, start - 24), start):
                    continue  # "US$200 billion (S$266 billion)": the same amount in another currency
                end = _drop_unit(sentence, start, end, question_terms)
            digits = any(ch.isdigit() for ch in sentence[start:end])
            fit = 1.0 if digits or _MONTH_OF_YEAR.fullmatch(sentence, start, end) else 0.8
            if unit is not None and not unit.search(sentence[start:end]):
                fit *= 0.5
            if (
                kind == "number"
                and _YEAR_LIKE.match(sentence, start)
                and not _counts(sentence, end, question_terms)
            ):
                fit *= 0.3  # "since 2019", "the 2024 election": a year, not a count
            if kind == "number" and not asks_age and _AGED.search(sentence, max(0, start - 12), start):
                fit *= 0.3  # "Americans aged 18 to 45" is an age, not how many Americans
            if counted_in_other_units and (
                any(m.search(sentence[start:end]) for m in _MEASURES)
                or _FRACTIONAL.search(sentence, start, end)
            ):
                # "90 days" or "10 per cent" for "how many pages", as a unit mismatch; and things
                # are counted whole: "magnitude 5.8" is not how many died ("2.5 million" may be).
                fit *= 0.5
            add(start, end, fit)
        if kind == "date":
            return _ranked(found, introduced, sentence)
    # News style quotes a work's title: for "Which show won…" a quoted title is the better span.
    noun = answer_noun(question, kind) if kind == "entity" else None
    work = noun is not None and bool(_WORK.search(" ".join(noun.split()[:2])))
    if kind in {"person", "place", "organisation", "entity"}:
        dates = [m.span() for m in _PATTERNS["date"].finditer(sentence)]
        names = [(a, b) for a, b in _entities(sentence) if not any(c <= a and b <= d for c, d in dates)]
        if kind in {"organisation", "entity"}:
            names += _joined_names(sentence, names)
        for start, end in names:
            titled = kind == "person" and bool(_TITLE_WORD.search(sentence, start, end))
            start, end = _around_title(sentence, start, end, before=kind != "person")
            start, end = _trim(sentence, start, end, question_words, tails)
            if sentence.startswith(".", end) and _INITIALS.search(sentence, start, end):
                end += 1  # "U.S." keeps its last dot
            if kind != "person" and (owner := _POSSESSIVE.search(sentence, start, end)):
                end = owner.start()  # "South Korea's President …" for "which country's"
            word = sentence[start:end]
            first = word.split(" ", 1)[0]
            if kind == "person" and len(word.split()) >= 3 and is_demonym(first):
                start += len(first) + 1  # "American Dustin Johnson": the people's word says where he is from
                word = sentence[start:end]
            if is_demonym(word) and not asks_a_people:
                continue  # "American deaths": a people's word answers "what nationality", not "what kind of drug"
            if kind == "person" and _COMPOUND.match(sentence, end):
                continue  # "Shanghai-based scholar Shen Dingli": the modifier names a place, not him
            if _ABBREVIATED_TITLE.fullmatch(sentence, start, min(end + 1, len(sentence))):
                continue  # "Sen. Tim Scott": a title cut off at its dot names nobody and nowhere
            if (
                known_names is not None
                and " " not in word
                and word.rstrip(".") not in known_names
                and not (is_country(word) or is_us_state(word))
                and _opens(sentence, start)
                and not _COMPOUND.match(sentence, end)
            ):
                continue
            cued = kind != "person" or titled or _introduces_person(sentence, start, end)
            fit = _entity_fit(kind, sentence[start:end]) * (0.7 if work else 1.0)
            if kind == "person" and word in places:
                fit = min(fit, _PLACE_AS_PERSON)
            add(start, end, fit * named_fit(sentence[start:end]) if named_fit else fit, cued)
    if (
        kind == "entity"
        and noun is not None
        and noun[:1].islower()
        and noun.split()[0].lower() not in _NO_CATEGORY
        and not work
        and not _ASKS_NAME.search(question)
        and not _NAMED_NOUN.search(question)
    ):
        # "What color is she?", "which cooking ingredient?": the answer is a common noun
        # ("purple", "flour"), which no capital marks: every plain word and pair of words is one.
        # Not when a name is asked for ("What was the name of the mission?", "… called?").
        # A word of the question restates the category ("several titles" for "which titles").
        plain = [
            m
            for m in _PLAIN_WORD.finditer(sentence)
            if (terms := lexical_terms(m.group(0))) and not set(terms) & question_terms
        ]
        for n, m in enumerate(plain):
            add(m.start(), m.end(), _COMMON_FIT, cued=False)
            if n + 1 < len(plain) and not sentence[m.end() : plain[n + 1].start()].strip():
                add(m.start(), plain[n + 1].end(), _COMMON_FIT, cued=False)
    if kind == "phrase":
        anchor = _blank_anchor(question)
        if anchor is not None:
            for start, end in _after_anchor(sentence, *anchor):
                add(start, end, 1.0, cued=False)
        return _ranked(found, introduced, sentence)
    if kind == "entity":
        for match in _PATTERNS["quote"].finditer(sentence):
            group = 1 if match.group(1) is not None else 2
            if len(match.group(group).split()) <= 8:
                add(*_strip(sentence, match.start(group), match.end(group)), 1.0 if work else 0.8)
    return _ranked(found, introduced, sentence)


_PHRASE_END = _word_set(
    "that which who whom whose when where while because but as after before since until if than so to at on "
    "by from with in for during over under into said says and or is are was were has have had will would "
    "can could may might must should shall do does did once twice again also too now then yet already still "
    "instead"
)
"""Words that end the phrase after a blank: they open a clause or a prepositional phrase, or add an
adverb ("additional tariffs twice"); "this" ends it after its first word ("the heat waves this summer",
but "this new levy")."""
_PHRASE_WORDS = 6
_OPENING_QUOTE = re.compile(r"\s*[“\"‘']")


def _after_anchor(sentence: str, last: str, terms: frozenset[str]) -> Iterator[tuple[int, int]]:
    """Where `sentence` says the question's last word before its blank ("for" in "…plans for what?"),
    the words after it, up to a clause's edge or six words ("student loan forgiveness"), or the
    quote that follows it ("a sign saying “Who voted for this?”"). Only where the last word is a
    content word itself ("eat", "showed") or a content word of the question stands a few words
    before it: "for" or "of" alone is said of many things."""
    last_terms = set(lexical_terms(last))
    tokens = list(WORD.finditer(sentence))
    for n, word in enumerate(tokens):
        said = set(lexical_terms(word.group(0)))
        if not (said & last_terms if last_terms else word.group(0).lower() == last.lower()):
            continue
        before = " ".join(t.group(0) for t in tokens[max(0, n - _ANCHOR_WORDS - 2) : n])
        if not (last_terms or terms & set(lexical_terms(before))):
            continue
        opening = _OPENING_QUOTE.match(sentence, word.end())
        quote = _PATTERNS["quote"].match(sentence, opening.end() - 1) if opening else None
        if quote is not None:
            group = 1 if quote.group(1) is not None else 2
            yield _strip(sentence, quote.start(group), quote.end(group))
            continue
        span = _phrase(sentence, word.end())
        if span is not None:
            yield span


def _phrase(sentence: str, at: int) -> tuple[int, int] | None:
    """The words from `at` to a clause's edge: punctuation, or a word that opens a clause or a
    prepositional phrase ("the heat waves" of "…due to the heat waves, which"); at most
    `_PHRASE_WORDS`. None when such a word comes first ("saying in a statement" says nothing)."""
    start = end = -1
    for n, token in enumerate(_TOKEN.finditer(sentence, at)):
        if n == _PHRASE_WORDS:
            break
        word = _TOKEN_END.sub("", token.group(0))
        if not word or not word[0].isalnum() or word.lower() in _PHRASE_END or (n and word.lower() == "this"):
            break
        if _INITIALS.search(token.group(0).rstrip(',;:!?)”’"')):
            word = token.group(0).rstrip(',;:!?)”’"')  # "U.S." keeps its last dot
        start = token.start() if n == 0 else start
        end = token.start() + len(word)
        if len(word) < len(token.group(0)):
            break  # punctuation ends the phrase
    return (start, end) if end > start else None


_TOKEN = re.compile(r"\S+")
_TOKEN_END = re.compile(r"[,.;:!?)”’\"]+$")


_COMMON_FIT = 0.3
"""Fit of a plain word as the answer to "What color…?": below any name's, so that a name wins
unless the span model's other features (the answer noun's similarity above all) say otherwise."""
_PLAIN_WORD = re.compile(r"(?<![\w’'-])(?![a-z-]{3,}(?:ed|ing)\b)[a-z][a-z-]{2,}(?![\w’'-])")
"""A lowercase word of three letters or more, not a participle ("filed", "giving"; "red" and "ring" are
words of their own)."""
_NO_CATEGORY = frozenset(["following", "one", "ones", "these", "those", "other", "others"])
"""Answer nouns that name no category ("which of the following", "which one"): no plain word answers them."""

_ABBREVIATED_TITLE = re.compile(r"(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Capt|Lt|Col|Sgt|St)\.")
_TITLE_WORD = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Professor|President|Secretary|Minister|Senator|Sen|Rep|Representative|Governor|"
    r"Gov|Judge|Chancellor|Premier|Mayor|Justice|Coach|Chairman|Chairwoman|Chair|Director|General|Gen|Ambassador|"
    r"Commissioner|Administrator|Speaker|Leader|CEO|Chief|Officer|Spokesman|Spokeswoman|Spokesperson|Captain|Capt|Lt|Col|"
    r"Sgt|Pope|King|Queen|Prince|Princess|Lord|Lady|Sir|Dame|Saint|St|Prime|Vice|Deputy)\.?\s+"
)

_INNER_POSSESSIVE = re.compile(rf"(?:[’']s|(?<=[sS])[’'])\s+(?={_TITLE_WORD.pattern}|[A-Z]{{2,}}\b)")
"""A possessive inside a run of capitalised words before a title or an acronym ("Russia’s President
Putin", "Roger Maris’ AL record"): the owner and the owned are two names. Before other words the run is
one name ("The Queen's Gambit", "People's Republic of China", "McDonald's Corp")."""


_SPEECH_CUE = re.compile(
    r"said|says|say|told|tells|added|adds|wrote|writes|asked|argued|argues|noted|notes|according|warned|"
    r"explained|believes|thinks|who",
    re.IGNORECASE,
)
_ROLE_CUE = re.compile(
    rf"(?:{_PERSON_NOUNS}|scientist|researcher|economist|strategist|fellow|lecturer|editor|founder|chief|"
    rf"head|mr|mrs|ms|dr)s?",
    re.IGNORECASE,
)


_WORK = re.compile(
    r"\b(?:show|series|sitcom|drama|film|movie|documentary|book|novel|memoir|poem|song|single|album|"
    r"podcast|play|musical|episode|opera|painting)\b",
    re.IGNORECASE,
)
"""The noun a question asks with ("Which *show* won…", "What *TV series*…") for a creative work,
whose title news style quotes; not a verb ("…shows which planet")."""
_AND = re.compile(r"\s+(?:and|&)\s+")


def _joined_names(sentence: str, names: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Two names joined by "and" into one organisation's name: the second ends it, and the first
    cannot stand alone as one ("National Archives and Records Administration", "Department of
    Health and Human Services"; not "FBI and Drug Enforcement Administration" or "Barclays and
    Lloyds Banking Group")."""
    return [
        (a, d)
        for (a, b), (c, d) in itertools.pairwise(names)
        if _AND.fullmatch(sentence, b, c)
        and _ORG_WORDS.search(sentence, c, d)
        and (" of " in sentence[a:b] or (" " in sentence[a:b] and not _ORG_WORDS.search(sentence, a, b)))
    ]


def _introduces_person(sentence: str, start: int, end: int) -> bool:
    """Whether the words right around a name say it is someone: "spokeswoman Mao Ning", "said Chong",
    "Zhu said", "Shen Dingli, a scholar"."""

    def clean(words: list[str]) -> list[str]:
        return [w.strip(",.;:“”\"'’()") for w in words]

    before = clean(sentence[max(0, start - 40) : start].split()[-2:])
    after_text = sentence[end : end + 40]
    after = clean(after_text.split()[:3])
    if any(_ROLE_CUE.fullmatch(w) or _SPEECH_CUE.fullmatch(w) for w in before):
        return True
    if any(_SPEECH_CUE.fullmatch(w) for w in after[:2]):
        return True
    appositive = re.match(r",\s+(?:a|an|the)\s+((?:\S+\s+){0,2}\S+)", after_text)
    if appositive is None:
        return False
    return any(_ROLE_CUE.fullmatch(w) for w in clean(appositive.group(1).split()))


def _around_title(sentence: str, start: int, end: int, *, before: bool) -> tuple[int, int]:
    """The name after the last title in "US Commerce Secretary Howard Lutnick", or (`before`) the
    words before the first one: "California" of "California Gov. Gavin Newsom"."""
    titles = list(_TITLE_WORD.finditer(sentence, start, end))
    if not titles:
        return start, end
    if before:
        cut = sentence[start : titles[0].start()].rstrip()
        return (start, start + len(cut)) if cut else (start, end)
    return titles[-1].end(), end


def _ranked(
    found: dict[tuple[int, int], float], introduced: set[tuple[int, int]], sentence: str
) -> list[SpanCandidate]:
    return [
        SpanCandidate(a, b, sentence[a:b], fit, (a, b) in introduced) for (a, b), fit in sorted(found.items())
    ]


def _trim(
    sentence: str, start: int, end: int, question_words: set[str], tails: dict[str, set[str]]
) -> tuple[int, int]:
    """Drops words the question spells the same way, and function words, from both ends of a name.

    At the end, the words the name shares with the question go together, and only where the
    question says them as a name of their own: "Just Ice Tea" keeps "Tea" from "Honest *Tea*",
    and "Major League Soccer" keeps "Soccer" from "*Soccer* icon Lionel Messi" (`_name_tails`)."""
    tokens = [(m.start() + start, m.end() + start) for m in WORD.finditer(sentence[start:end])]

    def word(n: int) -> str:
        return sentence[tokens[n][0] : tokens[n][1]]

    def echo(token: tuple[int, int]) -> bool:
        said = sentence[token[0] : token[1]]
        return said in question_words or said.lower() in _NOT_ENTITIES

    while tokens and echo(tokens[0]):
        tokens.pop(0)
    while tokens:
        last = len(tokens) - 1
        said = word(last)
        if said.lower() in _NOT_ENTITIES or (said in question_words and not said[:1].isupper()):
            tokens.pop()  # a function word, or a number or lowercase word of the question ("Game 4")
            continue
        if said not in question_words:
            break
        head = last  # the run of words the question says together, back from the last
        while head and word(head - 1) in question_words and word(head - 1) in tails.get(word(head), set()):
            head -= 1
        before = tails.get(word(head), set())
        if not ("" in before or (head and word(head - 1) in before)):
            break
        del tokens[head:]
    if not tokens:
        return start, start
    return tokens[0][0], tokens[-1][1]


def _name_tails(question: str) -> dict[str, set[str]]:
    """For each capitalised word of `question`, what stands before it where it stands: "" where
    it is a name of its own or opens one ("a *Republican* senator", "*Tim* Scott announced"), the
    capitalised word it ends a name with ("Honest" for "Honest *Tea*"), or nothing where only its
    place capitalises it (a sentence's first word before a lowercase one: "*Soccer* icon")."""
    tails: dict[str, set[str]] = {}
    # The sentence splitter knows "Sen. Tim Scott" opens no sentence at "Tim".
    openings = {m.start() for a, b in sentence_spans(question) if (m := WORD.search(question, a, b))}
    tokens = list(WORD.finditer(question))
    named = False  # whether the word before is capitalised as a name
    for n, match in enumerate(tokens):
        word = match.group(0)
        gap = question[tokens[n - 1].end() : match.start()] if n else ""
        opens = match.start() in openings or any(ch in gap for ch in ':;"“')
        capital = word[:1].isupper()
        if opens:
            following = tokens[n + 1].group(0) if n + 1 < len(tokens) else ""
            named = (
                capital
                and following[:1].isupper()
                and not _WH.fullmatch(word)
                and word.lower() not in _NOT_ENTITIES
            )
            tails.setdefault(word, set()).update([""] if named else [])
        elif capital:
            joined = named and not gap.strip()
            tails.setdefault(word, set()).add(tokens[n - 1].group(0) if joined else "")
            named = True
        else:
            named = False
    return tails


_NOT_UNITS = _word_set("last next ago each every more less than over under about nearly almost just only")
"""Words after a number that are not what it counts ("55,000 last year")."""
_SCALE_WORDS = frozenset(["hundred", "thousand", "million", "billion", "trillion", "bn", "m", "k"])


def _drop_unit(sentence: str, start: int, end: int, question_terms: set[str]) -> int:
    """End of a number without function words after it and the unit words the question names."""
    tokens = list(WORD.finditer(sentence, start, end))
    while len(tokens) > 1:
        word = tokens[-1].group(0)
        if word.lower() in _NOT_ENTITIES or word.lower() in _NOT_UNITS:
            tokens.pop()
            continue
        if word.lower() in _SCALE_WORDS or not set(lexical_terms(word)) <= question_terms:
            break
        tokens.pop()
        if len(tokens) > 1 and tokens[-1].group(0).lower() in {"of", "per", "a", "an"}:
            tokens.pop()  # "1,000 of", "£1,600 per" (month), "$22 an" (hour)
    end = min(end, tokens[-1].end()) if tokens else end
    if end < len(sentence) and sentence[end] == "%":
        end += 1
    return end


_MARKER = re.compile(r"\[\d{1,3}\]")
_EDGE_PUNCTUATION = frozenset(",;:()[]“”\"'’")


def _strip(sentence: str, start: int, end: int) -> tuple[int, int]:
    """`start`–`end` without white space of any kind (a line break, a no-break space) or quote marks,
    brackets and separators at either end."""

    def edge(ch: str) -> bool:
        return ch.isspace() or ch in _EDGE_PUNCTUATION

    while start < end and edge(sentence[start]):
        start += 1
    while end > start and edge(sentence[end - 1]):
        end -= 1
    return start, end
