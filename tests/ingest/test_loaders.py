"""Loaders turn .txt/.md/.html/.pdf files into articles with metadata; cleaning drops page furniture only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ingest_support import pdf_with_text

from ingest.clean import clean_text
from ingest.loaders import LoadError, load_article, parse_article
from rag.text import sentence_spans

pytestmark = pytest.mark.fast

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "straits-times-us-china-fentanyl.txt"
BODY = "Grain prices climbed for a third week. Traders blamed dry weather in the southern provinces."


def _sentences(text: str) -> set[str]:
    return {text[a:b] for a, b in sentence_spans(text)}


def test_txt_bare_domain_first_line_becomes_the_source() -> None:
    data = f"reuters.com\n\nGrain prices climb again\n\n{BODY}\n".encode()

    article = parse_article(data, name="grain.txt", doc_id="grain.txt", path="/x/grain.txt")

    assert article.source == "reuters.com"
    assert article.title == "Grain prices climb again"
    assert article.text == f"Grain prices climb again\n\n{BODY}"
    assert (article.doc_id, article.path) == ("grain.txt", "/x/grain.txt")


def test_seed_article_metadata() -> None:
    article = load_article(SEED_ARTICLE)

    assert article.source == "straitstimes.com"
    assert article.title == "What’s in it for Beijing to crack down harder on fentanyl?"
    assert article.text.startswith(article.title)
    assert "straitstimes.com" not in article.text
    assert article.doc_id == SEED_ARTICLE.name


def test_txt_header_lines_become_metadata() -> None:
    data = (
        "https://www.reuters.com/markets/grain\nTitle: Grain prices climb\nPublished: 2024-02-03T10:00:00Z\n"
        f"By: Ana Ruiz\n\n{BODY}\n"
    ).encode()

    article = parse_article(data, name="grain.txt", doc_id="grain.txt")

    assert article.source == "https://www.reuters.com/markets/grain"
    assert (article.title, article.author, article.date) == ("Grain prices climb", "Ana Ruiz", "2024-02-03")
    assert article.text == BODY


def test_txt_title_author_date_headers_with_crlf_and_bom() -> None:
    headers = "Title: Grain prices climb\r\nSource: Reuters\r\nDate: 3 Feb 2024\r\nAuthor: Ana Ruiz\r\n"
    data = f"{headers}\r\n{BODY}\r\n".encode("utf-8-sig")

    article = parse_article(data, name="grain.txt", doc_id="grain.txt")

    assert (article.title, article.author, article.date) == ("Grain prices climb", "Ana Ruiz", "2024-02-03")
    assert article.source == "Reuters"
    assert article.text == BODY
    assert "\r" not in article.text and "\ufeff" not in article.text


def test_utf16_text_with_bom_is_read() -> None:
    article = parse_article(f"Café prices\n\n{BODY}".encode("utf-16"), name="cafe.txt", doc_id="cafe.txt")
    assert article.title == "Café prices"
    assert article.text.endswith(BODY)


def test_markdown_front_matter_and_heading() -> None:
    data = (
        '---\ntitle: "Rail link opens"\nauthor: Sam Lee\ndate: 2024-06-01\nurl: https://news.example.org/rail\n'
        f"tags: transport\n---\n\n# Commuters cheer\n\n{BODY}\n"
    ).encode()

    article = parse_article(data, name="rail.md", doc_id="rail.md")

    assert (article.title, article.author, article.date) == ("Rail link opens", "Sam Lee", "2024-06-01")
    assert article.source == "https://news.example.org/rail"
    assert "title:" not in article.text and "tags" not in article.text and "---" not in article.text
    assert article.text.endswith(BODY)


def test_markdown_heading_is_the_title_without_front_matter() -> None:
    article = parse_article(f"# Rail link opens\n\n{BODY}\n".encode(), name="rail.md", doc_id="rail.md")
    assert article.title == "Rail link opens"
    assert article.text.endswith(BODY)


def test_markdown_heading_marks_are_not_text() -> None:
    data = f"# Rail link opens\n\n{BODY}\n\n## Reactions ##\n\n#hashtag and C# stay.\n".encode()
    article = parse_article(data, name="rail.md", doc_id="rail.md")
    assert article.text.startswith("Rail link opens\n")
    assert "\nReactions\n" in article.text and "#hashtag and C# stay." in article.text
    assert not [line for line in article.text.split("\n") if line.startswith("# ") or line.endswith(" ##")]


HTML = """<!DOCTYPE html><html><head><title>Harbour plan approved | Daily Planet</title>
<meta property="og:title" content="Harbour plan approved">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2024-03-05T08:00:00Z">
<link rel="canonical" href="https://dailyplanet.example.com/news/harbour-plan">
<script>var pageTracker = "zzqxHEADSCRIPTzzqx";</script>
</head><body>
<nav><ul><li><a href="/">Home page link</a></li><li><a href="/world">World desk listing</a></li></ul></nav>
<article><h1>Harbour plan approved</h1>
<p>The city council approved the long-delayed harbour redevelopment plan on Tuesday evening,
ending a decade of debate.</p>
<p>Councillors voted 31 to 9 in favour of the proposal, which includes a new ferry terminal
and a public park.</p>
<script>var trackingSecret = "zzqxBODYSCRIPTzzqx";</script>
<p>Construction is expected to begin next spring and finish within four years, the planning office said.</p>
</article>
<footer><p>Copyright 2024 Daily Planet Media Group. All rights reserved. Contact the newsroom.</p></footer>
</body></html>"""


def test_html_text_and_metadata_without_navigation_footer_or_scripts() -> None:
    article = parse_article(HTML.encode(), name="harbour.html", doc_id="harbour.html")

    assert article.title == "Harbour plan approved"
    assert article.author == "Jane Doe"
    assert article.date == "2024-03-05"
    assert article.source == "https://dailyplanet.example.com/news/harbour-plan"
    assert "Councillors voted 31 to 9 in favour of the proposal" in article.text
    assert "new ferry terminal and a public park." in article.text
    assert "Construction is expected to begin next spring" in article.text
    assert "debate." in article.text
    for furniture in ("Home page link", "World desk listing", "Copyright 2024", "zzqx", "pageTracker"):
        assert furniture not in article.text


CAFE = "The “Café Luna” reopened on Tuesday, the owner said – its fifth year on the quay."


def _legacy_page(declaration: str) -> bytes:
    """A Windows-1252 web page (curly quotes, dashes and accents are single bytes) with `declaration`."""
    page = (
        f"<html><head>{declaration}<title>Café reopens</title></head><body><article>"
        f"<p>{CAFE}</p><p>Regulars queued for the first espresso of the season along the harbour.</p>"
        "</article></body></html>"
    )
    return page.encode("cp1252")


@pytest.mark.parametrize(
    "declaration",
    [
        '<meta charset="windows-1252">',
        '<meta charset="ISO-8859-1">',  # which the HTML standard reads as Windows-1252
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">',
    ],
)
def test_web_page_in_the_charset_it_declares_is_read(declaration: str) -> None:
    article = parse_article(_legacy_page(declaration), name="cafe.html", doc_id="cafe.html")

    assert CAFE in article.text
    assert article.title == "Café reopens"


def test_undeclared_or_misdeclared_legacy_text_is_refused_with_where_it_breaks() -> None:
    with pytest.raises(
        LoadError,
        match=r"cafe\.html is not valid UTF-8 text \(byte 0xe9 on line 1\) and "
        r"declares no charset; save it as UTF-8",
    ):
        parse_article(_legacy_page(""), name="cafe.html", doc_id="cafe.html")
    with pytest.raises(
        LoadError, match=r"cafe\.txt is not valid UTF-8 text \(byte 0x93 on line 3\); save it"
    ):
        parse_article(f"Title: Harbour news\n\n{CAFE}\n".encode("cp1252"), name="cafe.txt", doc_id="cafe.txt")
    shift_jis = _legacy_page('<meta charset="shift_jis">')  # the HTML standard's Shift_JIS is cp932
    with pytest.raises(
        LoadError,
        match=r"cafe\.html declares the charset cp932 but is not cp932 text \(byte 0xe9 on line 1\)",
    ):
        parse_article(shift_jis, name="cafe.html", doc_id="cafe.html")


def _minimal_pdf(text: str) -> bytes:
    """A hand-written one-page PDF with a Helvetica text stream."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_hand_written_pdf_text_is_extracted() -> None:
    article = parse_article(
        _minimal_pdf("Hello world from a hand written PDF page."),
        name="hello-world.pdf",
        doc_id="hello-world.pdf",
    )
    assert article.text == "Hello world from a hand written PDF page."
    assert article.title == "hello world"  # from the file name when the PDF has no title


