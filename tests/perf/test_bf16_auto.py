"""`torch-bf16`, `openvino`, `openvino-int8` and `auto`: the fp32 family's vectors from any of its
backends, one index identity for them, `openvino-int8`'s identity of its own, `auto` storing with
`openvino-int8` where the CPU multiplies bfloat16, and `auto` taking on an index built with another
of its choices (the fp32 family's, `onnx-int8`'s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from rag.embeddings import (
    _SMALL_CALL_CHARS,
    BACKENDS,
    SentenceTransformerEmbeddings,
    embedder_from_settings,
    native_bf16,
)
from rag.errors import ConfigError, IndexMismatchError
from rag.index import Index
from rag.settings import PACKAGED_MODEL, load_settings
from rag.text import sentence_spans
from tests.support import assert_verified, vector_rows

if TYPE_CHECKING:
    from rag.settings import Settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MIN_COSINE = 0.999
"""Least cosine between a backend of the fp32 family and torch fp32 (measured: 0.99993)."""
FP32_ID = f"sentence-transformers:{PACKAGED_MODEL}"
INT8_ID = f"{FP32_ID}:onnx-int8"
OV_INT8_ID = f"{FP32_ID}:openvino-int8"
INT8_MIN_COSINE = 0.98
"""Least cosine between `openvino-int8` and torch fp32 (measured: 0.994 on 1,320 archive passages)."""

# Made-up news paragraphs, of a few hundred characters each.
FLOOD = (
    "Heavy rain flooded low-lying districts of the river town of Ostbrook overnight, forcing about 1,800 "
    "residents to leave their homes. The regional fire service said water in the old market square reached "
    "more than a metre by dawn. Two schools were closed and the main rail line to the capital was suspended "
    "after a landslide covered the tracks near Kellin. Forecasters expect the river to peak on Thursday "
    "evening, and the mayor urged people not to return until engineers had inspected the embankments."
)
FLOOD_MORE = (
    "Volunteers filled sandbags through the night outside the hospital, which kept its emergency department "
    "open on generator power. The town last flooded in 2013, when the river rose to 6.4 metres and damaged "
    "more than 300 buildings. Insurers said it was too early to estimate the cost, but a spokeswoman for the "
    "regional government promised emergency payments of 1,500 euros to each household forced out."
)
STADIUM = (
    "The city council voted 31 to 12 to approve a new football stadium on the site of the former gasworks, "
    "ending a dispute that has lasted six years. The 40,000-seat ground will be paid for mainly by the club, "
    "but the council agreed to spend 85 million on roads and a tram stop. Residents' groups said they would "
    "challenge the decision in court, arguing that the site is still contaminated. The club hopes to play "
    "its first match there in the 2028 season."
)
STADIUM_MORE = (
    "Supporters gathered outside the town hall during the five-hour debate and cheered when the result was "
    "announced. The club's current ground, built in 1921, holds only 18,000 people and fails several safety "
    "rules. Council leader Maren Holt said the project would bring about 600 permanent jobs to the east of "
    "the city, and that the club had promised to pay for cleaning the soil before construction begins."
)
CHIPS = (
    "Shares of the chipmaker Norrtek rose 8 per cent after it reported quarterly revenue of 2.3 billion "
    "euros, well above analysts' forecasts. The company said demand for power-management chips used in "
    "electric cars had recovered faster than expected, while orders from phone makers remained weak. Chief "
    "executive Paolo Strand said a new factory near Dresden would start production in the autumn, a year "
    "later than first planned, because of delays in delivering lithography equipment."
)
CHIPS_MORE = (
    "Norrtek also raised its forecast for the full year, saying it now expects sales to grow by between 9 "
    "and 11 per cent. Analysts said the figures suggested that the slump in the chip industry was ending, "
    "although several warned that new tariffs on exports to the United States could hit margins next year. "
    "The company will pay a dividend of 40 cents a share."
)
HARBOUR = (
    "The harbour authority in Valmora said on Tuesday that container traffic fell 12 per cent in the first "
    "quarter, the steepest drop since 2009. Officials blamed a strike by crane operators that halted loading "
    "for nine days in February. Shipping lines diverted at least 40 vessels to neighbouring ports, and "
    "freight rates on the route to Rotterdam climbed by a fifth. The authority's chairwoman, Ines Maravel, "
    "told reporters that the backlog had been cleared and that volumes in April were back to last year's level."
)
TEXTS = [HARBOUR, FLOOD, "Markets were closed on Monday for a public holiday.", CHIPS, STADIUM, STADIUM_MORE]
"""One call of mixed lengths (padding matters), long enough for `auto` to send it to `openvino`."""
QUESTION = "How many residents had to leave their homes in Ostbrook?"

ARTICLES = {
    "valmora-harbour.txt": ("Strike drags down Valmora container traffic", HARBOUR),
    "ostbrook-floods.txt": ("Floods force 1,800 from their homes in Ostbrook", FLOOD, FLOOD_MORE),
    "stadium-vote.txt": ("Council approves football stadium on gasworks site", STADIUM, STADIUM_MORE),
    "norrtek-results.txt": ("Norrtek shares jump on electric-car chip demand", CHIPS, CHIPS_MORE),
}


def _cosines(a: object, b: object) -> np.ndarray:
    """Row-wise cosines of two stacks of unit vectors."""
    return np.asarray((np.asarray(a) * np.asarray(b)).sum(axis=-1))


def _write(folder: Path, *names: str) -> None:
    """Writes the named `ARTICLES` into `folder`: a title line, then the paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        title, *paragraphs = ARTICLES[name]
        (folder / name).write_text("\n\n".join([title, *paragraphs]) + "\n", encoding="utf-8")


