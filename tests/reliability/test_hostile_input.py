"""Hostile input: arbitrary bytes and text through every loader, mutated real HTML and PDF files,
oversized files, and questions that are empty, enormous or full of control characters.

A loader either returns an article or raises `LoadError` with a reason — nothing else; an article
that comes out chunks into spans with `text[start:end] == chunk` that fit the token budget. Run
times are bounded by pytest-timeout marks (generous: a slow machine is not a failure), never by
timing assertions.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import logging
import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import (
    BIN,
    FACTS,
    LONG,
    answer_problem,
    fact_question,
    run_measured,
    sized,
    write_artifact,
)

from ingest.chunking import MAX_CHARS_PER_TOKEN, chunk_article
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, parse_article
from ingest.pipeline import ingest_paths
from rag.assistant import Assistant, QuestionError
from rag.index import Index
from rag.types import Answer

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbeddings
    from rag.settings import Settings
    from rag.types import Article

EXAMPLES = sized(200, 2000)
BYTES_EXAMPLES = sized(1000, 10000)  # random bytes are mostly refused at once: cheap
FUZZ_CASES = sized(300, 3000)
SUFFIXES = [*sorted(SUPPORTED_SUFFIXES), ".docx", ""]
BUDGETS = [16, 48, 192]

property_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _quiet_pdf_warnings() -> None:
    # pypdf logs every repair it attempts on broken files; thousands of lines say nothing here.
    logging.getLogger("pypdf").setLevel(logging.ERROR)


def _check_chunks(
    article: Article, embedder: SentenceTransformerEmbeddings, max_tokens: int, overlap: int
) -> int:
    """Chunks the article and checks the invariants; returns the number of chunks."""
    chunks = chunk_article(
        article, embedder, max_tokens=max_tokens, overlap_sentences=overlap, content_hash="0" * 64
    )
    budget = max(8, min(max_tokens, embedder.max_tokens))
    text = article.text
    assert chunks, "an article gave no chunks"
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    counts = embedder.count_tokens([c.text for c in chunks])
    covered = bytearray(len(text))
    for chunk, count in zip(chunks, counts, strict=True):
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip(), chunk
        assert count <= budget, (count, budget, chunk.text[:200])
        covered[chunk.start : chunk.end] = b"\1" * (chunk.end - chunk.start)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    lost = {ch for ch, seen in zip(text, covered, strict=True) if not seen and not ch.isspace()}
    # A sentence cut at word pieces starts at its first piece: a leading character the tokenizer
    # drops (a control or private-use character) is the only text a chunk may leave out.
    visible = [ch for ch in lost if embedder.count_tokens([ch])[0] > 0]
    assert not visible, f"text no chunk holds: {''.join(visible)[:200]!r}"
    return len(chunks)


def _parse(data: bytes, name: str) -> Article | str:
    """The article, or the LoadError's reason; any other exception fails the test."""
    try:
        return parse_article(data, name=name, doc_id=name)
    except LoadError as exc:
        assert str(exc), "a LoadError without a reason"
        return str(exc)


# -- properties ----------------------------------------------------------------------------------


@pytest.mark.timeout(600)
@settings(parent=property_settings, max_examples=BYTES_EXAMPLES)
@given(
    data=st.binary(max_size=4096),
    suffix=st.sampled_from(SUFFIXES),
    max_tokens=st.sampled_from(BUDGETS),
    overlap=st.integers(0, 2),
)
def test_any_bytes_load_or_fail_with_a_reason(
    embedder: SentenceTransformerEmbeddings, data: bytes, suffix: str, max_tokens: int, overlap: int
) -> None:
    _quiet_pdf_warnings()
    article = _parse(data, f"file{suffix}")
    if not isinstance(article, str):
        assert suffix in SUPPORTED_SUFFIXES
        _check_chunks(article, embedder, max_tokens, overlap)


