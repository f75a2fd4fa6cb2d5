"""One ONNX export per model content: a reinstall of the same model (another virtualenv sharing the
cache) reuses it instead of exporting over it, and a changed model is exported again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.embeddings import SentenceTransformerEmbeddings, _fingerprint, _is_current, resolve_model_path
from rag.settings import PACKAGED_MODEL

pytestmark = pytest.mark.slow


def test_the_same_model_installed_again_reuses_the_export(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(resolve_model_path(PACKAGED_MODEL), model)
    cache = tmp_path / "cache"
    first = SentenceTransformerEmbeddings(str(model), backend="onnx-int8", cache_dir=cache)
    first.load()
    exported = (first.export_dir / "model.onnx").stat()

    # A reinstall: every file of the model rewritten, same bytes, new modification times.
    for path in model.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = SentenceTransformerEmbeddings(str(model), backend="onnx-int8", cache_dir=cache)
    second.load()

    again = (second.export_dir / "model.onnx").stat()
    assert (again.st_ino, again.st_mtime_ns) == (exported.st_ino, exported.st_mtime_ns)
    assert second.embed_query("fentanyl") == pytest.approx(first.embed_query("fentanyl"))

    # Changed content is another model: the export no longer counts as current.
    with (model / "README.md").open("a", encoding="utf-8") as handle:
        handle.write("\nchanged\n")
    assert not _is_current(second.export_dir, _fingerprint(model), "onnx-int8", model)


def test_the_openvino_export_is_made_once_and_reused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = SentenceTransformerEmbeddings(backend="openvino", cache_dir=cache)
    first.load()
    [folder] = [path for path in cache.iterdir() if path.is_dir()]
    assert folder.name.endswith("-openvino")
    exported = {name: (folder / name).stat() for name in ("model.xml", "model.bin")}

    second = SentenceTransformerEmbeddings(backend="openvino", cache_dir=cache)
    second.load()

    for name, before in exported.items():
        after = (folder / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    assert second.embed_query("fentanyl") == first.embed_query("fentanyl")
    (folder / "model.bin").unlink()  # a broken export is made again
    model = Path(resolve_model_path(PACKAGED_MODEL))
    assert not _is_current(folder, _fingerprint(model), "openvino", model)
