"""Name clashes: two folders holding a file of the same name, a chat upload named like an ingested
file, and the same file named twice. No article replaces another; reindexing a file updates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from reliability_support import FACTS, answer_problem, fact_question, write_artifact

from ingest.pipeline import ingest_paths
from rag.assistant import Assistant
from ui.uploads import ingest_uploads

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings

NAME = "article_03.txt"


def _folder(path: Path, number: int) -> Path:
    """A folder holding FACTS[number]'s article as NAME, and another article of its own."""
    path.mkdir(parents=True)
    (path / NAME).write_text(FACTS[number].article(number), encoding="utf-8")
    (path / f"other-{number}.txt").write_text(FACTS[number + 5].article(number + 5), encoding="utf-8")
    return path


def _texts(assistant: Assistant) -> dict[str, str]:
    """The first line of each article's text, by id."""
    return {d: assistant.index.article_text(d).split("\n")[0] for d in assistant.index.records()}


@pytest.mark.timeout(300)
def test_files_of_the_same_name_never_replace_each_other(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    a, b, c = _folder(tmp_path / "A", 0), _folder(tmp_path / "B", 1), _folder(tmp_path / "C", 2)
    assistant = Assistant(settings, embedder=embedder)
    index = assistant.index

    first = ingest_paths([a], settings, index=index)
    second = ingest_paths([b], settings, index=index)

    assert first.ok and second.ok
    assert {f.doc_id: f.status for f in first.files} == {NAME: "added", "other-0.txt": "added"}
    (b_file,) = [f for f in second.files if f.path.endswith(NAME)]
    assert b_file.status == "added" and b_file.doc_id.startswith(NAME + "~"), b_file
    texts = _texts(assistant)
    assert texts[NAME].startswith(FACTS[0].answer_sentence)
    assert texts[b_file.doc_id].startswith(FACTS[1].answer_sentence)
    for fact in FACTS[:2]:
        question = fact_question(fact)
        assert answer_problem(assistant.ask(question.text), question, assistant.index) is None

    # Reindexing is an update of each file's own article, under the same id, in any order.
    again = ingest_paths([b, a], settings, index=index)
    assert {f.doc_id: f.status for f in again.files} == dict.fromkeys(
        [NAME, b_file.doc_id, "other-0.txt", "other-1.txt"], "unchanged"
    )
    (b / NAME).write_text(FACTS[3].article(3), encoding="utf-8")
    changed = ingest_paths([b], settings, index=index)
    assert {f.doc_id: f.status for f in changed.files}[b_file.doc_id] == "updated"
    assert _texts(assistant)[NAME].startswith(FACTS[0].answer_sentence)

    # Both folders in one run, and a third: every file its own article.
    together = ingest_paths([a, c], settings, index=index)
    assert together.ok, together.to_json()
    (c_file,) = [f for f in together.files if f.path.endswith(f"C/{NAME}")]
    assert c_file.status == "added" and c_file.doc_id not in {NAME, b_file.doc_id}

    # An upload named like an ingested file is added beside it; uploading it again updates it.
    upload = tmp_path / "incoming" / NAME
    upload.parent.mkdir()
    upload.write_text(FACTS[4].article(4), encoding="utf-8")
    report, problems = ingest_uploads([upload], settings, index=index)
    assert problems == [] and report is not None and report.ok
    (uploaded,) = report.files
    assert uploaded.status == "added" and uploaded.doc_id not in {NAME, b_file.doc_id, c_file.doc_id}
    upload.write_text(FACTS[6].article(6), encoding="utf-8")
    report, _ = ingest_uploads([upload], settings, index=index)
    assert report is not None and [(f.doc_id, f.status) for f in report.files] == [
        (uploaded.doc_id, "updated")
    ]

    texts = _texts(assistant)
    assert len(texts) == 4 + 3  # four articles named NAME, three others
    assert texts[NAME].startswith(FACTS[0].answer_sentence)
    assert texts[b_file.doc_id].startswith(FACTS[3].answer_sentence)
    assert texts[c_file.doc_id].startswith(FACTS[2].answer_sentence)
    assert texts[uploaded.doc_id].startswith(FACTS[6].answer_sentence)
    for number in (0, 2, 3, 6):
        question = fact_question(FACTS[number])
        assert answer_problem(assistant.ask(question.text), question, assistant.index) is None
    write_artifact(
        "name-clashes",
        {
            "ids": sorted(texts),
            "articles_named_alike": 4,
            "articles_lost": 0,
        },
    )


@pytest.mark.timeout(300)
def test_the_same_file_named_twice_is_indexed_once(
    settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "A", 0)
    assistant = Assistant(settings, embedder=embedder)
    index = assistant.index
    file = folder / NAME

    report = ingest_paths([file, file, folder, folder / "." / NAME], settings, index=index)

    assert report.ok, report.to_json()
    assert [(f.doc_id, f.status) for f in report.files] == [(NAME, "added"), ("other-0.txt", "added")]
    # Named through the folder later, it is still the same article.
    report = ingest_paths([folder], settings, index=index)
    assert {f.doc_id: f.status for f in report.files} == {NAME: "unchanged", "other-0.txt": "unchanged"}