_WORDS = st.sampled_from(
    [
        "The",
        "council",
        "said",
        "harbour",
        "ferry",
        "4,000",
        "US$2.5",
        "billion",
        "Mr.",
        "Dr.",
        "e.g.",
        "U.S.",
        "Jan.",
        "2024-05-01",
        "“quoted”",
        "don't",
        "—",
        "–",
        "…",
        "naïve",
        "Zürich",
        "北京",
        "東京",
        "مرحبا",
        "שלום",
        "😀",
        "www.example.org",
        "https://x.org/a?b=c",
        "Title:",
        "Date:",
        "Source:",
        "By:",
        "---",
        "#",
        "##",
        "*",
        "-",
        "1.",
        ">",
        "|",
        "<b>",
        "</p>",
        "<script>",
        "&amp;",
        "&#x27;",
        "\\",
        "\t",
    ]
)
_PIECES = st.one_of(
    _WORDS,
    st.text(max_size=12),
    st.sampled_from([". ", "! ", "? ", "\n", "\n\n", "\r\n", " ", "  ", "\u2028", "\x00", "\x0c"]),
)
ARTICLE_LIKE = st.lists(_PIECES, max_size=400).map(lambda parts: " ".join(parts))
HTML_LIKE = st.lists(
    st.tuples(
        st.sampled_from(["p", "div", "article", "h1", "li", "span", "table", "td", "script"]), ARTICLE_LIKE
    ),
    max_size=8,
).map(lambda items: "<html><body>" + "".join(f"<{t}>{body}</{t}>" for t, body in items) + "</body></html>")


@pytest.mark.timeout(600)
@property_settings
@given(
    text=st.one_of(st.text(max_size=3000), ARTICLE_LIKE, HTML_LIKE),
    suffix=st.sampled_from([".txt", ".text", ".md", ".markdown", ".html", ".htm"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    max_tokens=st.sampled_from(BUDGETS),
    overlap=st.integers(0, 2),
)
def test_any_text_loads_or_fails_with_a_reason(
    embedder: SentenceTransformerEmbeddings,
    text: str,
    suffix: str,
    encoding: str,
    max_tokens: int,
    overlap: int,
) -> None:
    article = _parse(text.encode(encoding), f"file{suffix}")
    if not isinstance(article, str):
        _check_chunks(article, embedder, max_tokens, overlap)


# -- fuzzing real files --------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Harbour delays grow</title>
<meta name="author" content="Ana Lim"><meta property="article:published_time" content="2024-05-02">
<script>var x = "<div>";</script><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article><h1>Harbour delays grow</h1>
<p>The harbour authority said on Monday that 4,000 containers were delayed by the storm.</p>
<p>Officials expect the backlog to clear by Friday, the spokesperson added, &amp; shippers agreed.</p>
<table><tr><td>Port</td><td>Delay</td></tr><tr><td>North</td><td>3 days</td></tr></table>
<p>Share this article</p><p>Read more: <a href="/more">More on this topic</a></p></article>
<footer>© 2024 Example News</footer></body></html>""".encode()

_TOKENS = [
    b"<", b">", b"</", b"<div>", b"</div>", b"<p>", b"<!--", b"-->", b"<![CDATA[", b"&#", b"&#x110000;",
    b"&amp;", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"<script>", b"<svg><foreignObject>", b"obj", b"endobj",
    b"stream", b"endstream", b"/Filter", b"/FlateDecode", b"/Length 999999", b"trailer", b"xref", b"<<",
    b">>", b"%%EOF", b"9999999999", b"-1", b"/Type /Page", b"/Kids [", b"R",
]  # fmt: skip


def _pdf_bytes() -> bytes:
    """A real one-page PDF with a text layer and metadata (rendered by matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.5, 11))
    lines = [
        "The harbour authority said on Monday that 4,000 containers were delayed.",
        "Officials expect the backlog to clear by Friday, the spokesperson added.",
        "Shippers said the storm had closed the northern channel for two days.",
    ]
    for row, line in enumerate(lines):
        figure.text(0.08, 0.92 - row * 0.03, line, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf", metadata={"Title": "Harbour delays", "Author": "Ana Lim"})
    return buffer.getvalue()


def _noise(rng: random.Random, text_only: bool) -> bytes:
    if not text_only:
        return rng.randbytes(rng.randint(1, 8))
    alphabet = "<>/=\"'&;#!-[] \n\tabcxyz0123456789éß北😀\u200b\u202e"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))).encode()


