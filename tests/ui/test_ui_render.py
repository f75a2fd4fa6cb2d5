"""The HTML the chat shows: escaped text, offset-based highlights, citation links, safe source links."""

from __future__ import annotations

import dataclasses
import datetime
import re
import time

import pytest

from ingest.pipeline import FileResult
from rag.answering import ABSTENTION, CAVEAT
from rag.followup import condense
from rag.types import Answer, Citation, DocRecord, Passage, ShortAnswer
from ui import render

pytestmark = pytest.mark.fast

PAYLOAD = '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=1)'


def _passage(text: str, start: int = 100, title: str = "Title", source: str = "example.org") -> Passage:
    return Passage("c1", "doc.txt", title, source, text, start, start + len(text), 0.5, "2025-03-10")


def _citation(passage: Passage, offset: int, quote: str, n: int = 1) -> Citation:
    start = passage.start + offset
    return Citation(
        n, passage.doc_id, passage.title, passage.source, passage.chunk_id, start, start + len(quote), quote
    )


def _answer(
    text: str, citations: tuple[Citation, ...], passages: tuple[Passage, ...], **extra: object
) -> Answer:
    fields: dict[str, object] = {"question": "q?", "rewritten_query": "q?", "text": text, "abstained": False}
    fields.update(extra)
    return Answer(citations=citations, passages=passages, **fields)  # type: ignore[arg-type]


def _visible_text(markup: str) -> str:
    return re.sub(r"<[^>]+>", "", markup)


def test_highlight_follows_the_offsets_not_the_first_match() -> None:
    passage = _passage("Lutnick said yes. Later, Lutnick said yes. The end.")
    second = passage.text.index("Lutnick said yes.", 5)
    answer = _answer("Lutnick said yes. [1]", (_citation(passage, second, "Lutnick said yes."),), (passage,))
    panel = render.sources_panel([(0, answer)])
    assert "Lutnick said yes. Later, <mark>Lutnick said yes.</mark> The end." in panel
    assert 'id="rag-src-0-1"' in panel
    assert "characters 125–142 of the article" in panel


def test_offsets_that_do_not_match_show_the_quote_alone() -> None:
    passage = _passage("Something else entirely.")
    citation = Citation(1, "doc.txt", "Title", "", "c1", 100, 110, "a quote that is not there")
    panel = render.sources_panel([(0, _answer("x [1]", (citation,), (passage,)))])
    assert "<mark>a quote that is not there</mark>" in panel
    assert "Something else entirely." not in panel


def test_everything_rendered_is_escaped() -> None:
    passage = _passage(f"Before. {PAYLOAD} After.", title=f"Title {PAYLOAD}", source="javascript:alert(1)")
    quote = passage.text[8:-7]
    answer = _answer(
        f"{quote} [1] and an uncited [2].",
        (_citation(passage, 8, quote),),
        (passage,),
        question=PAYLOAD,
        rewritten_query=f"{PAYLOAD} (context: x)",
        notes=(PAYLOAD,),
    )
    pieces = [
        render.answer_message(answer, 0),
        render.sources_panel([(0, answer)]),
        render.user_message(PAYLOAD),
        render.pending_message(PAYLOAD),
        render.error_message(PAYLOAD),
    ]
    for markup in pieces:
        assert "<script" not in markup
        assert "<img" not in markup
        assert "javascript:" not in re.sub(r">[^<]*<", "><", markup), "javascript: only ever as text"
        assert "&lt;script&gt;" in markup
    message = pieces[0]
    assert "[click](javascript:window.__pwned=1)" in _visible_text(message)
    assert message.count('class="rag-cite"') == 1
    assert '<a class="rag-cite" href="#rag-src-0-1"' in message
    assert "uncited [2]." in message
    assert "Searched for: &lt;script&gt;" in message


def test_rewritten_query_only_when_it_differs() -> None:
    same = _answer("text", (), (), question="Who?", rewritten_query="Who?")
    other = _answer("text", (), (), question="And him?", rewritten_query="And Lutnick?")
    assert "rag-rewritten" not in render.answer_message(same, 0)
    assert "Searched for: And Lutnick?" in render.answer_message(other, 0)


def test_searched_for_shows_a_follow_up_as_the_standalone_question_searched() -> None:
    history = [
        ("Who is Mao Ning?", "Chinese Foreign Ministry spokeswoman Mao Ning said on March 11 … [1]"),
        ("What did she say about tariffs?", "The US used fentanyl as an excuse for tariffs (twice). [1]"),
    ]
    question = "And in 2019?"
    answer = _answer("text", (), (), question=question, rewritten_query=condense(question, history))

    message = render.answer_message(answer, 1)
    searched = re.findall(r'<div class="rag-rewritten">(.*?)</div>', message)
    assert searched == ["Searched for: What did Mao Ning say about tariffs in 2019?"]


