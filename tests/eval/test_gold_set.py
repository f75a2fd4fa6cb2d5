"""Validate the gold question-answer sets in ``eval/gold/*.jsonl``.

Every line must be a JSON object with exactly the keys
``id, question, answer, type, evidence, doc``; answerable questions must carry
evidence quotes that occur verbatim in the seed article named by ``doc``
(looked up in ``seeds/``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLD_DIR = REPO_ROOT / "eval" / "gold"
SEEDS_DIR = REPO_ROOT / "seeds"

EXPECTED_KEYS = {"id", "question", "answer", "type", "evidence", "doc"}
TYPES = {"single", "multi", "unanswerable"}
MIN_COUNTS = {"single": 20, "multi": 8, "unanswerable": 8}
HELDOUT_MIN_COUNTS = {"single": 20, "unanswerable": 20}
"""A `*_heldout.jsonl` file is a test set of its own kind (factoid and near-miss questions), not a dev set."""
MIN_TOTAL = 40


def load_rows(path: Path) -> list[dict]:
    """Parse a JSONL gold file; blank lines (other than the final newline) are errors."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"{path.name}:{n}: blank line")
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError(f"{path.name}:{n}: not a JSON object")
        rows.append(obj)
    return rows


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def validate_gold_file(path: Path, seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """Return a list of human-readable problems (empty list == valid)."""
    errors: list[str] = []
    try:
        rows = load_rows(path)
    except (ValueError, json.JSONDecodeError) as exc:
        return [f"{path.name}: cannot parse: {exc}"]

    doc_cache: dict[str, str | None] = {}
    ids: Counter[str] = Counter()
    types: Counter[str] = Counter()

    for n, row in enumerate(rows, 1):
        where = f"{path.name}:{n} ({row.get('id', '?')})"
        keys = set(row)
        if keys != EXPECTED_KEYS:
            errors.append(f"{where}: keys {sorted(keys)} != {sorted(EXPECTED_KEYS)}")
            continue
        for key in ("id", "question", "answer", "type", "doc"):
            if not isinstance(row[key], str):
                errors.append(f"{where}: {key!r} must be a str")
        ev = row["evidence"]
        if not isinstance(ev, list) or not all(isinstance(e, str) for e in ev):
            errors.append(f"{where}: 'evidence' must be a list of str")
            continue
        if any(not isinstance(row[k], str) for k in ("id", "question", "answer", "type", "doc")):
            continue

        ids[row["id"]] += 1
        if not row["id"].strip():
            errors.append(f"{where}: empty id")
        if not row["question"].strip():
            errors.append(f"{where}: empty question")
        qtype = row["type"]
        if qtype not in TYPES:
            errors.append(f"{where}: unknown type {qtype!r}")
            continue
        types[qtype] += 1

        if qtype == "unanswerable":
            if row["answer"] != "":
                errors.append(f"{where}: unanswerable must have answer == ''")
            if ev != []:
                errors.append(f"{where}: unanswerable must have evidence == []")
        else:
            if not row["answer"].strip():
                errors.append(f"{where}: answerable question has empty answer")
            min_ev = 2 if qtype == "multi" else 1
            if len(ev) < min_ev:
                errors.append(f"{where}: {qtype} needs >= {min_ev} evidence quotes")
            if any(not e.strip() for e in ev):
                errors.append(f"{where}: empty evidence quote")
            if len(set(ev)) != len(ev):
                errors.append(f"{where}: duplicate evidence quotes")

        # The article must exist even for unanswerable questions.
        doc = row["doc"]
        if doc not in doc_cache:
            doc_path = seeds_dir / doc
            if Path(doc).name != doc or not doc_path.is_file():
                doc_cache[doc] = None
            else:
                doc_cache[doc] = doc_path.read_text(encoding="utf-8")
        text = doc_cache[doc]
        if text is None:
            errors.append(f"{where}: doc {doc!r} not found in {seeds_dir}")
            continue

        for e in ev:
            if e and e not in text:
                errors.append(f"{where}: evidence not verbatim in {doc}: {e[:80]!r}")

        if qtype == "multi" and ev:
            paras = paragraphs(text)
            hit = {i for e in ev for i, p in enumerate(paras) if e and e in p}
            if len(hit) < 2:
                errors.append(f"{where}: multi evidence must come from >= 2 different paragraphs")

    for id_, count in ids.items():
        if count > 1:
            errors.append(f"{path.name}: duplicate id {id_!r} ({count}x)")

    total = len(rows)
    if total < MIN_TOTAL:
        errors.append(f"{path.name}: only {total} questions (< {MIN_TOTAL})")
    minimums = HELDOUT_MIN_COUNTS if path.stem.endswith("_heldout") else MIN_COUNTS
    for qtype, minimum in minimums.items():
        if types[qtype] < minimum:
            errors.append(f"{path.name}: only {types[qtype]} {qtype} questions (< {minimum})")
    return errors


GOLD_FILES = sorted(GOLD_DIR.glob("*.jsonl"))


def test_gold_files_exist():
    assert GOLD_FILES, f"no *.jsonl files in {GOLD_DIR}"


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.name)
def test_gold_file_valid(path: Path):
    errors = validate_gold_file(path)
    assert not errors, "\n".join(errors)


