"""`rag.bert.PlainBert`: transformers' BERT outputs bit for bit, without importing transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.bert import PlainBert
from rag.embeddings import SentenceTransformerEmbeddings, _TorchEncoder, resolve_model_path
from rag.settings import PACKAGED_MODEL

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MODEL = Path(resolve_model_path(PACKAGED_MODEL))
TEXTS = [
    "The harbour authority said container traffic fell 12 per cent in the first quarter.",
    "Council leader Maren Holt said the stadium would bring about 600 permanent jobs to the east of the "
    "city, and that the club had promised to pay for cleaning the soil before construction begins.",
    "A short one.",
]


def _batch(rows: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random word-piece ids with ragged padding: row i keeps a different number of tokens."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 20000, (rows, length))
    mask = np.zeros_like(ids)
    for row in range(rows):
        mask[row, : max(2, length - 7 * row)] = 1
    ids[mask == 0] = 0
    types = np.zeros_like(ids)
    return ids, mask, types


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float32"])
def test_last_hidden_state_is_transformers_bit_for_bit(dtype_name: str) -> None:
    import torch
    from transformers import AutoModel

    dtype = getattr(torch, dtype_name)
    plain = PlainBert.load(MODEL, dtype)
    reference = AutoModel.from_pretrained(MODEL, dtype=dtype).eval()
    assert plain is not None

    for rows, length, ragged in [(16, 32, True), (16, 96, True), (3, 256, True), (16, 64, False)]:
        ids, mask, types = _batch(rows, length, seed=length)
        if not ragged:  # transformers then passes no mask at all to the attention
            mask[:] = 1
        with torch.inference_mode():
            want = reference(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.from_numpy(types),
            ).last_hidden_state
        got = plain(ids, mask, types)
        assert got.dtype == dtype and got.shape == want.shape
        assert torch.equal(got, want), (rows, length, (got.float() - want.float()).abs().max())


def _copy_with_config(tmp_path: Path, **changes: object) -> Path:
    """The packaged model folder, its files linked, with `config.json` changed."""
    folder = tmp_path / "model"
    folder.mkdir()
    for path in MODEL.iterdir():
        (folder / path.name).symlink_to(path, target_is_directory=path.is_dir())
    config = json.loads((MODEL / "config.json").read_text())
    (folder / "config.json").unlink()
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    return folder


@pytest.mark.parametrize(
    "changes",
    [{"model_type": "roberta"}, {"hidden_act": "gelu_new"}, {"position_embedding_type": "relative_key"}],
)
def test_anything_but_a_plain_bert_is_left_to_transformers(tmp_path: Path, changes: dict[str, str]) -> None:
    import torch

    folder = _copy_with_config(tmp_path, **changes)

    assert PlainBert.load(folder, torch.bfloat16) is None


def test_a_config_without_bert_defaults_takes_them(tmp_path: Path) -> None:
    import torch

    config = json.loads((MODEL / "config.json").read_text())
    assert config["num_attention_heads"] == 12 and config["max_position_embeddings"] == 512
    folder = _copy_with_config(tmp_path)
    trimmed = {k: v for k, v in config.items() if k not in {"num_attention_heads", "max_position_embeddings"}}
    (folder / "config.json").write_text(json.dumps(trimmed))

    plain = PlainBert.load(folder, torch.bfloat16)

    assert plain is not None and (plain.heads, plain.window) == (12, 512)


def test_the_bf16_encoder_falls_back_to_transformers(tmp_path: Path) -> None:
    folder = _copy_with_config(tmp_path, hidden_act="gelu_new")
    plain = _TorchEncoder(MODEL)
    other = _TorchEncoder(folder)

    assert plain.plain is not None and other.plain is None
    vectors, others = plain.encode(TEXTS), other.encode(TEXTS)
    # The tanh GELU is close to the exact one, so the vectors are close but not the same.
    cosines = (vectors * others).sum(axis=1)
    assert cosines.min() > 0.99 and not np.array_equal(vectors, others)


def test_bf16_document_embedding_never_imports_transformers() -> None:
    code = (
        "import sys;"
        "from rag.embeddings import SentenceTransformerEmbeddings as E;"
        f"vectors = E(backend='torch-bf16').embed_documents({TEXTS!r});"
        "assert len(vectors) == 3 and len(vectors[0]) == 384;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'transformers', 'sentence_transformers', 'sympy'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)

    assert run.stdout.strip() == "[]"


def test_bf16_vectors_are_the_transformers_encoders() -> None:
    plain = SentenceTransformerEmbeddings(backend="torch-bf16")
    encoder = plain._bf16
    assert encoder.plain is not None
    got = np.asarray(plain.embed_documents(TEXTS))

    encoder.model = encoder._transformers_model(MODEL, MODEL).eval()
    encoder.with_types = True
    encoder.plain = None
    want = np.asarray(plain.embed_documents(TEXTS))

    assert np.array_equal(got, want)


def test_bf16_passes_side_by_side_give_one_pass_at_a_times_vectors() -> None:
    import torch

    from rag.text import sentence_spans

    # Dozens of texts of many lengths: several passes per length class, finishing out of order.
    words = " ".join(TEXTS * 40).split()
    texts = [" ".join(words[i : i + 3 + (i * 7) % 180]) for i in range(0, 48 * 5, 5)]
    spans = [sentence_spans(t) for t in texts]
    alone = _TorchEncoder(MODEL)
    alone.workers = 1
    side_by_side = _TorchEncoder(MODEL)
    side_by_side.workers, side_by_side.threads = 3, 1
    threads = torch.get_num_threads()

    want, want_sentences = alone.encode_with_spans(texts, spans)
    got, got_sentences = side_by_side.encode_with_spans(texts, spans)

    assert len({side_by_side._padded([e])[0] for e in side_by_side.tokenizer.encode_batch(texts)}) >= 4
    assert np.array_equal(got, want)
    for mine, theirs in zip(got_sentences, want_sentences, strict=True):
        assert mine is not None and theirs is not None
        assert mine.spans == theirs.spans and np.array_equal(mine.matrix, theirs.matrix)
    assert torch.get_num_threads() == threads  # the passes' single threads are not left behind
