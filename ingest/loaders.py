"""Read article files (.txt, .md, .html/.htm, .pdf) into `Article`s with cleaned text."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.clean import clean_text
from ingest.dates import PublicationDate, publication_date
from rag.errors import RagError
from rag.text import words
from rag.types import Article

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SUPPORTED_SUFFIXES", "LoadError", "load_article", "parse_article"]


class LoadError(RagError, ValueError):
    """A file cannot be read as an article; the message says why."""


_HEADER = re.compile(r"^(title|source|url|author|by|date|published)\s*:\s*(.+)$", re.IGNORECASE)
_SITE = re.compile(
    r"^(?:https?://\S+|(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/\S*)?)$", re.IGNORECASE
)
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*$", re.MULTILINE)
_MD_HEADING_MARKS = re.compile(r"^#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
"""A Markdown heading line ("## Reactions ##"): its words are text, its marks are not."""


def _decode(data: bytes, name: str, *, markup: bool = False) -> str:
    """The file's text: UTF-8 (or UTF-16 with a byte-order mark), else, for a web page, the
    charset it declares (`<meta charset="windows-1252">`), as a browser reads it."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-16")
    declared = _declared_charset(data) if markup else None
    if declared is not None:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            where = _where_not(data, declared)
            raise LoadError(
                f"{name} declares the charset {declared} but is not {declared} text ({where})"
            ) from None
    plea = " and declares no charset" if markup else ""
    raise LoadError(f"{name} is not valid UTF-8 text ({_where_not(data, 'utf-8')}){plea}; save it as UTF-8")


def _declared_charset(data: bytes) -> str | None:
    """The charset a web page declares in its first bytes, as Python names it, by the HTML
    standard's rules (its "iso-8859-1" is Windows-1252); None when it declares none Python knows."""
    from w3lib.encoding import html_body_declared_encoding

    return html_body_declared_encoding(data)


