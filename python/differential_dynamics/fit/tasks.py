"""Running many independent tasks (dataset permutations, recovery fits) in this process or on Dask
distributed: a LocalCluster by default, or an existing cluster given its scheduler address.

Each task runs with one kernel thread and one torch thread (whatever the worker), so a task's numbers
are the same serially and on any cluster. Results reach `on_result` in this process as they finish;
the callers write each one to disk at once, so a worker that dies loses only the tasks it was running
(Dask runs them again elsewhere), and a study or dataset restarted later skips what is on disk.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Optional

__all__ = ["run_tasks", "make_client", "single_threaded"]


def single_threaded(fn: Callable, *args) -> Any:
    """fn(*args) with one kernel thread and one torch thread (the previous counts restored after)."""
    import torch
    from .. import functional as F
    before = torch.get_num_threads(), F.get_num_threads()
    torch.set_num_threads(1)
    F.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before[0])
        F.set_num_threads(before[1])


def make_client(scheduler: Optional[str] = None, workers: int = 2):
    """A dask.distributed Client: connected to `scheduler` ("tcp://host:port") if given, else to a new
    LocalCluster of `workers` single-threaded worker processes."""
    from distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler)
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    # Worker processes inherit the environment: passive OpenMP waiting keeps idle torch threads off the cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


def run_tasks(fn: Callable, arg_tuples: Iterable[tuple], on_result: Callable[[Any], None], *, client=None,
              progress: bool = True, desc: str = "tasks") -> int:
    """Run fn(*args) for every tuple (serially if client is None, else as Dask tasks) and call
    on_result(result) in this process as each finishes (in completion order). Returns the count."""
    from tqdm import tqdm
    jobs = list(arg_tuples)
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, dynamic_ncols=True)
    try:
        if client is None:
            for args in jobs:
                on_result(single_threaded(fn, *args))
                bar.update(1)
            return len(jobs)
        from distributed import as_completed
        futures = [client.submit(single_threaded, fn, *args, pure=False) for args in jobs]
        for fut in as_completed(futures):
            on_result(fut.result())
            fut.release()
            bar.update(1)
        return len(jobs)
    finally:
        bar.close()