def _mutate(data: bytes, rng: random.Random, *, text_only: bool) -> bytes:
    """A few random edits: changed bytes, inserted noise or format tokens, cut or repeated runs.

    `text_only` keeps the file valid UTF-8 (mostly), so the edits reach the HTML parser.
    """
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        at = rng.randrange(len(out) + 1)
        roll = rng.random()
        if roll < 0.3 and out and not text_only:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif roll < 0.45:
            out[at:at] = _noise(rng, text_only)
        elif roll < 0.65:
            out[at:at] = rng.choice(_TOKENS)
        elif roll < 0.85:
            del out[at : at + rng.randint(1, 64)]
        else:
            source = rng.randrange(len(out) + 1)
            out[at:at] = out[source : source + rng.randint(1, 256)]
    return bytes(out)


@pytest.mark.timeout(900)
def test_fuzzed_html_and_pdf_files(embedder: SentenceTransformerEmbeddings) -> None:
    _quiet_pdf_warnings()
    originals = {".html": HTML_PAGE, ".pdf": _pdf_bytes()}
    for suffix, data in originals.items():
        assert not isinstance(_parse(data, f"original{suffix}"), str), f"the original {suffix} must load"
    figures: dict[str, Any] = {}
    for suffix, original in originals.items():
        rng = random.Random(f"fuzz{suffix}")
        outcomes: collections.Counter[str] = collections.Counter()
        slowest = (0.0, -1)
        for case in range(FUZZ_CASES):
            data = _mutate(original, rng, text_only=suffix == ".html" and case % 10 != 0)
            began = time.perf_counter()
            name = f"case{case}{suffix}"
            article = _parse(data, name)
            if isinstance(article, str):
                outcomes["LoadError: " + article.replace(name, "FILE").split(":")[0][:60]] += 1
            else:
                outcomes["article"] += 1
                _check_chunks(article, embedder, 192, 1)
            slowest = max(slowest, (time.perf_counter() - began, case))
        figures[suffix] = {
            "cases_tried": FUZZ_CASES,
            "articles": outcomes["article"],
            "load_errors": FUZZ_CASES - outcomes["article"],
            "other_exceptions": 0,
            "slowest_case_s": round(slowest[0], 3),
            "outcomes": dict(outcomes.most_common()),
        }
    write_artifact("fuzz", {"cases_tried": 2 * FUZZ_CASES, "by_format": figures, "crashes": 0})


# -- oversized input -----------------------------------------------------------------------------

INTRO = b"Title: Harbour budget\n\nThe harbour council met on Monday to discuss the ferry budget. "
DEEP_HTML = (
    b"<html><head><title>Deep</title></head><body>"
    + b"<div>" * 10_000
    + b"<p>The harbour council met on Monday to discuss the ferry budget for the coming year.</p>"
    + b"</div>" * 10_000
    + b"</body></html>"
)
OVERSIZED = {
    "5mb-word.txt": b"a" * 5_000_000,
    "5mb-word.html": b"a" * 5_000_000,
    "5mb-dotted.txt": b"a." * 2_500_000,
    "sentence-then-5mb-word.txt": INTRO + b"x" * 5_000_000,
    "nested-10000-deep.html": DEEP_HTML,
    "nested-10000-unclosed.html": b"<html><body>" + b"<div><p>" * 10_000 + INTRO[23:],
}
if LONG:
    OVERSIZED |= {
        "5mb-word.md": b"a" * 5_000_000,
        "5mb-hex-digits.txt": random.Random(5).randbytes(2_500_000).hex().encode(),
        "5mb-url.txt": b"https://example.org/" + b"a" * 5_000_000,
    }


