"""Adapter for the Single-Topic RAG Evaluation Dataset (documents.csv plus question CSVs).

Question files are ``single_passage*.csv`` and ``multi_passage*.csv`` (``document_index, question,
answer``) and ``no_answer*.csv`` (``document_index, question``). Gold ids are
``st-<type>-<row>`` with the 0-based data row of the question in its file; when a directory holds
several files of one type, the file stem is added: ``st-<type>-<stem>-<row>``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eval.gold import DatasetError, GoldItem, GoldType

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = [
    "DatasetError",
    "SingleTopicSet",
    "SourceDocument",
    "load_single_topic",
    "write_documents",
]

_FIELD_SIZE_LIMIT = 2**31 - 1
_DOCUMENTS_FILE = "documents.csv"
_DOCUMENT_COLUMNS = ("index", "source_url", "text")
_QUESTION_FILES: tuple[tuple[GoldType, str, tuple[str, ...]], ...] = (
    ("single", "single_passage", ("document_index", "question", "answer")),
    ("multi", "multi_passage", ("document_index", "question", "answer")),
    ("unanswerable", "no_answer", ("document_index", "question")),
)


@dataclass(frozen=True)
class SourceDocument:
    """One dataset document; ``doc_id`` is its ``index`` as a string."""

    doc_id: str
    source_url: str
    text: str


@dataclass(frozen=True)
class SingleTopicSet:
    """The documents and gold questions of one dataset directory."""

    documents: list[SourceDocument]
    gold: list[GoldItem]


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    csv.field_size_limit(_FIELD_SIZE_LIMIT)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            missing = [column for column in columns if column not in header]
            if missing:
                found = ", ".join(header) if header else "none"
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (found: {found})")
            positions = {column: header.index(column) for column in columns}
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise DatasetError(
                        f"{path}: line {reader.line_num} has {len(record)} fields, expected {len(header)}"
                    )
                rows.append((reader.line_num, {column: record[i] for column, i in positions.items()}))
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise DatasetError(f"{path}: malformed CSV ({error})") from None
    return rows


def _load_documents(path: Path) -> list[SourceDocument]:
    documents: list[SourceDocument] = []
    seen: set[str] = set()
    for line, row in _read_rows(path, _DOCUMENT_COLUMNS):
        doc_id = row["index"].strip()
        if not doc_id:
            raise DatasetError(f"{path}: line {line} has an empty index")
        if doc_id in seen:
            raise DatasetError(f"{path}: line {line} repeats index {doc_id!r}")
        seen.add(doc_id)
        documents.append(SourceDocument(doc_id, row["source_url"].strip(), row["text"]))
    if not documents:
        raise DatasetError(f"{path}: no documents")
    return documents


def _load_questions(
    path: Path, kind: GoldType, tag: str, columns: tuple[str, ...], doc_ids: set[str]
) -> list[GoldItem]:
    items: list[GoldItem] = []
    for row_number, (line, row) in enumerate(_read_rows(path, columns)):
        doc = row["document_index"].strip()
        if doc not in doc_ids:
            raise DatasetError(f"{path}: line {line} has document_index {doc!r}, not in {_DOCUMENTS_FILE}")
        question = row["question"].strip()
        if not question:
            raise DatasetError(f"{path}: line {line} has an empty question")
        answer = "" if kind == "unanswerable" else row["answer"].strip()
        items.append(
            {
                "id": f"st-{tag}-{row_number:04d}",
                "question": question,
                "answer": answer,
                "type": kind,
                "evidence": [],
                "doc": doc,
            }
        )
    return items


def load_single_topic(directory: Path) -> SingleTopicSet:
    """Load documents and gold questions (single, then multi, then unanswerable) from ``directory``."""
    if not directory.is_dir():
        raise DatasetError(f"{directory}: dataset directory not found")
    documents_path = directory / _DOCUMENTS_FILE
    if not documents_path.is_file():
        raise DatasetError(f"{documents_path}: {_DOCUMENTS_FILE} not found")
    documents = _load_documents(documents_path)
    doc_ids = {document.doc_id for document in documents}
    question_files = [
        (kind, columns, sorted(directory.glob(f"{prefix}*.csv"))) for kind, prefix, columns in _QUESTION_FILES
    ]
    if not any(paths for _, _, paths in question_files):
        patterns = ", ".join(f"{prefix}*.csv" for _, prefix, _ in _QUESTION_FILES)
        raise DatasetError(f"{directory}: no question files ({patterns})")
    gold: list[GoldItem] = []
    for kind, columns, paths in question_files:
        for path in paths:
            tag = kind if len(paths) == 1 else f"{kind}-{path.stem}"
            gold.extend(_load_questions(path, kind, tag, columns, doc_ids))
    return SingleTopicSet(documents=documents, gold=gold)


def _check_file_name(doc_id: str) -> None:
    if not doc_id or doc_id in {".", ".."} or "/" in doc_id or "\\" in doc_id:
        raise DatasetError(f"document id {doc_id!r} cannot be used as a file name")


def write_documents(docs: Iterable[SourceDocument], out_dir: Path) -> list[Path]:
    """Write each document to ``out_dir/<doc_id>.txt`` as its source URL, a blank line, then its text."""
    documents = list(docs)
    for document in documents:
        _check_file_name(document.doc_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for document in documents:
        path = out_dir / f"{document.doc_id}.txt"
        path.write_text(f"{document.source_url}\n\n{document.text}", encoding="utf-8", newline="")
        paths.append(path)
    return paths
