"""cardinal's own fixtures, reproduced (marketplace/integrity/cardinal.py)."""

from __future__ import annotations

import json

import pytest

from marketplace.integrity import cardinal, release_reading
from tests.ocds_offline import SHARED

FIXTURES = SHARED / "cardinal-fixtures"


@pytest.mark.parametrize("indicator", cardinal.ALL)
def test_reproduces_the_cardinal_fixture(indicator: str) -> None:
    lines = (FIXTURES / f"{indicator}.jsonl").read_text().splitlines()
    releases = [json.loads(line) for line in lines if line.strip()]
    expected = json.loads((FIXTURES / f"{indicator}.expected").read_text())
    # The settings cardinal's own tests run them with (its build.rs).
    options = cardinal.Options(
        enabled=frozenset({indicator}),
        no_price_comparison=frozenset({"NPC"}),
        excluded_method_details=frozenset({"EXC"}),
    )
    assert cardinal.indicators(releases, options) == expected


@pytest.mark.parametrize(
    ("values", "tau", "expected"),
    [([1.0, 2.0, 3.0, 4.0], 0.25, 1.4166666666666667), ([5.0], 0.75, 5.0), ([], 0.25, None)],
)
def test_quantile_is_statrs_r8(values: list[float], tau: float, expected: float | None) -> None:
    got = release_reading.quantile(values, tau)
    assert (got != got) if expected is None else got == pytest.approx(expected)
