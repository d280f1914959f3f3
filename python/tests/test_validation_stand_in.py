"""The validation's ShareGPT stand-in: the filter, the means, the spread.

scripts/validate.py writes docs/validation.md, which ctest
validation_doc_current checks whole; these check the properties the page
claims for the workload behind it (scripts/sharegpt_stand_in.py).
"""

import json
import os
import sys

import pytest

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "scripts")


@pytest.fixture(scope="module")
def scripts():
    """The two modules: (sharegpt_stand_in, validate)."""
    sys.path.insert(0, SCRIPTS)
    try:
        import sharegpt_stand_in
        import validate
    finally:
        sys.path.remove(SCRIPTS)
    return sharegpt_stand_in, validate


def test_keeps_what_vllms_benchmark_keeps(scripts):
    kept = scripts[0].kept
    assert kept(4, 4)
    assert kept(1024, 1024)
    assert not kept(3, 100)       # prompt under 4 tokens
    assert not kept(100, 3)       # output under 4 tokens
    assert not kept(1025, 10)     # prompt over 1024
    assert not kept(1000, 1049)   # prompt + output over 2048


def test_kept_pairs_have_the_published_means(scripts):
    stand_in = scripts[0]
    for sigma in (0.6, 1.0):
        _, pairs = stand_in.solve_locations(sigma)
        assert all(stand_in.kept(p, o) for p, o in pairs)
        for i, mean in enumerate(stand_in.MEANS):
            got = sum(pair[i] for pair in pairs) / len(pairs)
            assert got == pytest.approx(mean, rel=1e-4)


def test_spread_gives_the_papers_orca_max_length(scripts):
    stand_in, validate = scripts
    sigma, target = validate.solve_spread()
    # Fig. 2 (20.4 + 13.3% of 15728 slots) over Fig. 13a's 7.00 requests.
    assert target == pytest.approx(757, abs=1)
    assert stand_in.running_length(sigma - 0.01) < target
    assert stand_in.running_length(sigma + 0.01) > target


def test_a_draw_is_seeded_and_kept(scripts, tmp_path):
    stand_in = scripts[0]
    path = tmp_path / "w.jsonl"
    means = stand_in.write_workload(str(path), 0.87, 7)
    first = path.read_text()
    assert stand_in.write_workload(str(path), 0.87, 7) == means
    assert path.read_text() == first
    rows = [json.loads(line) for line in first.splitlines()]
    assert len(rows) == stand_in.NUM_REQUESTS
    assert all(stand_in.kept(r["prompt_length"], r["output_length"])
               for r in rows)
    arrivals = [r["arrival_s"] for r in rows]
    assert arrivals == sorted(arrivals) and arrivals[-1] > 0
    stand_in.write_workload(str(path), 0.87, 7, at_once=True)
    assert {json.loads(line)["arrival_s"]
            for line in path.read_text().splitlines()} == {0}