@pytest.mark.timeout(600)
def test_oversized_files(settings: Settings, embedder: SentenceTransformerEmbeddings, tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    for name, data in OVERSIZED.items():
        (folder / name).write_bytes(data)
    with (folder / "over-the-limit.txt").open("wb") as sparse:
        sparse.truncate(int(settings.max_file_mb * 1_000_000) + 1)  # a hole: no disk, no time
    index = Index(settings, embedder)

    began = time.monotonic()
    report = ingest_paths([folder], settings, index=index, progress=False)
    seconds = time.monotonic() - began

    results = {f.doc_id: f for f in report.files}
    assert set(results) == {*OVERSIZED, "over-the-limit.txt"}
    limit = results["over-the-limit.txt"]
    assert limit.status == "failed"
    assert f"over the {settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)" in limit.reason
    for result in results.values():
        assert result.status in {"added", "failed"}, result
        assert result.status == "added" or result.reason, result
    assert results["sentence-then-5mb-word.txt"].status == "added"
    records = index.records()
    for doc_id, record in records.items():
        text = index.article_text(doc_id)
        assert record.n_chunks >= 1 and text
    budget = max(8, min(settings.chunk_tokens, embedder.max_tokens))
    for chunk in index.committed_chunks():
        assert index.article_text(chunk.doc_id)[chunk.start : chunk.end] == chunk.text
        assert embedder.count_tokens([chunk.text])[0] <= budget
        assert len(chunk.text) <= budget * MAX_CHARS_PER_TOKEN  # a 5 MB "word" is not one chunk

    assistant = Assistant(settings, embedder=embedder, index=index)
    answer = assistant.ask("What did the harbour council discuss on Monday?")
    assert answer.citations and "ferry budget" in answer.citations[0].quote
    write_artifact(
        "oversized",
        {
            "files": {
                d: {"status": r.status, "chunks": r.chunks, "reason": r.reason} for d, r in results.items()
            },
            "ingest_seconds": round(seconds, 1),
            "longest_citation_chars": max(len(c.quote) for c in answer.citations),
        },
    )


TINY_SENTENCES = 500_000 if LONG else 20_000  # 5 MB in the long run, 200 KB in the short one


@pytest.mark.timeout(600)
def test_megabytes_of_tiny_sentences_load_and_chunk(embedder: SentenceTransformerEmbeddings) -> None:
    # Hundreds of thousands of sentences on one line: 5 MB is about 11,000 chunks, over the limit
    # of chunks per article that ingest applies, so only loading and chunking are exercised here.
    # (Without the spaces it would be text without word boundaries, which is refused at once.)
    began = time.monotonic()
    article = parse_article(b"Abc, def. " * TINY_SENTENCES, name="punctuated.txt", doc_id="punctuated.txt")
    loaded = time.monotonic()
    chunks = _check_chunks(article, embedder, 192, 1)
    write_artifact(
        "oversized-tiny-sentences",
        {
            "characters": len(article.text),
            "chunks": chunks,
            "load_seconds": round(loaded - began, 1),
            "chunk_seconds": round(time.monotonic() - loaded, 1),
        },
    )


INGEST_RSS_BUDGET_MB = 600


@pytest.mark.timeout(300)
def test_a_5mb_line_without_spaces_fails_at_once_within_the_memory_budget(tmp_path: Path) -> None:
    # The issue's file: 5 MB on one line without a space made 11,804 chunks in 507 s, 2.4 GB at
    # peak. Beside it, 5.5 MB on one line with spaces (16,900 chunks), and three real articles.
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "blob.txt").write_bytes(base64.b64encode(random.Random(5).randbytes(3_750_000)))
    (folder / "one-line.txt").write_bytes(b" ".join(b"word%d" % (n % 97) for n in range(800_000)))
    for number, fact in enumerate(FACTS[:3]):
        (folder / fact.file_name).write_text(fact.article(number), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}

    began = time.monotonic()
    done, peak_mb = run_measured(
        [str(BIN / "rag"), "ingest", str(folder), "--json"], env=env, cwd=tmp_path, timeout=240
    )
    seconds = time.monotonic() - began

    assert done.returncode == 1, done.stderr[-2000:]
    files = {Path(f["path"]).name: (f["status"], f["reason"]) for f in json.loads(done.stdout)["files"]}
    assert files == {
        "blob.txt": ("failed", "no word boundaries: 5,000,000 characters without a space"),
        "one-line.txt": (
            "failed",
            "more than 1,000 chunks, the limit per article (RAG_MAX_CHUNKS_PER_ARTICLE)",
        ),
        **{fact.file_name: ("added", "") for fact in FACTS[:3]},
    }
    assert peak_mb < INGEST_RSS_BUDGET_MB
    write_artifact(
        "oversized-5mb-line",
        {
            "files": files,
            "ingest_seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_mb),
            "rss_budget_mb": INGEST_RSS_BUDGET_MB,
        },
    )


