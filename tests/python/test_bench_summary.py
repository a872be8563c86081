"""bench/summarize.py reads the right figures (docs/benchmarks.md).

The benchmarks themselves are not run in the tests (they time the machine, not the code); this
checks the summary's arithmetic on a synthetic dd_bench JSON whose separate and paired figures
disagree, so that a summary reading the wrong figures fails.
"""
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(__file__)
SUMMARIZE = os.path.join(HERE, "..", "..", "bench", "summarize.py")


@pytest.fixture(scope="module")
def summarize():
    spec = importlib.util.spec_from_file_location("dd_bench_summarize", SUMMARIZE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def iteration(name, **counters):
    return {"name": name, "run_type": "iteration", **counters}


def paired(dtype, shape, ratios):
    name = f"Paired/reference_vs_compexp_gain/fwdbwd/{dtype}/{shape}/threads:1/min_time:0.500/manual_time"
    runs = [iteration(name, ratio=r, a_ns_per_sample=20.0, b_ns_per_sample=2.0, pairs=7.0) for r in ratios]
    # Google Benchmark's aggregates of the repetitions carry the same counters (the mean here).
    return runs + [{"name": name + "_mean", "run_type": "aggregate", "aggregate_name": "mean",
                    "ratio": sum(ratios) / len(ratios)}]


def row(md, start):
    rows = [line for line in md.splitlines() if line.startswith("| " + start)]
    assert len(rows) == 1, (start, rows)
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def section(md, title):
    return md.split(title, 1)[1].split("###", 1)[0]


def write_run(tmp_path, benchmarks):
    path = tmp_path / "cxx.json"
    path.write_text(json.dumps({"context": {"num_cpus": 2, "dd_simd_level": "avx2"}, "benchmarks": benchmarks}))
    return str(path)


REF = "Reference/compexp_gain/fwdbwd/f32/8x480000/threads:1/real_time"
DD1 = "dd/compexp_gain/fwdbwd/f32/8x480000/threads:1/real_time"
DD2 = "dd/compexp_gain/fwdbwd/f32/8x480000/threads:2/real_time"


def test_acceptance_is_the_paired_median_and_tables_take_the_fastest_repetition(tmp_path, summarize):
    benchmarks = [
        # Separate benchmarks: fastest reference 20, fastest kernel 1.6 → 12.5×; 2 threads 1.6/0.8 = 2×.
        iteration(REF, ns_per_sample=20.0), iteration(REF, ns_per_sample=31.0),
        iteration(DD1, ns_per_sample=1.6), iteration(DD1, ns_per_sample=1.7),
        iteration(DD2, ns_per_sample=0.8), iteration(DD2, ns_per_sample=0.85),
        {"name": DD1 + "_mean", "run_type": "aggregate", "aggregate_name": "mean", "ns_per_sample": 0.1},
        # Paired: median 9.5× over three repetitions, which fails the 10×.
        *paired("f32", "8x480000", [12.0, 9.5, 9.0]),
        *paired("f64", "8x480000", [7.0, 8.0]),
    ]
    md = summarize.summarize(write_run(tmp_path, benchmarks))
    assert row(md, "f32 | 8×480000") == ["f32", "8×480000", "9.50×", "9.00–12.00×", "3", "**FAIL** (≥ 10×)"]
    assert row(md, "f64 | 8×480000") == ["f64", "8×480000", "7.50×", "7.00–8.00×", "2", ""]  # no criterion
    f32 = section(md, "### ns per sample, float32")
    assert "| reference compexp_gain | fwdbwd | 20.00 |" in f32
    assert "| compexp_gain | fwdbwd | 1.60 |" in f32  # the fastest repetition, not the aggregate
    assert "| compexp_gain | f32 | fwdbwd | 12.5× |" in section(md, "### Speed-up over the scalar reference")
    assert "| compexp_gain | f32 | 2.00× |" in section(md, "### Two threads")


def test_a_passing_run_and_one_without_pairs(tmp_path, summarize):
    md = summarize.summarize(write_run(tmp_path, [iteration(REF, ns_per_sample=30.0), iteration(DD1, ns_per_sample=2.0),
                                                  *paired("f32", "8x480000", [10.5, 11.0, 10.2])]))
    assert row(md, "f32 | 8×480000")[2:] == ["10.50×", "10.20–11.00×", "3", "pass (≥ 10×)"]
    md = summarize.summarize(write_run(tmp_path, [iteration(REF, ns_per_sample=30.0), iteration(DD1, ns_per_sample=2.0)]))
    assert "(no paired benchmark in this run)" in md
    assert "15.0×" in section(md, "### Speed-up over the scalar reference")


def test_python_table(tmp_path, summarize):
    py = tmp_path / "python.json"
    py.write_text(json.dumps({"context": {"torch": "1.13"}, "results": [
        {"impl": "dd", "mode": "fwdbwd", "dtype": "f32", "shape": "8x480000", "threads": 1, "ns_per_sample": 2.4}]}))
    md = summarize.summarize(write_run(tmp_path, [iteration(DD1, ns_per_sample=2.0)]), str(py))
    assert row(md, "8×480000 | f32 | fwdbwd") == ["8×480000", "f32", "fwdbwd", "2.40", "2.00", "1.20×"]


def test_the_paired_ratio_is_reported_when_its_shape_has_no_other_benchmark(tmp_path, summarize):
    md = summarize.summarize(write_run(tmp_path, [iteration("dd/avg/fwd/f32/1x480000/threads:1/real_time", ns_per_sample=0.5),
                                                  *paired("f32", "8x480000", [11.0])]))
    assert row(md, "f32 | 8×480000")[2:] == ["11.00×", "11.00–11.00×", "1", "pass (≥ 10×)"]
