"""Acceptance: bad files are reported by name with a reason; good files beside them are indexed."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ingest_support import pdf_with_text, record_rows, run_rag, run_rag_json_full, write_articles

from ingest.pipeline import IngestReport, ingest_paths
from rag.index import Index
from rag.settings import Settings
from tests.support import chunk_rows

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbeddings

MAX_FILE_MB = 0.05
MUSEUM = "The city museum reopened its east wing after a two-year renovation of the tiled roof."
FERRY = "The harbour board approved a new ferry terminal at the northern pier on Tuesday."
ORCHARD = "Durian growers in the northern valleys expect a record harvest after the late monsoon rains."

GOOD = {"museum.txt", "ferry.pdf", "orchard.md"}
# Bad file → (status, words its reason must contain).
BAD = {
    "empty.txt": ("failed", ["empty"]),
    "blank.txt": ("failed", ["empty"]),
    "binary.txt": ("failed", ["binary"]),
    "latin1.txt": ("failed", ["UTF-8"]),
    "huge.txt": ("failed", ["limit", "MB"]),
    "broken.pdf": ("failed", ["PDF"]),
    "truncated.pdf": ("failed", ["PDF"]),
    "menu.html": ("failed", ["no article text"]),
    "report.docx": ("skipped", ["unsupported", ".docx"]),
    "missing.txt": ("failed", ["no such file"]),
    "empty-folder": ("failed", ["no supported files"]),
}


def _bad_folder(root: Path) -> list[Path]:
    """A folder of good and bad files, plus a missing path and an empty folder, as CLI arguments."""
    folder = root / "inbox"
    folder.mkdir(parents=True)
    (folder / "museum.txt").write_text(
        f"{MUSEUM} Visitors queued from early morning to see the restored murals.\n", encoding="utf-8"
    )
    (folder / "ferry.pdf").write_bytes(pdf_with_text([FERRY, "Construction will start next spring."]))
    (folder / "orchard.md").write_text(
        f"---\ntitle: Durian harvest\n---\n\n{ORCHARD} Prices are expected to fall.\n", encoding="utf-8"
    )
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_text("   \n\n\t \n", encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"GIF89a\x00\x01\x02\x03 binary \x00\xff" * 64)
    (folder / "latin1.txt").write_bytes(
        "Le café de la gare a fermé ses portes après trente ans.".encode("latin-1")
    )
    (folder / "huge.txt").write_text("The committee met again. " * 12_000, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(2048))
    real_pdf = pdf_with_text(["A complete page of text that was cut off in transit."])
    (folder / "truncated.pdf").write_bytes(real_pdf[: len(real_pdf) // 2])
    (folder / "menu.html").write_text(
        "<html><head><title>Menu</title><script>var x = 1;</script></head>"
        "<body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>",
        encoding="utf-8",
    )
    (folder / "report.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    empty = root / "empty-folder"
    empty.mkdir()
    return [folder, root / "missing.txt", empty]


def _by_name(files: IngestReport | list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """(status, reason) by file name, from a report or from the `files` of `rag ingest --json`."""
    rows = [asdict(f) for f in files.files] if isinstance(files, IngestReport) else files
    return {Path(row["path"]).name: (row["status"], row["reason"]) for row in rows}


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return Settings(data_dir=settings.data_dir, max_file_mb=MAX_FILE_MB, _env_file=None)


def test_each_bad_file_is_reported_by_name_with_its_cause(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    report = ingest_paths(_bad_folder(tmp_path), limited, index=Index(limited, embedder))

    results = _by_name(report)
    assert set(results) == GOOD | set(BAD)
    for name, (status, words) in BAD.items():
        got_status, reason = results[name]
        assert got_status == status, (name, reason)
        for word in words:
            assert word.lower() in reason.lower(), (name, reason)
        assert "Traceback" not in reason
    assert {name for name, (status, _) in results.items() if status == "added"} == GOOD
    assert not report.ok


def test_good_files_beside_bad_ones_are_committed_and_searchable(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    index = Index(limited, embedder)
    ingest_paths(_bad_folder(tmp_path), limited, index=index)

    assert set(index.records()) == GOOD
    for phrase, doc_id in ((MUSEUM, "museum.txt"), (FERRY, "ferry.pdf"), (ORCHARD, "orchard.md")):
        chunk = index.dense_search(embedder.embed_query(phrase), k=1)[0][0]
        assert chunk.doc_id == doc_id
        assert phrase in chunk.text


def test_unsupported_file_named_on_the_command_line_fails(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = _bad_folder(tmp_path)[0]
    report = ingest_paths([folder / "report.docx"], limited, index=Index(limited, embedder))
    [result] = report.files
    assert result.status == "failed"
    assert "unsupported" in result.reason
    assert ".txt" in result.reason  # says what is supported


def test_bad_files_do_not_lose_indexed_articles(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    index = Index(limited, embedder)
    ingest_paths([write_articles(tmp_path / "good", 3)[0].parent], limited, index=index)
    chunks_before, records_before = chunk_rows(index), record_rows(index)

    report = ingest_paths(_bad_folder(tmp_path / "bad"), limited, index=index, prune=True)

    assert not report.ok
    assert set(index.records()) == set(records_before) | GOOD
    assert {k: v for k, v in record_rows(index).items() if k in records_before} == records_before
    assert {k: v for k, v in chunk_rows(index).items() if v[0] in records_before} == chunks_before


def test_unreadable_new_version_keeps_the_indexed_one(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    path = folder / "museum.txt"
    path.write_text(f"{MUSEUM} Visitors queued from early morning.\n", encoding="utf-8")
    index = Index(limited, embedder)
    ingest_paths([folder], limited, index=index)
    chunks_before = chunk_rows(index)
    path.write_bytes(b"\x00\x01garbled\x00" * 100)

    report = ingest_paths([folder], limited, index=index, prune=True)

    assert _by_name(report)["museum.txt"][0] == "failed"
    assert "binary" in _by_name(report)["museum.txt"][1]
    assert chunk_rows(index) == chunks_before
    assert index.dense_search(embedder.embed_query(MUSEUM), k=1)[0][0].doc_id == "museum.txt"


def test_cli_exit_status_and_error_lines(
    tmp_path: Path, limited: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    arguments = _bad_folder(tmp_path)
    ok_folder = tmp_path / "ok"
    ok_folder.mkdir()
    (ok_folder / "gallery.txt").write_text(
        "The national gallery extended its opening hours for the summer.\n"
    )
    (ok_folder / "report.docx").write_bytes(b"PK\x03\x04")
    # Embed in this process; the CLI runs below then find the good files unchanged and need no model.
    index = Index(limited, embedder)
    ingest_paths([*arguments, ok_folder], limited, index=index)
    env = {"max_file_mb": str(MAX_FILE_MB)}

    done, report = run_rag_json_full(["ingest", *map(str, arguments)], limited.data_dir, **env)
    fine = run_rag(["ingest", str(ok_folder)], limited.data_dir, **env)

    assert done.returncode == 1
    assert report["ok"] is False
    results = _by_name(report["files"])
    failed = {name for name, (status, _) in BAD.items() if status == "failed"}
    assert {name for name, (status, _) in results.items() if status == "failed"} == failed
    assert {name for name, (status, _) in results.items() if status == "unchanged"} == GOOD
    assert fine.returncode == 0, fine.stderr
    assert "1 unchanged, 1 skipped" in fine.stdout
    # People see every failure on stderr, by name, with its cause.
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    for name in sorted(failed):
        lines = [line for line in errors if Path(line.split(": ")[1]).name == name]
        assert len(lines) == 1, f"{name} not reported on stderr: {errors}"
        assert BAD[name][1][0].lower() in lines[0].lower()
    assert len(errors) == len(failed)
    # Nothing else: a parser's own warning ("EOF marker not found") would name no file.
    assert done.stderr.splitlines() == errors
    assert "Traceback" not in done.stderr