KNOWN_BAD_PDFS = {
    "unknown-stream-filter": (b"/FlateDecode", b"/FlateDecodX"),  # pypdf: NotImplementedError
    "removed-filter-abbreviation": (b"/FlateDecode", b"/Fl         "),  # pypdf: DeprecationError
}


@pytest.mark.parametrize("case", list(KNOWN_BAD_PDFS))
def test_known_bad_pdfs_fail_with_a_reason(case: str) -> None:
    """Cases the fuzzer found, kept so that the short run always covers them."""
    _quiet_pdf_warnings()
    old, new = KNOWN_BAD_PDFS[case]
    with pytest.raises(LoadError, match="broken PDF"):
        parse_article(_pdf_bytes().replace(old, new), name=f"{case}.pdf", doc_id=case)


# -- questions -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assistant(seeded: Settings, embedder: SentenceTransformerEmbeddings) -> Assistant:
    return Assistant(seeded, embedder=embedder)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "question",
    ["", "   ", "\n\t\r", "\x00\x01\x02\x1b\x7f", "\u200b\u200e\u2028\ufeff", "\ud800\udfff", "\x85\xa0"],
    ids=["empty", "spaces", "whitespace", "control", "invisible-format", "lone-surrogates", "latin1-spaces"],
)
def test_empty_questions_are_refused(assistant: Assistant, question: str) -> None:
    with pytest.raises(QuestionError, match="the question is empty"):
        assistant.ask(question)


@pytest.mark.timeout(120)
def test_enormous_questions_are_refused_with_the_limit(assistant: Assistant) -> None:
    limit = assistant.settings.max_question_chars
    for size in (limit + 1, 1_000_000, 10_000_000):
        with pytest.raises(QuestionError) as refused:
            assistant.ask("why " * (size // 4) + "x" * (size % 4 + 1))
        assert f"the limit is {limit} (RAG_MAX_QUESTION_CHARS)" in str(refused.value)
    fact = FACTS[3]
    padded = fact.question + " " + "please " * ((limit - len(fact.question)) // 7 - 1)
    assert len(padded) <= limit
    answer = assistant.ask(padded)
    assert isinstance(answer, Answer)


@pytest.mark.timeout(120)
def test_control_characters_inside_a_question_are_dropped(assistant: Assistant) -> None:
    fact = FACTS[1]
    noisy = "\x1bWho is the\x00 fire chief\u200b of\x07 " + fact.town + "?\ud800\r\n"
    answer = assistant.ask(noisy)
    assert answer.question == f"Who is the fire chief of {fact.town}?"
    assert answer_problem(answer, fact_question(fact), assistant.index) is None


@pytest.mark.timeout(600)
@settings(max_examples=sized(40, 300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=st.text(st.characters(codec=None, exclude_categories=()), max_size=300) | ARTICLE_LIKE)
def test_any_question_is_answered_or_refused(assistant: Assistant, question: str) -> None:
    try:
        answer = assistant.ask(question)
    except QuestionError as exc:
        assert str(exc)
        return
    assert all(ch.isprintable() for ch in answer.question)
    for citation in answer.citations:
        assert assistant.index.article_text(citation.doc_id)[citation.start : citation.end] == citation.quote