def test_rendered_pdf_text_and_metadata_are_extracted() -> None:
    lines = [
        "The harbour authority approved a new ferry terminal on Tuesday.",
        "Officials said construction would begin next spring.",
    ]
    data = pdf_with_text(
        lines,
        {
            "Title": "Ferry terminal approved",
            "Author": "Lee Wen",
            "CreationDate": dt.datetime(2024, 5, 6, tzinfo=dt.UTC),
        },
    )

    article = parse_article(data, name="ferry.pdf", doc_id="ferry.pdf")

    assert article.text == " ".join(lines)
    assert (article.title, article.author, article.date) == (
        "Ferry terminal approved",
        "Lee Wen",
        "2024-05-06",
    )


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(BODY * 100, encoding="utf-8")
    with pytest.raises(LoadError, match="limit"):
        load_article(path, max_bytes=1000)
    assert load_article(path, max_bytes=100_000).text.startswith("Grain prices")


FURNITURE = [
    "More on this Topic",
    "Thanks for sharing!",
    "Join ST's Telegram channel and get the latest breaking news delivered to you.",
    "Read full news in source page",
    "Share this article",
    "Advertisement",
    "Related Articles",
    "Subscribe to our newsletter",
    "Continue reading",
]


def test_cleaning_drops_furniture_lines() -> None:
    real = [
        "Beijing hit back on Monday.",
        "Share prices fell 3 per cent in early trading, analysts said.",
        "Related costs rose by a third, the ministry said.",
    ]
    text = "\n\n".join(line for pair in zip(real * 3, FURNITURE, strict=True) for line in pair)

    cleaned = clean_text(text)

    assert cleaned.split("\n\n") == real * 3