def _doc_id(index: Index, name: str) -> str:
    """The id of the indexed article read from the file `name`."""
    [doc_id] = [r.doc_id for r in index.records().values() if r.path.endswith(name)]
    return doc_id


@pytest.fixture(scope="module")
def torch_fp32() -> SentenceTransformerEmbeddings:
    """The reference: sentence-transformers in fp32."""
    return SentenceTransformerEmbeddings(backend="torch")


@pytest.fixture(scope="module", params=["torch-bf16", "openvino"])
def bf16(request: pytest.FixtureRequest, model_cache: Path) -> SentenceTransformerEmbeddings:
    """The transformer in bfloat16 (in fp32 with `openvino` on a CPU without it), loaded once per module."""
    return SentenceTransformerEmbeddings(backend=request.param, cache_dir=model_cache)


@pytest.fixture(scope="module")
def openvino(model_cache: Path) -> SentenceTransformerEmbeddings:
    """OpenVINO, in bfloat16 on a CPU that multiplies it natively."""
    return SentenceTransformerEmbeddings(backend="openvino", cache_dir=model_cache)


@pytest.fixture(scope="module")
def openvino_int8(model_cache: Path) -> SentenceTransformerEmbeddings:
    """OpenVINO, int8 with the rest in bfloat16 on a CPU that multiplies it natively."""
    return SentenceTransformerEmbeddings(backend="openvino-int8", cache_dir=model_cache)


# -- torch-bf16 and openvino ----------------------------------------------------------------------


def test_bf16_vectors_are_torchs(
    bf16: SentenceTransformerEmbeddings, torch_fp32: SentenceTransformerEmbeddings
) -> None:
    vectors = np.asarray(bf16.embed_documents(TEXTS))

    assert vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = _cosines(vectors, torch_fp32.embed_documents(TEXTS))
    assert cosines.min() >= MIN_COSINE, cosines
    assert float(_cosines(bf16.embed_query(QUESTION), torch_fp32.embed_query(QUESTION))) >= MIN_COSINE


def test_bf16_sentence_vectors_are_torchs(
    bf16: SentenceTransformerEmbeddings, torch_fp32: SentenceTransformerEmbeddings
) -> None:
    spans = [sentence_spans(text) for text in TEXTS]
    vectors, sentences = bf16.embed_documents_with_sentences(TEXTS, spans)
    want_vectors, want_sentences = torch_fp32.embed_documents_with_sentences(TEXTS, spans)

    assert _cosines(vectors, want_vectors).min() >= MIN_COSINE
    for text_spans, got, want in zip(spans, sentences, want_sentences, strict=True):
        assert got is not None and want is not None
        assert got.spans == want.spans == tuple(text_spans)
        cosines = _cosines(got.matrix, want.matrix)
        assert cosines.min() >= MIN_COSINE, (got.spans, cosines)
    # The chunk vectors of the same pass are `embed_documents`'s.
    assert np.abs(np.asarray(vectors) - np.asarray(bf16.embed_documents(TEXTS))).max() <= 1e-6


