"""Words WordNet relates to a word, so that a question's "publish" finds an article's "issued".

Questions rarely use an article's words: "publish" for "issued", "academics" for "Professor".
A question word whose relative an article uses is not missing from it. The table
(`wordnet_relatives.json.gz`, built by `python -m eval.wordnet` from WordNet 3.0, © Princeton
University, whose licence it carries) holds, for each WordNet lemma, the lexical terms of its
synonyms, of its irregular forms ("spend" → "spent") and, for a noun, of its direct hyponyms
("academic" → "professor"). A word is looked up by its base forms, found as WordNet's own `morphy`
finds them: its irregular forms first ("led" → "lead"), then its suffix rules.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import json
from typing import Any

__all__ = ["relatives"]

_SUFFIXES = {
    "noun": (
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    "verb": (
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}
"""WordNet's `morphy` rules: an inflected form's endings and what its base ends with instead."""


@functools.cache
def _table() -> dict[str, Any]:
    data = importlib.resources.files("rag").joinpath("wordnet_relatives.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=4096)
def relatives(word: str) -> frozenset[str]:
    """The lexical terms of the words WordNet relates to `word` (a lowercase word, as
    `rag.text.content_terms` gives it) in any part of speech, its own among them; empty for a word
    WordNet lacks."""
    table = _table()
    terms: set[str] = set()
    for pos, suffixes in _SUFFIXES.items():
        related, forms = table[pos]["relatives"], table[pos]["forms"]
        bases = {word, *forms.get(word, "").split()}
        bases.update(word[: -len(suffix)] + ending for suffix, ending in suffixes if word.endswith(suffix))
        terms.update(term for base in bases for term in related.get(base, "").split())
    return frozenset(terms)
