"""Near-copy signatures are datasketch 2's, bit for bit: the affine32 MinHash of an article's word
5-grams, its Jaccard estimate, and MinHashLSH's bands and query results, so that the signatures
stored in existing indexes keep matching."""

from __future__ import annotations

import base64
import random
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from rag.index.copies import Copies, _Bands, _bands_and_rows, _jaccard, _signature, _unpack, fingerprint

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import NDArray

pytestmark = pytest.mark.fast

VOCABULARY = [
    *["fire", "homes", "Glenhaven", "council", "bridge", "harbour", "dredged", "schools", "shut", "chief"],
    *["officer", "wire", "paper", "310", "the", "of", "a", "and", "said", "on", "Monday"],
    *["Zürich", "naïve", "STRASSE", "straße", "東京", "новости", "٣١٠", "Σίσυφος", "ﬁre", "l'été", "co-op"],
    *["3.5", "İstanbul", "ǅemal", "e\u0301te\u0301", "under_score"],
]
SEPARATORS = [" ", " ", " ", ", ", ".\n", " — ", "\n\n", "'s "]


def _text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(VOCABULARY) + rng.choice(SEPARATORS) for _ in range(words))


def _edited(rng: random.Random, text: str, edits: int) -> str:
    """The text with some words replaced: a near-copy."""
    words = text.split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
    return " ".join(words)


def _texts() -> list[str]:
    rng = random.Random(1)
    fixed = ["", " ", "…—!?", "one", "two words", "exactly five words right here"]
    fixed += ["six words make exactly two shingles", "ÉTÉ été Été"]
    fixed += ["FIRE ﬁre fire Fire", "ß SS ss straße STRASSE"]
    # 6,000 words: more distinct shingles than the signature permutes at once.
    return fixed + [_text(rng, words) for words in (2, 4, 5, 6, 12, 50, 300, 900, 6000) for _ in range(3)]


TEXTS = _texts()


@pytest.fixture(scope="module")
def datasketch() -> ModuleType:
    module: ModuleType = pytest.importorskip("datasketch")  # a dev extra: skipped only without it
    return module


def _reference(datasketch: ModuleType, text: str) -> Any:
    """datasketch's MinHash of the text, shingled as rag/index/copies.py did when it used datasketch."""
    words = re.findall(r"\w+", text.casefold())
    shingles = {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 5 + 1))}
    minhash = datasketch.MinHash(num_perm=64, seed=1, scheme="affine32")
    minhash.update_batch([s.encode() for s in shingles])
    return minhash


def _packed(minhash: Any) -> str:
    """The signature as rag/index/copies.py stored datasketch's."""
    packed = np.asarray(minhash.hashvalues, dtype=np.uint32).tobytes()
    return "a32:" + base64.b64encode(packed).decode("ascii")


@pytest.mark.parametrize("text", TEXTS, ids=[f"{n}-{len(text)}chars" for n, text in enumerate(TEXTS)])
def test_the_signature_is_datasketchs(datasketch: ModuleType, text: str) -> None:
    assert fingerprint(text).minhash == _packed(_reference(datasketch, text))


def test_a_stored_signature_still_matches() -> None:
    """A signature written by the datasketch version, as stored in indexes built before."""
    stored = (
        "a32:b4GKI5lmyg3FoJYXMS/GQOwdGQiAtegXHd1lK+ewhw0Lj/AFeqtWCWgt3Q46544fNh5ZEBvPMwHjqNkDqwxyAIsqEAOofSwf"
        "yGpuLu0HxzpcfD8PPT5LFXMyBws/Q30ZYlPnLHIrXylIEcUmdlA8MANmaW+ZviUXg59rFkobsQ/mTtQTiUlLDGg5JQA39c0VLTtX"
        "B+bFPGkh+hEUPiTLMKhBgBaT6MYg/gc0EpLtJAHJLn0erykET+c5GRJhbpIivOB5JjNpSA4H4YIzD7DJODv8VBYfV/odKs3/IEAz"
        "cQl4ayYncytACjtogQqZBMkjBw2YESzvTifvxMuLeLP2Ew=="
    )
    text = "Wildfire destroys 310 homes in Glenhaven, the fire chief said on Monday."
    assert fingerprint(text).minhash == stored
    assert np.array_equal(_unpack(stored), _signature(text))


def test_the_jaccard_estimate_is_datasketchs(datasketch: ModuleType) -> None:
    rng = random.Random(2)
    originals = [_text(rng, 400) for _ in range(4)]
    pairs = [(a, b) for a in originals for b in originals]
    pairs += [(text, _edited(rng, text, edits)) for text in originals for edits in (1, 5, 20, 80, 300)]
    pairs += [("", "one"), ("one", "one"), (TEXTS[-1], TEXTS[-2])]
    estimates = [_jaccard(_signature(a), _signature(b)) for a, b in pairs]

    assert estimates == [_reference(datasketch, a).jaccard(_reference(datasketch, b)) for a, b in pairs]
    assert min(estimates) < 0.2 and max(estimates) == 1.0 and any(0.3 < e < 0.9 for e in estimates)


def test_the_bands_are_datasketchs() -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    thresholds = [n / 100 for n in range(5, 100)]
    # What MinHashLSH takes; from 0.97 on that is one band, which it refuses and ours allows.
    theirs = [lsh._optimal_param(t, 64, 0.5, 0.5) for t in thresholds]
    assert [_bands_and_rows(t) for t in thresholds] == theirs


@pytest.mark.parametrize("threshold", [0.98, 1.0])
def test_a_threshold_with_one_band_finds_copies(threshold: float) -> None:
    copies = Copies.of({}, {}, threshold)
    text = TEXTS[-1]

    assert _bands_and_rows(threshold)[0] == 1
    assert copies.place("first.txt", fingerprint(text)) == ""
    assert copies.place("copy.txt", fingerprint(text)) == "first.txt"
    assert copies.place("edited.txt", fingerprint(_edited(random.Random(4), text, 300))) == ""


@pytest.mark.parametrize("threshold", [0.3, 0.7, 0.9])
def test_queries_find_what_datasketchs_lsh_finds(datasketch: ModuleType, threshold: float) -> None:
    rng = random.Random(3)
    originals = [_text(rng, 300) for _ in range(12)]
    texts = originals + [_edited(rng, rng.choice(originals), rng.choice([2, 10, 40, 120])) for _ in range(36)]
    signatures = {f"doc{n}": _signature(text) for n, text in enumerate(texts)}
    ours, theirs = _Bands(threshold), datasketch.MinHashLSH(threshold=threshold, num_perm=64)

    def insert(keys: list[str]) -> None:
        for key in keys:
            ours.insert(key, signatures[key])
            theirs.insert(key, _minhash(datasketch, signatures[key]))

    def found() -> list[set[str]]:
        """What every signature finds, inserted or not, in both indexes alike."""
        answers = [ours.query(s) for s in signatures.values()]
        assert answers == [set(theirs.query(_minhash(datasketch, s))) for s in signatures.values()]
        return answers

    insert(list(signatures)[:40])
    assert any(len(answer) > 1 for answer in found())
    removed = rng.sample(list(signatures)[:40], 15)
    for key in removed:
        ours.remove(key)
        theirs.remove(key)
    assert not any(set(removed) & answer for answer in found())
    insert(removed[:5] + list(signatures)[40:])
    found()


def _minhash(datasketch: ModuleType, signature: NDArray[np.uint32]) -> Any:
    return datasketch.MinHash(num_perm=64, seed=1, scheme="affine32", hashvalues=signature)
