"""Markdown to safe HTML for the web chat: the one place model and user text become markup.

markdown-it-py (CommonMark, tables, strikethrough; raw HTML off, so a ``<script>`` in the
text stays text) → Pygments for fenced code (CSS classes, the stylesheet ships with the
page) → nh3 with an allow-list of tags and attributes: links keep only http, https and
mailto URLs and get ``rel="noopener noreferrer"``; no ``style``, no event handler and no
image source survive (an image shows its alt text: nothing is fetched from elsewhere).
The page puts only this HTML into the DOM.
"""

from __future__ import annotations

from functools import cache, lru_cache
from html import escape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from pygments import highlight  # type: ignore[import-untyped]
from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]

__all__ = ["MAX_RENDER_CHARS", "code_css", "render_markdown"]

MAX_RENDER_CHARS = 400_000  # longer text is shown as plain text (rendering it costs seconds)

_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "span", "div",
    "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"alt", "title"},
    "span": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "code": {"class"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _lexer(name: str) -> Any:
    """The Pygments lexer of a language name, or None (the lookup scans every lexer: once
    per name)."""
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return None


@cache
def _formatter() -> Any:
    return HtmlFormatter(nowrap=True, classprefix="tok-")


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block highlighted by Pygments (class-based), or "" to let markdown-it escape
    it as plain code when the language is unknown."""
    name = lang.strip().split()[0].lower()[:40] if lang.strip() else ""
    lexer = _lexer(name) if name else None
    if lexer is None:
        return ""
    return str(highlight(code, lexer, _formatter()))


def _hardbreak(*_args: Any) -> str:
    return "<br />"


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    # A soft break (a single newline) stays a newline in the HTML, which the web chat shows
    # as a line break in the user's own messages (CSS ``white-space: pre-line``): a hard
    # break (two spaces or a backslash before the newline) is ``<br>`` without one, lest it
    # count twice there.
    md.add_render_rule("hardbreak", _hardbreak)
    return md.enable(["table", "strikethrough"])


def render_markdown(text: str) -> str:
    """The sanitised HTML of ``text`` read as Markdown (inert whatever the text holds).

    A message is rendered each time a page of it is read (every reload, every turn's
    end); the last few hundred short texts are kept rendered."""
    if len(text) <= _CACHED_CHARS:
        return _render_cached(text)
    return _render(text)


_CACHED_CHARS = 8_000  # at most 512 texts this long are kept: a few MB


@lru_cache(maxsize=512)
def _render_cached(text: str) -> str:
    return _render(text)


def _render(text: str) -> str:
    if not text:
        return ""
    if len(text) > MAX_RENDER_CHARS:
        return f"<pre>{escape(text)}</pre>"
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


@cache
def code_css() -> str:
    """The Pygments stylesheet of highlighted code: a light theme, and a dark one under
    ``prefers-color-scheme: dark``."""
    light = HtmlFormatter(style="default", classprefix="tok-").get_style_defs("pre")
    dark = HtmlFormatter(style="monokai", classprefix="tok-").get_style_defs("pre")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