# -- auto -----------------------------------------------------------------------------------------


def test_auto_embeds_a_question_with_onnx_and_never_loads_torch(
    model_cache: Path, torch_fp32: SentenceTransformerEmbeddings
) -> None:
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    onnx = SentenceTransformerEmbeddings(backend="onnx", cache_dir=model_cache)

    vector = auto.embed_query(QUESTION)

    assert vector == onnx.embed_query(QUESTION)
    assert not {"_bf16", "_openvino", "_model"} & set(auto.__dict__)
    assert float(_cosines(vector, torch_fp32.embed_query(QUESTION))) >= MIN_COSINE
    short = TEXTS[1:3]
    assert auto.embed_documents(short) == onnx.embed_documents(short)
    assert not {"_bf16", "_openvino"} & set(auto.__dict__)


def test_auto_embeds_a_long_call_with_openvino_int8_where_the_cpu_has_bf16(
    model_cache: Path, torch_fp32: SentenceTransformerEmbeddings, openvino_int8: SentenceTransformerEmbeddings
) -> None:
    assert sum(len(t) for t in TEXTS) >= _SMALL_CALL_CHARS
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)

    vectors = auto.embed_documents(TEXTS)

    assert _cosines(vectors, torch_fp32.embed_documents(TEXTS)).min() >= INT8_MIN_COSINE
    if not native_bf16():
        pytest.skip("this CPU does not multiply bfloat16 natively: auto runs long calls on onnx")
    assert vectors == openvino_int8.embed_documents(TEXTS)
    assert "_openvino_int8" in auto.__dict__ and not {"_bf16", "_model", "_openvino"} & set(auto.__dict__)


def test_openvino_int8_vectors_are_near_torchs_and_not_the_fp32_familys(
    openvino_int8: SentenceTransformerEmbeddings,
    openvino: SentenceTransformerEmbeddings,
    torch_fp32: SentenceTransformerEmbeddings,
) -> None:
    spans = [sentence_spans(text) for text in TEXTS]
    vectors, sentences = openvino_int8.embed_documents_with_sentences(TEXTS, spans)
    _want_vectors, want_sentences = torch_fp32.embed_documents_with_sentences(TEXTS, spans)

    cosines = _cosines(vectors, torch_fp32.embed_documents(TEXTS))
    assert cosines.min() >= INT8_MIN_COSINE, cosines
    # Quantised: near the fp32 family's vectors, but not one of them (bfloat16's are within 0.99997).
    assert _cosines(vectors, openvino.embed_documents(TEXTS)).min() < 0.9999
    for got, want in zip(sentences, want_sentences, strict=True):
        assert got is not None and want is not None and got.spans == want.spans
        assert _cosines(got.matrix, want.matrix).min() >= INT8_MIN_COSINE
    meta = json.loads((openvino_int8._export_dir("openvino-int8") / "embedder.json").read_text())
    assert meta["int8_kept"] == [f"/inner/encoder/layer.{n}/output/dense/MatMul" for n in range(6)]


def test_auto_embeds_many_short_phrases_on_onnx(model_cache: Path) -> None:
    # Candidate answers and answer nouns: a few thousand characters in all, none long. Loading
    # torch for them would cost a serving process a second and a quarter of a gigabyte.
    phrases = [f"candidate answer {n}" for n in range(150)]
    assert sum(len(t) for t in phrases) >= _SMALL_CALL_CHARS
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    onnx = SentenceTransformerEmbeddings(backend="onnx", cache_dir=model_cache)

    assert auto.embed_documents(phrases) == onnx.embed_documents(phrases)
    assert not {"_bf16", "_openvino", "_model"} & set(auto.__dict__)


# -- identity -------------------------------------------------------------------------------------


