"""A model cache shared by the perf tests, so each ONNX backend is exported once per session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty `models/` folder, filled by the first test that uses an ONNX backend."""
    return tmp_path_factory.mktemp("perf-data") / "models"
