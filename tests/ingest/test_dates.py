"""Publication dates: every kind of source a news file dates itself by, normalised, with its provenance."""

from __future__ import annotations

import datetime as dt

import pytest
from ingest_support import pdf_with_text

from ingest.dates import publication_date
from ingest.loaders import parse_article

pytestmark = pytest.mark.fast

BODY = (
    "The city council approved the harbour redevelopment plan on Tuesday evening, ending a decade of debate.\n\n"
    "Councillors voted 31 to 9 in favour of the proposal, which includes a new ferry terminal and a park."
)


def _txt(text: str) -> tuple[str, str]:
    article = parse_article(text.encode(), name="story.txt", doc_id="story.txt")
    return article.date, article.date_source


def _html(head: str, body: str = "") -> tuple[str, str]:
    page = (
        f"<!DOCTYPE html><html><head><title>Harbour plan approved</title>{head}</head><body><article>"
        f"<h1>Harbour plan approved</h1>{body}<p>{BODY.replace(chr(10) * 2, '</p><p>')}</p></article></body></html>"
    )
    article = parse_article(page.encode(), name="story.html", doc_id="story.html")
    return article.date, article.date_source


# -- explicit metadata ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "date"),
    [
        ("Date: 2021-10-03", "2021-10-03"),
        ("Published: 2024-02-03T23:30:00-05:00", "2024-02-03"),  # the publisher's day, not UTC's
        ("Date: Oct. 3, 2021", "2021-10-03"),
        ("Published: Sun, 03 Oct 2021 14:04:00 GMT", "2021-10-03"),
        ("Date: 15 January 2025", "2025-01-15"),
    ],
)
def test_a_header_line_is_normalised_to_an_iso_date(line: str, date: str) -> None:
    assert _txt(f"Title: Harbour plan approved\n{line}\n\n{BODY}") == (date, "header")


def test_front_matter_date() -> None:
    text = f"---\ntitle: Harbour plan approved\ndate: June 1, 2024\n---\n\n{BODY}\n"
    article = parse_article(text.encode(), name="harbour.md", doc_id="harbour.md")
    assert (article.date, article.date_source) == ("2024-06-01", "front matter")


def test_html_meta_tag_beats_the_canonical_url() -> None:
    # trafilatura alone takes the URL's date here; the page's own metadata is the publication date.
    head = (
        '<link rel="canonical" href="https://www.dailyplanet.example.com/news/2023/07/04/harbour-plan/">'
        '<meta property="article:published_time" content="2024-03-05T08:00:00Z">'
    )
    assert _html(head) == ("2024-03-05", "html meta")


def test_html_json_ld_date_published_not_modified() -> None:
    head = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
        '"headline": "Harbour plan approved", "dateModified": "2024-03-07T10:00:00-05:00", '
        '"datePublished": "2024-03-05T08:00:00-05:00"}</script>'
    )
    assert _html(head) == ("2024-03-05", "html meta")


@pytest.mark.parametrize(
    "body",
    [
        '<p class="byline">By Jane Doe <time datetime="2024-03-05T08:00:00Z">March 5, 2024</time></p>',
        '<div class="article-date">Published March 5, 2024</div>',
        '<meta itemprop="datePublished" content="2024-03-05">',
    ],
)
def test_html_date_markup_in_the_body(body: str) -> None:
    assert _html("", body) == ("2024-03-05", "html meta")


@pytest.mark.parametrize(
    "body",
    [
        "<p>The pier opened on September 11, 2001, after years of work.</p>",  # trafilatura: 2001-09-11
        "<p>Figures released on 2019-04-01 showed costs rising.</p>",  # htmldate, even in its fast mode
    ],
)
def test_html_dates_in_the_prose_are_not_metadata(body: str) -> None:
    head = '<link rel="canonical" href="https://www.dailyplanet.example.com/story/news/2022/09/14/harbour/">'
    assert _html(head, body) == ("2022-09-14", "url")
    assert _html("", body) == ("", "")


def test_html_without_metadata_is_dated_by_its_canonical_url() -> None:
    head = '<link rel="canonical" href="https://www.dailyplanet.example.com/story/news/2022/09/14/harbour/">'
    assert _html(head) == ("2022-09-14", "url")


def test_pdf_creation_date() -> None:
    data = pdf_with_text(
        ["The harbour authority approved a new ferry terminal on Tuesday."],
        {"Title": "Ferry terminal approved", "CreationDate": dt.datetime(2024, 5, 6, 9, 30, tzinfo=dt.UTC)},
    )
    article = parse_article(data, name="ferry.pdf", doc_id="ferry.pdf")
    assert (article.date, article.date_source) == ("2024-05-06", "pdf")


# -- the URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "date"),
    [
        (
            "https://www.usatoday.com/story/sports/soccer/2021/10/03/nwsl-new-executive-group/5985287001/",
            "2021-10-03",
        ),
        ("https://edition.cnn.com/2022/03/15/politics/senate-map-midterms/index.html", "2022-03-15"),
        ("https://www.example-times.com/news/20250115/wildfire-evacuations", "2025-01-15"),
        ("https://www.example-herald.co.uk/world/wildfire-evacuations-2025-01-15", "2025-01-15"),
        ("www.example-herald.co.uk/2019/1/7/bridge-reopens", "2019-01-07"),
    ],
)
def test_a_source_url_dates_an_article_without_a_date_header(url: str, date: str) -> None:
    assert _txt(f"Title: Harbour plan approved\nSource: {url}\n\n{BODY}") == (date, "url")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.usatoday.com/story/news/politics/5985287001/",  # an id, not a date
        "https://www.example.com/news/2025/02/30/leap-day",  # no such day
        "https://www.example.com/sport/2022-2023-season-preview",
        "https://www.example.com/news/12025011599/story",
    ],
)
def test_numbers_in_a_url_that_are_not_a_date(url: str) -> None:
    assert publication_date(url=url) == ("", "")


