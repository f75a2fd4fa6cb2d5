"""Uploads: safe names, type and size limits, and a failed replacement leaving the old file in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rag.index import Index
from rag.settings import Settings
from ui.uploads import discard_upload, ingest_uploads, safe_filename, upload_dir

if TYPE_CHECKING:
    from pathlib import Path

    from rag.embeddings import SentenceTransformerEmbeddings

ARTICLE = "Title: Quarry report\n\nThe Hallam quarry produced nine thousand tonnes of granite last year.\n"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.txt", "report.txt"),
        ("Report.TXT", "Report.txt"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.html", "evil.html"),
        ("／etc／fullwidth.txt", "fullwidth.txt"),
        ("<img src=x onerror=alert(1)>.txt", "img src_x onerror_alert_1.txt"),
        (".hidden.txt", "hidden.txt"),
        ("..", "upload"),
        (".txt", "txt"),
        ("a.t<x>t", "a.t_x_t"),
        ("café notes.md", "café notes.md"),
        ("x" * 300 + ".pdf", "x" * 100 + ".pdf"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_refused_uploads_are_not_copied(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    small = Settings(data_dir=settings.data_dir, max_file_mb=0.001, _env_file=None)
    (tmp_path / "program.exe").write_bytes(b"MZ")
    (tmp_path / "noext").write_text(ARTICLE)
    (tmp_path / "big.txt").write_text(ARTICLE * 100)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "same.txt").write_text(ARTICLE)
    (tmp_path / "two" / "same.txt").write_text(ARTICLE)
    files = [tmp_path / n for n in ("program.exe", "noext", "big.txt", "one/same.txt", "two/same.txt")]
    report, problems = ingest_uploads(files[:3], small, index=Index(small, embedder))
    assert report is None
    assert problems[0].startswith("program.exe: unsupported type .exe; supported: .htm, .html")
    assert problems[1].startswith("noext: unsupported type (none)")
    assert problems[2].startswith("big.txt: 0.0 MB is over the 0.001 MB limit (RAG_MAX_FILE_MB)")
    assert not upload_dir(small).exists()

    report, problems = ingest_uploads(files[3:], settings, index=Index(settings, embedder))
    assert problems == ["same.txt: another file in this upload has the same name"]
    assert report is not None and [f.status for f in report.files] == ["added"]


def test_failed_replacement_keeps_the_previous_upload(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    index = Index(settings, embedder)
    good = tmp_path / "good" / "quarry.txt"
    good.parent.mkdir()
    good.write_text(ARTICLE)
    report, _ = ingest_uploads([good], settings, index=index)
    assert report is not None and report.ok
    stored = upload_dir(settings) / "quarry.txt"
    assert stored.read_text() == ARTICLE

    broken = tmp_path / "broken" / "quarry.txt"
    broken.parent.mkdir()
    broken.write_text("   ")
    seen: list[str] = []
    report, _ = ingest_uploads([broken], settings, index=index, on_file=lambda r: seen.append(r.status))
    assert report is not None and [f.status for f in report.files] == ["failed"] == seen
    assert stored.read_text() == ARTICLE
    assert sorted(p.name for p in upload_dir(settings).iterdir()) == ["quarry.txt"]

    fresh = tmp_path / "fresh.txt"
    fresh.write_text("")
    report, _ = ingest_uploads([fresh], settings, index=index)
    assert report is not None and not report.ok
    assert not (upload_dir(settings) / "fresh.txt").exists()


def test_discard_only_touches_the_upload_folder(tmp_path: Path, settings: Settings) -> None:
    outside = tmp_path / "keep.txt"
    outside.write_text(ARTICLE)
    inside = upload_dir(settings) / "drop.txt"
    inside.parent.mkdir(parents=True)
    inside.write_text(ARTICLE)
    assert not discard_upload(str(outside), settings)
    assert not discard_upload("", settings)
    assert discard_upload(str(inside), settings)
    assert outside.exists() and not inside.exists()
