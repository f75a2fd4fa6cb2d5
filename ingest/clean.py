"""Remove page furniture (share prompts, related-link headers, navigation) from article text."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter

__all__ = ["clean_text", "is_furniture"]

_FURNITURE = re.compile(
    r"""^(?:
        (?:more|related|recommended|read|see|also\ read|popular)\b.{0,30}\b(?:on\ this\ topic|stories|articles|news|reads?|more|also)
      | more\ on\ this\ topic | related(?:\ (?:articles?|stories|topics|content|links))?
      | (?:thanks|thank\ you)\ for\ (?:sharing|reading)
      | share\ (?:this|on|via|article|story)\b.* | share | click\ (?:here|to)\b.*
      | join\ .{1,60}\ (?:channel|group|community|newsletter)\b.* | follow\ us\b.*
      | (?:subscribe|sign\ up)\b.{0,60}\b(?:newsletters?|updates|alerts|free|today|now|here)\b.*
      | (?:log\ ?in|sign\ in|register)(?:\ (?:here|now|to\ .{0,40}))?
      | read\ (?:the\ )?full\ (?:news|story|article)\b.* | continue\ reading\b.* | read\ more\b.*
      | advertisement | sponsored(?:\ content)? | skip\ to\ (?:main\ )?content
      | download\ (?:our|the)\ app\b.* | get\ the\ app\b.* | listen\ to\ this\ article\b.*
      | (?:photo|image|video)\ ?:\ .{0,80}
    )[.!:]?$""",
    re.IGNORECASE | re.VERBOSE,
)
_LINK_LINE = re.compile(
    r"""^(?:
        (?:photo|image|picture)s?\ (?:by|credit|courtesy\ of|source)\b.{0,60}
      | (?:watch|listen|related|more|see\ also)\ ?:.* | (?:hide|show|expand)\ caption\b.*
      | follow\ (?:us|every|all|live)\b.*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
"""Link, credit and caption lines of scraped news; a line that reads as a sentence is kept."""
_SOCIAL = r"(?:twitter|x|facebook|instagram|tiktok|threads)"
_SOCIAL_HANDLE = re.compile(
    rf"^follow\ (?:.{{1,80}}\bon\ {_SOCIAL}\b.{{0,40}}@\w+|@\w+\ on\ {_SOCIAL}\b"
    rf"|.{{1,60}}\bon\ {_SOCIAL}(?:(?:,\ |,?\ and\ ){_SOCIAL})*\.?$)",
    re.IGNORECASE | re.VERBOSE,
)
"""A byline's social link ("Follow NAME on Twitter @handle", "Follow NAME on Twitter and Facebook.")."""
_MAX_FURNITURE_WORDS = 14
_PROMO = re.compile(r"\b(?:newsletters?|inbox)\b", re.IGNORECASE)
_PROMO_ASK = re.compile(
    r"(?:^|[.?!:]\s*)(?:sign\ up|subscribe|get|receive|stay)\b"
    r"|\b(?:you|your)\b.{0,80}\b(?:sign\ up|subscribe|subscribed|subscriber|subscription)\b"
    r"|\b(?:sign\ up|subscribe)\b.{0,80}\b(?:you|your|here|now)\b",
    re.IGNORECASE | re.VERBOSE,
)
"""The line asks the reader: an imperative that starts a sentence, or sign-up words beside "you"."""
_REPORTED = re.compile(r"\b(?:said|says|told)\b", re.IGNORECASE)
"""Reported speech: news about a newsletter, not a prompt."""
_MAX_PROMO_WORDS = 60
_LABEL_FOLLOWER_WORDS = 12
"""A repeated short line mostly followed by a line this long introduces text (a speaker, a verdict)."""
_LABEL_LIKE = re.compile(r":|^[-–—•\[(]|^[^a-z]*[A-Z][^a-z]*$")
"""Looks like a label: "Name:", "Our rating: False", "– Byline", "[Scene]", an ALL-CAPS speaker."""
_SEPARATOR = re.compile(r"^(?:([_*=~#.\-—–•·♦])\1{2,}|[—–•·♦*])$")
"""A rule or an ornament between sections ("***", "______", "♦"); code such as "}" is kept."""
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANKS = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Unicode category Cc (exactly U+0000-U+001F and U+007F-U+009F) except tab and newline."""


_HEADER = re.compile(
    r"^(?:more|related|recommended|read|see|also|popular|latest|top|trending)\b", re.IGNORECASE
)


def is_furniture(line: str) -> bool:
    """Whether a line is page furniture rather than article content."""
    stripped = line.strip()
    if _SOCIAL_HANDLE.match(stripped):
        return True
    if not stripped or len(stripped.split()) > _MAX_FURNITURE_WORDS:
        return False
    if _LINK_LINE.match(stripped) and not _is_sentence(stripped):
        return True
    if _HEADER.match(stripped) and stripped[-1] in ".!?" and len(stripped.split()) > 3:
        # "More young people now avoid the news." is a sentence, not a section header.
        return False
    return bool(_FURNITURE.match(stripped))


def _is_sentence(line: str) -> bool:
    return line.rstrip()[-1:] in '.!?"”’)' and len(line.split()) >= 4


def _is_promotion(line: str) -> bool:
    """Whether a line asks the reader to sign up for a newsletter (a site's prompt, not news about one)."""
    stripped = line.strip()
    return (
        len(stripped.split()) <= _MAX_PROMO_WORDS
        and bool(_PROMO.search(stripped))
        and bool(_PROMO_ASK.search(stripped))
        and not _REPORTED.search(stripped)
    )


def _labels(lines: list[str], repeated: Counter[str]) -> set[str]:
    """Repeated short lines that mostly introduce a long line: speaker names, "Our rating:", headings."""
    followed: Counter[str] = Counter()
    following = [line for line in lines if line]
    for line, after in itertools.pairwise(following):
        if repeated[line] >= 3 and len(after.split()) >= _LABEL_FOLLOWER_WORDS:
            followed[line] += 1
    return {
        line for line, count in followed.items() if 2 * count > repeated[line] and _LABEL_LIKE.search(line)
    }


def clean_text(text: str) -> str:
    """Normalise white space and drop furniture, prompts, separators and repeated navigation lines.

    A short line repeated three times is navigation unless it looks like a label and mostly
    introduces a long line (a speaker's name, a fact-check verdict).
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    repeated = Counter(
        line
        for line in lines
        if line and not _is_sentence(line) and len(line.split()) <= _MAX_FURNITURE_WORDS
    )
    labels = _labels(lines, repeated)
    kept = [
        line
        for line in lines
        if not is_furniture(line)
        and not _is_promotion(line)
        and not _SEPARATOR.match(line)
        and not (repeated[line] >= 3 and not _is_sentence(line) and line not in labels)
    ]
    return _BLANKS.sub("\n\n", "\n".join(kept)).strip()
