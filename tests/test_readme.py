"""The README stays true: every setting is documented, and the commands it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.cli import _parser
from rag.settings import Settings
from rag.types import Answer, Citation, Passage, ShortAnswer

pytestmark = pytest.mark.fast

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(RAG_[A-Z_]+)` \|", README, re.MULTILINE))
    expected = {f"RAG_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_every_rag_subcommand_shown_exists() -> None:
    shown = set(re.findall(r"^rag (\w+)", README, re.MULTILINE))
    subcommands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert shown and shown <= set(subcommands)


def test_the_json_an_answer_prints_is_the_one_shown() -> None:
    shown = re.search(r"`rag ask --json` prints one object:\n`(\{.*?\})`\.", README, re.DOTALL)
    assert shown, "the README shows the JSON object of `rag ask --json`"
    schema = shown.group(1).replace("\n", " ")
    passage = Passage("c1", "d1", "Title", "src", "Some text.", 0, 10, 0.5)
    answer = Answer(
        question="q",
        rewritten_query="q",
        text="Some text. [1]",
        citations=(Citation(1, "d1", "Title", "src", "c1", 0, 10, "Some text."),),
        passages=(passage,),
        abstained=False,
        short_answer=ShortAnswer("Some", "d1", 0, 4),
    )
    payload = answer.to_json()

    def keys(name: str) -> list[str]:
        found = re.search(rf'"{name}": \[?\{{([^}}]*)\}}', schema)
        assert found, name
        return re.findall(r'"(\w+)"', found.group(1))

    top = re.sub(r"\{[^{}]*\}", "", schema[1:-1])
    assert re.findall(r'"(\w+)"', top) == list(payload)
    for name in ("short_answer", "citations", "passages"):  # timings_ms: filled by the assistant
        value = payload[name][0] if isinstance(payload[name], list) else payload[name]
        assert keys(name) == list(value), name
