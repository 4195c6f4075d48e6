"""The OpenAPI UI at ``/schema``: Swagger UI served from the service's own /static.

Litestar's Swagger plugin loads Swagger UI from a CDN (nothing works offline, and a third
party's script runs on this origin with the pages' cookies in reach) and starts it with an
inline script the Content-Security-Policy refuses. This page names only local files:
the vendored bundle and stylesheet (marketplace/web/static/swagger/) and a start-up script
that reads the document's address from the page.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

ASSETS = "/static/swagger"


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI from /static, reading the completed document at ``<openapi path>/openapi.json``."""

    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(
            path=path,
            favicon=f'<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">',
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        config = request.app.openapi_config
        base = (config.path if config is not None else None) or "/schema"
        spec = html.escape(base.rstrip("/") + "/openapi.json")
        page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  {self.favicon}
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <script src="{ASSETS}/swagger-ui-bundle.js" defer></script>
  <script src="{ASSETS}/init.js" defer></script>
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec}"></div>
</body>
</html>
"""
        return page.encode()
