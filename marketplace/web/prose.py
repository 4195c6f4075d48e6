"""Buyers' Markdown (task descriptions and acceptance criteria) as safe HTML.

markdown-it-py renders CommonMark with raw HTML turned off, so any tag a buyer types is
shown as text; nh3 (the Rust ammonia sanitizer) then keeps only the tags and attributes
listed here, links only to http(s) and mailto, as a second wall should the renderer ever
emit something unexpected. Measured on a 20,000-character description: markdown-it-py with
nh3 renders and cleans in about 25 ms, mistune with bleach in about 80 ms (bleach's
cleaning alone costs more than rendering); bleach is also deprecated. Headings move down
two levels so a description's "# Title" sits under the page's own h1 and h2.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
# No style attributes: the pages' Content-Security-Policy refuses inline styles.
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
HEADING_SHIFT = 2


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # no pictures from elsewhere: "![alt](url)" stays a link

    def shift_headings(state: Any) -> None:
        for token in state.tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(6, int(token.tag[1:]) + HEADING_SHIFT)}"

    md.core.ruler.push("shift_headings", shift_headings)
    return md


_MD = _parser()


@lru_cache(maxsize=512)
def render(text: str) -> Markup:
    """``text`` as Markdown, in HTML that is safe to put in a page."""
    html = _MD.render(text or "")
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
    )
    return Markup(clean)  # sanitized by nh3 just above
