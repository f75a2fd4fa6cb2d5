"""Turn files into articles, chunks and vectors, and keep the store in sync with a folder."""

from ingest.pipeline import FileResult, IngestReport, ingest_paths

__all__ = ["FileResult", "IngestReport", "ingest_paths"]
