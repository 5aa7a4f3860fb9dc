"""render_markdown: model and user text as the web chat shows it — Markdown rendered, code
highlighted, and whatever the text holds made inert (no script, handler, javascript: URL,
raw HTML or outside image survives)."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from claudechat.server.render import MAX_RENDER_CHARS, code_css, render_markdown

SAFE_SCHEMES = ("http://", "https://", "mailto:")
ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "span", "div",
    "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip


class _Tags(HTMLParser):
    """Every start tag of an HTML fragment with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_inert(html: str) -> None:
    """No tag outside the allow-list, no event handler or style, only safe link targets,
    no image source."""
    for tag, attrs in tags(html):
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name not in ("style", "srcset", "src", "formaction"), (tag, name, html)
            if name == "href":
                assert value is not None and value.startswith(SAFE_SCHEMES), (value, html)


def test_markdown_is_rendered_with_highlighted_code_and_tables() -> None:
    html = render_markdown(
        "# Title\n\n**bold** _it_ ~~gone~~\n\n```python\nimport os\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html
    assert '<span class="tok-kn">import</span>' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert ".tok-kn" in code_css() and "prefers-color-scheme: dark" in code_css()


def test_an_img_onerror_is_text_not_an_image() -> None:
    html = render_markdown('<img src=x onerror="window.__xss=1">')
    assert "<img" not in html and "&lt;img" in html
    assert_inert(html)


def test_a_script_tag_is_text() -> None:
    html = render_markdown("<script>window.__xss=1</script> and <SCRIPT SRC=//evil/x.js></SCRIPT>")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert_inert(html)


def test_javascript_links_lose_their_target() -> None:
    for text in (
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](  javascript:alert(1) )",
        "<javascript:alert(1)>",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html,<script>alert(1)</script>)",
    ):
        html = render_markdown(text)
        assert_inert(html)
        assert not any(a.get("href") for t, a in tags(html) if t == "a"), (text, html)


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown('<div onclick="x()">hi</div> <iframe src="https://evil"></iframe>')
    assert "<div" not in html and "<iframe" not in html and "&lt;iframe" in html
    assert_inert(html)


def test_links_keep_safe_urls_and_get_noopener() -> None:
    html = render_markdown("[docs](https://example.org/a?b=1) and <mailto:a@b.org>")
    links = [a for t, a in tags(html) if t == "a"]
    assert links[0]["href"] == "https://example.org/a?b=1"
    assert all(a["rel"] == "noopener noreferrer" for a in links)


def test_an_image_shows_its_alt_text_and_fetches_nothing() -> None:
    html = render_markdown("![a cat](https://tracker.example/pixel.png)")
    images = [a for t, a in tags(html) if t == "img"]
    assert images == [{"alt": "a cat"}]


def test_code_in_an_unknown_language_is_escaped() -> None:
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html


def test_very_long_text_is_shown_as_escaped_plain_text() -> None:
    html = render_markdown("<b>" + "x" * MAX_RENDER_CHARS)
    assert html.startswith("<pre>&lt;b&gt;") and "<b>" not in html


PIECES = st.sampled_from([
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "[a](javascript:alert(1))",
    "<a href='javascript:x'>y</a>", "<svg onload=alert(1)>", "```html\n<script>x</script>\n```",
    "![i](javascript:alert(1))", "<style>*{}</style>", "[b](https://ok.example)", "**x**",
    "`<code>`", "<details open ontoggle=alert(1)>", "\n\n", "| a |\n|---|\n| <i onmouseover=x> |",
    "<", ">", "&", "\"", "'", "](", "[", "javascript:", "<p style=color:red>",
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=12))
def test_whatever_the_text_holds_the_html_is_inert(parts: list[str]) -> None:
    assert_inert(render_markdown("".join(parts)))


def test_a_soft_break_stays_a_newline_and_a_hard_break_is_one_br() -> None:
    # the web chat shows a user message's newlines as line breaks (CSS pre-line): a hard
    # break must not count twice there
    assert render_markdown("one\ntwo") == "<p>one\ntwo</p>\n"
    assert render_markdown("one  \ntwo\\\nthree") == "<p>one<br>two<br>three</p>\n"