def test_the_fp32_family_shares_one_model_id() -> None:
    ids = {b: SentenceTransformerEmbeddings(backend=b).model_id for b in BACKENDS}

    assert ids == {
        "auto": OV_INT8_ID if native_bf16() else FP32_ID,
        "torch": FP32_ID,
        "torch-bf16": FP32_ID,
        "onnx": FP32_ID,
        "onnx-int8": INT8_ID,
        "openvino": FP32_ID,
        "openvino-int8": OV_INT8_ID,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_adopt_accepts_the_own_id_and_refuses_another_model(backend: str) -> None:
    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]

    assert embedder.adopt(embedder.model_id)
    for other in ("sentence-transformers:all-mpnet-base-v2", "sentence-transformers:all-mpnet-base-v2:onnx"):
        assert not embedder.adopt(other)
        assert not embedder.adopt(f"{other}:onnx-int8")
    assert embedder.backend == backend


@pytest.mark.parametrize("backend", ["auto", "torch", "torch-bf16", "onnx", "openvino"])
def test_the_fp32_family_adopts_the_legacy_onnx_id(backend: str) -> None:
    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]

    assert embedder.adopt(f"{FP32_ID}:onnx")
    assert embedder.backend == backend and embedder.model_id == FP32_ID


@pytest.mark.parametrize("backend", ["torch", "torch-bf16", "onnx", "openvino"])
def test_a_forced_fp32_backend_does_not_adopt_int8(backend: str) -> None:
    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]

    assert not embedder.adopt(INT8_ID)
    assert not embedder.adopt(OV_INT8_ID)
    assert embedder.backend == backend and embedder.model_id == FP32_ID


@pytest.mark.parametrize("backend", ["onnx-int8", "openvino-int8"])
def test_an_int8_backend_adopts_no_other_id(backend: str) -> None:
    int8 = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]

    for other in (FP32_ID, f"{FP32_ID}:onnx", INT8_ID, OV_INT8_ID):
        assert (other == int8.model_id) == int8.adopt(other)
    assert int8.backend == backend


@pytest.mark.parametrize("index_id", [FP32_ID, f"{FP32_ID}:onnx", OV_INT8_ID])
def test_auto_adopts_the_identity_of_an_index_built_by_either_of_its_choices(index_id: str) -> None:
    auto = SentenceTransformerEmbeddings()

    assert auto.adopt(index_id)

    assert auto.backend == "auto"
    want = {OV_INT8_ID: "openvino-int8", FP32_ID: "openvino" if native_bf16() else "onnx"}
    assert auto.model_id == (OV_INT8_ID if index_id == OV_INT8_ID else FP32_ID)
    assert auto._runtime(TEXTS) == want[auto.model_id]
    assert auto._runtime([QUESTION]) == "onnx"


def test_auto_adopting_int8_embeds_as_onnx_int8(model_cache: Path) -> None:
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    fp32_query = auto.embed_query(QUESTION)  # loads the fp32 ONNX model first
    int8 = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)

    assert auto.adopt(INT8_ID)

    assert auto.backend == "onnx-int8" and auto.model_id == INT8_ID
    assert auto.embed_query(QUESTION) == int8.embed_query(QUESTION) != fp32_query
    assert auto.embed_documents(TEXTS) == int8.embed_documents(TEXTS)  # a long call too
    assert not {"_bf16", "_openvino"} & set(auto.__dict__)


# -- settings -------------------------------------------------------------------------------------


def test_settings_accept_the_new_backends_and_name_the_variable_of_an_unknown_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for backend in ("auto", "torch-bf16", "openvino"):
        monkeypatch.setenv("RAG_EMBEDDING_BACKEND", backend)
        assert embedder_from_settings(load_settings(_env_file=None)).backend == backend

    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "bf16")
    with pytest.raises(ConfigError, match="RAG_EMBEDDING_BACKEND") as error:
        load_settings(_env_file=None)
    assert all(repr(b) in str(error.value) for b in BACKENDS), str(error.value)


# -- one index, several backends ------------------------------------------------------------------


