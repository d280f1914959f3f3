"""scripts/validate.py's ShareGPT stand-in: the filter, the means, the spread.

The page it writes is checked whole by ctest validation_doc_current; these
check the properties the page claims for the workload behind it.
"""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def validate():
    spec = importlib.util.spec_from_file_location(
        "validate", os.path.join(ROOT, "scripts", "validate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keeps_what_vllms_benchmark_keeps(validate):
    assert validate.kept(4, 4)
    assert validate.kept(1024, 1024)
    assert not validate.kept(3, 100)       # prompt under 4 tokens
    assert not validate.kept(100, 3)       # output under 4 tokens
    assert not validate.kept(1025, 10)     # prompt over 1024
    assert not validate.kept(1000, 1049)   # prompt + output over 2048


def test_kept_pairs_have_the_published_means(validate):
    for sigma in (0.6, 1.0):
        _, pairs = validate.solve_locations(sigma)
        assert all(validate.kept(p, o) for p, o in pairs)
        for i, mean in enumerate(validate.MEANS):
            got = sum(pair[i] for pair in pairs) / len(pairs)
            assert got == pytest.approx(mean, rel=1e-4)


def test_spread_gives_the_papers_orca_max_length(validate):
    sigma, target = validate.solve_spread()
    # Fig. 2 (20.4 + 13.3% of 15728 slots) over Fig. 13a's 7.00 requests.
    assert target == pytest.approx(757, abs=1)
    assert validate.running_length(sigma - 0.01) < target
    assert validate.running_length(sigma + 0.01) > target


def test_a_draw_is_seeded_and_kept(validate, tmp_path):
    path = tmp_path / "w.jsonl"
    means = validate.write_workload(str(path), 0.87, 7)
    first = path.read_text()
    assert validate.write_workload(str(path), 0.87, 7) == means
    assert path.read_text() == first
    lines = first.splitlines()
    assert len(lines) == validate.NUM_REQUESTS
    rows = [json.loads(line) for line in lines]
    assert all(validate.kept(r["prompt_length"], r["output_length"])
               for r in rows)
    arrivals = [r["arrival_s"] for r in rows]
    assert arrivals == sorted(arrivals)
