"""The `rag` subcommands come from entry points: a third-party plugin is found like the built-ins, and
a broken one is named in one line while the others keep working.

The plugins here are real installed distributions (a `*.dist-info` folder on PYTHONPATH), run by the
real `rag` script in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAG = Path(sys.executable).parent / "rag"
BUILT_IN = ("ask", "bench", "chat", "eval", "ingest", "stats")

_PLUGIN = """
def add_hello(subparsers):
    parser = subparsers.add_parser("hello", help="say hello")
    parser.set_defaults(run=lambda args: print("hello from a plugin") or 0)


def add_crashing(subparsers):
    raise RuntimeError("this plugin is broken")


def add_without_handler(subparsers):
    subparsers.add_parser("norun", help="forgets its handler")
"""
_ENTRY_POINTS = """[rag.commands]
hello = rag_fake_plugin:add_hello
crashing = rag_fake_plugin:add_crashing
missing = rag_fake_missing_module:add_parser
norun = rag_fake_plugin:add_without_handler
"""


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an installed distribution with one working and three broken subcommands."""
    site = tmp_path_factory.mktemp("site")
    (site / "rag_fake_plugin.py").write_text(_PLUGIN, encoding="utf-8")
    info = site / "rag_fake_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rag-fake-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(_ENTRY_POINTS, encoding="utf-8")
    return site


def _rag(plugins: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    return subprocess.run([str(RAG), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_help_lists_built_ins_and_plugins_and_names_the_broken_ones(plugins: Path) -> None:
    run = _rag(plugins, "--help")
    assert run.returncode == 0, run.stderr
    listed = run.stdout.splitlines()[0]
    for name in (*BUILT_IN, "hello", "norun"):
        assert name in listed
    assert "crashing" not in listed and "missing" not in listed
    assert (
        "warning: the `rag crashing` command could not be loaded "
        "(rag_fake_plugin:add_crashing from rag-fake-plugin): RuntimeError: this plugin is broken"
    ) in run.stderr
    assert (
        "warning: the `rag missing` command could not be loaded (rag_fake_missing_module:add_parser "
        "from rag-fake-plugin): ModuleNotFoundError: No module named 'rag_fake_missing_module'"
    ) in run.stderr
    assert "Traceback" not in run.stderr


def test_a_broken_plugin_is_an_error_only_when_asked_for(plugins: Path) -> None:
    run = _rag(plugins, "missing", "--anything")
    assert run.returncode == 2
    assert run.stderr.startswith("error: the `rag missing` command could not be loaded")
    assert "Traceback" not in run.stderr and run.stdout == ""

    run = _rag(plugins, "norun")
    assert (run.returncode, run.stderr) == (2, "error: the `rag norun` command sets no handler (`run`)\n")

    for name in BUILT_IN:
        run = _rag(plugins, name, "--help")
        assert run.returncode == 0 and f"usage: rag {name}" in run.stdout
        assert run.stderr == ""


def test_a_third_party_subcommand_runs(plugins: Path) -> None:
    run = _rag(plugins, "hello")
    assert (run.returncode, run.stdout, run.stderr) == (0, "hello from a plugin\n", "")


def test_an_uninstalled_source_tree_says_to_install(tmp_path: Path) -> None:
    # No site-packages and no package metadata: `rag/` alone, as in a clone that was never installed.
    (tmp_path / "rag").symlink_to(REPO / "rag")
    probe = "import sys; from rag.cli import main; raise SystemExit(main(['--help']))"
    run = subprocess.run(
        [sys.executable, "-E", "-s", "-S", "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "error: no `rag` commands are registered" in run.stderr and "pip install -e ." in run.stderr
