"""Task descriptions are Markdown shown as safe HTML: formatting renders, hostile input
(raw HTML, script links, event handlers, styles, pictures from elsewhere) never runs."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.web.prose import render
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api, auction_body

__all__ = ["pytestmark"]  # the Chromium skip reason

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '[x](https://ok.example "a" onmouseover="alert(1)")',
    "![pixel](https://tracker.example/p.png)",
    "<div style=\"background:url('javascript:alert(1)')\">x</div>",
    "<style>body{display:none}</style>",
    "<form action=https://evil.example><input name=token></form>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "`<b>code</b>`",
    "```\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<<script>script>alert(1)<</script>/script>",
    "[a](https://ok.example)<script>alert(1)</script>",
]
SAFE_TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
SAFE_ATTRIBUTES = {"href", "title", "rel", "start"}


class Elements(HTMLParser):
    """Every element and attribute of an HTML fragment, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def unsafe(html: str) -> list[str]:
    """What in ``html`` could run, load or restyle anything: none is the goal."""
    parser = Elements()
    parser.feed(html)
    problems = []
    for tag, attrs in parser.found:
        if tag not in SAFE_TAGS:
            problems.append(f"<{tag}>")
        problems += [f"{tag}[{name}]" for name in attrs if name not in SAFE_ATTRIBUTES]
        href = attrs.get("href", "https://").strip().lower()
        if not href.startswith(("https://", "http://", "mailto:")):
            problems.append(f"{tag}[href={href}]")
    return problems


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_leaves_no_live_html(text: str) -> None:
    html = str(render(text))
    assert unsafe(html) == [], html


def test_markdown_renders_the_formatting_buyers_use() -> None:
    html = str(
        render(
            "## Acceptance criteria\n\n- works in **Safari 17**\n- `npm test` passes\n\n"
            "1. first\n2. second\n\nSee [the issue](https://github.com/city-of-x/permits/issues/12)."
        )
    )
    assert "<h4>Acceptance criteria</h4>" in html  # under the page's h1 and h2
    assert "<li>works in <strong>Safari 17</strong></li>" in html
    assert "<code>npm test</code>" in html and "<ol>" in html
    assert (
        '<a href="https://github.com/city-of-x/permits/issues/12" '
        'rel="noopener noreferrer nofollow ugc">the issue</a>'
    ) in html
    # Raw HTML is shown as the text typed.
    assert str(render("a <b>bold</b> claim")) == "<p>a &lt;b&gt;bold&lt;/b&gt; claim</p>\n"


async def test_the_auction_page_renders_the_description_safely(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    description = "## Acceptance criteria\n\n- tests pass\n\n" + "\n\n".join(HOSTILE)
    r = await client.post(
        "/api/auctions", json=auction_body(description=description), headers=buyer.headers
    )
    aid = r.json()["id"]
    assert (await client.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)).is_success
    page = await client.get(f"/auctions/{aid}")
    assert page.status_code == 200
    prose = page.text.split('<div class="prose">', 1)[1].split("</section>", 1)[0]
    assert "<h4>Acceptance criteria</h4>" in prose and "<li>tests pass</li>" in prose
    assert unsafe(prose.rsplit("</div>", 1)[0]) == [], prose
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prose  # shown, not run
    # The API keeps the buyer's text exactly as written.
    assert (await client.get(f"/api/auctions/{aid}")).json()["description"] == description


async def test_hostile_description_runs_nothing_in_the_browser(
    api: Api, live_server: str, browser: Any
) -> None:
    buyer = await api.buyer()
    description = "## Acceptance criteria\n\n" + "\n\n".join(HOSTILE)
    r = await api.client.post(
        "/api/auctions", json=auction_body(description=description), headers=buyer.headers
    )
    aid = r.json()["id"]
    assert (await api.client.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)).is_success
    page = await signed_in_page(browser, live_server, None)
    alerts: list[str] = []
    page.on("dialog", lambda d: alerts.append(d.message))
    await page.goto(f"/auctions/{aid}")
    await expect(page.get_by_role("heading", name="Acceptance criteria")).to_be_visible()
    await page.locator(".prose").first.hover()
    for link in await page.locator(".prose a").all():
        href = await link.get_attribute("href") or ""
        assert href.startswith(("https://", "http://", "mailto:")), href
    assert await page.locator(".prose img, .prose script, .prose iframe").count() == 0
    assert alerts == []
