"""Sentence vectors of a chunk, stored compactly with the chunk.

At ingest the embedder pools each sentence's token states out of the chunk's own forward
pass ("late chunking"); the vectors travel with the chunk so the extractive answerer need
not embed sentences at question time. They are stored int8-quantised with one scale per
vector, keyed by the sentence's character span within the chunk (`rag.text.sentence_spans`
of the chunk text), as one base64 string in the chunk's metadata.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

__all__ = ["FORMAT", "SentenceVectors", "best_similarity"]

FORMAT = "late-chunking;int8;v1"
"""Identity of how sentence vectors are made and stored; recorded in the store."""

_HEADER = struct.Struct("<HH")
"""Sentences, dimensions."""


@dataclass(frozen=True, slots=True, eq=False)
class SentenceVectors:
    """Unit vectors of some sentences of one chunk, by (start, end) offsets within the chunk."""

    spans: tuple[tuple[int, int], ...]
    matrix: np.ndarray
    """float32, one unit row per span."""
    _rows: dict[tuple[int, int], int] = field(init=False, repr=False)
    _encoded: str = field(default="", init=False, repr=False)
    """What `decode` read, so that encoding again gives the same text."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rows", {span: row for row, span in enumerate(self.spans)})

    @classmethod
    def from_vectors(
        cls, spans: Sequence[tuple[int, int]], vectors: Sequence[Sequence[float] | None]
    ) -> SentenceVectors | None:
        """The spans that have a vector, with it; None when none has."""
        import numpy as np

        kept = [(span, vector) for span, vector in zip(spans, vectors, strict=True) if vector is not None]
        if not kept:
            return None
        return cls.from_matrix(
            [span for span, _vector in kept], np.asarray([vector for _span, vector in kept], dtype=np.float32)
        )

    @classmethod
    def from_matrix(cls, spans: Sequence[tuple[int, int]], matrix: np.ndarray) -> SentenceVectors:
        """One row of `matrix` per span, in any scale: rows are normalised here."""
        if len(spans) != len(matrix):
            raise ValueError(f"{len(spans)} spans but {len(matrix)} vectors")
        return cls(tuple((int(a), int(b)) for a, b in spans), _unit(matrix))

    def get(self, start: int, end: int) -> np.ndarray | None:
        """The vector of the sentence at `start:end` of the chunk, if there is one."""
        row = self._rows.get((start, end))
        return None if row is None else self.matrix[row]

    def encode(self) -> str:
        """int8 with a float32 scale per vector, and uint32 spans, as base64 text."""
        import numpy as np

        if self._encoded:
            return self._encoded

        matrix = self.matrix.astype(np.float32)
        scales = np.abs(matrix).max(axis=1) / 127.0
        scales[scales == 0] = 1.0
        quantised = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
        spans = np.asarray(self.spans, dtype="<u4").reshape(-1, 2)
        payload = b"".join(
            [
                _HEADER.pack(len(self.spans), matrix.shape[1]),
                spans.tobytes(),
                scales.astype("<f4").tobytes(),
                quantised.tobytes(),
            ]
        )
        return base64.b64encode(payload).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> SentenceVectors | None:
        """The vectors `encode` wrote; None for an empty or unreadable value."""
        import binascii

        import numpy as np

        if not text:
            return None
        try:
            payload = base64.b64decode(text, validate=True)
            count, dims = _HEADER.unpack_from(payload)
            offset = _HEADER.size
            spans = np.frombuffer(payload, dtype="<u4", count=2 * count, offset=offset).reshape(count, 2)
            offset += spans.nbytes
            scales = np.frombuffer(payload, dtype="<f4", count=count, offset=offset)
            offset += scales.nbytes
            quantised = np.frombuffer(payload, dtype=np.int8, count=count * dims, offset=offset)
        except (binascii.Error, struct.error, ValueError):
            return None
        if count == 0 or offset + quantised.nbytes != len(payload):
            return None
        matrix = quantised.reshape(count, dims).astype(np.float32) * scales[:, None]
        decoded = cls.from_matrix([(a, b) for a, b in spans.tolist()], matrix)
        object.__setattr__(decoded, "_encoded", text)
        return decoded


def best_similarity(text: str, unit: np.ndarray) -> float | None:
    """Cosine of the best-matching sentence in encoded vectors with a unit query vector, without
    decoding them into `SentenceVectors`; None for an empty or unreadable value.

    Each stored row is int8 times one scale, and the scale cancels in the cosine, so the int8
    rows are used as they are (this is the retriever's per-candidate hot path).
    """
    import binascii

    import numpy as np

    if not text:
        return None
    try:
        payload = base64.b64decode(text, validate=True)
        count, dims = _HEADER.unpack_from(payload)
        offset = _HEADER.size + 8 * count + 4 * count
        rows = np.frombuffer(payload, dtype=np.int8, count=count * dims, offset=offset)
    except (binascii.Error, struct.error, ValueError):
        return None
    if count == 0 or dims != unit.shape[0] or offset + rows.nbytes != len(payload):
        return None
    matrix = rows.reshape(count, dims).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    return float(np.max((matrix @ unit) / norms))


def _unit(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)  # type: ignore[no-any-return]