def test_an_index_built_by_openvino_is_read_by_torch_and_extended_by_auto(
    settings: Settings,
    tmp_path: Path,
    model_cache: Path,
    torch_fp32: SentenceTransformerEmbeddings,
    openvino: SentenceTransformerEmbeddings,
) -> None:
    # `auto`'s choice before `openvino-int8`: its indexes keep their identity and their vectors.
    folder = tmp_path / "articles"
    _write(folder, "ostbrook-floods.txt", "stadium-vote.txt", "valmora-harbour.txt")
    built = ingest_paths([folder], settings, index=Index(settings, openvino), progress=False)
    assert built.counts() == {"added": 3}

    assistant = Assistant(settings, embedder=torch_fp32)
    answer = assistant.ask(QUESTION)

    assert not answer.abstained and "1,800" in answer.text
    assert_verified(answer, assistant.index)
    assert {c.doc_id for c in answer.citations} == {_doc_id(assistant.index, "ostbrook-floods.txt")}

    _write(folder, "norrtek-results.txt")
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    index = Index(settings, auto)
    extended = ingest_paths([folder], settings, index=index, progress=False)
    assert extended.counts() == {"unchanged": 3, "added": 1}
    assert index.stats()["embedder"] == FP32_ID == auto.model_id
    added = list(index.article_chunks([_doc_id(index, "norrtek-results.txt")]))
    stored = vector_rows(index)
    family = (
        openvino if native_bf16() else SentenceTransformerEmbeddings(backend="onnx", cache_dir=model_cache)
    )
    for chunk, want in zip(added, family.embed_documents([c.text for c in added]), strict=True):
        assert np.abs(stored[chunk.chunk_id] - want).max() <= 1e-6  # the fp32 family's, not int8's
    assert "_openvino_int8" not in auto.__dict__
    [(best, _score)] = index.dense_search(auto.embed_query("When will Norrtek's new factory open?"), 1)
    assert best.doc_id == _doc_id(index, "norrtek-results.txt")

    # `rag ingest --rebuild` makes what a new index would be.
    rebuilt = ingest_paths([folder], settings, index=index, progress=False, rebuild=True)
    assert rebuilt.counts() == {"added": 4}
    assert index.stats()["embedder"] == auto.model_id == (OV_INT8_ID if native_bf16() else FP32_ID)


def test_a_new_index_built_by_auto_is_int8_and_refused_by_torch(
    settings: Settings, tmp_path: Path, model_cache: Path, openvino_int8: SentenceTransformerEmbeddings
) -> None:
    if not native_bf16():
        pytest.skip("this CPU does not multiply bfloat16 natively: auto stores with onnx (tested above)")
    folder = tmp_path / "articles"
    _write(folder, "ostbrook-floods.txt", "stadium-vote.txt")
    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    index = Index(settings, auto)
    assert ingest_paths([folder], settings, index=index, progress=False).counts() == {"added": 2}

    assert index.stats()["embedder"] == OV_INT8_ID
    chunks = list(index.article_chunks([_doc_id(index, "stadium-vote.txt")]))
    stored = vector_rows(index)
    for chunk, want in zip(chunks, openvino_int8.embed_documents([c.text for c in chunks]), strict=True):
        assert np.abs(stored[chunk.chunk_id] - want).max() <= 1e-6
    answer = Assistant(settings, embedder=SentenceTransformerEmbeddings(cache_dir=model_cache)).ask(QUESTION)
    assert not answer.abstained and "1,800" in answer.text
    with pytest.raises(IndexMismatchError, match=r"openvino-int8.*rebuild"):
        Assistant(settings, embedder=SentenceTransformerEmbeddings(backend="torch")).ask(QUESTION)


def test_an_int8_index_is_read_and_extended_by_auto(
    settings: Settings, tmp_path: Path, model_cache: Path
) -> None:
    folder = tmp_path / "articles"
    _write(folder, "ostbrook-floods.txt", "stadium-vote.txt")
    int8 = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)
    assert ingest_paths([folder], settings, index=Index(settings, int8), progress=False).ok

    auto = SentenceTransformerEmbeddings(cache_dir=model_cache)
    assistant = Assistant(settings, embedder=auto)
    answer = assistant.ask(QUESTION)

    assert not answer.abstained and "1,800" in answer.text
    assert {c.doc_id for c in answer.citations} == {_doc_id(assistant.index, "ostbrook-floods.txt")}
    assert auto.backend == "onnx-int8"

    _write(folder, "norrtek-results.txt")
    fresh = SentenceTransformerEmbeddings(cache_dir=model_cache)
    index = Index(settings, fresh)
    assert ingest_paths([folder], settings, index=index, progress=False).counts() == {
        "unchanged": 2,
        "added": 1,
    }
    assert fresh.backend == "onnx-int8" and index.stats()["embedder"] == INT8_ID
    added = list(index.article_chunks([_doc_id(index, "norrtek-results.txt")]))
    stored = vector_rows(index)
    for chunk, want in zip(added, int8.embed_documents([c.text for c in added]), strict=True):
        assert np.abs(stored[chunk.chunk_id] - want).max() <= 1e-6  # int8 vectors, not fp32 ones


