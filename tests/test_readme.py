"""The README stays true: every setting is documented, and the commands it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.cli import _parser
from rag.settings import Settings

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
