"""Tests for eval.single_topic (dataset adapter) and eval.gold (gold JSONL IO)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from eval.gold import DatasetError, GoldItem, read_gold_jsonl, write_gold_jsonl
from eval.single_topic import SingleTopicSet, SourceDocument, load_single_topic, write_documents

pytestmark = pytest.mark.fast

_DEFAULT_FIELD_SIZE_LIMIT = 131072
_LONG_TEXT = "word " * 42_000


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _make_dataset(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _write_csv(
        directory / "documents.csv",
        ["index", "source_url", "text"],
        [
            ["0", "https://example.org/a", "Alpha text."],
            ["1", " https://example.org/b ", _LONG_TEXT],
            ["7", "https://example.org/c", "Line one.\nLine two."],
        ],
    )
    _write_csv(
        directory / "single_passage_train.csv",
        ["document_index", "question", "answer"],
        [["0", "  What is alpha? ", " Alpha is first.\n"], ["7", "What is on line two?", "Line two."]],
    )
    _write_csv(
        directory / "multi_passage_train.csv",
        ["document_index", "question", "answer"],
        [["1", "How many words?", "Many words,\nacross lines."]],
    )
    _write_csv(directory / "no_answer_train.csv", ["document_index", "question"], [["7", "Who wrote it?"]])
    return directory


def test_load_small_dataset(tmp_path: Path) -> None:
    csv.field_size_limit(_DEFAULT_FIELD_SIZE_LIMIT)
    loaded = load_single_topic(_make_dataset(tmp_path / "ds"))
    assert isinstance(loaded, SingleTopicSet)
    assert loaded.documents == [
        SourceDocument("0", "https://example.org/a", "Alpha text."),
        SourceDocument("1", "https://example.org/b", _LONG_TEXT),
        SourceDocument("7", "https://example.org/c", "Line one.\nLine two."),
    ]
    expected: list[GoldItem] = [
        {
            "id": "st-single-0000",
            "question": "What is alpha?",
            "answer": "Alpha is first.",
            "type": "single",
            "evidence": [],
            "doc": "0",
        },
        {
            "id": "st-single-0001",
            "question": "What is on line two?",
            "answer": "Line two.",
            "type": "single",
            "evidence": [],
            "doc": "7",
        },
        {
            "id": "st-multi-0000",
            "question": "How many words?",
            "answer": "Many words,\nacross lines.",
            "type": "multi",
            "evidence": [],
            "doc": "1",
        },
        {
            "id": "st-unanswerable-0000",
            "question": "Who wrote it?",
            "answer": "",
            "type": "unanswerable",
            "evidence": [],
            "doc": "7",
        },
    ]
    assert loaded.gold == expected


def test_ids_name_the_file_when_a_type_has_several_files(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(
        directory / "single_passage_test.csv",
        ["document_index", "question", "answer"],
        [["0", "Q?", "A."]],
    )
    ids = [item["id"] for item in load_single_topic(directory).gold]
    assert ids == [
        "st-single-single_passage_test-0000",
        "st-single-single_passage_train-0000",
        "st-single-single_passage_train-0001",
        "st-multi-0000",
        "st-unanswerable-0000",
    ]


def test_header_with_bom_spaces_and_extra_columns(tmp_path: Path) -> None:
    directory = tmp_path / "ds"
    directory.mkdir()
    (directory / "documents.csv").write_text(
        "\ufeffindex, source_url, text, extra\n3,u,T,x\n", encoding="utf-8"
    )
    (directory / "no_answer_x.csv").write_text(
        "document_index,question,answer\n3,Why?,ignored\n", encoding="utf-8"
    )
    loaded = load_single_topic(directory)
    assert loaded.documents == [SourceDocument("3", "u", "T")]
    assert [(item["id"], item["answer"], item["doc"]) for item in loaded.gold] == [
        ("st-unanswerable-0000", "", "3")
    ]


def test_error_directory_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nope: dataset directory not found"):
        load_single_topic(tmp_path / "nope")


def test_error_no_documents_csv(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"documents\.csv: documents\.csv not found"):
        load_single_topic(tmp_path)


def test_error_documents_missing_column(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(directory / "documents.csv", ["index", "text"], [["0", "t"]])
    with pytest.raises(
        DatasetError, match=r"documents\.csv: missing column\(s\) source_url \(found: index, text\)"
    ):
        load_single_topic(directory)


def test_error_question_file_missing_column(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(directory / "multi_passage_train.csv", ["document_index", "question"], [["0", "Q?"]])
    with pytest.raises(DatasetError, match=r"multi_passage_train\.csv: missing column\(s\) answer"):
        load_single_topic(directory)


def test_error_empty_documents(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(directory / "documents.csv", ["index", "source_url", "text"], [])
    with pytest.raises(DatasetError, match=r"documents\.csv: no documents"):
        load_single_topic(directory)


def test_error_unknown_document_index(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(directory / "no_answer_train.csv", ["document_index", "question"], [["7", "Ok?"], ["5", "Q?"]])
    with pytest.raises(
        DatasetError, match=r"no_answer_train\.csv: line 3 has document_index '5', not in documents\.csv"
    ):
        load_single_topic(directory)


def test_error_no_question_files(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    for path in directory.glob("*_train.csv"):
        path.unlink()
    with pytest.raises(DatasetError, match=r"ds: no question files \(single_passage\*\.csv"):
        load_single_topic(directory)


def test_error_duplicate_document_index(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(
        directory / "documents.csv", ["index", "source_url", "text"], [["0", "u", "a"], ["0", "u", "b"]]
    )
    with pytest.raises(DatasetError, match=r"documents\.csv: line 3 repeats index '0'"):
        load_single_topic(directory)


def test_error_empty_question(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    _write_csv(directory / "no_answer_train.csv", ["document_index", "question"], [["7", "  "]])
    with pytest.raises(DatasetError, match=r"no_answer_train\.csv: line 2 has an empty question"):
        load_single_topic(directory)


def test_error_ragged_row(tmp_path: Path) -> None:
    directory = _make_dataset(tmp_path / "ds")
    (directory / "no_answer_train.csv").write_text("document_index,question\n7,Q?,extra\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"no_answer_train\.csv: line 2 has 3 fields, expected 2"):
        load_single_topic(directory)


def test_dataset_error_is_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


def test_write_documents(tmp_path: Path) -> None:
    docs = [
        SourceDocument("0", "https://example.org/a", "Alpha.\nMore."),
        SourceDocument("12", "u", "Ünïcode ’"),
    ]
    paths = write_documents(docs, tmp_path / "out" / "articles")
    assert paths == [tmp_path / "out" / "articles" / "0.txt", tmp_path / "out" / "articles" / "12.txt"]
    assert paths[0].read_bytes() == b"https://example.org/a\n\nAlpha.\nMore."
    assert paths[1].read_text(encoding="utf-8") == "u\n\nÜnïcode ’"


def test_write_documents_rejects_path_like_ids(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot be used as a file name"):
        write_documents([SourceDocument("../x", "u", "t")], tmp_path)
    assert list(tmp_path.iterdir()) == []


def _shared_dataset_dir() -> Path:
    """The dataset beside the repo, else under $RAG_SHARED_DIR/datasets/single-topic."""
    beside_repo = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "single-topic"
    shared = os.environ.get("RAG_SHARED_DIR")
    if not beside_repo.is_dir() and shared:
        return Path(shared) / "datasets" / "single-topic"
    return beside_repo


def test_real_dataset_loads() -> None:
    directory = _shared_dataset_dir()
    assert directory.is_dir(), f"single-topic dataset not found at {directory} (set RAG_SHARED_DIR)"
    loaded = load_single_topic(directory)
    assert len(loaded.documents) == 20
    counts = {
        kind: sum(item["type"] == kind for item in loaded.gold)
        for kind in ("single", "multi", "unanswerable")
    }
    assert counts == {"single": 20, "multi": 20, "unanswerable": 20}
    doc_ids = {document.doc_id for document in loaded.documents}
    assert all(item["doc"] in doc_ids for item in loaded.gold)
    assert len({item["id"] for item in loaded.gold}) == 60
    assert max(len(document.text) for document in loaded.documents) > 131072


def _item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "q1",
        "question": "What?",
        "answer": "That.",
        "type": "single",
        "evidence": ["a quote"],
        "doc": "0",
    }
    item.update(overrides)
    return item


def test_gold_round_trip(tmp_path: Path) -> None:
    items = [
        _item(),
        _item(id="q2", answer="Line\u2028separator “curly” ünïcode", type="multi", evidence=[]),
        _item(id="q3", answer="", type="unanswerable", evidence=[], doc=None),
    ]
    path = tmp_path / "nested" / "gold.jsonl"
    write_gold_jsonl(items, path)
    assert len(path.read_text(encoding="utf-8").split("\n")) == 4
    assert read_gold_jsonl(path) == items


def test_gold_round_trip_of_loaded_dataset(tmp_path: Path) -> None:
    loaded = load_single_topic(_make_dataset(tmp_path / "ds"))
    write_gold_jsonl(loaded.gold, tmp_path / "gold.jsonl")
    assert read_gold_jsonl(tmp_path / "gold.jsonl") == loaded.gold


def test_gold_writes_keys_in_canonical_order(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    write_gold_jsonl([dict(reversed(list(_item().items())))], path)
    assert list(json.loads(path.read_text(encoding="utf-8"))) == [
        "id",
        "question",
        "answer",
        "type",
        "evidence",
        "doc",
    ]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_gold_line_may_leave_out_evidence_and_doc(tmp_path: Path) -> None:
    line = {"id": "q1", "question": "Who won?", "answer": "Sweden", "type": "single"}
    path = _write_lines(tmp_path / "gold.jsonl", [json.dumps(line)])

    assert read_gold_jsonl(path) == [line | {"evidence": [], "doc": None}]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", r"gold\.jsonl:3: invalid JSON"),
        ("[1, 2]", r"gold\.jsonl:3: expected a JSON object, got list"),
        (
            json.dumps({"id": "q2", "question": "Q?"}),
            r"gold\.jsonl:3: missing key\(s\) answer, type$",
        ),
        (json.dumps(_item(id="q2", extra=1)), r"gold\.jsonl:3: unknown key\(s\) extra"),
        (json.dumps(_item(id="")), r"gold\.jsonl:3: 'id' must be a non-empty string"),
        (json.dumps(_item(id="q2", question=5)), r"gold\.jsonl:3: 'question' must be a non-empty string"),
        (json.dumps(_item(id="q2", answer=None)), r"gold\.jsonl:3: 'answer' must be a string"),
        (json.dumps(_item(id="q2", type="factoid")), r"gold\.jsonl:3: 'type' must be one of single, multi"),
        (
            json.dumps(_item(id="q2", evidence="quote")),
            r"gold\.jsonl:3: 'evidence' must be a list of strings",
        ),
        (json.dumps(_item(id="q2", evidence=[1])), r"gold\.jsonl:3: 'evidence' must be a list of strings"),
        (json.dumps(_item(id="q2", doc=3)), r"gold\.jsonl:3: 'doc' must be a string or null"),
        (json.dumps(_item()), r"gold\.jsonl:3: duplicate id 'q1' \(first at .*gold\.jsonl:1\)"),
    ],
)
def test_read_gold_errors_name_the_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write_lines(tmp_path / "gold.jsonl", [json.dumps(_item()), "", bad_line])
    with pytest.raises(DatasetError, match=message):
        read_gold_jsonl(path)


def test_read_gold_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"absent\.jsonl: gold file not found"):
        read_gold_jsonl(tmp_path / "absent.jsonl")


def test_write_gold_validates(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    with pytest.raises(DatasetError, match=r"gold\.jsonl: item 1: 'type' must be one of"):
        write_gold_jsonl([_item(), _item(id="q2", type="other")], path)
    with pytest.raises(DatasetError, match=r"gold\.jsonl: item 1: duplicate id 'q1'"):
        write_gold_jsonl([_item(), _item()], path)
    assert not path.exists()