# -- the dateline -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "date"),
    [
        (
            "WASHINGTON, Jan. 15, 2025 (AP) — The Senate voted on Wednesday to confirm the nominee.",
            "2025-01-15",
        ),
        (
            "PORTLAND, Ore., Oct. 3, 2021 (AP) — A three-woman executive committee will run the league.",
            "2021-10-03",
        ),
        (
            "NEW YORK, March 3, 2024 /PRNewswire/ -- Acme Harbour Corp. said on Monday that its ferries",
            "2024-03-03",
        ),
        ("LONDON, 15 January 2025 (Reuters) - Britain's harbour authority said on Wednesday", "2025-01-15"),
        ("Published 3:04 p.m. ET Oct. 3, 2021 Updated 5:01 p.m. ET Oct. 4, 2021", "2021-10-03"),
        ("Jane Doe\nUSA TODAY\nUpdated 5:01 p.m. ET Oct. 4, 2021", "2021-10-04"),
        ("Story by Ana Ruiz | Photographs by Lee Wen, The Desert Sun | April 18, 2016", "2016-04-18"),
        ("Originally published Aug. 18, 2015", "2015-08-18"),
        ("Tuesday, July 21, 2020", "2020-07-21"),
    ],
)
def test_a_dateline_near_the_top(top: str, date: str) -> None:
    assert _txt(f"Harbour plan approved\n\n{top}\n\n{BODY}") == (date, "dateline")


def test_the_published_line_wins_over_an_earlier_updated_line() -> None:
    top = "Updated 9:15 a.m. ET Jan. 16, 2025\n\nPublished 6:00 p.m. ET Jan. 15, 2025"
    assert _txt(f"Harbour plan approved\n\n{top}\n\n{BODY}") == ("2025-01-15", "dateline")


@pytest.mark.parametrize(
    "top",
    [
        "Pebbles was born on March 28, 2000, in New York, and lived to be 22.",
        "Vendors exchange notes at a store on Sunday, July 17, 2022, in Beijing. Ng Han Guan/AP",
        "People line up for water in Jackson, Mississippi, on August 30, 2022 - CNN",
        "Born: November 14, 1948",
        "Jan. 6, 2021 — a day the Capitol will not forget, the senator said.",
        "WASHINGTON (AP) — The Senate voted on Wednesday to confirm the nominee.",
        "LONDON, Oct. 3 (Reuters) - Britain's harbour authority said on Wednesday",  # no year
    ],
)
def test_a_date_in_a_sentence_or_caption_is_not_a_dateline(top: str) -> None:
    assert _txt(f"Harbour plan approved\n\n{top}\n\n{BODY}") == ("", "")


def test_a_dateline_far_down_the_article_is_not_read() -> None:
    paragraphs = "\n\n".join(f"Paragraph {n} of the harbour story goes on about the plan." for n in range(10))
    assert _txt(f"Harbour plan approved\n\n{paragraphs}\n\nTuesday, July 21, 2020\n\n{BODY}") == ("", "")


# -- order of trust and plausibility ------------------------------------------------------------


def test_sources_are_tried_from_the_most_explicit() -> None:
    url = "https://www.usatoday.com/story/news/2021/10/01/harbour/123/"
    dateline = "WASHINGTON, Oct. 2, 2021 (AP) — The plan was approved."
    assert _txt(f"Source: {url}\nDate: 2021-10-03\n\n{dateline}\n\n{BODY}") == ("2021-10-03", "header")
    assert _txt(f"Source: {url}\n\n{dateline}\n\n{BODY}") == ("2021-10-01", "url")
    assert _txt(f"Source: https://www.usatoday.com/story/news/harbour/\n\n{dateline}\n\n{BODY}") == (
        "2021-10-02",
        "dateline",
    )


def test_impossible_dates_fall_through_to_the_next_source() -> None:
    today = dt.date(2025, 1, 20)
    url = "https://www.example.com/news/2025/01/15/harbour/"
    assert publication_date(header="2025-01-21", url=url, today=today) == (
        "2025-01-21",
        "header",
    )  # a day ahead
    assert publication_date(header="2025-01-22", url=url, today=today) == ("2025-01-15", "url")
    assert publication_date(header="1899-12-31", url=url, today=today) == ("2025-01-15", "url")
    assert publication_date(header="2025-02-30", url=url, today=today) == ("2025-01-15", "url")
    assert publication_date(header="yesterday", url=url, today=today) == ("2025-01-15", "url")
    assert publication_date(header="Spring 2024", url=url, today=today) == ("2025-01-15", "url")
    assert publication_date(url="https://www.example.com/news/2030/01/15/x/", today=today) == ("", "")


def test_an_article_without_any_date_has_none() -> None:
    assert _txt(f"reuters.com\n\nHarbour plan approved\n\n{BODY}") == ("", "")
    assert _html("") == ("", "")
