"""Handing freed heap memory back to the system between the large, short-lived allocations of an ingest."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """Returns the free pages of every malloc arena to the system (glibc; elsewhere nothing).

    glibc keeps what a thread frees in that thread's own arena, out of reach of the process's
    other threads, and rarely gives it back. Three callers free a lot at a time:
    - A bfloat16 forward pass frees 100-150 MB of activations in the embedding thread. Trimming
      after each call (about 10 ms, against seconds a batch) took the peak of ingesting a
      300-article archive from 958 to 837 MB.
    - A page of chunks read from Chroma (sentence vectors included) is decoded and dropped. Over
      the 17,186 chunks of a 1,113-article archive, trimming after each page kept the read's
      growth to 51 MB instead of 100.
    - A batch of articles written to Chroma: its threads build the request in arenas of their own.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)  # the C library the process runs on
    except OSError:
        return None