def test_ids_unique_across_files():
    seen: dict[str, str] = {}
    dupes = []
    for path in GOLD_FILES:
        try:
            rows = load_rows(path)
        except (ValueError, json.JSONDecodeError):
            continue  # reported by test_gold_file_valid
        for row in rows:
            id_ = row.get("id")
            if id_ in seen and seen[id_] != path.name:
                dupes.append(f"{id_!r} in {seen[id_]} and {path.name}")
            seen.setdefault(id_, path.name)
    assert not dupes, "\n".join(dupes)


# --- self-checks: the validator must be able to fail ------------------------


def _mutated_copy(tmp_path: Path, mutate) -> Path:
    src = GOLD_FILES[0]
    rows = load_rows(src)
    mutate(rows)
    dst = tmp_path / src.name
    dst.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
        encoding="utf-8",
    )
    return dst


def _first(rows, qtype):
    return next(r for r in rows if r["type"] == qtype)


def _alter_quote(rows):
    ev = _first(rows, "single")["evidence"]
    ev[0] = ev[0].replace("’", "'") + " x"


def _drop_multi_quote(rows):
    m = _first(rows, "multi")
    m["evidence"] = m["evidence"][:1]


# (name, mutation applied to the parsed rows, substring expected in an error)
CORRUPTIONS = [
    ("altered_quote", _alter_quote, "not verbatim"),
    ("extra_key", lambda rows: rows[0].__setitem__("extra", 1), "keys"),
    ("duplicate_id", lambda rows: rows[1].__setitem__("id", rows[0]["id"]), "duplicate id"),
    (
        "unanswerable_with_answer",
        lambda rows: _first(rows, "unanswerable").__setitem__("answer", "x"),
        "answer == ''",
    ),
    ("multi_one_quote", _drop_multi_quote, ">= 2 evidence"),
    ("bad_type", lambda rows: rows[0].__setitem__("type", "Single"), "unknown type"),
    ("missing_doc", lambda rows: rows[0].__setitem__("doc", "no-such-article.txt"), "not found"),
    ("too_few", lambda rows: rows.__delitem__(slice(10, None)), "questions (<"),
]


@pytest.mark.parametrize("name, mutate, expect", [pytest.param(*c, id=c[0]) for c in CORRUPTIONS])
def test_validator_detects_corruption(tmp_path, name, mutate, expect):
    path = _mutated_copy(tmp_path, mutate)
    errors = validate_gold_file(path)
    assert any(expect in e for e in errors), (name, errors)


def test_validator_accepts_unmodified_copy(tmp_path):
    dst = tmp_path / GOLD_FILES[0].name
    shutil.copy(GOLD_FILES[0], dst)
    assert validate_gold_file(dst) == []
