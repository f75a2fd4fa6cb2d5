"""Near-copies: the same story republished (a wire story on several sites, a page saved twice).

Each article gets a MinHash signature of its word 5-grams when it is written; an LSH index over
the canonical articles' signatures finds, for a new article, those whose estimated Jaccard
similarity reaches `RAG_COPY_SIMILARITY`. The new article then joins the best one's group as a copy
(`DocRecord.duplicate_of`); retrieval uses canonical articles only and lists the copies as "also
published by". Every copy keeps its own chunks, so any member can take the group's place.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash, MinHashLSH

    from rag.types import DocRecord

__all__ = ["Copies", "Fingerprint", "fingerprint", "text_hash"]

_PERMUTATIONS = 64
_SHINGLE = 5
_SEED = 1
_SCHEME = "affine32"
_PREFIX = "a32:"
"""Marks the hashing scheme of a stored signature: one made another way is not compared."""
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the index keeps of an article's text to find its copies."""

    text_hash: str
    """sha256 of the cleaned text: equal for identical texts."""
    minhash: str
    """The MinHash signature, base64 of uint32 values."""


def text_hash(text: str) -> str:
    """The key of identical texts."""
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(text: str) -> Fingerprint:
    """The fingerprint of an article's cleaned text."""
    minhash = _minhash_of(text)
    packed = np.asarray(minhash.hashvalues, dtype=np.uint32).tobytes()
    return Fingerprint(text_hash(text), _PREFIX + base64.b64encode(packed).decode("ascii"))


def _minhash_of(text: str) -> MinHash:
    from datasketch import MinHash

    words = _WORD.findall(text.casefold())
    shingles = {" ".join(words[i : i + _SHINGLE]) for i in range(max(1, len(words) - _SHINGLE + 1))}
    minhash = MinHash(num_perm=_PERMUTATIONS, seed=_SEED, scheme=_SCHEME)
    minhash.update_batch([s.encode() for s in shingles])
    return minhash


def _unpack(encoded: str) -> MinHash:
    from datasketch import MinHash

    values = np.frombuffer(base64.b64decode(encoded.removeprefix(_PREFIX)), dtype=np.uint32)
    return MinHash(num_perm=_PERMUTATIONS, seed=_SEED, hashvalues=values, scheme=_SCHEME)


@dataclass(slots=True)
class Copies:
    """The canonical articles' signatures in an LSH index."""

    threshold: float
    lsh: MinHashLSH
    signatures: dict[str, MinHash] = field(default_factory=dict)
    """Canonical articles' signatures, by doc id."""
    prints: dict[str, Fingerprint] = field(default_factory=dict)
    """Every article's fingerprint, copies' too (one may be promoted), by doc id."""
    dates: dict[str, str] = field(default_factory=dict)
    """Canonical articles' publication dates."""
    replaced: dict[str, str] = field(default_factory=dict)
    """Canonical articles that a newer version replaced since the caller last cleared this: old → new."""

    @classmethod
    def of(cls, records: dict[str, DocRecord], prints: dict[str, Fingerprint], threshold: float) -> Copies:
        """The groups as committed: every canonical article with a signature is a candidate."""
        from datasketch import MinHashLSH

        copies = cls(threshold, MinHashLSH(threshold=threshold, num_perm=_PERMUTATIONS))
        copies.prints = {doc_id: found for doc_id, found in prints.items() if doc_id in records}
        copies.dates = {
            doc_id: record.date[:10] for doc_id, record in records.items() if not record.duplicate_of
        }
        for doc_id in sorted(records):
            record, found = records[doc_id], prints.get(doc_id)
            if record.duplicate_of or found is None or not found.minhash.startswith(_PREFIX):
                continue
            copies._add(doc_id, _unpack(found.minhash))
        return copies

    def _add(self, doc_id: str, minhash: MinHash) -> None:
        self.signatures[doc_id] = minhash
        self.lsh.insert(doc_id, minhash)

    def forget(self, doc_id: str) -> None:
        """Forgets an article (deleted, or about to be placed again)."""
        self.prints.pop(doc_id, None)
        self._drop(doc_id)

    def _drop(self, doc_id: str) -> None:
        """Takes an article out of the candidates; its fingerprint stays."""
        self.dates.pop(doc_id, None)
        if self.signatures.pop(doc_id, None) is not None:
            self.lsh.remove(doc_id)

    def place(self, doc_id: str, found: Fingerprint, *, date: str = "") -> str:
        """The canonical article `doc_id` is a copy of ("" if none), and records the choice: an
        article that is nobody's copy becomes a candidate for later ones.

        A newer version of a canonical article's story (a later publication date) takes its
        place, so that the newest figures are the ones retrieved; `replaced` records it.
        """
        self.forget(doc_id)
        self.prints[doc_id] = found
        minhash = _unpack(found.minhash)
        matches = [m for m in self.lsh.query(minhash) if m != doc_id]
        scored = sorted((-self.signatures[m].jaccard(minhash), m) for m in matches)
        if scored and -scored[0][0] >= self.threshold:
            best = str(scored[0][1])
            if date[:10] <= self.dates.get(best, ""):
                return best
            self._drop(best)
            self.replaced[best] = doc_id
        self._add(doc_id, minhash)
        self.dates[doc_id] = date[:10]
        return ""

    def promote(self, doc_id: str, date: str) -> None:
        """Makes a former copy a candidate (its canonical article went away)."""
        found = self.prints.get(doc_id)
        if found is not None and found.minhash.startswith(_PREFIX) and doc_id not in self.signatures:
            self._add(doc_id, _unpack(found.minhash))
            self.dates[doc_id] = date[:10]
