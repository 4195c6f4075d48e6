"""Query parameter types shared by routes."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

Limit = Annotated[int, Parameter(ge=1, le=200, description="page size, 1 to 200")]
Cursor = Annotated[
    str | None, Parameter(max_length=500, description="the `next` value of the previous page")
]
