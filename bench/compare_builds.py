#!/usr/bin/env python3
"""Compare two builds' dd_bench on a shared machine: run the two binaries alternately, several
rounds, and print per benchmark the median (and range) of ns_per_sample, or of `ratio` for the
Paired benchmarks. Alternating puts both builds through the same states of the machine, which
separate runs need not meet (docs/benchmarks.md, "Results").

    bench/compare_builds.py OLD/bench/dd_bench NEW/bench/dd_bench FILTER [ROUNDS]
"""
import collections
import json
import statistics
import subprocess
import sys


def run(binary, flt):
    out = subprocess.run([binary, f"--benchmark_filter={flt}", "--benchmark_format=json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["benchmarks"]


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    old, new, flt = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) == 5 else 5
    values = collections.defaultdict(list)
    for _ in range(rounds):
        for label, binary in (("old", old), ("new", new)):
            for b in run(binary, flt):
                values[(b["run_name"], label)].append(b["ratio"] if "ratio" in b else b["ns_per_sample"])
    for (name, label), v in sorted(values.items()):
        unit = "×" if name.startswith("Paired/") else " ns/sample"
        print(f"{label} {name}: median {statistics.median(v):.2f}{unit} (min {min(v):.2f}, max {max(v):.2f})")


if __name__ == "__main__":
    main()
