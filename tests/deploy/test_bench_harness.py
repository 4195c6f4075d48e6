"""The bench's interleaved load (bench/bids.py run_interleaved) against the bare baseline.

The bid rows of `python -m bench` are ratios of phases that take turns in slices; this checks
the turns themselves: every counted slice ran, in its own window, with the warm-up round left
out, and the loads add up as the table reads them.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from bench.bids import ROOT, Load, free_port, merged, run_interleaved, server


def test_phases_take_turns_in_counted_slices_after_a_warm_up() -> None:
    port = free_port()
    cmd = [sys.executable, str(ROOT / "bench" / "baseline.py"), "--port", str(port)]
    tokens = [f"token-{n}" for n in range(4)]
    with (
        server(cmd, dict(os.environ), port) as bare,
        ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool,
    ):
        phases = [("first", bare, [1]), ("second", bare, [2, 3])]
        loads = run_interleaved(pool, tokens, 2, phases, rounds=3, secs=0.3)

    assert sorted(loads.rounds) == sorted(loads.warm_up) == ["first", "second"]
    for name, rounds in loads.rounds.items():
        assert len(rounds) == 3  # the warm-up round is not among them
        assert loads.accepted(name) == sum(x.accepted for x in [*rounds, loads.warm_up[name]])
        for load in [*rounds, loads.warm_up[name]]:
            assert load.requests > 0 and load.errors == 0
            assert load.accepted == load.requests  # the baseline accepts every bid
            assert 0.3 <= load.elapsed < 1.0  # its own slice, not the whole run
            assert len(load.latencies) == load.requests
    total = merged(loads.rounds["first"], together=False)
    assert total.requests == sum(x.requests for x in loads.rounds["first"])
    assert abs(total.elapsed - sum(x.elapsed for x in loads.rounds["first"])) < 1e-9


def test_load_processes_in_one_window_count_it_once() -> None:
    a = Load(requests=10, accepted=9, elapsed=1.0, cpu=0.4, busy=1.5, latencies=[0.01] * 10)
    b = Load(requests=20, accepted=20, elapsed=1.1, cpu=0.5, busy=1.6, latencies=[0.02] * 20)
    both = merged([a, b], together=True)
    assert (both.requests, both.accepted, both.elapsed, both.busy) == (30, 29, 1.1, 1.6)
    assert abs(both.cpu - 0.9) < 1e-9
    after = merged([a, b], together=False)
    assert (after.elapsed, after.busy) == (2.1, 3.1)
