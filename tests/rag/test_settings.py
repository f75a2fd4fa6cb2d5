"""Settings from `RAG_*` variables and a `.env` file that other tools share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rag.errors import ConfigError
from rag.settings import load_settings

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.fast


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_dotenv_file_shared_with_other_tools_gives_only_its_rag_variables(folder: Path) -> None:
    (folder / ".env").write_text("DEBUG=true\nOTHER_APP_SECRET=2\nTOP_K=9\nRAG_TOP_K=3\n", encoding="utf-8")
    settings = load_settings()
    assert settings.top_k == 3  # TOP_K, without the prefix, is another tool's


def test_a_misspelt_setting_in_dotenv_is_named_as_written(folder: Path) -> None:
    (folder / ".env").write_text("DEBUG=true\nRAG_TOPK=2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == "invalid configuration: RAG_TOPK: no such setting"


def test_a_bad_value_in_dotenv_names_its_setting(folder: Path) -> None:
    (folder / ".env").write_text("RAG_TOP_K=zero\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"^invalid configuration: RAG_TOP_K: Input should be a valid integer"
    ):
        load_settings()


def test_an_empty_variable_is_unset(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", "")
    monkeypatch.setenv("RAG_CHROMA_HOST", "")
    settings = load_settings()
    assert str(settings.data_dir) == "data"
    assert settings.chroma_host is None
