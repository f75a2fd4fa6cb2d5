"""Reading, writing and validating gold question files (JSON Lines, one item per line).

Each item has the keys ``id`` (non-empty str), ``question`` (non-empty str), ``answer`` (str,
"" when there is none), ``type`` (one of ``GOLD_TYPES``), ``evidence`` (list of str quotes) and
``doc`` (str, or null when no single document holds the answer). ``evidence`` and ``doc`` may be
left out of a line (read as ``[]`` and null): people write gold sets without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, cast

from rag.asof import is_day
from rag.errors import RagError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "GOLD_KEYS",
    "GOLD_TYPES",
    "DatasetError",
    "GoldItem",
    "GoldType",
    "read_gold_jsonl",
    "validate_gold_item",
    "write_gold_jsonl",
]

GoldType = Literal["single", "multi", "unanswerable"]

GOLD_TYPES: tuple[GoldType, ...] = ("single", "multi", "unanswerable")
GOLD_KEYS: tuple[str, ...] = ("id", "question", "answer", "type", "evidence", "doc", "asked_on")


class DatasetError(RagError, ValueError):
    """A dataset or gold file is missing, malformed or inconsistent."""


class GoldItem(TypedDict):
    """One gold question."""

    id: str
    question: str
    answer: str
    type: GoldType
    evidence: list[str]
    doc: str | None
    asked_on: NotRequired[str | None]
    """The day the question was asked (YYYY-MM-DD): `rag eval` answers it as of that day."""


_OPTIONAL: dict[str, object] = {"evidence": [], "doc": None, "asked_on": None}
"""Keys a line may leave out, with the value they then take."""


def _problem(item: Mapping[str, object]) -> str | None:
    missing = [key for key in GOLD_KEYS if key not in item]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    unknown = sorted(str(key) for key in item if key not in GOLD_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    for key in ("id", "question"):
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            return f"'{key}' must be a non-empty string, got {value!r}"
    if not isinstance(item["answer"], str):
        return f"'answer' must be a string, got {item['answer']!r}"
    if item["type"] not in GOLD_TYPES:
        return f"'type' must be one of {', '.join(GOLD_TYPES)}, got {item['type']!r}"
    evidence = item["evidence"]
    if not isinstance(evidence, list) or not all(isinstance(quote, str) for quote in evidence):
        return f"'evidence' must be a list of strings, got {evidence!r}"
    doc = item["doc"]
    if doc is not None and not isinstance(doc, str):
        return f"'doc' must be a string or null, got {doc!r}"
    asked_on = item["asked_on"]
    if asked_on is not None and not is_day(asked_on):
        return f"'asked_on' must be a day written YYYY-MM-DD or null, got {asked_on!r}"
    return None


def validate_gold_item(item: object, where: str) -> GoldItem:
    """Return ``item`` as a GoldItem, or raise DatasetError prefixed with ``where``."""
    if not isinstance(item, Mapping):
        raise DatasetError(f"{where}: expected a JSON object, got {type(item).__name__}")
    mapping = {**_OPTIONAL, **cast("Mapping[str, object]", item)}
    problem = _problem(mapping)
    if problem is not None:
        raise DatasetError(f"{where}: {problem}")
    # `asked_on` is kept only where it is set, so undated gold items stay as they were.
    return cast(
        "GoldItem", {key: mapping[key] for key in GOLD_KEYS if key != "asked_on" or mapping[key] is not None}
    )


def _check_unique(ids: Iterable[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for item_id, where in ids:
        if item_id in seen:
            raise DatasetError(f"{where}: duplicate id {item_id!r} (first at {seen[item_id]})")
        seen[item_id] = where


def write_gold_jsonl(items: Iterable[Mapping[str, object]], path: Path) -> None:
    """Validate ``items`` and write them to ``path`` as UTF-8 JSON Lines, creating parent folders."""
    validated = [validate_gold_item(item, f"{path}: item {index}") for index, item in enumerate(items)]
    _check_unique((item["id"], f"{path}: item {index}") for index, item in enumerate(validated))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(item, ensure_ascii=False) + "\n" for item in validated]
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def read_gold_jsonl(path: Path) -> list[GoldItem]:
    """Read and validate a gold JSONL file; blank lines are skipped, errors name the line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: gold file not found") from None
    items: list[GoldItem] = []
    places: list[tuple[str, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{where}: invalid JSON ({error.msg})") from None
        item = validate_gold_item(raw, where)
        items.append(item)
        places.append((item["id"], where))
    _check_unique(places)
    return items