class _RecordingEmbedder(SentenceTransformerEmbeddings):
    """The packaged model, noting which backend each question was embedded with."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.query_backends: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.query_backends.append(self.backend)
        return super().embed_query(text)


def test_the_first_question_on_an_int8_index_is_embedded_with_int8(
    settings: Settings, tmp_path: Path, model_cache: Path
) -> None:
    # `auto` takes on int8 when the store checks the index's identity: a question embedded before
    # that would be compared, in fp32, with the index's int8 vectors.
    folder = tmp_path / "articles"
    _write(folder, "ostbrook-floods.txt")
    int8 = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)
    assert ingest_paths([folder], settings, index=Index(settings, int8), progress=False).ok

    auto = _RecordingEmbedder(cache_dir=model_cache)
    Assistant(settings, embedder=auto).ask(QUESTION)

    assert auto.query_backends == ["onnx-int8"]


# -- openvino's passes ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
def test_openvino_vectors_do_not_depend_on_batch_mates_or_passes_side_by_side(
    backend: str, request: pytest.FixtureRequest
) -> None:
    # int8's activation scales are fixed at calibration, so a row is still computed on its own.
    # Dozens of texts of many lengths: several passes per length class, finishing out of order.
    words = " ".join(TEXTS * 8).split()
    texts = [" ".join(words[i : i + 3 + (i * 7) % 180]) for i in range(0, 48 * 5, 5)]
    spans = [sentence_spans(t) for t in texts]
    embedder = request.getfixturevalue(backend.replace("-", "_"))
    encoder = embedder._openvino_int8 if backend == "openvino-int8" else embedder._openvino
    assert len(set(encoder.shapes(texts) or [])) >= 4

    workers = encoder.workers
    try:
        encoder.workers = 1
        want, want_sentences = encoder.encode_with_spans(texts, spans)
        encoder.workers = max(workers, 2)
        got, got_sentences = encoder.encode_with_spans(texts, spans)
    finally:
        encoder.workers = workers
    alone = np.concatenate([encoder.encode([text]) for text in texts[:6]])

    assert np.array_equal(got, want)
    assert np.array_equal(alone, want[:6])
    for mine, theirs in zip(got_sentences, want_sentences, strict=True):
        assert mine is not None and theirs is not None
        assert mine.spans == theirs.spans and np.array_equal(mine.matrix, theirs.matrix)


@pytest.mark.parametrize("backend", ["openvino", "openvino-int8", "auto"])
def test_document_embedding_never_imports_torch_or_telemetry(backend: str, model_cache: Path) -> None:
    # Only OpenVINO's model converter, which no backend calls, loads its telemetry. `auto` embeds
    # the documents with `openvino-int8` (`onnx` on a CPU without bfloat16) and the question
    # with `onnx`: an ingest or a chat by default loads no torch.
    exporter = SentenceTransformerEmbeddings(backend=backend, cache_dir=model_cache)  # type: ignore[arg-type]
    exporter.embed_documents(TEXTS)  # the copies are exported (with torch) once
    exporter.embed_query(QUESTION)
    code = (
        "import sys;"
        "from pathlib import Path;"
        "from rag.embeddings import SentenceTransformerEmbeddings as E;"
        f"embedder = E(backend={backend!r}, cache_dir=Path({str(model_cache)!r}));"
        f"vectors = embedder.embed_documents({TEXTS!r});"
        f"assert len(vectors) == {len(TEXTS)} and len(vectors[0]) == 384;"
        f"assert len(embedder.embed_query({QUESTION!r})) == 384;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'sentence_transformers', 'openvino_telemetry'}));"
        "from openvino.tools.ovc import telemetry_utils;"
        "print(telemetry_utils.tm.__name__)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)

    assert run.stdout.split() == ["[]", "openvino.tools.ovc.telemetry_stub"]