def test_cleaning_drops_short_lines_repeated_as_navigation() -> None:
    lines = ["World", "Tariffs rose again on Monday, officials said.", "World", "Business", "World", "Sport"]
    lines += [
        "Business",
        "Markets were calm all day.",
        "Markets were calm all day.",
        "Markets were calm all day.",
    ]

    cleaned = clean_text("\n".join(lines)).split("\n")

    assert "World" not in cleaned  # three times: navigation
    assert cleaned.count("Business") == 2  # twice: kept
    assert cleaned.count("Markets were calm all day.") == 3  # a sentence, however often
    assert "Tariffs rose again on Monday, officials said." in cleaned


SCRAPED_NEWS_FURNITURE = [
    "More:Judge denies motion to dismiss lawsuit over stadium deal",
    "RELATED: Ten storms that changed the coast",
    "Watch: Drone footage shows the flooded valley",
    "Hide Caption 3 of 12",
    "Follow breaking news reporter Ana Diaz on Twitter @anadiaz.",
    "Follow every game: Live scores and schedules",
    "Get our weekly newsletter in your inbox. Sign up here.",
    "A version of this story appears in the Before the Bell newsletter. Not a subscriber? Sign up here.",
    "__________",
    "***",
]
NEWS_ABOUT_NEWSLETTERS = [
    "Substack said 50,000 writers now sign up for its newsletter tools each month.",
    "More young people now avoid the news, a survey found.",
    "Follow the money, the prosecutor told the jury on Tuesday.",
]