def _short_answer(span: str, sentence: str) -> Answer:
    passage = _passage(sentence)
    short = ShortAnswer(span, passage.doc_id, passage.start, passage.start + len(span))
    citation = _citation(passage, 0, sentence)
    return _answer(f"{span} — {sentence} [1]", (citation,), (passage,), short_answer=short, confidence=0.82)


def test_the_short_answer_leads_in_bold_as_text() -> None:
    answer = _short_answer("Mao <b>Ning</b>", "Mao <b>Ning</b> said the tariffs were unfair.")
    message = render.answer_message(answer, 0)
    body = re.findall(r'<div class="rag-answer">(.*?)</div>', message)
    assert body == [
        '<strong class="rag-short">Mao &lt;b&gt;Ning&lt;/b&gt;</strong> — Mao &lt;b&gt;Ning&lt;/b&gt; said the '
        'tariffs were unfair. <a class="rag-cite" href="#rag-src-0-1" title="Show source 1">[1]</a>'
    ]
    assert "<b>" not in message


def test_a_caveated_answer_sets_the_caveat_apart() -> None:
    plain = _short_answer("Mao Ning", "Mao Ning said so.")
    caveated = _answer(
        f"{CAVEAT} {plain.text}", plain.citations, plain.passages, short_answer=plain.short_answer
    )
    message = render.answer_message(caveated, 0)
    assert '<div class="rag-answer rag-caveated">' in message
    assert (
        f'<span class="rag-caveat">{CAVEAT}</span> <strong class="rag-short">Mao Ning</strong> — ' in message
    )
    assert _visible_text(message).startswith(f"{CAVEAT} Mao Ning — Mao Ning said so. [1]")
    assert "rag-caveat" not in render.answer_message(plain, 0)


def test_confidence_is_shown_only_when_the_answer_has_one() -> None:
    answer = _short_answer("Mao Ning", "Mao Ning said so.")
    assert "confidence 0.82</div>" in render.answer_message(answer, 0)
    unrated = _answer("An LLM's answer. [1]", answer.citations, answer.passages)
    assert "confidence" not in render.answer_message(unrated, 0)
    refused = _answer(ABSTENTION, (), answer.passages, abstained=True, confidence=0.1)
    assert "confidence" not in render.answer_message(refused, 0)


def test_the_as_of_day_is_shown_when_it_is_not_today() -> None:
    answer = _short_answer("Mao Ning", "Mao Ning said so.")
    today = _answer(answer.text, answer.citations, answer.passages, as_of=datetime.date.today().isoformat())
    assert "As of" not in render.answer_message(today, 0)
    for abstained in (False, True):
        earlier = _answer(
            answer.text, answer.citations, answer.passages, as_of="2022-09-08", abstained=abstained
        )
        shown = render.answer_message(earlier, 0)
        assert '<div class="rag-as-of">As of 8 Sep 2022: later articles were not used.</div>' in shown


def test_abstention_shows_related_passages_apart_from_citations() -> None:
    passages = (_passage("Close but not it."), _passage("Also near."))
    answer = _answer(ABSTENTION, (), passages, abstained=True)
    message = render.answer_message(answer, 3)
    panel = render.sources_panel([(3, answer)])
    assert "rag-cite" not in message
    assert "Related passages (not an answer)" in message
    assert "Related passages (not an answer)</h3>" in panel
    assert ">Sources</h3>" not in panel
    assert panel.count('class="rag-related-passage"') == 2
    assert "<mark>" not in panel


def test_only_the_last_turn_is_shown_and_old_turns_drop_out() -> None:
    passage = _passage("A fact.")
    answer = _answer("A fact. [1]", (_citation(passage, 0, "A fact."),), (passage,))
    panel = render.sources_panel([(n, answer) for n in range(render.PANEL_TURNS + 5)])
    assert panel.count('class="rag-turn"') == render.PANEL_TURNS
    assert 'id="rag-turn-4"' not in panel
    last = render.PANEL_TURNS + 4
    assert f'<section class="rag-turn" id="rag-turn-{last}">' in panel
    assert f'<section class="rag-turn" id="rag-turn-{last - 1}" hidden>' in panel
    assert "appear here" in render.sources_panel([])


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("straitstimes.com", "https://straitstimes.com"),
        ("www.example.org/news/1", "https://www.example.org/news/1"),
        ("https://example.org/a?b=1", "https://example.org/a?b=1"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", None),
        ("JavaScript://example.org/%0aalert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("https://exa mple.org", None),
        ("Reuters", None),
        ("", None),
    ],
)
def test_source_links_are_http_only(source: str, url: str | None) -> None:
    assert render.source_url(source) == url


