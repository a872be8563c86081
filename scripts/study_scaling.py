"""Scaling of a recovery study on Dask: the same 40-fit study on a LocalCluster of 1 and of 2 single-threaded
workers; prints the wall times (cluster start-up excluded), the speed-up, and whether the numbers agree.

    .venv/bin/python scripts/study_scaling.py [--n 40] [--out out/scaling]
"""
import argparse
import json
import os
import shutil
import time

from differential_dynamics.fit.dataset import DatasetSettings
from differential_dynamics.fit.study import StudySettings, load_results, run_study
from differential_dynamics.fit.tasks import make_client


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--out", default="out/scaling")
    a = ap.parse_args()
    settings = StudySettings(data=DatasetSettings(ratio="continuous", clip_seconds=2.0, seed=5, permutations=a.n,
                                                  clips={"train": 4, "validation": 0, "test": 2}), n=a.n)
    times, numbers = {}, {}
    for workers in (1, 2):
        out = os.path.join(a.out, f"workers{workers}")
        shutil.rmtree(out, ignore_errors=True)
        client = make_client(workers=workers)
        client.wait_for_workers(workers)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        run_study(out, settings, client=client, progress=False, plot=False)
        times[workers] = time.perf_counter() - t
        client.close()
        client.cluster.close()
        numbers[workers] = [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")}
                            for r in load_results(out)]
        print(f"{workers} worker(s): {times[workers]:.1f} s for {a.n} fits (load average at start {load:.1f})",
              flush=True)
    result = {"fits": a.n, "seconds": times, "speedup": times[1] / times[2], "same_numbers": numbers[1] == numbers[2],
              "cpus": os.cpu_count()}
    print(json.dumps(result, indent=1))
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
