"""Citation markers and verification: nothing unverifiable reaches the user as a citation."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rag.types import Citation

__all__ = ["MARKER", "renumber", "strip_markers", "verify"]

MARKER = re.compile(r"\s?\[(\d{1,3})\]")


def verify(
    citations: Sequence[Citation], article_text: Callable[[str], str]
) -> tuple[list[Citation], list[int]]:
    """Citations whose quote equals the article text at their offsets, and the numbers that failed."""
    good, bad = [], []
    for citation in citations:
        try:
            text = article_text(citation.doc_id)
        except KeyError:
            bad.append(citation.n)
            continue
        if (
            citation.quote
            and 0 <= citation.start < citation.end <= len(text)
            and text[citation.start : citation.end] == citation.quote
        ):
            good.append(citation)
        else:
            bad.append(citation.n)
    return good, bad


def strip_markers(text: str, numbers: set[int] | None = None) -> str:
    """Removes `[n]` markers (all, or only those in `numbers`)."""
    return MARKER.sub(lambda m: "" if numbers is None or int(m.group(1)) in numbers else m.group(0), text)


def renumber(text: str, citations: Sequence[Citation]) -> tuple[str, list[Citation]]:
    """Numbers citations 1..n in order of first appearance; markers without a citation are removed."""
    by_number = {c.n: c for c in citations}
    order: dict[int, int] = {}
    for match in MARKER.finditer(text):
        old = int(match.group(1))
        if old in by_number and old not in order:
            order[old] = len(order) + 1

    def swap(match: re.Match[str]) -> str:
        old = int(match.group(1))
        return f"{match.group(0)[: -len(match.group(0).lstrip())]}[{order[old]}]" if old in order else ""

    new_text = MARKER.sub(swap, text)
    return new_text, [
        replace(by_number[old], n=new) for old, new in sorted(order.items(), key=lambda kv: kv[1])
    ]