def test_source_link_attribute_cannot_be_broken_out_of() -> None:
    passage = _passage("x", source='https://example.org/"onmouseover="alert(1)')
    markup = render.sources_panel([(0, _answer(ABSTENTION, (), (passage,), abstained=True))])
    assert 'href="https://example.org/&quot;onmouseover=&quot;alert(1)"' in markup


def test_articles_table_and_ingest_report_escape_names() -> None:
    record = DocRecord(
        doc_id="<img src=x onerror=alert(1)>.txt",
        title="<script>alert(1)</script>",
        source="javascript:alert(1)",
        author="",
        date="2025-01-01",
        path="",
        content_hash="",
        file_hash="",
        n_chunks=3,
        ingested_at=0.0,
    )
    copy = dataclasses.replace(record, doc_id="copy.txt", title="<b>copy</b>", duplicate_of=record.doc_id)
    table = render.articles_table(render.article_page([record, copy], query="<"))
    assert "<script" not in table and "<img" not in table and "<b>" not in table
    assert 'href="javascript' not in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "copy of “&lt;script&gt;alert(1)&lt;/script&gt;”" in table
    assert "matching “&lt;”" in table
    assert "2 articles, 6 chunks indexed" in table
    assert "No articles indexed yet" in render.articles_table(render.article_page([]))
    report = render.ingest_report(
        [FileResult("/x/uploads/<b>bad.txt", "", "failed", reason="<i>empty</i>")],
        "summary",
        ["<u>refused</u>"],
    )
    assert "<b>" not in report and "<i>" not in report and "<u>" not in report
    assert "&lt;b&gt;bad.txt: not indexed — &lt;i&gt;empty&lt;/i&gt;" in report


def test_sources_show_each_articles_date() -> None:
    passage = _passage("The council met on Monday.")  # dated 2025-03-10
    undated = dataclasses.replace(passage, chunk_id="c2", doc_id="old.txt", date="")
    cited = render.sources_panel(
        [(0, _answer("Met. [1]", (_citation(passage, 0, "The council met"),), (passage,)))]
    )
    related = render.sources_panel([(0, _answer(ABSTENTION, (), (passage, undated), abstained=True))])

    item = cited.split("<li>", 1)[1].split("</li>", 1)[0]
    assert "example.org</a> · 2025-03-10</span>" in item
    assert cited.count("2025-03-10") == 2  # the list item and the passage's header
    assert related.count("2025-03-10") == 1 and " · </span>" not in related


def test_articles_table_shows_the_date_and_where_it_was_read() -> None:
    base = DocRecord("a.txt", "A", "", "", "2025-01-15", "", "", "", 2, 0.0)
    rows = [
        dataclasses.replace(base, date_source="url"),
        dataclasses.replace(base, doc_id="b.txt", date="2024-06-01", date_source="html meta"),
        dataclasses.replace(base, doc_id="c.txt", date="2023-02-02"),  # indexed before provenance was kept
        dataclasses.replace(base, doc_id="d.txt", date='<b onclick="x">', date_source="<i>dateline</i>"),
    ]
    cells = re.findall(
        r"<td>([^<]*(?:<br><span[^>]*>[^<]*</span>)?)</td><td>2</td>",
        render.articles_table(render.article_page(rows, order="title")),
    )

    assert [_visible_text(cell.replace("<br>", " | ")) for cell in cells] == [
        "2025-01-15 | from the URL",
        "2024-06-01 | from the HTML meta",
        "2023-02-02",
        "&lt;b onclick=&quot;x&quot;&gt; | from the &lt;i&gt;dateline&lt;/i&gt;",
    ]


# -- the articles table as an archive: search, sort, pages, groups of copies ------------------------


def _record(doc_id: str, title: str, date: str = "", source: str = "", duplicate_of: str = "") -> DocRecord:
    return DocRecord(doc_id, title, source, "", date, "", "", "", 1, 0.0, duplicate_of=duplicate_of)


def _archive(count: int) -> list[DocRecord]:
    """`count` articles, one a day from 2024-01-01, titled "Story 000" …; every third from wire.example."""
    start = datetime.date(2024, 1, 1)
    return [
        _record(
            f"s{n:03d}.txt",
            f"Story {n:03d}",
            (start + datetime.timedelta(days=n)).isoformat(),
            "https://wire.example/" if n % 3 == 0 else "Daily Bugle",
        )
        for n in range(count)
    ]


def _ids(page: render.ArticlePage) -> list[str]:
    return [r.doc_id for r in page.rows]


