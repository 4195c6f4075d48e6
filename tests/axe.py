"""WCAG 2.1 A and AA checks of a page in the browser, with axe-core injected.

The axe-core build is the one the axe-playwright-python wheel carries (its axe.min.js is
npm's axe-core); only that file is used, injected into the page and run there.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _script() -> str:
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text()


async def violations(page: Any) -> list[str]:
    """The page's WCAG 2.1 A/AA violations as readable lines (none is the goal)."""
    # Evaluated through the DevTools protocol, not added as an inline <script>: the pages'
    # Content-Security-Policy (rightly) refuses inline scripts, the page's own or ours.
    await page.evaluate(_script())
    found: list[dict[str, Any]] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))})))",
        TAGS,
    )
    return [f"{v['id']}: {v['help']} at {', '.join(v['nodes'])}" for v in found]
