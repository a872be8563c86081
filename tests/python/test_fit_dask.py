"""Studies and dataset building on Dask distributed (differential_dynamics.fit.tasks / study): the same
numbers as a serial run, no finished result lost when a worker is killed mid-study, resume."""
import json
import os
import signal
import threading
import time

import pytest

from differential_dynamics.fit.dataset import DatasetSettings, build_dataset
from differential_dynamics.fit.study import StudySettings, load_results, run_study
from differential_dynamics.fit.tasks import make_client

from test_fit_dataset import same_bytes

TIMING = ("seconds", "cpu_seconds")


def settings(n):
    data = DatasetSettings(fs=8000.0, clip_seconds=1.0, clips={"train": 2, "validation": 0, "test": 1},
                           ratio="continuous", permutations=n)
    return StudySettings(data=data, n=n, fit={"starts": 2, "screen_steps": 5, "steps": 40, "refine_steps": 8})


def numbers(results):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in results]


@pytest.fixture(scope="module")
def client():
    c = make_client(workers=2)
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("serial"))
    run_study(out, settings(12), progress=False, plot=False)
    return load_results(out)


def test_study_on_cluster_equals_serial(client, serial, tmp_path):
    out = str(tmp_path / "dask")
    summary = run_study(out, settings(12), client=client, progress=False)
    assert summary["count"] == 12 and os.path.exists(os.path.join(out, "study.png"))
    assert numbers(load_results(out)) == numbers(serial)
    assert sum(r["heldout_gain_rmse_db"] < 0.01 for r in serial) >= 10  # the (short) fits did fit


def test_killing_a_worker_mid_study_loses_no_finished_result(client, serial, tmp_path):
    out = str(tmp_path / "kill")
    results = os.path.join(out, "results")
    worker_pids = client.run(os.getpid)
    done = threading.Event()
    errors = []

    def study():
        try:
            run_study(out, settings(12), client=client, progress=False, plot=False)
        except Exception as e:  # reported below
            errors.append(e)
        done.set()

    thread = threading.Thread(target=study)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.isdir(results) and len(os.listdir(results)) >= 2):
        time.sleep(0.02)
    finished = {f: open(os.path.join(results, f)).read() for f in os.listdir(results) if f.endswith(".json")}
    os.kill(next(iter(worker_pids.values())), signal.SIGKILL)  # a worker process this test's cluster started
    assert len(finished) < 12, "the study ended before the kill; nothing was tested"
    thread.join(timeout=300)
    assert done.is_set() and not errors, errors
    for f, text in finished.items():
        assert open(os.path.join(results, f)).read() == text
    assert numbers(load_results(out)) == numbers(serial)


def test_resume_computes_only_what_is_missing(serial, tmp_path):
    out = str(tmp_path / "resume")
    run_study(out, settings(4), progress=False, plot=False)
    keep = os.path.join(out, "results", "0000.json")
    mtime = os.stat(keep).st_mtime_ns
    for i in (1, 3):
        os.remove(os.path.join(out, "results", f"{i:04d}.json"))
    run_study(out, settings(4), progress=False, plot=False)
    assert os.stat(keep).st_mtime_ns == mtime
    assert numbers(load_results(out)) == numbers(serial[:4])
    with pytest.raises(ValueError, match="^out_dir: .* other settings"):
        run_study(out, settings(5), progress=False)


def test_dataset_on_cluster_is_byte_identical(client, tmp_path):
    kw = dict(permutations=3, fs=8000.0, clip_seconds=0.5, clips={"train": 2, "validation": 1, "test": 1})
    build_dataset(str(tmp_path / "serial"), progress=False, **kw)
    build_dataset(str(tmp_path / "dask"), client=client, progress=False, **kw)
    assert same_bytes(str(tmp_path / "serial"), str(tmp_path / "dask"))
    with open(os.path.join(tmp_path, "dask", "dataset.json")) as f:
        assert json.load(f)["permutations"] == ["p0000", "p0001", "p0002"]