def test_pages_of_fifty_newest_first() -> None:
    records = _archive(120)
    first = render.article_page(records)
    second = render.article_page(records, page=2)
    past_the_end = render.article_page(records, page=99)

    assert _ids(first)[:2] == ["s119.txt", "s118.txt"] and len(first.rows) == render.PAGE_SIZE
    assert (second.number, second.pages, second.first, second.matched) == (2, 3, 51, 120)
    assert _ids(second)[0] == "s069.txt" and _ids(second)[-1] == "s020.txt"
    assert (past_the_end.number, _ids(past_the_end)[-1], len(past_the_end.rows)) == (3, "s000.txt", 20)
    assert render.article_page(records, page=0).number == 1
    table = render.articles_table(second)
    assert "Showing 51–100 of 120 · page 2 of 3 · 120 articles, 120 chunks indexed" in table
    assert table.count("<tr>") == 1 + 50  # the header and this page's rows only


def test_thousands_of_articles_render_one_page_quickly() -> None:
    records = _archive(5000)
    started = time.perf_counter()
    for page in range(1, 21):
        table = render.articles_table(render.article_page(records, "story", "oldest", page))
    elapsed = (time.perf_counter() - started) / 20
    assert "Showing 951–1,000 of 5,000 matching “story” · page 20 of 100 · 5,000 articles" in table
    assert table.count("<tr>") == 51
    assert elapsed < 0.25, f"{elapsed:.3f} s a page"


def test_search_matches_title_source_or_file_in_any_case() -> None:
    records = [
        _record("a.txt", "Harbour reopens", "2024-05-01", "Coast Gazette"),
        _record("b.txt", "Budget approved", "2024-05-02", "https://harbourside.example/news"),
        _record("harbour-notes.txt", "Notes", "2024-05-03"),
        _record("c.txt", "Election results", "2024-05-04", "Coast Gazette"),
    ]
    assert _ids(render.article_page(records, "HARBOUR")) == ["harbour-notes.txt", "b.txt", "a.txt"]
    assert _ids(render.article_page(records, "  gazette ")) == ["c.txt", "a.txt"]
    nothing = render.article_page(records, "<i>volcano</i>")
    assert (nothing.rows, nothing.first, nothing.matched, nothing.pages) == ((), 0, 0, 1)
    assert "No article matching “&lt;i&gt;volcano&lt;/i&gt;” · 4 articles" in render.articles_table(nothing)


def test_orders_keep_undated_articles_last() -> None:
    records = [
        _record("b.txt", "banana", "2024-03-01"),
        _record("u.txt", "undated"),
        _record("a.txt", "Apple", "2024-03-01"),
        _record("c.txt", "cherry", "2023-12-31"),
        _record("z.txt", "Zebra", "2025-01-01"),
    ]
    assert _ids(render.article_page(records)) == ["z.txt", "a.txt", "b.txt", "c.txt", "u.txt"]
    assert _ids(render.article_page(records, order="oldest")) == ["c.txt", "a.txt", "b.txt", "z.txt", "u.txt"]
    assert _ids(render.article_page(records, order="title")) == ["a.txt", "b.txt", "c.txt", "u.txt", "z.txt"]
    with pytest.raises(ValueError, match="order must be one of newest, oldest, title"):
        render.article_page(records, order="random")


def test_copies_follow_their_canonical_article() -> None:
    records = [
        _record("wire.txt", "Storm hits coast", "2024-02-01", "Wire"),
        _record("bugle.txt", "Storm hits the coast", "2024-02-03", "Daily Bugle", duplicate_of="wire.txt"),
        _record("echo.txt", "Coast storm", "2024-02-02", "Echo", duplicate_of="wire.txt"),
        _record("later.txt", "Other news", "2024-03-01"),
        _record("orphan.txt", "Lost copy", "2024-01-01", duplicate_of="deleted.txt"),
    ]
    page = render.article_page(records)
    assert _ids(page) == ["later.txt", "wire.txt", "bugle.txt", "echo.txt", "orphan.txt"]
    assert page.copies == {"wire.txt": 2}
    table = render.articles_table(page)
    groups = [_visible_text(g) for g in re.findall(r'<span class="rag-group">.*?</span>', table)]
    assert groups == [
        "2 copies",
        "copy of “Storm hits coast”",
        "copy of “Storm hits coast”",
        "copy of “deleted.txt”",
    ]
    assert table.count('<tr class="rag-copy">') == 3

    # A copy that matches on its own stands alone and still says whose copy it is.
    alone = render.article_page(records, "bugle")
    assert _ids(alone) == ["bugle.txt"]
    assert "copy of “Storm hits coast”" in render.articles_table(alone)
    # The canonical article counts all its copies, matching or not.
    assert render.article_page(records, "wire").copies == {"wire.txt": 2}
    assert "1 copy<" in render.articles_table(render.article_page(records[:2]))

    grouped = render.article_page(records, copies_only=True, order="title")
    assert _ids(grouped) == ["orphan.txt", "wire.txt", "echo.txt", "bugle.txt"]
    assert "of 4 in groups of copies" in render.articles_table(grouped)