def _where_not(data: bytes, encoding: str) -> str:
    """Where `data` stops being `encoding` text, as a person finds it: "byte 0xe9 on line 3"."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"byte 0x{data[exc.start]:02x} on line {line}"
    return "nowhere"


def _dated(found: PublicationDate) -> dict[str, str]:
    return {"date": found.date, "date_source": found.source}


def _read_headers(text: str) -> tuple[dict[str, str], str]:
    """Leading `Key: value` lines and a bare site/URL first line become metadata."""
    meta: dict[str, str] = {}
    lines = text.split("\n")
    position = 0
    while position < len(lines) and not lines[position].strip():
        position += 1
    if position < len(lines) and _SITE.match(lines[position].strip()):
        meta["source"] = lines[position].strip()
        position += 1
    while position < len(lines):
        match = _HEADER.match(lines[position].strip())
        if not match:
            break
        key = {"url": "source", "by": "author", "published": "date"}.get(
            match.group(1).lower(), match.group(1).lower()
        )
        meta[key] = match.group(2).strip()
        position += 1
    return meta, "\n".join(lines[position:])


def _first_line_title(text: str) -> str:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            return stripped[:300] if len(stripped.split()) <= 30 else ""
    return ""


def _text_fields(text: str) -> dict[str, str]:
    meta, body = _read_headers(text)
    meta["text"] = clean_text(body)
    meta.setdefault("title", _first_line_title(meta["text"]))
    return meta


def _parse_text(text: str) -> dict[str, str]:
    fields = _text_fields(text)
    return fields | _dated(
        publication_date(header=fields.get("date", ""), url=fields.get("source", ""), text=fields["text"])
    )


def _parse_markdown(text: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    front = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    if front:
        for line in front.group(1).split("\n"):
            key, _, value = line.partition(":")
            if value.strip():
                meta[key.strip().lower()] = value.strip().strip("\"'")
        text = text.replace("\r\n", "\n")[front.end() :]
    parsed = _text_fields(text)
    heading = _MD_HEADING.search(parsed["text"])
    if heading and "title" not in meta:
        meta["title"] = heading.group(1).strip()
    # Quoted, previewed and embedded as the words a reader sees, not as "# Rail link opens".
    parsed["text"] = _MD_HEADING_MARKS.sub(r"\1", parsed["text"])
    front_date = meta.get("date", "")
    meta = parsed | {k: v for k, v in meta.items() if k in {"title", "source", "url", "author"}}
    if "url" in meta:
        meta.setdefault("source", meta.pop("url"))
    found = publication_date(
        front_matter=front_date, header=parsed.get("date", ""), url=meta.get("source", ""), text=meta["text"]
    )
    return meta | _dated(found)


def _parse_html(html: str) -> dict[str, str]:
    import trafilatura

    try:
        document = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
        )
    except Exception as exc:
        raise LoadError(f"cannot parse HTML: {exc}") from None
    if document is None:
        raise LoadError("no article text found in the HTML")
    data = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    body = str(data.get("text") or "").replace("\n", "\n\n")
    url = str(data.get("url") or "")
    text = clean_text(body)
    return {
        "text": text,
        "title": str(data.get("title") or ""),
        "source": url or str(data.get("sitename") or data.get("hostname") or ""),
        "author": str(data.get("author") or ""),
    } | _dated(publication_date(html=html, url=url, text=text))


def _parse_pdf(data: bytes) -> dict[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import DeprecationError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        info: dict[str, Any] = dict(reader.metadata or {})
    except LoadError:
        raise
    except (
        PyPdfError,  # PdfReadError, and LimitReachedError for hostile sizes
        NotImplementedError,  # misspelled or unsupported stream filters
        DeprecationError,  # filter abbreviations pypdf no longer reads (/Fl)
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
        OSError,
    ) as exc:
        raise LoadError(f"broken PDF: {exc}") from None
    text = clean_text("\n\n".join(_join_pdf_lines(page) for page in pages))
    return {
        "text": text,
        "title": str(info.get("/Title") or "").strip(),
        "author": str(info.get("/Author") or "").strip(),
    } | _dated(publication_date(pdf=str(info.get("/CreationDate") or ""), text=text))


def _join_pdf_lines(page: str) -> str:
    """PDF text breaks lines mid-sentence; keep blank lines as paragraphs, join the rest."""
    page = re.sub(r"-\n(?=[a-z])", "", page)
    paragraphs = re.split(r"\n\s*\n", page)
    return "\n\n".join(re.sub(r"\s*\n\s*", " ", p).strip() for p in paragraphs)


_TEXT_PARSERS: dict[str, Callable[[str], dict[str, str]]] = {
    ".txt": _parse_text,
    ".text": _parse_text,
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".html": _parse_html,
    ".htm": _parse_html,
}
SUPPORTED_SUFFIXES = frozenset([*_TEXT_PARSERS, ".pdf"])


def parse_article(data: bytes, *, name: str, doc_id: str, path: str = "") -> Article:
    """Build an `Article` from a file's bytes; raises `LoadError` with the reason."""
    suffix = Path(name).suffix.lower()
    if not data.strip():
        raise LoadError("empty file")
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise LoadError("broken PDF: no PDF header")
        fields = _parse_pdf(data)
    elif suffix in _TEXT_PARSERS:
        fields = _TEXT_PARSERS[suffix](_decode(data, name, markup=suffix in {".html", ".htm"}))
    else:
        raise LoadError(
            f"unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    text = fields["text"]
    if len(words(text)) < 3:
        raise LoadError("no article text (empty after cleaning)")
    title = fields.get("title") or Path(name).stem.replace("_", " ").replace("-", " ").strip()
    return Article(
        doc_id=doc_id,
        title=title,
        text=text,
        source=fields.get("source", ""),
        author=fields.get("author", ""),
        date=fields.get("date", ""),
        date_source=fields.get("date_source", ""),
        path=path,
    )


def load_article(path: Path, *, doc_id: str | None = None, max_bytes: int | None = None) -> Article:
    """Read one file; raises `LoadError` (unreadable, too large, empty, binary, broken)."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise LoadError(
                f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (RAG_MAX_FILE_MB)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from None
    return parse_article(data, name=path.name, doc_id=doc_id or path.name, path=str(path))
