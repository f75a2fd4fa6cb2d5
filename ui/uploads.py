"""Uploaded files: checked, given safe names, kept in `data_dir/uploads`, and ingested like `rag ingest`."""

from __future__ import annotations

import contextlib
import re
import shutil
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.loaders import SUPPORTED_SUFFIXES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ingest.pipeline import FileResult, IngestReport
    from rag.index import Index
    from rag.settings import Settings

__all__ = ["discard_upload", "ingest_uploads", "safe_filename", "upload_dir"]

_UNSAFE = re.compile(r"[^\w.\- ]+")
_REPEATS = re.compile(r"([_ .-])\1+")
_MAX_STEM = 100
_MAX_STEM_BYTES = 200
"""A file name is at most 255 bytes: leave room for the suffix and the `.NAME.previous` backup."""


def upload_dir(settings: Settings) -> Path:
    """Where uploaded files are kept (their path is what the index records)."""
    return settings.data_dir / "uploads"


def safe_filename(name: str) -> str:
    """The last path component of `name`, with only letters, digits, `_ - . space`; the suffix is kept."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem.strip(" ._-"):
        stem, extension = base, ""
    stem = _REPEATS.sub(r"\1", _UNSAFE.sub("_", stem)).strip(" ._-")[:_MAX_STEM]
    stem = stem.encode()[:_MAX_STEM_BYTES].decode(errors="ignore").rstrip(" ._-")
    suffix = "." + _UNSAFE.sub("_", extension.lower()) if extension else ""
    return (stem or "upload") + suffix


def _check(path: Path, name: str, settings: Settings) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"{name}: unsupported type {suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{name}: cannot read the upload ({exc.strerror or exc})"
    if size > settings.max_file_mb * 1_000_000:
        return f"{name}: {size / 1e6:.1f} MB is over the {settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)"
    return None


def ingest_uploads(
    files: Sequence[str | Path],
    settings: Settings,
    *,
    index: Index,
    on_file: Callable[[FileResult], None] | None = None,
) -> tuple[IngestReport | None, list[str]]:
    """Copies acceptable uploads into `upload_dir` and ingests them; returns the report and refusals.

    A file that fails to ingest is removed again, and a previous upload of the same name is put back.
    Raises `ReadOnlyIndexError` before copying anything when the index is read-only.
    """
    from ingest.pipeline import ingest_paths

    index.check_writable()
    folder = upload_dir(settings)
    problems: list[str] = []
    accepted: dict[str, Path] = {}
    for upload in files:
        source = Path(upload)
        name = safe_filename(source.name)
        problem = _check(source, name, settings)
        if problem is None and name in accepted:
            problem = f"{name}: another file in this upload has the same name"
        if problem is not None:
            problems.append(problem)
        else:
            accepted[name] = source
    if not accepted:
        return None, problems
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"cannot create the upload folder {folder}: {exc.strerror or exc}")
        return None, problems
    staged: dict[Path, Path | None] = {}
    try:
        for name, source in accepted.items():
            target = folder / name
            if target.resolve().parent != folder.resolve():
                problems.append(f"{name}: not a plain file name")
                continue
            backup = folder / f".{name}.previous"
            if target.exists() or target.is_symlink():
                target.replace(backup)
                staged[target] = backup
            else:
                staged[target] = None
            shutil.copyfile(source, target)
        report = ingest_paths(list(staged), settings, index=index, progress=False, on_file=on_file)
    except BaseException:
        _settle(staged, failed=set(staged))
        raise
    _settle(staged, failed={Path(r.path) for r in report.files if r.status == "failed"})
    return report, problems


def _settle(staged: dict[Path, Path | None], failed: set[Path]) -> None:
    """Keeps the new files that were indexed; restores the previous version of the others."""
    for target, backup in staged.items():
        with contextlib.suppress(OSError):
            if target in failed:
                if backup is not None:
                    backup.replace(target)
                else:
                    target.unlink(missing_ok=True)
            elif backup is not None:
                backup.unlink(missing_ok=True)


def discard_upload(path: str, settings: Settings) -> bool:
    """Deletes a file that was uploaded through the chat (not one ingested from elsewhere)."""
    if not path:
        return False
    file = Path(path)
    try:
        if file.resolve().parent != upload_dir(settings).resolve():
            return False
        file.unlink(missing_ok=True)
    except OSError:
        return False
    return True