def test_cleaning_drops_scraped_news_furniture_and_keeps_sentences_like_it() -> None:
    text = "\n\n".join(SCRAPED_NEWS_FURNITURE + NEWS_ABOUT_NEWSLETTERS)

    assert clean_text(text).split("\n\n") == NEWS_ABOUT_NEWSLETTERS


def test_cleaning_keeps_repeated_labels_that_introduce_text() -> None:
    speech = "I have said this many times before and I will say it again tonight to the people of this state."
    reply = "That is simply not what the record shows, and voters deserve to hear the whole story about it."
    lines = [
        "HARRIS",
        speech,
        "PENCE",
        reply,
        "HARRIS",
        speech,
        "PENCE",
        reply,
        "HARRIS",
        speech,
        "PENCE",
        reply,
    ]

    cleaned = clean_text("\n\n".join(lines)).split("\n\n")

    assert cleaned == lines  # speaker names stay with what they said


def test_cleaning_normalises_white_space_and_control_characters() -> None:
    cleaned = clean_text("First\u00a0 line\x07 here.\r\n\r\n\r\n\r\nSecond\tline.  ")
    assert cleaned == "First line here.\n\nSecond line."


def test_cleaning_drops_exactly_the_control_characters_but_tab_and_newline() -> None:
    import sys
    import unicodedata

    controls = "".join(
        chr(i)
        for i in range(sys.maxunicode + 1)
        if unicodedata.category(chr(i)) == "Cc" and chr(i) not in "\t\n\r"
    )
    not_controls = "\u00ad\u200b\ufeff"  # format characters (Cf) stay; \r is read as a line break
    assert clean_text(f"Alpha{controls} beta{not_controls} gamma.") == f"Alpha beta{not_controls} gamma."
    assert clean_text("One\ttwo three.\nFour five six.") == "One two three.\nFour five six."


def test_cleaning_keeps_every_real_sentence_of_the_seed_article() -> None:
    raw = SEED_ARTICLE.read_text(encoding="utf-8")
    article = load_article(SEED_ARTICLE)

    before, after = _sentences(raw), _sentences(article.text)

    assert after <= before
    assert before - after == {
        "straitstimes.com",  # became the source
        "More on this Topic",
        "Join ST's Telegram channel and get the latest breaking news delivered to you.",
        "Thanks for sharing!",
        "Read full news in source page",
    }
    assert article.text.count("More on this Topic") == 0


@pytest.mark.parametrize(
    "sentence",
    [
        "More young people now avoid the news.",
        "Sign up rates doubled in March.",
    ],
)
def test_cleaning_keeps_short_paragraphs_that_start_like_furniture(sentence: str) -> None:
    text = f"Officials gave an update on Monday.\n\n{sentence}\n\nThe review continues."
    assert clean_text(text).split("\n\n") == [
        "Officials gave an update on Monday.",
        sentence,
        "The review continues.",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Follow-up talks on Twitter's sale collapsed on Friday.",
        "Follow all instructions from local authorities, police said.",
        "Follow the money on X, the senator urged his supporters.",
        "Photos by residents showed water pouring into the subway.",
        "Listen: I think that's exactly wrong.",
        "The company said its free newsletter had 2 million subscribers.",
        '"Our newsletter subscribers love it," said the editor.',
        "Musk told subscribers in a newsletter today that Tesla would cut prices.",
    ],
)
def test_cleaning_keeps_news_sentences_that_look_like_furniture(sentence: str) -> None:
    assert (
        clean_text(f"{sentence}\n\nThe council met on Tuesday.")
        == f"{sentence}\n\nThe council met on Tuesday."
    )


def test_cleaning_drops_a_repeated_advertisement_marker_between_paragraphs() -> None:
    paragraph = "The council met on Tuesday to discuss the budget for parks, libraries and the new bridge."
    lines = [paragraph, "Story continues below advertisement"] * 3 + [paragraph]

    assert "Story continues below advertisement" not in clean_text("\n\n".join(lines))
