"""Serving: login and exposure rules, the `rag chat` error path, telemetry off, gradio imported lazily."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main
from rag.errors import ConfigError
from rag.settings import Settings
from ui.app import _check_exposure, _login, serve

REPO_ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_needs_no_login(tmp_path: Path, host: str) -> None:
    assert _check_exposure(host, _settings(tmp_path)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "chat.example.org"])
def test_other_addresses_need_a_login(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="RAG_UI_AUTH=user:password"):
        serve(_settings(tmp_path), host=host)
    assert _check_exposure(host, _settings(tmp_path, ui_auth="ann:secret")) is None
    warning = _check_exposure(host, _settings(tmp_path, ui_allow_insecure=True))
    assert warning is not None and "without a login" in warning


def test_login_setting(tmp_path: Path) -> None:
    assert _login(_settings(tmp_path)) is None
    assert _login(_settings(tmp_path, ui_auth="ann:pass:word")) == ("ann", "pass:word")
    for bad in ("annonly", ":secret", "ann:"):
        with pytest.raises(ConfigError, match="user:password"):
            _login(_settings(tmp_path, ui_auth=bad))


def test_rag_chat_refuses_an_open_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert main(["chat", "--host", "0.0.0.0", "--port", "7999"]) == 2
    assert "error: refusing to serve the chat on 0.0.0.0 without a login" in capsys.readouterr().err


def test_gradio_is_imported_late_with_telemetry_off(tmp_path: Path) -> None:
    script = """
import os, sys
import ui.app
assert "gradio" not in sys.modules, "import ui.app must stay light"
from rag.assistant import Assistant
from rag.settings import Settings

class NoEmbedder:
    model_id = "none"

demo = ui.app.build_app(Assistant(Settings(data_dir=sys.argv[1], _env_file=None), embedder=NoEmbedder()))
assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
assert demo.analytics_enabled is False
"""
    env = {
        k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED" and not k.startswith("RAG_")
    }
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
