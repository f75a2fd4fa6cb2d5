"""Dependencies point one way: `ingest/`, `ui/` and `eval/` import `rag/`, never the reverse.

Two checks, because each misses what the other sees: the static one reads every import statement
under `rag/` (including those inside functions, which run only on some calls); the dynamic one imports
every module in a fresh interpreter and looks at what ended up loaded (including what third-party
imports drag in).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rag
import rag.index

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "rag"
OUTER = frozenset({"ingest", "ui", "eval"})
HEAVY = frozenset({"gradio", "torch"})
"""Not outer packages, but `import rag` stays light: these load only where they are used."""

CORE_MODULES = sorted(info.name for info in pkgutil.walk_packages(rag.__path__, prefix="rag."))


def _outer_imports(path: Path) -> list[str]:
    """`line: module` for every import of an outer package in the file, by statement or by importlib."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] in OUTER]
    return found


def test_the_walk_finds_every_core_file() -> None:
    # A folder without `__init__.py` would be skipped by the walk, and so by the import check.
    files = {p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".") for p in CORE.rglob("*.py")}
    assert {name.removesuffix(".__init__") for name in files} == {"rag", *CORE_MODULES}


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_core_file_imports_an_outer_package(path: Path) -> None:
    assert _outer_imports(path) == []


def test_importing_every_core_module_loads_no_outer_package() -> None:
    # One fresh interpreter imports the modules one by one; whatever forbidden module appears first
    # after importing a module is blamed on it.
    probe = (
        "import importlib, json, sys\n"
        f"forbidden = {sorted(OUTER | HEAVY)!r}\n"
        "blame = {}\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "    for loaded in sorted(sys.modules):\n"
        "        if loaded.split('.')[0] in forbidden:\n"
        "            blame.setdefault(loaded, name)\n"
        "print(json.dumps(blame))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, "rag", *CORE_MODULES],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert json.loads(run.stdout) == {}


# -- the index package owns Chroma and BM25 --------------------------------------------------------

INDEX = CORE / "index"
INDEX_INTERNALS = ("chromadb", "langchain_chroma", "rag.index.")
"""Modules only `rag/index/` may import: callers go through `rag.index.Index` and its writer."""
PEERS_OWN_STORES = {
    ("eval/baseline.py", "NaiveBaseline.build"): "the LangChain textbook pipeline's own Chroma",
    ("eval/baseline.py", ""): "the type of that pipeline's store, for annotations",
    ("eval/bench.py", "_langchain"): "LangChain's default pipeline, benchmarked beside ours",
    ("eval/bench.py", "_llamaindex"): "LlamaIndex's default pipeline, benchmarked beside ours",
    ("eval/lexical_compare.py", "TodayEngine.__init__"): "our BM25 engine itself, compared with others",
    ("eval/lexical_compare.py", ""): "the store type its in-memory article source stands in for",
}
"""Imports outside the package that build a peer system's own store, not ours, by (file, function)."""


def _imports_with_scope(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, enclosing function as `Class.method`, "" at module level) of every import."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, ".".join(scope)) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
                found.extend((child.lineno, name, ".".join(scope)) for name in names)
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            visit(child, [*scope, child.name] if inner else scope)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), [])
    return found


PUBLIC = frozenset(f"rag.index.{name}" for name in rag.index.__all__) | {"rag.index"}
"""What `rag.index` offers its callers."""

CALLERS = sorted(
    path
    for package in ("rag", "ingest", "ui", "eval")
    for path in (REPO / package).rglob("*.py")
    if INDEX not in path.parents
)


@pytest.mark.parametrize("path", CALLERS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_caller_outside_the_index_package_touches_chroma_or_bm25(path: Path) -> None:
    where = path.relative_to(REPO).as_posix()
    reached = [
        f"{line}: {module} (in {scope or 'module'})"
        for line, module, scope in _imports_with_scope(path)
        if module.startswith(INDEX_INTERNALS)
        and module not in PUBLIC
        and (where, scope) not in PEERS_OWN_STORES
    ]
    assert reached == []


def test_the_index_check_sees_a_direct_chroma_import(tmp_path: Path) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(
        "def f():\n    from rag.index.store import Store\n\nclass C:\n    def g(self):\n        import chromadb\n"
    )
    assert [(m, s) for _l, m, s in _imports_with_scope(caller)] == [
        ("rag.index.store.Store", "f"),
        ("chromadb", "C.g"),
    ]
