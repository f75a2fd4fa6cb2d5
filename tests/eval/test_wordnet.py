"""Building the WordNet relatives table from a WordNet dict folder (a small hand-made one)."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING

import pytest

from eval.wordnet import build, main

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.fast

_HEADER = "  1 This software and database is provided by Princeton University.\n"
_FILES = {
    "data.noun": _HEADER
    + "00000001 18 n 02 academician 0 academic 0 001 ~ 00000002 n 0000 | a scholar\n"
    + "00000002 18 n 02 professor 0 prof 0 001 @ 00000001 n 0000 | a teacher at a university\n"
    + "00000003 18 n 01 faculty_member 0 000 | two words\n",
    "data.verb": _HEADER + "00000001 32 v 02 publish 0 issue 0 000 01 + 08 00 | print and sell\n",
    "data.adj": _HEADER + "00000001 00 s 02 galore(ip) 0 aplenty 0 000 | in abundance\n",
    "data.adv": _HEADER,
    "noun.exc": "academia academic\n",
    "verb.exc": "pubbed publish\nflew fly\n",
    "adj.exc": "",
    "adv.exc": "",
    "LICENSE": "WordNet Release 3.0 notice\n",
}


@pytest.fixture
def wordnet(tmp_path: Path) -> Path:
    for name, text in _FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_lemma_is_related_to_its_synonyms_and_its_nouns_hyponyms(wordnet: Path) -> None:
    table = build(wordnet)
    nouns, verbs, adjectives = table["noun"], table["verb"], table["adj"]
    assert isinstance(nouns, dict) and isinstance(verbs, dict) and isinstance(adjectives, dict)

    # "academia" is its irregular form in this folder's noun.exc.
    assert nouns["relatives"]["academic"].split() == [
        "academ",
        "academia",
        "academician",
        "prof",
        "professor",
    ]
    assert nouns["relatives"]["prof"].split() == ["prof", "professor"]  # no hypernyms
    assert "faculty_member" not in nouns["relatives"]  # only one-word lemmas
    assert verbs["relatives"]["issue"].split() == ["issu", "publish"]
    assert verbs["relatives"]["publish"].split() == ["issu", "pub", "publish"]  # with its form "pubbed"
    assert adjectives["relatives"]["galore"].split() == ["aplenti", "galor"]  # the (ip) marker is dropped
    # An irregular form is kept only when its lemma is in the table.
    assert verbs["forms"] == {"pubbed": "publish"}
    assert nouns["forms"] == {"academia": "academic"}
    assert table["license"] == "WordNet Release 3.0 notice\n"


def test_the_written_table_is_the_same_bytes_each_time(wordnet: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    assert main([str(wordnet), "--out", str(first)]) == 0
    assert main([str(wordnet), "--out", str(second)]) == 0

    assert first.read_bytes() == second.read_bytes()
    assert json.loads(gzip.decompress(first.read_bytes())) == build(wordnet)
