"""As-of time: the day a question is asked, and what its time words mean on that day.

A question is answered as of a day (by default today): articles published after it are not used.
Words in the question that name a period before that day ("this week", "yesterday", "last
month", "this year") become a window of publication dates. Vaguer words ("recently", "latest")
set no window: the retriever's recency lift already prefers recent stories on the
question's topic. Dates an event happened on ("in March", "in 2019") are left to retrieval
too: a story about March may run in April, so they say little about when it was published.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag.errors import RagError

__all__ = [
    "AsOfError",
    "TimeScope",
    "article_day",
    "is_day",
    "parse_day",
    "resolve",
    "spoken_day",
    "without_time_notes",
]


class AsOfError(RagError, ValueError):
    """An as-of date that is not a YYYY-MM-DD day."""


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    days_back: int
    """The window starts this many days before the as-of day."""
    year_start: bool = False
    """The window starts on 1 January of the as-of year instead."""


def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)


# The first rule that matches decides; a week's window has a day of slack for time zones and
# stories filed the evening before.
_RULES = (
    _Rule(_words(r"(?:earlier |later )?today", "tonight", r"this (?:morning|afternoon|evening)"), 1),
    _Rule(_words("yesterday", "overnight"), 2),
    _Rule(
        _words(
            r"(?:earlier |later )?this week(?:end)?",
            r"(?:in )?the (?:past|last) (?:week|seven days|few days)",
            r"in recent days",
            r"this past week(?:end)?",
        ),
        8,
    ),
    _Rule(_words(r"last week(?:end)?"), 15),
    _Rule(
        _words(
            r"(?:earlier )?this month",
            r"(?:in )?the (?:past|last) (?:month|30 days|few weeks)",
            r"in recent weeks",
        ),
        31,
    ),
    _Rule(_words(r"last month"), 62),
    _Rule(_words(r"(?:earlier )?this year", r"so far this year"), 0, year_start=True),
)


@dataclass(frozen=True, slots=True)
class TimeScope:
    """What a question is asked against: the as-of day and, from its time words, a window."""

    as_of: dt.date
    since: dt.date | None = None
    """First publication day in the window (None: no window, only the as-of cap)."""
    phrase: str = ""
    """The time words that set the window, as written ("this week")."""
    query: str = ""
    """The question without those words, for retrieval."""

    def describe(self) -> str:
        """The window (or the cap) in words, for the rewritten query and notes."""
        if self.since is None:
            return f"published by {self.as_of.isoformat()}"
        return f"published {self.since.isoformat()} to {self.as_of.isoformat()} ({self.phrase})"


def article_day(text: str | None) -> dt.date | None:
    """The day of an article's YYYY-MM-DD date (or a longer ISO timestamp); None when it has none
    or it does not read."""
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def spoken_day(value: dt.date | str) -> str:
    """A day as people write it: 14 Oct 2022 (from a date or an ISO date or timestamp)."""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value[:10])
    return f"{day.day} {day:%b %Y}"


_SPOKEN_DAY = r"\d{1,2} [A-Z][a-z]{2} \d{4}"
_TIME_NOTES = re.compile(
    rf"Earlier \({_SPOKEN_DAY}\): "
    rf"| ?\(Nothing published {_SPOKEN_DAY} to {_SPOKEN_DAY} \([^()]*\) answers it; this is [^()]*\.\)"
    rf"| ?No article is from {_SPOKEN_DAY} to {_SPOKEN_DAY} \([^()]*\); the newest is from {_SPOKEN_DAY}, "
    r"so older articles were searched\."
)
"""What the assistant says about time around the articles' words (the answerer's "Earlier (…): "
labels, the assistant's notes on windows); their dates are not the answer's."""


def without_time_notes(text: str) -> str:
    """`text` without the assistant's notes on dates and windows, for scoring what the articles say."""
    return _TIME_NOTES.sub("", text)


def is_day(value: object) -> bool:
    """Whether `value` is a day written exactly YYYY-MM-DD (as the CLI, the chat and gold files want)."""
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def parse_day(value: str | dt.date | None, *, name: str = "as_of") -> dt.date:
    """The day `value` names (ISO YYYY-MM-DD, or a date); today for None or ""."""
    if value is None or value == "":
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise AsOfError(f"{name}: {value!r} is not a day; use YYYY-MM-DD, e.g. 2025-01-15") from None


_NAMED_AFTER = re.compile(
    r"""\s*["”’']?\s*(?:show|programme|program|host|anchor|co-host|[’']s)\b""", re.IGNORECASE
)
_WORDS = re.compile(r"[^\W\d_][\w’'-]*")


def _a_name(question: str, found: re.Match[str]) -> bool:
    """Whether "Today" (capitalised, or TODAY) names something, as news questions often do: before
    "show", "host" or "'s" (the "Today" show), or right after a capitalised word (USA Today, NBC's
    Today) in a question that is not written in title case."""
    if found.group(0) not in ("Today", "TODAY"):
        return False
    if _NAMED_AFTER.match(question, found.end()):
        return True
    previous = question[: found.start()].rstrip(" \"“‘'").split()
    words = _WORDS.findall(question)
    title_case = sum(w[0].isupper() for w in words) > 0.75 * len(words)
    return (
        bool(previous) and previous[-1][0].isupper() and previous[-1][-1] not in ".!?:;," and not title_case
    )


def resolve(question: str, as_of: dt.date) -> TimeScope:
    """The scope of `question` asked on `as_of`: a window when it has time words, else the cap only."""
    for rule in _RULES:
        found = next((m for m in rule.pattern.finditer(question) if not _a_name(question, m)), None)
        if found is None:
            continue
        since = dt.date(as_of.year, 1, 1) if rule.year_start else as_of - dt.timedelta(days=rule.days_back)
        query = question[: found.start()] + question[found.end() :]
        query = re.sub(r"\s+([,.?!;:])", r"\1", re.sub(r"\s{2,}", " ", query)).strip(" ,")
        return TimeScope(as_of, since, found.group(0), query or question)
    return TimeScope(as_of, None, "", question)
