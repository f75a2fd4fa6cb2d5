"""Errors raised by the core; the CLI and UI turn them into messages."""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "IndexMismatchError",
    "NoIndexError",
    "RagError",
    "ReadOnlyIndexError",
    "StoreUnavailableError",
]


class RagError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting is invalid; the message names the setting."""


class NoIndexError(RagError, LookupError):
    """The collection does not exist or holds no articles yet."""


class IndexMismatchError(RagError):
    """The collection was built with another embedder or chunking."""


class StoreUnavailableError(RagError, ConnectionError):
    """The Chroma server cannot be reached, or the data directory cannot be used."""


class ReadOnlyIndexError(StoreUnavailableError):
    """The index is read-only (`RAG_READ_ONLY`, or its folder cannot be written): it answers, but takes no writes."""


class BackendUnavailableError(RagError):
    """An optional backend is not installed or not reachable."""
